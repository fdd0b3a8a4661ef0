//! The [`Authenticator`] (credential source + shared token cache) and the
//! [`Negotiation`] it starts for each challenge.

use std::fmt;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use orca_manifest::registry_error::{ErrorCode, parse_error_body};
use orca_reference::Registry;

use crate::authorization::{Authorization, Step};
use crate::azure::{AzureStep, AzureTokenProvider, LocalIdentityEndpoint};
use crate::cache::TokenCache;
use crate::challenge::Challenge;
use crate::credential::{Credential, CredentialSource, IDENTITY_TOKEN_USER};
use crate::error::{CredentialKind, Error};
use crate::excerpt;
use crate::lookup::{Job, Lookup, LookupResult, Outcome};
use crate::realm;
use crate::redact::redact_url;
use crate::scope::{Action, Scope, canonical_key};
use crate::secret::Secret;
use crate::token::{TokenResponse, form_body, parse_exchange_response};

/// Knobs of an [`Authenticator`]; build with [`AuthOptions::default`] and the `with_*`
/// methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthOptions {
    /// The `client_id` sent in `OAuth2` POST token requests (default `orca`).
    pub client_id: String,
    /// A cached token is not handed out when it expires within this margin, or within a
    /// quarter of its lifetime when that is shorter (default 10 s).
    pub expiry_skew: Duration,
    /// A request whose body is streamed (and so cannot be replayed after a 401) is sent
    /// only with a token that has this much left, or half its lifetime when that is
    /// shorter; otherwise the client refreshes the token first (default 5 minutes). See
    /// [`Authenticator::authorization_for_stream`].
    pub stream_headroom: Duration,
    /// Trade user name and password with an `OAuth2` `grant_type=password` POST (falling
    /// back to GET on 404/405) instead of a GET with Basic (default `false`, like docker).
    pub oauth2_password_grant: bool,
    /// Realm hosts (`host` or `host:port`) followed even when they break the private-host
    /// rule.
    pub trusted_realm_hosts: Vec<String>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            client_id: "orca".to_owned(),
            expiry_skew: Duration::from_secs(10),
            stream_headroom: Duration::from_secs(300),
            oauth2_password_grant: false,
            trusted_realm_hosts: Vec::new(),
        }
    }
}

impl AuthOptions {
    /// Sets [`client_id`](Self::client_id).
    #[must_use]
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        client_id.clone_into(&mut self.client_id);
        self
    }

    /// Sets [`expiry_skew`](Self::expiry_skew).
    #[must_use]
    pub fn with_expiry_skew(mut self, skew: Duration) -> Self {
        self.expiry_skew = skew;
        self
    }

    /// Sets [`stream_headroom`](Self::stream_headroom).
    #[must_use]
    pub fn with_stream_headroom(mut self, headroom: Duration) -> Self {
        self.stream_headroom = headroom;
        self
    }

    /// Sets [`oauth2_password_grant`](Self::oauth2_password_grant).
    #[must_use]
    pub fn with_oauth2_password_grant(mut self, enabled: bool) -> Self {
        self.oauth2_password_grant = enabled;
        self
    }

    /// Adds a trusted realm host (see [`trusted_realm_hosts`](Self::trusted_realm_hosts)).
    #[must_use]
    pub fn trust_realm_host(mut self, host: &str) -> Self {
        self.trusted_realm_hosts.push(host.to_ascii_lowercase());
        self
    }
}

/// Anything that carries response headers: a `HeaderMap`, response `Parts` or a `Response`.
pub trait ResponseHeaders {
    /// The headers.
    fn response_headers(&self) -> &HeaderMap;
}

impl ResponseHeaders for HeaderMap {
    fn response_headers(&self) -> &HeaderMap {
        self
    }
}

impl ResponseHeaders for http::response::Parts {
    fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl<B> ResponseHeaders for Response<B> {
    fn response_headers(&self) -> &HeaderMap {
        self.headers()
    }
}

struct Inner {
    source: Arc<dyn CredentialSource>,
    options: AuthOptions,
    cache: Mutex<TokenCache>,
}

impl Inner {
    fn cache(&self) -> MutexGuard<'_, TokenCache> {
        // The cache holds plain data that every operation leaves consistent, so a panic
        // elsewhere while it was locked does not make it unusable.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Authentication for every registry a client talks to: a credential source, options and
/// one token cache, shared by all clones.
///
/// Call order for a client: [`authorization`](Self::authorization) before a request; on
/// a 401 (or a 400/403 `DENIED`, see [`is_denied`]) [`reject`](Self::reject) the header
/// that failed, then [`challenge`](Self::challenge) and drive the [`Negotiation`].
///
/// `registry` is always the authority (`host[:port]`) of the URLs the client sends.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("options", &self.inner.options)
            .field("cached_tokens", &self.inner.cache().token_count())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `source`.
    pub fn new(source: impl CredentialSource + 'static, options: AuthOptions) -> Self {
        Self::from_arc(Arc::new(source), options)
    }

    /// An authenticator over a shared source.
    pub fn from_arc(source: Arc<dyn CredentialSource>, options: AuthOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                options,
                cache: Mutex::new(TokenCache::default()),
            }),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &AuthOptions {
        &self.inner.options
    }

    /// A cached header for `registry` that covers `scopes`: the narrowest unexpired
    /// token, else a Basic (or static bearer) header the registry accepted before.
    pub fn authorization(
        &self,
        registry: &str,
        scopes: &[Scope],
        now: SystemTime,
    ) -> Option<Authorization> {
        self.inner.cache().lookup(
            &cache_key(registry)?,
            scopes,
            now,
            self.inner.options.expiry_skew,
            None,
        )
    }

    /// Like [`authorization`](Self::authorization), for a request whose body is streamed:
    /// only a token with [`stream_headroom`](AuthOptions::stream_headroom) (or half its
    /// lifetime) left. `None` while [`authorization`](Self::authorization) has one means the
    /// token is close to its end: negotiate a fresh one first (see
    /// [`remembers_challenge`](Self::remembers_challenge)), so that the upload does not
    /// outlive its token.
    pub fn authorization_for_stream(
        &self,
        registry: &str,
        scopes: &[Scope],
        now: SystemTime,
    ) -> Option<Authorization> {
        self.inner.cache().lookup(
            &cache_key(registry)?,
            scopes,
            now,
            self.inner.options.expiry_skew,
            Some(self.inner.options.stream_headroom),
        )
    }

    /// Whether a Bearer challenge from `registry` is remembered, so that
    /// [`challenge`](Self::challenge) can start a negotiation before any 401 (pass an empty
    /// `HeaderMap`).
    pub fn remembers_challenge(&self, registry: &str) -> bool {
        cache_key(registry).is_some_and(|key| self.inner.cache().challenge(&key).is_some())
    }

    /// The refresh token `registry`'s token service handed out — ACR's `/oauth2/exchange`
    /// answer, or a token response's `refresh_token` — for storing as an identity token, as
    /// `docker login` and `az acr login` store it (`identitytoken` in `config.json`).
    ///
    /// When tokens of several services are held, the one of the last Bearer challenge's
    /// service. `None` when none was received (a Basic registry, a static token, a token
    /// service that hands out no refresh tokens).
    ///
    /// # Security
    ///
    /// The token stands for the credential that obtained it until it expires (hours for
    /// ACR): store it as a secret.
    pub fn refresh_token(&self, registry: &str) -> Option<Secret> {
        let key = cache_key(registry)?;
        let cache = self.inner.cache();
        let mut held = cache.refresh_tokens(&key);
        if held.len() > 1 {
            let service = cache
                .challenge(&key)
                .and_then(|c| Challenge::parse(&c.header).ok())
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.is_scheme("bearer"))
                        .and_then(|c| c.service().map(str::to_owned))
                });
            held.retain(|(s, _)| Some(s) == service.as_ref());
        }
        match held.as_slice() {
            [(_, token)] => Some(token.clone()),
            _ => None,
        }
    }

    /// Drops `authorization` from the cache: the registry refused it.
    pub fn reject(&self, registry: &str, authorization: &Authorization) {
        if let Some(key) = cache_key(registry) {
            self.inner.cache().reject(&key, authorization);
        }
    }

    /// Starts a negotiation for a request to `request_uri` that was answered with a
    /// challenge, wanting `scopes`. Its first step is always a [`Step::Lookup`] of the
    /// registry's credential.
    ///
    /// A response without a usable challenge (a 400/403 `DENIED`, or an empty `HeaderMap`
    /// to refresh a token early) re-uses the last Bearer challenge seen from the same
    /// registry. Tokens expired at `now` are dropped from the cache.
    ///
    /// # Errors
    ///
    /// When no challenge can be answered: none offered, or a bad realm.
    pub fn challenge<R: ResponseHeaders + ?Sized>(
        &self,
        request_uri: &Uri,
        response: &R,
        scopes: &[Scope],
        now: SystemTime,
    ) -> Result<Negotiation, Error> {
        let (registry, key) = registry_of(request_uri)?;
        self.inner.cache().purge_expired(now);
        let parsed = Challenge::from_headers(response.response_headers());
        let mut challenges = parsed.as_ref().map(Vec::clone).unwrap_or_default();
        let usable = |c: &Challenge| c.is_scheme("bearer") || c.is_scheme("basic");
        if !challenges.iter().any(usable)
            && let Some(remembered) = self.inner.cache().challenge(&key)
        {
            challenges = Challenge::parse(&remembered.header)?;
        }
        let chosen = challenges
            .iter()
            .find(|c| c.is_scheme("bearer"))
            .or_else(|| challenges.iter().find(|c| c.is_scheme("basic")))
            .cloned();
        let Some(chosen) = chosen else {
            parsed?;
            return Err(Error::NoSupportedChallenge {
                registry,
                schemes: challenges.iter().map(|c| c.scheme().to_owned()).collect(),
            });
        };
        let basic = chosen.is_scheme("basic");
        let mut negotiation = Negotiation {
            inner: Arc::clone(&self.inner),
            registry: registry.clone(),
            key,
            request_uri: request_uri.clone(),
            realm: None,
            service: String::new(),
            scopes: Scope::merge(scopes),
            credential: Credential::Anonymous,
            basic,
            azure_endpoint: None,
            state: State::Finished,
        };
        if !basic {
            negotiation.bearer(&chosen)?;
        }
        negotiation.state = State::Ready(Pending::Lookup(Lookup {
            job: Job::Credential {
                source: Arc::clone(&self.inner.source),
                registry,
            },
        }));
        Ok(negotiation)
    }
}

/// Whether a response is the `DENIED` error some registries (ECR) send instead of a 401
/// for an expired token: a 400 or 403 whose distribution error body has code `DENIED`.
/// When the request carried a token, the client should [`reject`](Authenticator::reject)
/// it and negotiate once more before failing.
pub fn is_denied(status: StatusCode, body: &[u8]) -> bool {
    if status != StatusCode::BAD_REQUEST && status != StatusCode::FORBIDDEN {
        return false;
    }
    parse_error_body(body)
        .iter()
        .any(|e| e.code == ErrorCode::Denied)
}

fn registry_of(uri: &Uri) -> Result<(String, Registry), Error> {
    let invalid = |detail: String| Error::InvalidUri {
        uri: redact_url(&uri.to_string()),
        detail,
    };
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_ascii_lowercase())
        .ok_or_else(|| invalid("the request URI has no host".to_owned()))?;
    let key = Registry::from_str(&authority)
        .map_err(|e| invalid(format!("the request URI's host is not a registry: {e}")))?;
    Ok((authority, key))
}

/// The token cache's key for a registry named `host[:port]`: the registry normalised once
/// (case, default port, the Docker Hub spellings), so that every spelling of one registry
/// shares its tokens. `None` for a name that is no registry (nothing was cached for it).
fn cache_key(registry: &str) -> Option<Registry> {
    Registry::from_str(registry).ok()
}

/// What a sent request's response will be read as.
#[derive(Clone, Copy, Debug)]
enum Awaiting {
    /// A token from a GET token request.
    TokenGet,
    /// A token from a POST token request.
    TokenPost {
        /// A 404/405 may fall back to GET.
        fallback_to_get: bool,
        /// The refresh token came from the cache: on refusal, forget it and start over.
        cached_refresh: bool,
    },
    /// An Azure AD token from the provider's request.
    AzureToken,
    /// A refresh token from ACR's `/oauth2/exchange`.
    AcrExchange,
}

enum Pending {
    Send(Box<Request<Bytes>>, Awaiting),
    Authorize(Authorization),
    Lookup(Lookup),
}

fn send_pending(request: Request<Bytes>, awaiting: Awaiting) -> Pending {
    Pending::Send(Box::new(request), awaiting)
}

enum State {
    Ready(Pending),
    Waiting(Awaiting),
    LookingUp,
    Finished,
}

/// One authentication negotiation, started by [`Authenticator::challenge`].
///
/// Call order: [`next`](Self::next); when it returns [`Step::Send`], send the request and
/// pass the response to [`receive`](Self::receive); when it returns [`Step::Lookup`], run
/// the lookup (off an async runtime) and pass its result to [`resume`](Self::resume); then
/// call `next` again. A [`Step::Authorize`] ends the negotiation. Any error ends it too. A
/// negotiation takes at most two lookups (the credential, an Azure AD provider) and sends
/// at most five requests (Azure AD token, ACR exchange, cached-refresh attempt, POST, GET
/// fallback), so a client loop bounded at twelve steps never cuts a valid one short.
pub struct Negotiation {
    inner: Arc<Inner>,
    /// `host[:port]` as the request named it, for messages and the credential lookup.
    registry: String,
    /// The same registry normalised: the token cache's key.
    key: Registry,
    request_uri: Uri,
    realm: Option<Uri>,
    service: String,
    scopes: Vec<Scope>,
    credential: Credential,
    /// The chosen challenge is Basic (else Bearer).
    basic: bool,
    /// The Azure AD token endpoint asked (without its query), for a refusal's message.
    azure_endpoint: Option<String>,
    state: State,
}

impl fmt::Debug for Negotiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(Pending::Send(..)) => "ready to send",
            State::Ready(Pending::Authorize(_)) => "ready to authorize",
            State::Ready(Pending::Lookup(_)) => "ready to look up",
            State::Waiting(_) => "waiting for a response",
            State::LookingUp => "waiting for a lookup",
            State::Finished => "finished",
        };
        f.debug_struct("Negotiation")
            .field("registry", &self.registry)
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("scopes", &canonical_key(&self.scopes))
            .field("credential", &self.credential.kind())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Negotiation {
    /// The registry (`host[:port]`) being authenticated to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The scopes asked for (the wanted ones merged with the challenge's).
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The next step. (`now` is taken for symmetry with [`receive`](Self::receive); no
    /// step depends on it today.)
    ///
    /// # Errors
    ///
    /// [`Error::OutOfOrder`] when a response is awaited or the negotiation has ended.
    pub fn next(&mut self, now: SystemTime) -> Result<Step, Error> {
        let _ = now;
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Ready(Pending::Send(request, awaiting)) => {
                self.state = State::Waiting(awaiting);
                Ok(Step::Send(*request))
            }
            State::Ready(Pending::Authorize(authorization)) => Ok(Step::Authorize(authorization)),
            State::Ready(Pending::Lookup(lookup)) => {
                self.state = State::LookingUp;
                Ok(Step::Lookup(lookup))
            }
            State::Waiting(awaiting) => {
                self.state = State::Waiting(awaiting);
                Err(Error::OutOfOrder {
                    detail: "next() called while a response is awaited: call receive() first",
                })
            }
            State::LookingUp => {
                self.state = State::LookingUp;
                Err(Error::OutOfOrder {
                    detail: "next() called while a lookup is awaited: call resume() first",
                })
            }
            State::Finished => Err(Error::OutOfOrder {
                detail: "the negotiation has ended",
            }),
        }
    }

    /// Takes the result of the last [`Step::Lookup`].
    ///
    /// # Errors
    ///
    /// The lookup's own error (a credential source or provider that failed: never turned
    /// into anonymous access), or a credential that cannot answer the challenge; the
    /// negotiation has then ended. [`Error::OutOfOrder`] when no lookup was awaited.
    pub fn resume(&mut self, result: LookupResult, now: SystemTime) -> Result<(), Error> {
        let _ = now;
        if !matches!(self.state, State::LookingUp) {
            return Err(Error::OutOfOrder {
                detail: "resume() called with no lookup handed out",
            });
        }
        self.state = State::Finished;
        let pending = match result.outcome {
            Outcome::Credential(credential) => {
                self.credential = credential?;
                if self.basic {
                    self.basic()?
                } else {
                    self.bearer_with_cache()?
                }
            }
            Outcome::AzureToken(step) => match step? {
                AzureStep::Send(mut request) => {
                    keep_local_marker_only_for_local_hosts(&mut request);
                    self.azure_endpoint = Some(redact_url(&request.uri().to_string()));
                    send_pending(request, Awaiting::AzureToken)
                }
                AzureStep::Token(token) => {
                    let tenant = match &self.credential {
                        Credential::Azure(provider) => provider.tenant(),
                        _ => None,
                    };
                    self.exchange(&token, tenant.as_deref())?
                }
            },
        };
        self.state = State::Ready(pending);
        Ok(())
    }

    /// Reads the response to the request of the last [`Step::Send`].
    ///
    /// # Errors
    ///
    /// When the server refused or answered something unusable; the negotiation has then
    /// ended. [`Error::OutOfOrder`] when no response was awaited.
    #[allow(clippy::needless_pass_by_value)] // the caller hands the response over; it is done with it
    pub fn receive(&mut self, response: Response<Bytes>, now: SystemTime) -> Result<(), Error> {
        let awaiting = match std::mem::replace(&mut self.state, State::Finished) {
            State::Waiting(awaiting) => awaiting,
            other => {
                self.state = other;
                return Err(Error::OutOfOrder {
                    detail: "receive() called with no request sent",
                });
            }
        };
        let pending = match awaiting {
            Awaiting::TokenGet => self.read_token(&response, now, false)?,
            Awaiting::TokenPost {
                fallback_to_get,
                cached_refresh,
            } => {
                let status = response.status();
                if cached_refresh
                    && matches!(
                        status,
                        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    )
                {
                    // The cached refresh token is no longer good: forget it, start over
                    // with the configured credential.
                    self.inner
                        .cache()
                        .remove_refresh_token(&self.key, &self.service);
                    self.bearer_with_credential()?
                } else if fallback_to_get
                    && (status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED)
                {
                    let basic = match &self.credential {
                        Credential::Basic { username, password } => {
                            Some(Authorization::basic(username, password))
                        }
                        Credential::IdentityToken { username, token } => {
                            Some(Authorization::basic(
                                username.as_deref().unwrap_or(IDENTITY_TOKEN_USER),
                                token,
                            ))
                        }
                        _ => None,
                    };
                    send_pending(self.token_get(basic.as_ref())?, Awaiting::TokenGet)
                } else {
                    self.read_token(&response, now, cached_refresh)?
                }
            }
            Awaiting::AzureToken => {
                let Credential::Azure(provider) = &self.credential else {
                    return Err(Error::OutOfOrder {
                        detail: "an Azure token arrived for a non-Azure credential",
                    });
                };
                if !response.status().is_success() {
                    return Err(Error::IdentityProviderRefused {
                        provider: provider.name(),
                        endpoint: self.azure_endpoint.take().unwrap_or_default(),
                        status: response.status().as_u16(),
                        detail: self.detail(response.body()),
                    });
                }
                let token = provider.finish(&response)?;
                let tenant = provider.tenant();
                self.exchange(&token, tenant.as_deref())?
            }
            Awaiting::AcrExchange => {
                let endpoint = self.exchange_url();
                if !response.status().is_success() {
                    return Err(self.rejected(&endpoint, &response, self.credential.kind()));
                }
                let refresh = parse_exchange_response(response.body())
                    .map_err(|kind| Error::TokenResponse { endpoint, kind })?;
                self.inner
                    .cache()
                    .insert_refresh_token(&self.key, &self.service, refresh.clone());
                send_pending(
                    self.token_post_refresh(&refresh)?,
                    Awaiting::TokenPost {
                        fallback_to_get: false,
                        cached_refresh: false,
                    },
                )
            }
        };
        self.state = State::Ready(pending);
        Ok(())
    }

    fn basic(&mut self) -> Result<Pending, Error> {
        let authorization = match &self.credential {
            Credential::Basic { username, password } => Authorization::basic(username, password),
            Credential::IdentityToken {
                username: Some(username),
                token,
            } => Authorization::basic(username, token),
            Credential::Anonymous => {
                return Err(Error::CredentialRequired {
                    registry: self.registry.clone(),
                    scheme: "Basic".to_owned(),
                });
            }
            other => {
                return Err(Error::CredentialMismatch {
                    registry: self.registry.clone(),
                    credential: other.kind(),
                    scheme: "Basic".to_owned(),
                });
            }
        };
        self.inner
            .cache()
            .insert_basic(&self.key, authorization.clone());
        Ok(Pending::Authorize(authorization))
    }

    /// Reads a Bearer challenge: realm (checked), service, scopes; remembers it.
    fn bearer(&mut self, challenge: &Challenge) -> Result<(), Error> {
        let realm_text = challenge.realm().ok_or_else(|| Error::MissingRealm {
            registry: self.registry.clone(),
        })?;
        let unsafe_realm = |reason| Error::UnsafeRealm {
            registry: self.registry.clone(),
            realm: realm_text.to_owned(),
            reason,
        };
        // The realm is resolved once, as a URL parser resolves it (`127.1` is 127.0.0.1),
        // checked in that form, and sent in that form: no other parser gets a say.
        let realm = realm::resolve(&self.request_uri, realm_text).map_err(unsafe_realm)?;
        realm::check(
            &self.request_uri,
            &realm,
            &self.inner.options.trusted_realm_hosts,
        )
        .map_err(unsafe_realm)?;
        self.realm = Some(realm::to_uri(&realm).map_err(unsafe_realm)?);
        challenge
            .service()
            .unwrap_or_default()
            .clone_into(&mut self.service);
        if let Some(scope) = challenge.scope() {
            // Scopes the registry names are added to the wanted ones; one that does not
            // parse is left out rather than failing the negotiation (the wanted scopes
            // still go out).
            let extra: Vec<Scope> = scope
                .split(' ')
                .filter_map(|s| s.parse::<Scope>().ok())
                .collect();
            self.scopes = Scope::merge(self.scopes.iter().chain(&extra));
        }
        self.inner
            .cache()
            .remember_challenge(&self.key, challenge.to_string());
        Ok(())
    }

    /// The Bearer flow once the credential is known: a registry token as is, else a cached
    /// refresh token, else the credential's own flow.
    fn bearer_with_cache(&mut self) -> Result<Pending, Error> {
        if let Credential::RegistryToken(token) = &self.credential {
            let authorization = self.bearer_header(token)?;
            self.inner
                .cache()
                .insert_basic(&self.key, authorization.clone());
            return Ok(Pending::Authorize(authorization));
        }
        let cached = self.inner.cache().refresh_token(&self.key, &self.service);
        if let Some(refresh) = cached
            && !self.credential.is_anonymous()
        {
            return Ok(send_pending(
                self.token_post_refresh(&refresh)?,
                Awaiting::TokenPost {
                    fallback_to_get: false,
                    cached_refresh: true,
                },
            ));
        }
        self.bearer_with_credential()
    }

    fn bearer_with_credential(&mut self) -> Result<Pending, Error> {
        let options = &self.inner.options;
        match &self.credential {
            Credential::Anonymous => Ok(send_pending(self.token_get(None)?, Awaiting::TokenGet)),
            Credential::Basic { username, password } if options.oauth2_password_grant => {
                let form = self.post_form(
                    "password",
                    &[
                        ("username", username),
                        ("password", password.expose()),
                        ("access_type", "offline"),
                    ],
                );
                Ok(send_pending(
                    self.token_post(form)?,
                    Awaiting::TokenPost {
                        fallback_to_get: true,
                        cached_refresh: false,
                    },
                ))
            }
            Credential::Basic { username, password } => Ok(send_pending(
                self.token_get(Some(&Authorization::basic(username, password)))?,
                Awaiting::TokenGet,
            )),
            Credential::IdentityToken { username, token } => {
                let request = self.token_post_refresh(token)?;
                Ok(send_pending(
                    request,
                    Awaiting::TokenPost {
                        fallback_to_get: username.is_some(),
                        cached_refresh: false,
                    },
                ))
            }
            Credential::RegistryToken(token) => Ok(Pending::Authorize(self.bearer_header(token)?)),
            Credential::AzureAccessToken { token, tenant } => {
                let (token, tenant) = (token.clone(), tenant.clone());
                self.exchange(&token, tenant.as_deref())
            }
            Credential::Azure(provider) => {
                let provider: Arc<dyn AzureTokenProvider> = Arc::clone(provider);
                Ok(Pending::Lookup(Lookup {
                    job: Job::AzureToken { provider },
                }))
            }
        }
    }

    fn bearer_header(&self, token: &Secret) -> Result<Authorization, Error> {
        Authorization::bearer(token).ok_or_else(|| Error::CredentialMismatch {
            registry: self.registry.clone(),
            credential: self.credential.kind(),
            scheme: "Bearer (the token has characters a header cannot carry)".to_owned(),
        })
    }

    fn realm(&self) -> Result<&Uri, Error> {
        self.realm.as_ref().ok_or(Error::OutOfOrder {
            detail: "a token request before a Bearer challenge",
        })
    }

    fn scope_text(&self) -> String {
        canonical_key(&self.scopes)
    }

    /// `grant_type=<grant_type>`, then `service`, `client_id`, `scope`, then `rest`.
    fn post_form(&self, grant_type: &str, rest: &[(&str, &str)]) -> Bytes {
        let scope = self.scope_text();
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(rest.len() + 4);
        pairs.push(("grant_type", grant_type));
        if !self.service.is_empty() {
            pairs.push(("service", &self.service));
        }
        pairs.push(("client_id", &self.inner.options.client_id));
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        pairs.extend_from_slice(rest);
        form_body(&pairs)
    }

    fn token_get(&self, basic: Option<&Authorization>) -> Result<Request<Bytes>, Error> {
        let realm = self.realm()?.to_string();
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.service.is_empty() {
            pairs.push(("service", self.service.clone()));
        }
        for scope in &self.scopes {
            pairs.push(("scope", scope.to_string()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = form_body(&borrowed);
        let url = if query.is_empty() {
            realm
        } else {
            let separator = if realm.contains('?') { '&' } else { '?' };
            format!("{realm}{separator}{}", String::from_utf8_lossy(&query))
        };
        let mut builder = Request::builder().method(Method::GET).uri(&url);
        if let Some(basic) = basic {
            builder = builder.header(http::header::AUTHORIZATION, basic.header_value().clone());
        }
        builder.body(Bytes::new()).map_err(|err| Error::InvalidUri {
            uri: redact_url(&url),
            detail: err.to_string(),
        })
    }

    fn token_post(&self, form: Bytes) -> Result<Request<Bytes>, Error> {
        post(&self.realm()?.to_string(), form)
    }

    fn token_post_refresh(&self, refresh: &Secret) -> Result<Request<Bytes>, Error> {
        let form = self.post_form("refresh_token", &[("refresh_token", refresh.expose())]);
        self.token_post(form)
    }

    fn exchange_url(&self) -> String {
        format!(
            "{}://{}/oauth2/exchange",
            self.request_uri.scheme_str().unwrap_or("https"),
            self.registry
        )
    }

    fn exchange(&self, aad_token: &Secret, tenant: Option<&str>) -> Result<Pending, Error> {
        let service = if self.service.is_empty() {
            self.registry.as_str()
        } else {
            self.service.as_str()
        };
        let mut pairs = vec![("grant_type", "access_token"), ("service", service)];
        if let Some(tenant) = tenant {
            pairs.push(("tenant", tenant));
        }
        pairs.push(("access_token", aad_token.expose()));
        Ok(send_pending(
            post(&self.exchange_url(), form_body(&pairs))?,
            Awaiting::AcrExchange,
        ))
    }

    fn read_token(
        &self,
        response: &Response<Bytes>,
        now: SystemTime,
        cached_refresh: bool,
    ) -> Result<Pending, Error> {
        let endpoint = self
            .realm
            .as_ref()
            .map_or_else(String::new, |r| redact_url(&r.to_string()));
        if !response.status().is_success() {
            let kind = if cached_refresh {
                CredentialKind::CachedRefreshToken
            } else {
                self.credential.kind()
            };
            return Err(self.rejected(&endpoint, response, kind));
        }
        let token =
            TokenResponse::parse(response.body(), now).map_err(|kind| Error::TokenResponse {
                endpoint: endpoint.clone(),
                kind,
            })?;
        let authorization = self.bearer_header(token.token())?;
        let mut cache = self.inner.cache();
        cache.insert_token(
            &self.key,
            &self.service,
            &self.scopes,
            authorization.clone(),
            token.expires_at(now),
            now,
        );
        if let Some(refresh) = token.refresh_token() {
            cache.insert_refresh_token(&self.key, &self.service, refresh.clone());
        }
        Ok(Pending::Authorize(authorization))
    }

    fn rejected(
        &self,
        endpoint: &str,
        response: &Response<Bytes>,
        credential: CredentialKind,
    ) -> Error {
        Error::TokenRejected {
            registry: self.registry.clone(),
            endpoint: redact_url(endpoint),
            credential: Box::new(credential),
            scopes: self.scope_text(),
            status: response.status().as_u16(),
            detail: self.detail(response.body()),
        }
    }

    /// The secrets in play, to be redacted from what a server echoes.
    fn secrets(&self) -> Vec<Secret> {
        match &self.credential {
            Credential::Basic { password, .. } => vec![password.clone()],
            Credential::IdentityToken { token, .. }
            | Credential::RegistryToken(token)
            | Credential::AzureAccessToken { token, .. } => vec![token.clone()],
            Credential::Azure(provider) => provider.secrets(),
            Credential::Anonymous => Vec::new(),
        }
    }

    /// What a refusal's body says, as a sanitized excerpt.
    fn detail(&self, body: &[u8]) -> Option<String> {
        let secrets = self.secrets();
        let texts: Vec<&str> = secrets.iter().map(Secret::expose).collect();
        excerpt::error_detail(body, &texts)
    }
}

/// Drops a [`LocalIdentityEndpoint`] marker from a request whose host is not a loopback or
/// link-local address: the marker lets that one request go over plain HTTP.
fn keep_local_marker_only_for_local_hosts(request: &mut Request<Bytes>) {
    if request
        .extensions()
        .get::<LocalIdentityEndpoint>()
        .is_some()
        && !realm::is_local_identity_host(request.uri())
    {
        request.extensions_mut().remove::<LocalIdentityEndpoint>();
    }
}

fn post(url: &str, form: Bytes) -> Result<Request<Bytes>, Error> {
    Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .map_err(|err| Error::InvalidUri {
            uri: redact_url(url),
            detail: err.to_string(),
        })
}

/// What a registry's `insufficient_scope` refusal says is missing: the scopes its
/// challenge names (`Bearer error="insufficient_scope",scope="repository:a/b:push"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRight {
    /// The scopes the registry wants, as it named them.
    pub scopes: Vec<Scope>,
}

impl fmt::Display for MissingRight {
    /// `the token lacks push on repository team/app`, one clause per scope.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the token lacks ")?;
        for (i, scope) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            let actions: Vec<&str> = scope.actions().map(Action::as_str).collect();
            write!(
                f,
                "{} on {} {}",
                if actions.is_empty() {
                    "access".to_owned()
                } else {
                    actions.join(",")
                },
                scope.resource_type(),
                scope.name()
            )?;
        }
        Ok(())
    }
}

/// Reads a 401's challenge for `error="insufficient_scope"`: the registry took the token
/// but it does not carry the right asked for. `None` for any other 401.
pub fn missing_right<R: ResponseHeaders + ?Sized>(response: &R) -> Option<MissingRight> {
    let challenges = Challenge::from_headers(response.response_headers()).ok()?;
    let challenge = challenges
        .iter()
        .find(|c| c.is_scheme("bearer") && c.error().is_some_and(|e| e == "insufficient_scope"))?;
    let scopes = challenge
        .scope()
        .map(|s| {
            s.split(' ')
                .filter_map(|s| s.parse::<Scope>().ok())
                .collect()
        })
        .unwrap_or_default();
    Some(MissingRight { scopes })
}

#[cfg(test)]
mod tests {
    use super::cache_key;

    #[test]
    fn every_spelling_of_a_registry_shares_one_cache_key() {
        let hub = cache_key("docker.io").expect("a registry");
        for spelling in ["registry-1.docker.io", "Index.Docker.IO", "docker.io:443"] {
            assert_eq!(cache_key(spelling).as_ref(), Some(&hub), "{spelling}");
        }
        assert_eq!(cache_key("Example.com:443"), cache_key("example.com"));
        assert_ne!(cache_key("example.com:5000"), cache_key("example.com"));
        assert_eq!(cache_key("not a host"), None);
    }
}
