//! HTTP transport: one connection pool over rustls, authentication, retries, redirects.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use orca_auth::{AuthScheme, Authenticator, Authorization, Scope, Step};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::sync::Semaphore;

use crate::config::ClientConfig;
use crate::error::{BoxError, Error, parse_error_body, redact_url, status_is_retryable};
use crate::pool::{Pool, PooledBody};

/// The body type every request is sent with.
pub(crate) type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// The most error-body bytes read to find the registry's error codes.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// The most bytes of a token-service response read during negotiation.
const AUTH_BODY_LIMIT: u64 = 1024 * 1024;
/// The most steps one authentication negotiation may take.
const MAX_AUTH_STEPS: usize = 8;
/// A request body: replayable bytes, or a one-shot stream.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// A body that can be sent again on a retry.
    Bytes(Bytes),
    /// A body that can be sent once; a request carrying it is never retried.
    Stream(ReqBody),
    /// A streamed body that was already sent.
    Consumed,
}

impl Body {
    fn take(&mut self) -> Option<ReqBody> {
        match self {
            Body::Empty => Some(Empty::new().map_err(|never| match never {}).boxed_unsync()),
            Body::Bytes(b) => Some(
                Full::new(b.clone())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            ),
            Body::Stream(_) => match std::mem::replace(self, Body::Consumed) {
                Body::Stream(stream) => Some(stream),
                _ => None,
            },
            Body::Consumed => None,
        }
    }
}

/// A request as the endpoint code describes it; [`Transport::send`] adds authentication,
/// retries and redirects.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// The registry (`host[:port]`) the request is for: its authenticator cache key.
    pub(crate) registry: String,
    /// The scopes a token for this request needs.
    pub(crate) scopes: Vec<Scope>,
    /// Whether the request may be repeated after a failure.
    pub(crate) idempotent: bool,
    /// Whether 3xx responses are followed.
    pub(crate) follow_redirects: bool,
}

impl Call {
    pub(crate) fn new(method: Method, url: String, registry: &str, scopes: Vec<Scope>) -> Call {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        let follow_redirects = matches!(method, Method::GET | Method::HEAD);
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            registry: endpoint(registry).to_owned(),
            scopes,
            idempotent,
            follow_redirects,
        }
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Result<Call, Error> {
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::config(format!("invalid {name} header value {value:?}")))?;
        self.headers.append(name, value);
        Ok(self)
    }

    pub(crate) fn body(mut self, body: Body) -> Call {
        self.body = body;
        self
    }
}

/// A response whose status the caller inspects; the body is not read yet.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: PooledBody,
    /// The URL that answered (after redirects).
    pub(crate) url: String,
    pub(crate) method: Method,
    /// `Warning: 299` texts.
    pub(crate) warnings: Vec<String>,
}

impl Response {
    pub(crate) fn header_str(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The shared state behind a [`crate::Client`].
pub(crate) struct Transport {
    pool: Pool,
    pub(crate) config: ClientConfig,
    auth: Option<Authenticator>,
    pub(crate) transfers: Arc<Semaphore>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .field("authenticated", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(
        config: ClientConfig,
        auth: Option<Authenticator>,
    ) -> Result<Transport, Error> {
        if config.chunk_size == 0 {
            return Err(Error::config("chunk_size must be at least 1 byte"));
        }
        if config.max_concurrent_transfers == 0 {
            return Err(Error::config("max_concurrent_transfers must be at least 1"));
        }
        let pool = Pool::new(connector(&config)?, Duration::from_secs(90));
        let transfers = Arc::new(Semaphore::new(config.max_concurrent_transfers));
        Ok(Transport {
            pool,
            config,
            auth,
            transfers,
        })
    }

    /// `http` or `https` for `registry`.
    pub(crate) fn scheme(&self, registry: &str) -> &'static str {
        if self.config.plain_http.contains(registry) {
            "http"
        } else {
            "https"
        }
    }

    /// `scheme://registry`.
    pub(crate) fn base_url(&self, registry: &str) -> String {
        let registry = endpoint(registry);
        format!("{}://{registry}", self.scheme(registry))
    }

    /// Refuse plain HTTP to a URL unless its host or the registry is configured for it.
    fn check_scheme(&self, registry: &str, url: &url::Url) -> Result<(), Error> {
        match url.scheme() {
            "https" => Ok(()),
            "http" => {
                let authority = authority(url);
                if self.config.plain_http.contains(registry)
                    || self.config.plain_http.contains(&authority)
                {
                    Ok(())
                } else {
                    Err(Error::PlainHttpRefused {
                        registry: authority,
                    })
                }
            }
            other => Err(Error::Protocol {
                method: String::new(),
                url: redact_url(url.as_str()),
                message: format!("unsupported URL scheme {other:?}"),
                source: None,
            }),
        }
    }

    /// Send `call`, negotiating authentication on 401, retrying idempotent requests and
    /// following redirects as configured. Any status is returned; see [`Transport::send_expect`].
    pub(crate) async fn send(&self, mut call: Call) -> Result<Response, Error> {
        // Normalised as `url` does (default port dropped, host lower-cased), so that a
        // reference written `r.example:443` still gets its credentials.
        let base = self.base_url(&call.registry);
        let registry_origin = url::Url::parse(&base).map_or(base, |u| origin(&u));
        let mut attempt: u32 = 0;
        let mut negotiated = false;
        let mut denied_retried = false;
        let mut fresh: Option<Authorization> = None;
        loop {
            let authorization = match fresh.take() {
                Some(a) => Some(a),
                None => self.cached_authorization(&call.registry, &call.scopes),
            };
            let replayable = !matches!(call.body, Body::Stream(_) | Body::Consumed);
            let result = self
                .send_following(&mut call, &registry_origin, authorization.as_ref())
                .await;
            let retry_left =
                call.idempotent && replayable && attempt < self.config.retry.max_retries;
            let response = match result {
                Ok(r) => r,
                Err(e) if e.is_retryable() && retry_left => {
                    attempt += 1;
                    let delay = self.config.retry.delay(attempt, None);
                    tracing::debug!(error = %e, attempt, ?delay, "retrying after a transport error");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = response.status.as_u16();
            if status == 401 && self.auth.is_some() && !negotiated && replayable {
                negotiated = true;
                if let (Some(auth), Some(a)) = (&self.auth, &authorization) {
                    auth.reject(&call.registry, a);
                }
                let a = self
                    .negotiate(&call.registry, &call.scopes, &call.url, &response.headers)
                    .await?;
                fresh = Some(a);
                continue;
            }
            let bearer = authorization
                .as_ref()
                .is_some_and(|a| a.scheme() == AuthScheme::Bearer);
            if (status == 403 || status == 400) && bearer && !denied_retried && replayable {
                // A token that the registry now refuses (revoked, expired early): drop it
                // and negotiate once more. The body is small: an error document.
                let headers = response.headers.clone();
                let (head, errors) = read_error(response).await;
                if errors.iter().any(|e| e.code == crate::ErrorCode::Denied) {
                    denied_retried = true;
                    if let (Some(auth), Some(a)) = (&self.auth, &authorization) {
                        auth.reject(&call.registry, a);
                    }
                    match self
                        .negotiate(&call.registry, &call.scopes, &call.url, &headers)
                        .await
                    {
                        Ok(a) => {
                            fresh = Some(a);
                            continue;
                        }
                        // The registry's answer says more than a failed renegotiation.
                        Err(e) => tracing::debug!(error = %e, "renegotiation after DENIED failed"),
                    }
                }
                return Err(head.into_error(errors));
            }
            if status_is_retryable(status) && retry_left {
                attempt += 1;
                let retry_after = retry_after(&response.headers);
                let delay = self.config.retry.delay(attempt, retry_after);
                tracing::debug!(status, attempt, ?delay, url = %redact_url(&response.url), "retrying");
                drop(response);
                tokio::time::sleep(delay).await;
                continue;
            }
            return Ok(response);
        }
    }

    /// Like [`Transport::send`], but a status outside `expected` becomes [`Error::Status`]
    /// (with the registry's error codes read from the body).
    pub(crate) async fn send_expect(
        &self,
        call: Call,
        expected: &[u16],
    ) -> Result<Response, Error> {
        let response = self.send(call).await?;
        if expected.contains(&response.status.as_u16()) {
            Ok(response)
        } else {
            Err(status_error(response).await)
        }
    }

    fn cached_authorization(&self, registry: &str, scopes: &[Scope]) -> Option<Authorization> {
        self.auth
            .as_ref()
            .and_then(|auth| auth.authorization(registry, scopes, SystemTime::now()))
    }

    /// Send one request, following redirects when the call allows it.
    async fn send_following(
        &self,
        call: &mut Call,
        registry_origin: &str,
        authorization: Option<&Authorization>,
    ) -> Result<Response, Error> {
        let mut url = parse_url(&call.method, &call.url)?;
        let mut redirects = 0;
        loop {
            self.check_scheme(&call.registry, &url)?;
            let same_origin = origin(&url) == registry_origin;
            let mut headers = call.headers.clone();
            if let (true, Some(a)) = (same_origin, authorization) {
                let mut value = a.header_value().clone();
                value.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, value);
            }
            let Some(body) = call.body.take() else {
                return Err(Error::protocol(
                    &call.method,
                    url.as_str(),
                    "a streamed request body cannot be sent twice",
                ));
            };
            let response = self.send_once(&call.method, &url, headers, body).await?;
            if call.follow_redirects
                && is_redirect(response.status())
                && redirects < self.config.max_redirects
            {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::protocol(
                            &call.method,
                            url.as_str(),
                            "redirect without a Location header",
                        )
                    })?;
                let next = url.join(location).map_err(|e| Error::Protocol {
                    method: call.method.to_string(),
                    url: redact_url(url.as_str()),
                    message: "redirect Location is not a URL".into(),
                    source: Some(Box::new(e)),
                })?;
                tracing::debug!(from = %redact_url(url.as_str()), to = %redact_url(next.as_str()), "following redirect");
                url = next;
                redirects += 1;
                continue;
            }
            if call.follow_redirects && is_redirect(response.status()) {
                return Err(Error::protocol(
                    &call.method,
                    url.as_str(),
                    format!("more than {} redirects", self.config.max_redirects),
                ));
            }
            let (parts, body) = response.into_parts();
            let warnings = warnings(&parts.headers, &url);
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
                url: url.to_string(),
                method: call.method.clone(),
                warnings,
            });
        }
    }

    /// One HTTP exchange, with the read timeout on the response head.
    async fn send_once(
        &self,
        method: &Method,
        url: &url::Url,
        mut headers: HeaderMap,
        body: ReqBody,
    ) -> Result<http::Response<PooledBody>, Error> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .body(body)
            .map_err(|e| Error::Protocol {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                message: "cannot build the request".into(),
                source: Some(Box::new(e)),
            })?;
        if !headers.contains_key(header::USER_AGENT)
            && let Ok(ua) = HeaderValue::from_str(&self.config.user_agent)
        {
            headers.insert(header::USER_AGENT, ua);
        }
        *request.headers_mut() = headers;
        tracing::trace!(%method, url = %redact_url(url.as_str()), "sending");
        let timeout = self.config.read_timeout + self.config.connect_timeout;
        match tokio::time::timeout(timeout, self.pool.request(request)).await {
            Err(_) => Err(Error::Timeout {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                after: timeout,
            }),
            Ok(Err(e)) if is_tls_error(&e) => Err(Error::Tls {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                source: Box::new(e),
            }),
            Ok(Err(e)) => Err(Error::Connect {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                source: Box::new(e),
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Drive an `orca-auth` negotiation after a 401.
    async fn negotiate(
        &self,
        registry: &str,
        scopes: &[Scope],
        request_url: &str,
        headers: &HeaderMap,
    ) -> Result<Authorization, Error> {
        let auth = self.auth.as_ref().ok_or_else(|| Error::Auth {
            registry: registry.to_owned(),
            message: "no authenticator".into(),
            source: None,
        })?;
        let auth_error = |message: &str, e: Option<BoxError>| Error::Auth {
            registry: registry.to_owned(),
            message: message.to_owned(),
            source: e,
        };
        let uri: http::Uri = request_url
            .parse()
            .map_err(|e| auth_error("the request URL is not a URI", Some(Box::new(e))))?;
        let mut negotiation = auth
            .challenge(&uri, headers, scopes, SystemTime::now())
            .map_err(|e| auth_error("cannot answer the registry's challenge", Some(Box::new(e))))?;
        for _ in 0..MAX_AUTH_STEPS {
            match negotiation
                .next(SystemTime::now())
                .map_err(|e| auth_error("negotiation failed", Some(Box::new(e))))?
            {
                Step::Authorize(a) => return Ok(a),
                Step::Send(request) => {
                    let reply = self.send_auth_request(registry, request).await?;
                    negotiation.receive(reply, SystemTime::now()).map_err(|e| {
                        auth_error("the token service's answer was refused", Some(Box::new(e)))
                    })?;
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

    /// Send a request built by `orca-auth` (token service, ACR exchange) and collect its
    /// (small) response.
    async fn send_auth_request(
        &self,
        registry: &str,
        request: Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        let (parts, body) = request.into_parts();
        let url = parse_url(&parts.method, &parts.uri.to_string())?;
        self.check_scheme(registry, &url)?;
        let body = Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send_once(&parts.method, &url, parts.headers, body)
            .await?;
        let (rparts, rbody) = response.into_parts();
        let bytes = self
            .collect(rbody, AUTH_BODY_LIMIT, &parts.method, url.as_str())
            .await?;
        Ok(http::Response::from_parts(rparts, bytes))
    }

    /// Read a whole (small) body, failing past `limit` bytes.
    pub(crate) async fn collect(
        &self,
        mut body: PooledBody,
        limit: u64,
        method: &Method,
        url: &str,
    ) -> Result<Bytes, Error> {
        let mut out = Vec::new();
        loop {
            let frame = tokio::time::timeout(self.config.read_timeout, body.frame())
                .await
                .map_err(|_| Error::Timeout {
                    method: method.to_string(),
                    url: redact_url(url),
                    after: self.config.read_timeout,
                })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| Error::Connect {
                method: method.to_string(),
                url: redact_url(url),
                source: Box::new(e),
            })?;
            if let Ok(data) = frame.into_data() {
                if out.len() as u64 + data.len() as u64 > limit {
                    return Err(Error::SizeExceeded {
                        url: redact_url(url),
                        limit,
                    });
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(out))
    }
}

/// The request line of a failed response, kept while its body is read.
pub(crate) struct FailedHead {
    method: Method,
    url: String,
    status: u16,
    retry_after: Option<Duration>,
}

impl FailedHead {
    fn into_error(self, errors: Vec<crate::RegistryError>) -> Error {
        Error::Status {
            method: self.method.to_string(),
            url: redact_url(&self.url),
            status: self.status,
            errors,
            retry_after: self.retry_after,
        }
    }
}

async fn read_error(response: Response) -> (FailedHead, Vec<crate::RegistryError>) {
    let head = FailedHead {
        method: response.method.clone(),
        url: response.url.clone(),
        status: response.status.as_u16(),
        retry_after: retry_after(&response.headers),
    };
    let limited = http_body_util::Limited::new(
        response.body,
        usize::try_from(ERROR_BODY_LIMIT).unwrap_or(usize::MAX),
    );
    let errors = match tokio::time::timeout(Duration::from_secs(10), limited.collect()).await {
        Ok(Ok(collected)) => parse_error_body(&collected.to_bytes()),
        _ => Vec::new(),
    };
    (head, errors)
}

/// Turn an unexpected response into [`Error::Status`].
pub(crate) async fn status_error(response: Response) -> Error {
    let (head, errors) = read_error(response).await;
    head.into_error(errors)
}

fn parse_url(method: &Method, raw: &str) -> Result<url::Url, Error> {
    url::Url::parse(raw).map_err(|e| Error::Protocol {
        method: method.to_string(),
        url: redact_url(raw),
        message: "not an absolute URL".into(),
        source: Some(Box::new(e)),
    })
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The host that serves a registry's API: Docker Hub's references say `docker.io` (or
/// `index.docker.io`), its API is at `registry-1.docker.io`, as docker and ORAS do it.
pub(crate) fn endpoint(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// `host[:port]` of a URL, as written in references.
pub(crate) fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `scheme://host[:port]` with the default port omitted.
pub(crate) fn origin(url: &url::Url) -> String {
    format!("{}://{}", url.scheme(), authority(url))
}

/// Whether a transport error was caused by TLS (rustls errors arrive wrapped in
/// `io::Error`s inside hyper-util's error).
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // Bounded: error chains are short, and this never loops on a cyclic one.
    for _ in 0..16 {
        let Some(err) = current else { return false };
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // `io::Error::source` skips the error it wraps, so step into it explicitly.
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// TCP (with the connect timeout, no Nagle delay) and rustls, offering HTTP/2 and
/// HTTP/1.1 by ALPN; plain HTTP for `http://` URLs.
pub(crate) fn connector(config: &ClientConfig) -> Result<HttpsConnector<HttpConnector>, Error> {
    let tls = tls_config(config)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The texts of `Warning: 299 <agent> "<text>"` headers; each is also logged.
pub(crate) fn warnings(headers: &HeaderMap, url: &url::Url) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(header::WARNING) {
        let Ok(value) = value.to_str() else { continue };
        let value = value.trim();
        let Some(rest) = value.strip_prefix("299") else {
            continue;
        };
        let text = match (rest.find('"'), rest.rfind('"')) {
            (Some(a), Some(b)) if b > a => rest[a + 1..b].replace("\\\"", "\""),
            _ => rest.trim().to_owned(),
        };
        tracing::warn!(url = %redact_url(url.as_str()), warning = %text, "registry warning");
        out.push(text);
    }
    out
}

/// Build the rustls configuration: webpki roots, optionally the platform bundle, extra PEM
/// roots, and the selective skip-verify verifier.
fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if config.use_native_roots {
        for path in native_bundle_paths() {
            if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                let certs: Vec<_> = iter.filter_map(Result::ok).collect();
                let _ = roots.add_parsable_certificates(certs);
            }
        }
    }
    for path in &config.extra_root_certificates {
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| Error::Config {
            message: format!("cannot read root certificates from {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        let mut count = 0;
        for cert in iter {
            let cert = cert.map_err(|e| Error::Config {
                message: format!("bad PEM certificate in {}", path.display()),
                source: Some(Box::new(e)),
            })?;
            roots.add(cert).map_err(|e| Error::Config {
                message: format!("unusable root certificate in {}", path.display()),
                source: Some(Box::new(e)),
            })?;
            count += 1;
        }
        if count == 0 {
            return Err(Error::config(format!(
                "no certificate in {}",
                path.display()
            )));
        }
    }
    let roots = Arc::new(roots);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            message: "TLS provider has no usable protocol version".into(),
            source: Some(Box::new(e)),
        })?;
    let tls = if config.insecure_skip_verify.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::Config {
                    message: "cannot build the certificate verifier".into(),
                    source: Some(Box::new(e)),
                })?;
        let hosts = config
            .insecure_skip_verify
            .iter()
            .map(|r| host_of(r).to_owned())
            .collect();
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SelectiveVerifier {
                inner,
                insecure_hosts: hosts,
                provider,
            }))
            .with_no_client_auth()
    };
    Ok(tls)
}

fn native_bundle_paths() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(Into::into)
        .into_iter()
        .collect();
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        paths.push(p.into());
    }
    paths
}

/// `host` of `host[:port]` (IPv6 in brackets kept as is).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_once(']').map_or(registry, |(h, _)| &h[1..]);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// Verifies certificates normally, except for the hosts named in `insecure_hosts`.
#[derive(Debug)]
struct SelectiveVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    insecure_hosts: BTreeSet<String>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SelectiveVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = match server_name {
            ServerName::DnsName(d) => d.as_ref().to_owned(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        };
        if self.insecure_hosts.contains(&name) {
            tracing::warn!(host = %name, "TLS certificate verification skipped by configuration");
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn warnings_keep_only_299() {
        let mut h = HeaderMap::new();
        h.append(
            header::WARNING,
            HeaderValue::from_static(r#"299 - "this repository is deprecated""#),
        );
        h.append(header::WARNING, HeaderValue::from_static(r#"199 - "misc""#));
        let url = url::Url::parse("https://r.example/v2/").unwrap();
        assert_eq!(warnings(&h, &url), ["this repository is deprecated"]);
    }

    #[test]
    fn plain_http_only_where_configured() {
        let config = ClientConfig::default().with_plain_http("plain.example:5000");
        let t = Transport::new(config, None).unwrap();
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert_eq!(t.scheme("plain.example:5000"), "http");
        assert_eq!(t.scheme("tls.example"), "https");
        // An https registry redirecting (or pointing a Location or realm) to plain HTTP.
        let e = t
            .check_scheme("tls.example", &url("http://storage.example/blob"))
            .unwrap_err();
        assert!(
            matches!(e, Error::PlainHttpRefused { ref registry } if registry == "storage.example"),
            "{e}"
        );
        assert!(
            t.check_scheme("tls.example", &url("https://storage.example/blob"))
                .is_ok()
        );
        // A plain registry may send its clients to another plain host (its storage).
        assert!(
            t.check_scheme("plain.example:5000", &url("http://127.0.0.1:9/x"))
                .is_ok()
        );
        assert!(t.check_scheme("tls.example", &url("ftp://x/")).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let config = ClientConfig {
            chunk_size: 0,
            ..ClientConfig::default()
        };
        assert!(
            Transport::new(config, None)
                .unwrap_err()
                .to_string()
                .contains("chunk_size")
        );
        let config = ClientConfig::default().with_root_certificate("/nonexistent/ca.pem");
        let e = Transport::new(config, None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let outer = std::io::Error::other(inner);
        assert!(is_tls_error(&outer));
        assert!(!is_tls_error(&std::io::Error::other("connection refused")));
    }

    #[test]
    fn origins_are_normalised() {
        let u = url::Url::parse("https://R.Example:443/v2/").unwrap();
        assert_eq!(origin(&u), "https://r.example");
    }

    #[test]
    fn docker_hub_references_reach_its_api_host() {
        let t = Transport::new(ClientConfig::default(), None).unwrap();
        assert_eq!(t.base_url("docker.io"), "https://registry-1.docker.io");
        assert_eq!(
            t.base_url("index.docker.io"),
            "https://registry-1.docker.io"
        );
        assert_eq!(t.base_url("ghcr.io"), "https://ghcr.io");
        let call = Call::new(Method::GET, String::new(), "docker.io", Vec::new());
        assert_eq!(call.registry, "registry-1.docker.io");
    }

    #[test]
    fn hosts_and_origins() {
        assert_eq!(host_of("r.example:5000"), "r.example");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("r.example"), "r.example");
        let u = url::Url::parse("https://r.example:443/v2/").unwrap();
        assert_eq!(origin(&u), "https://r.example");
        let u = url::Url::parse("http://127.0.0.1:8080/v2/").unwrap();
        assert_eq!(origin(&u), "http://127.0.0.1:8080");
    }
}
