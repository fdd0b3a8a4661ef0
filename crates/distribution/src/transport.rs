//! HTTP transport: the [`Transport`] behind a client and its send loop, which adds
//! authentication, retries and redirects to each [`Call`].
//!
//! - [`call`]: the call model (request, body, response) and URL/header helpers;
//! - [`negotiate`]: the authentication driver run after a 401;
//! - [`tls`]: the connector and rustls configuration.

mod call;
mod negotiate;
mod tls;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request};
use http_body_util::BodyExt;
use orca_auth::{AuthScheme, Authenticator, Authorization, Scope};
use tokio::sync::Semaphore;

pub(crate) use call::{Body, Call, ReqBody, Response, endpoint, status_error};
pub(crate) use tls::connector;

use crate::config::ClientConfig;
use crate::error::{Error, redact_url, status_is_retryable};
use crate::pool::PoolError;
use crate::pool::{Pool, PooledBody};
use crate::sanitize::Secrets;
use call::{authority, is_redirect, origin, parse_url, read_error, retry_after, warnings};
use tls::{TlsFailure, tls_failure};

/// The shared state behind a [`crate::Client`].
pub(crate) struct Transport {
    pool: Pool,
    pub(crate) config: ClientConfig,
    auth: Option<Authenticator>,
    pub(crate) transfers: Arc<Semaphore>,
    /// Negotiations in flight, one per registry and scope set.
    negotiations: negotiate::Gates,
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
            negotiations: negotiate::Gates::default(),
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
    fn check_scheme(&self, method: &Method, registry: &str, url: &url::Url) -> Result<(), Error> {
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
                method: method.to_string(),
                url: redact_url(url.as_str()),
                message: format!("unsupported URL scheme {other:?}"),
                source: None,
            }),
        }
    }

    /// Send `call`, negotiating authentication on 401, retrying idempotent requests and
    /// following redirects as configured. Any status is returned; see [`Transport::send_expect`].
    #[allow(clippy::too_many_lines)] // one state machine (retry, auth, redirect); split, the order of its checks would be hidden
    pub(crate) async fn send(&self, mut call: Call) -> Result<Response, Error> {
        // Normalised as `url` does (default port dropped, host lower-cased), so that a
        // reference written `r.example:443` still gets its credentials.
        let base = self.base_url(&call.registry);
        let registry_origin = url::Url::parse(&base).map_or(base, |u| origin(&u));
        let mut attempt: u32 = 0;
        let mut negotiated = false;
        let mut denied_retried = false;
        // A streamed body cannot be replayed after a 401: it starts with a token that will
        // outlive it.
        let streamed = matches!(call.body, Body::Stream(_));
        let (registry, scopes, url) = (&call.registry, &call.scopes, &call.url);
        let mut fresh = self
            .stream_authorization(streamed, registry, scopes, url)
            .await;
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
            let from_registry =
                url::Url::parse(&response.url).is_ok_and(|u| origin(&u) == registry_origin);
            if status == 401
                && let Some(e) = unanswerable_401(
                    &call.registry,
                    &response,
                    from_registry,
                    negotiated.then_some(authorization.as_ref()).flatten(),
                )
            {
                return Err(e);
            }
            if status == 401 && negotiated && from_registry {
                negotiate::refused_fresh_token(&call, &response, authorization.as_ref())?;
            }
            if status == 401 && self.auth.is_some() && !negotiated && replayable {
                negotiated = true;
                if let (Some(auth), Some(a)) = (&self.auth, &authorization) {
                    auth.reject(&call.registry, a);
                }
                let (registry, scopes, url) = (&call.registry, &call.scopes, &call.url);
                fresh = Some(
                    self.answer(registry, scopes, url, &response.headers)
                        .await?,
                );
                continue;
            }
            let bearer = authorization
                .as_ref()
                .is_some_and(|a| a.scheme() == AuthScheme::Bearer);
            if (status == 403 || status == 400)
                && bearer
                && from_registry
                && !denied_retried
                && replayable
            {
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
                        .answer(&call.registry, &call.scopes, &call.url, &headers)
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
            self.check_scheme(&call.method, &call.registry, &url)?;
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
            let secrets = if same_origin {
                Secrets::from_authorization(authorization)
            } else {
                Secrets::default()
            };
            let warnings = warnings(&parts.headers, &url, &secrets);
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
                url: url.to_string(),
                method: call.method.clone(),
                warnings,
                secrets,
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
            Ok(Err(PoolError::Http(e))) if e.is_parse() => {
                // The registry's answer is not HTTP hyper accepts (a head over its size
                // limit, a malformed status line): a protocol error, not worth repeating.
                let message = if e.is_parse_too_large() {
                    "the response head is larger than the client accepts (oversized header)"
                } else {
                    "the response is not valid HTTP"
                };
                Err(Error::Protocol {
                    method: method.to_string(),
                    url: redact_url(url.as_str()),
                    message: message.into(),
                    source: Some(Box::new(e)),
                })
            }
            Ok(Err(e)) => match tls_failure(&e) {
                Some(TlsFailure::PlainHttp) => Err(Error::PlainHttpAnswer {
                    method: method.to_string(),
                    url: redact_url(url.as_str()),
                    source: Box::new(e),
                }),
                Some(TlsFailure::Other) => Err(Error::Tls {
                    method: method.to_string(),
                    url: redact_url(url.as_str()),
                    source: Box::new(e),
                }),
                None => Err(Error::Connect {
                    method: method.to_string(),
                    url: redact_url(url.as_str()),
                    source: Box::new(e),
                }),
            },
            Ok(Ok(r)) => Ok(r),
        }
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

/// A 401 that must not be negotiated: from a redirect's target (storage), whose realm is
/// its own choice and must never receive the registry's credentials; or the registry's
/// answer to the Basic credentials it just asked for (`negotiated` is what was sent).
fn unanswerable_401(
    registry: &str,
    response: &Response,
    from_registry: bool,
    negotiated: Option<&Authorization>,
) -> Option<Error> {
    if !from_registry {
        let host = url::Url::parse(&response.url).map_or_else(|_| String::new(), |u| authority(&u));
        return Some(Error::RedirectRefused {
            method: response.method.to_string(),
            url: redact_url(&response.url),
            host,
            status: response.status.as_u16(),
        });
    }
    let user = negotiated.and_then(Secrets::basic_user)?;
    Some(Error::CredentialsRejected {
        registry: registry.to_owned(),
        user: Some(user),
        by: redact_url(&response.url),
        status: response.status.as_u16(),
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_where_configured() {
        let config = ClientConfig::default().with_plain_http("plain.example:5000");
        let t = Transport::new(config, None).unwrap();
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert_eq!(t.scheme("plain.example:5000"), "http");
        assert_eq!(t.scheme("tls.example"), "https");
        // An https registry redirecting (or pointing a Location or realm) to plain HTTP.
        let e = t
            .check_scheme(
                &Method::GET,
                "tls.example",
                &url("http://storage.example/blob"),
            )
            .unwrap_err();
        assert!(
            matches!(e, Error::PlainHttpRefused { ref registry } if registry == "storage.example"),
            "{e}"
        );
        assert!(
            t.check_scheme(
                &Method::GET,
                "tls.example",
                &url("https://storage.example/blob")
            )
            .is_ok()
        );
        // A plain registry may send its clients to another plain host (its storage).
        assert!(
            t.check_scheme(
                &Method::GET,
                "plain.example:5000",
                &url("http://127.0.0.1:9/x")
            )
            .is_ok()
        );
        assert!(
            t.check_scheme(&Method::GET, "tls.example", &url("ftp://x/"))
                .is_err()
        );
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
}
