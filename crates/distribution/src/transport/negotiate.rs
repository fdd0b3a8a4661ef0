//! The authentication driver: after a 401, run an `orca-auth` negotiation to its end,
//! sending the requests it builds (token service, ACR exchange, Entra ID) through the pool
//! and running its credential lookups on blocking threads.
//!
//! Concurrent negotiations for one registry and scope set share one: the first caller
//! negotiates, the others wait for it and take the token it cached (sixteen parallel layer
//! pulls start with one token request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Request;
use http::header::HeaderMap;
use http_body_util::{BodyExt, Full};
use orca_auth::{Authenticator, Authorization, LocalIdentityEndpoint, Scope, Step};

use super::call::parse_url;
use super::{Deadline, Transport};
use crate::error::Error;
use crate::sanitize::{Secrets, excerpt};

/// The most bytes of a token-service response read during negotiation.
const AUTH_BODY_LIMIT: u64 = 1024 * 1024;
/// The most steps one authentication negotiation may take (two lookups, five requests,
/// and the final authorization fit with room to spare).
const MAX_AUTH_STEPS: usize = 12;
/// The longest a credential lookup (a helper, `az`, an IMDS probe) may take before the
/// negotiation fails: a hung helper must not hold the negotiation, and every request
/// waiting on it, forever.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// What a negotiation is for: the registry, the scopes and the URL of the request.
pub(super) type Target<'a> = (&'a str, &'a [Scope], &'a str);

/// One gate per registry and scope set: whoever holds it is negotiating.
#[derive(Default)]
pub(crate) struct Gates(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Gates {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.map().entry(key.to_owned()).or_default())
    }

    /// Forgets `key`'s gate when nobody else holds or waits for it.
    fn release(&self, key: &str, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.map();
        // The map's reference and ours: no one else is waiting.
        if Arc::strong_count(gate) <= 2 {
            map.remove(key);
        }
    }
}

/// Why a negotiation is started.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A 401 (or `DENIED`): any valid token another caller cached meanwhile will do.
    Answer,
    /// A streamed request is about to start: only a token with headroom will do.
    Stream,
}

impl Transport {
    /// Drive an `orca-auth` negotiation, sharing it with concurrent callers for the same
    /// registry and scopes; the flag says whether another caller's negotiation answered.
    pub(super) async fn negotiate(
        &self,
        (registry, scopes, request_url): Target<'_>,
        headers: &HeaderMap,
        deadline: &Deadline,
        purpose: Purpose,
    ) -> Result<(Authorization, bool), Error> {
        let auth = self.auth.as_ref().ok_or_else(|| Error::Auth {
            registry: registry.to_owned(),
            message: "no authenticator".into(),
            source: None,
        })?;
        let key = format!(
            "{registry} {}",
            Scope::merge(scopes)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let gate = self.negotiations.gate(&key);
        let result = {
            let _turn = gate.lock().await;
            // Someone may have negotiated while this caller waited (its failed token was
            // rejected from the cache before, so what is there now is new).
            let now = SystemTime::now();
            let cached = match purpose {
                Purpose::Answer => auth.authorization(registry, scopes, now),
                Purpose::Stream => auth.authorization_for_stream(registry, scopes, now),
            };
            if let Some(a) = cached {
                Ok((a, true))
            } else {
                // Boxed: a negotiation is rare and its state large; every request's
                // future would carry it otherwise.
                let target = (registry, scopes, request_url);
                Box::pin(self.negotiate_alone(auth, target, headers, deadline))
                    .await
                    .map(|a| (a, false))
            }
        };
        self.negotiations.release(&key, &gate);
        result
    }

    /// For a `streamed` request (which cannot be replayed after a 401), a token: the cached
    /// one when it has headroom, else a fresh one negotiated first from the challenge the
    /// registry sent before, so the upload does not outlive its token. `None` when nothing
    /// is cached and no challenge is known (the request goes out without, as before).
    pub(super) async fn stream_authorization(
        &self,
        streamed: bool,
        (registry, scopes, request_url): Target<'_>,
        deadline: &Deadline,
    ) -> Option<Authorization> {
        let auth = self.auth.as_ref().filter(|_| streamed)?;
        let now = SystemTime::now();
        if let Some(a) = auth.authorization_for_stream(registry, scopes, now) {
            return Some(a);
        }
        let close_to_expiry = auth.authorization(registry, scopes, now);
        if !auth.remembers_challenge(registry) {
            return close_to_expiry;
        }
        let target = (registry, scopes, request_url);
        match self
            .negotiate(target, &HeaderMap::new(), deadline, Purpose::Stream)
            .await
        {
            Ok((a, _)) => Some(a),
            Err(e) => {
                tracing::debug!(error = %e, "refreshing the token before a streamed request failed");
                close_to_expiry
            }
        }
    }

    async fn negotiate_alone(
        &self,
        auth: &Authenticator,
        (registry, scopes, request_url): Target<'_>,
        headers: &HeaderMap,
        deadline: &Deadline,
    ) -> Result<Authorization, Error> {
        let auth_error = |message: &str, e: Option<orca_auth::Error>| Error::Auth {
            registry: registry.to_owned(),
            message: message.to_owned(),
            source: e.map(Box::new),
        };
        let uri: http::Uri = request_url
            .parse()
            .map_err(|e| auth_error(&format!("the request URL is not a URI: {e}"), None))?;
        let mut negotiation = auth
            .challenge(&uri, headers, scopes, SystemTime::now())
            .map_err(|e| auth_error("cannot answer the registry's challenge", Some(e)))?;
        tracing::debug!(registry, scopes = ?negotiation.scopes(), "negotiating authentication");
        // What the token requests carried, kept out of any refusal that echoes it.
        let mut secrets = Secrets::default();
        for _ in 0..MAX_AUTH_STEPS {
            match negotiation
                .next(SystemTime::now())
                .map_err(|e| auth_error("negotiation failed", Some(e)))?
            {
                Step::Authorize(a) => return Ok(a),
                Step::Send(request) => {
                    secrets.extend(Secrets::from_request(&request));
                    let reply = self.send_auth_request(registry, request, deadline).await?;
                    negotiation
                        .receive(reply, SystemTime::now())
                        .map_err(|e| refused(registry, e, &secrets))?;
                }
                Step::Lookup(lookup) => {
                    // Credential helpers, `az`, files: never on the runtime's threads.
                    let what = lookup.describe();
                    let running = tokio::task::spawn_blocking(move || lookup.run());
                    let found = tokio::time::timeout(LOOKUP_TIMEOUT, running)
                        .await
                        .map_err(|_| {
                            auth_error(
                                &format!(
                                    "looking up the {what} took more than {} s",
                                    LOOKUP_TIMEOUT.as_secs()
                                ),
                                None,
                            )
                        })?
                        .map_err(|e| {
                            auth_error(&format!("looking up the {what} did not finish: {e}"), None)
                        })?;
                    negotiation
                        .resume(found, SystemTime::now())
                        .map_err(|e| auth_error(&e.to_string(), Some(e)))?;
                }
                _ => {
                    return Err(auth_error(
                        "orca-auth asked for a step this client does not know",
                        None,
                    ));
                }
            }
        }
        Err(auth_error(
            &format!("negotiation took more than {MAX_AUTH_STEPS} steps"),
            None,
        ))
    }

    /// Send a request built by `orca-auth` (token service, ACR exchange, Entra ID, a
    /// managed identity endpoint) and collect its (small) response.
    ///
    /// A request marked [`LocalIdentityEndpoint`] (IMDS, App Service: plain HTTP on a
    /// link-local or loopback address by nature; `orca-auth` keeps the mark only for such
    /// hosts) may go over plain HTTP without plain HTTP being configured for anything.
    async fn send_auth_request(
        &self,
        registry: &str,
        request: Request<Bytes>,
        deadline: &Deadline,
    ) -> Result<http::Response<Bytes>, Error> {
        let (parts, body) = request.into_parts();
        let url = parse_url(&parts.method, &parts.uri.to_string())?;
        let local_identity =
            parts.extensions.get::<LocalIdentityEndpoint>().is_some() && url.scheme() == "http";
        if !local_identity {
            self.check_scheme(&parts.method, registry, &url)?;
        }
        let body = Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send_once(&parts.method, &url, parts.headers, body, deadline)
            .await?;
        let (rparts, rbody) = response.into_parts();
        let bytes = self
            .collect(rbody, AUTH_BODY_LIMIT, &parts.method, url.as_str())
            .await?;
        Ok(http::Response::from_parts(rparts, bytes))
    }
}

/// The error for an answer the negotiation did not accept, saying who refused: a 401 to a
/// credential from the registry's token service (or ACR exchange) is
/// [`Error::CredentialsRejected`], naming the user; Entra ID's and other refusals keep
/// `orca-auth`'s message, which names the refusing party.
///
/// # Security
/// The service's own words (`detail`) are remote text: they are made an excerpt with
/// control characters escaped and the request's `secrets` (and any `Basic …`/`Bearer …`
/// value) replaced by `REDACTED`, since a hostile service echoes what it was sent.
fn refused(registry: &str, mut e: orca_auth::Error, secrets: &Secrets) -> Error {
    if let orca_auth::Error::TokenRejected { detail, .. }
    | orca_auth::Error::IdentityProviderRefused { detail, .. } = &mut e
    {
        *detail = detail.take().map(|d| excerpt(&d, secrets));
    }
    if let orca_auth::Error::TokenRejected {
        endpoint,
        credential,
        status: 401,
        ..
    } = &e
    {
        let user = match credential.as_ref() {
            orca_auth::CredentialKind::Basic { username } => Some(username.clone()),
            orca_auth::CredentialKind::IdentityToken { username } => username.clone(),
            _ => None,
        };
        return Error::CredentialsRejected {
            registry: registry.to_owned(),
            user,
            by: crate::error::redact_url(endpoint),
            status: 401,
            source: Some(Box::new(e)),
        };
    }
    Error::Auth {
        registry: registry.to_owned(),
        message: e.to_string(),
        source: Some(Box::new(e)),
    }
}

/// The error for a 401 from the registry to a bearer token it was just given: the
/// registry (not a token service) refused, and with `insufficient_scope` it says which
/// right is missing on which repository.
pub(super) fn refused_fresh_token(
    call: &super::Call,
    response: &super::Response,
    authorization: Option<&Authorization>,
) -> Result<(), Error> {
    if authorization.is_some_and(|a| a.scheme() == orca_auth::AuthScheme::Bearer) {
        Err(registry_refused(
            &call.registry,
            &response.headers,
            &call.scopes,
        ))
    } else {
        Ok(())
    }
}

fn registry_refused(registry: &str, headers: &HeaderMap, scopes: &[Scope]) -> Error {
    let message = match orca_auth::missing_right(headers) {
        Some(missing) if !missing.scopes.is_empty() => {
            format!("the registry refused the token it was given: {missing} (insufficient_scope)")
        }
        _ => format!(
            "the registry refused the token its token service issued (scopes {})",
            scopes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    Error::Auth {
        registry: registry.to_owned(),
        message,
        source: None,
    }
}
