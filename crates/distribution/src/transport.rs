//! HTTP transport: the [`Transport`] behind a client and its send loop, which adds
//! authentication, retries and redirects to each [`Call`].
//!
//! - [`call`]: the call model (request, body, response) and URL/header helpers;
//! - [`negotiate`]: the authentication driver run after a 401;
//! - [`tls`]: the connector and rustls configuration.

mod call;
mod negotiate;
mod pace;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request};
use http_body_util::BodyExt;
use orca_auth::{AuthScheme, Authenticator, Authorization, Scope};
use tokio::sync::Semaphore;

pub(crate) use call::{Body, Call, ReqBody, Response, endpoint, status_error};
pub(crate) use pace::{Deadline, Pace};
pub(crate) use tls::connector;

use crate::config::{ClientConfig, RegistryPolicy};
use crate::error::{Error, redact_url, status_is_retryable};
use crate::observe::{AuthOutcome, Event, RetryReason, repository_of};
use crate::pool::PoolError;
use crate::pool::{Pool, PooledBody};
use crate::sanitize::Secrets;
use call::{authority, is_redirect, origin, parse_url, read_error, retry_after, warnings};
use pace::{Counted, Sent};
use tls::{TlsFailure, tls_failure};

/// The shared state behind a [`crate::Client`].
pub(crate) struct Transport {
    pool: Pool,
    pub(crate) config: ClientConfig,
    pub(crate) auth: Option<Authenticator>,
    /// One transfer limit per registry (its policy's `max_concurrent_transfers`), made
    /// when the registry is first used.
    transfers: Mutex<HashMap<String, Arc<Semaphore>>>,
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
        config.validate()?;
        let pool = Pool::new(connector(&config)?, Duration::from_secs(90));
        Ok(Transport {
            pool,
            config,
            auth,
            transfers: Mutex::default(),
            negotiations: negotiate::Gates::default(),
        })
    }

    /// The policy for `registry` (its own, else the default).
    pub(crate) fn policy(&self, registry: &str) -> &RegistryPolicy {
        self.config.policy(registry)
    }

    /// Report `event` to the observer, if there is one. The event is built only then.
    #[inline]
    pub(crate) fn observe<'a>(&self, event: impl FnOnce() -> Event<'a>) {
        if let Some(observer) = &self.config.observer {
            observer.event(&event());
        }
    }

    /// Whether an observer listens (to skip preparing events nobody reads).
    pub(crate) fn observed(&self) -> bool {
        self.config.observer.is_some()
    }

    /// Wait for a transfer slot of `registry`.
    pub(crate) async fn transfer_permit(
        &self,
        registry: &str,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        // One limit per registry however it is spelled.
        let key = crate::Registry::parse(registry)
            .map_or_else(|_| registry.to_owned(), |r| r.to_string());
        let semaphore = {
            let mut map = self
                .transfers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let limit = || self.policy(registry).max_concurrent_transfers;
            Arc::clone(
                map.entry(key)
                    .or_insert_with(|| Arc::new(Semaphore::new(limit()))),
            )
        };
        semaphore
            .acquire_owned()
            .await
            .map_err(|_| Error::config("the client's transfer limit was closed"))
    }

    /// `http` or `https` for `registry`.
    pub(crate) fn scheme(&self, registry: &str) -> &'static str {
        if self.config.is_plain_http(registry) {
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
                if self.config.is_plain_http(registry) || self.config.is_plain_http(&authority) {
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
    pub(crate) async fn send(&self, call: Call) -> Result<Response, Error> {
        // Boxed once here (one allocation per request, nothing next to a round trip), so
        // that every operation built on it keeps a small future of its own.
        Box::pin(self.send_unboxed(call)).await
    }

    /// [`Transport::send`], unboxed.
    #[expect(
        clippy::too_many_lines,
        reason = "one loop: the order of the 401, DENIED and retry decisions reads best in one place"
    )]
    async fn send_unboxed(&self, mut call: Call) -> Result<Response, Error> {
        // Normalised as `url` does (default port dropped, host lower-cased), so that a
        // reference written `r.example:443` still gets its credentials.
        let base = self.base_url(&call.registry);
        let registry_origin = url::Url::parse(&base).map_or(base, |u| origin(&u));
        let deadline =
            (call.deadline.clone()).unwrap_or_else(|| Deadline::new(self.policy(&call.registry)));
        let mut attempt: u32 = 0;
        let mut negotiated = false;
        let mut denied_retried = false;
        // A streamed body cannot be replayed after a 401: it starts with a token that will
        // outlive it.
        let streamed = matches!(call.body, Body::Stream(_));
        let (registry, scopes, url) = (&call.registry, &call.scopes, &call.url);
        let mut fresh = self
            .stream_authorization(streamed, (registry, scopes, url), &deadline)
            .await;
        let retry = &self.policy(&call.registry).retry;
        loop {
            let authorization = fresh
                .take()
                .or_else(|| self.cached_authorization(&call.registry, &call.scopes));
            let replayable = !matches!(call.body, Body::Stream(_) | Body::Consumed);
            let result = self
                .send_following(
                    &mut call,
                    &registry_origin,
                    authorization.as_ref(),
                    &deadline,
                )
                .await;
            let retry_left = call.idempotent && replayable && attempt < retry.max_retries;
            let response = match result {
                Ok(r) => r,
                Err(e) if e.is_retryable() && retry_left => {
                    attempt += 1;
                    let delay = retry.delay(attempt, None);
                    self.observe(|| Event::Retry {
                        method: &call.method,
                        registry: &call.registry,
                        repository: repository_of(&call.scopes),
                        attempt,
                        reason: RetryReason::Transport,
                        delay,
                    });
                    tracing::debug!(error = %e, attempt, ?delay, "retrying after a transport error");
                    if pause(&deadline, delay).await {
                        continue;
                    }
                    // The operation's time is up: the last failure is the answer.
                    return Err(e);
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
                let a = self
                    .negotiate_observed(
                        &call.registry,
                        &call.scopes,
                        &call.url,
                        &response.headers,
                        &deadline,
                    )
                    .await?;
                fresh = Some(a);
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
                denied_retried = true;
                fresh = Some(
                    self.renegotiate_denied(
                        (&call.registry, &call.scopes, &call.url),
                        response,
                        authorization.as_ref(),
                        &deadline,
                    )
                    .await?,
                );
                continue;
            }
            if status_is_retryable(status) && retry_left {
                let retry_after = retry_after(&response.headers);
                let delay = retry.delay(attempt + 1, retry_after);
                // Past the operation's deadline the registry's answer is returned as is.
                if before(&deadline, delay).is_some() {
                    attempt += 1;
                    self.observe(|| Event::Retry {
                        method: &call.method,
                        registry: &call.registry,
                        repository: repository_of(&call.scopes),
                        attempt,
                        reason: RetryReason::Status(status),
                        delay,
                    });
                    tracing::debug!(status, attempt, ?delay, url = %redact_url(&response.url), "retrying");
                    drop(response);
                    pause(&deadline, delay).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// A token that the registry now refuses (revoked, expired early) with `DENIED`: drop
    /// it and negotiate once more. Any other refusal is returned as the error.
    async fn renegotiate_denied(
        &self,
        (registry, scopes, url): (&str, &[Scope], &str),
        response: Response,
        authorization: Option<&Authorization>,
        deadline: &Deadline,
    ) -> Result<Authorization, Error> {
        // The body is small: an error document.
        let headers = response.headers.clone();
        let (head, errors) = read_error(response).await;
        if errors.iter().any(|e| e.code == crate::ErrorCode::Denied) {
            if let (Some(auth), Some(a)) = (&self.auth, authorization) {
                auth.reject(registry, a);
            }
            match self
                .negotiate_observed(registry, scopes, url, &headers, deadline)
                .await
            {
                Ok(a) => return Ok(a),
                // The registry's answer says more than a failed renegotiation.
                Err(e) => tracing::debug!(error = %e, "renegotiation after DENIED failed"),
            }
        }
        Err(head.into_error(errors))
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

    /// [`Transport::negotiate`], reported to the observer.
    async fn negotiate_observed(
        &self,
        registry: &str,
        scopes: &[Scope],
        request_url: &str,
        headers: &HeaderMap,
        deadline: &Deadline,
    ) -> Result<Authorization, Error> {
        let started = Instant::now();
        let result = self
            .negotiate(
                (registry, scopes, request_url),
                headers,
                deadline,
                negotiate::Purpose::Answer,
            )
            .await;
        self.observe(|| Event::Auth {
            registry,
            scopes,
            outcome: match &result {
                Ok((_, false)) => AuthOutcome::Granted,
                Ok((_, true)) => AuthOutcome::Shared,
                Err(_) => AuthOutcome::Failed,
            },
            duration: started.elapsed(),
        });
        result.map(|(authorization, _)| authorization)
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
        deadline: &Deadline,
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
            self.observe(|| Event::Sent {
                method: &call.method,
                registry: &call.registry,
                repository: repository_of(&call.scopes),
            });
            let started = self.observed().then(Instant::now);
            let response = self
                .send_once(&call.method, &url, headers, body, deadline)
                .await;
            if let Some(started) = started {
                self.observe(|| Event::Answered {
                    method: &call.method,
                    registry: &call.registry,
                    repository: repository_of(&call.scopes),
                    status: response.as_ref().ok().map(|r| r.status().as_u16()),
                    duration: started.elapsed(),
                });
            }
            let response = response?;
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

    /// One HTTP exchange: the request body must keep [`RegistryPolicy::min_throughput`],
    /// the response head must come within [`ClientConfig::read_timeout`] of the body's
    /// end (plus [`ClientConfig::connect_timeout`] for a request without a body), and all
    /// of it ends at the operation's `deadline`.
    async fn send_once(
        &self,
        method: &Method,
        url: &url::Url,
        mut headers: HeaderMap,
        body: ReqBody,
        deadline: &Deadline,
    ) -> Result<http::Response<PooledBody>, Error> {
        let sent = Arc::new(Sent::default());
        let body = Counted::new(body, sent.clone()).boxed_unsync();
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
        let start = tokio::time::Instant::now();
        // A request without a body waits for its head from the start (connect included);
        // one with a body from when the body was seen to have ended.
        let mut answer_due = sent
            .done()
            .then(|| start + self.config.connect_timeout + self.config.read_timeout);
        let mut pace = Pace::new(deadline.min_throughput());
        let mut counted = 0;
        // Boxed: the exchange is large, and every caller's future would carry it inline.
        let mut exchange = Box::pin(self.pool.request(request));
        let result = loop {
            // While the body is sent, look at it at least every `BODY_CHECK`: its end
            // starts the wait for the head, and each window judges its throughput.
            let wake = match answer_due {
                Some(due) => due,
                None => pace
                    .window_end()
                    .min(tokio::time::Instant::now() + BODY_CHECK),
            };
            if let Ok(result) =
                tokio::time::timeout_at(wake.min(deadline.at()), &mut exchange).await
            {
                break result;
            }
            if deadline.expired() {
                return Err(deadline.error(method.as_str(), url.as_str()));
            }
            let now = tokio::time::Instant::now();
            match answer_due {
                Some(due) if now >= due => {
                    return Err(Error::Timeout {
                        method: method.to_string(),
                        url: redact_url(url.as_str()),
                        after: due - start,
                    });
                }
                Some(_) => {}
                // A body sent in full is not judged on its pace: a small one takes no time.
                None if sent.done() => answer_due = Some(now + self.config.read_timeout),
                None => {
                    // A source with nothing to give yet is not the registry's stall.
                    let waited = sent.take_source_wait();
                    pace.excuse(waited);
                    deadline.excuse(waited);
                    let total = sent.bytes();
                    match pace.record(total - counted) {
                        Ok(true) => deadline.progress(),
                        Ok(false) => {}
                        Err(slow) => return Err(slow.into_error(method.as_str(), url.as_str())),
                    }
                    counted = total;
                }
            }
        };
        result.map_err(|e| exchange_error(method, url, e))
    }

    /// Read a whole (small) body, failing past `limit` bytes or below the minimum
    /// throughput of the policy of `url`'s host.
    pub(crate) async fn collect(
        &self,
        mut body: PooledBody,
        limit: u64,
        method: &Method,
        url: &str,
    ) -> Result<Bytes, Error> {
        let mut out = Vec::new();
        // The policy of the host that answers (a registry's own, or the default one).
        let min = url::Url::parse(url).map_or_else(
            |_| self.config.default_policy.min_throughput,
            |u| self.policy(&authority(&u)).min_throughput,
        );
        let mut pace = Pace::new(min);
        let too_slow = |slow: pace::TooSlow| slow.into_error(method.as_str(), url);
        loop {
            let Ok(frame) = tokio::time::timeout_at(pace.window_end(), body.frame()).await else {
                pace.check().map_err(too_slow)?;
                continue;
            };
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| Error::Connect {
                method: method.to_string(),
                url: redact_url(url),
                source: Box::new(e),
            })?;
            if let Ok(data) = frame.into_data() {
                pace.record(data.len() as u64).map_err(too_slow)?;
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

/// The error for an exchange that failed before a response head arrived.
fn exchange_error(method: &Method, url: &url::Url, e: PoolError) -> Error {
    match e {
        PoolError::Http(e) if e.is_parse() => {
            // The registry's answer is not HTTP hyper accepts (a head over its size
            // limit, a malformed status line): a protocol error, not worth repeating.
            // `hyper::Error::is_parse_too_large` exists only with hyper's `server` feature,
            // which a client must not need; hyper's own text says which parse failed
            // ("message head is too large", "invalid HTTP status-code parsed", ...).
            let message = if e.to_string().contains("too large") {
                "the response head is larger than the client accepts (oversized header)"
            } else {
                "the response is not valid HTTP"
            };
            Error::Protocol {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                message: message.into(),
                source: Some(Box::new(e)),
            }
        }
        e => match tls_failure(&e) {
            Some(TlsFailure::PlainHttp) => Error::PlainHttpAnswer {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                source: Box::new(e),
            },
            Some(TlsFailure::Other) => Error::Tls {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                source: Box::new(e),
            },
            None => Error::Connect {
                method: method.to_string(),
                url: redact_url(url.as_str()),
                source: Box::new(e),
            },
        },
    }
}

/// How often a request body being sent is looked at (its end, its throughput).
const BODY_CHECK: Duration = Duration::from_secs(1);

/// When a retry `delay` from now ends, if that is before the operation's deadline.
fn before(deadline: &Deadline, delay: Duration) -> Option<tokio::time::Instant> {
    let wake = tokio::time::Instant::now() + delay;
    (wake < deadline.at()).then_some(wake)
}

/// Wait `delay` before a retry; `false` (at once) when that would end past the deadline.
async fn pause(deadline: &Deadline, delay: Duration) -> bool {
    match before(deadline, delay) {
        Some(wake) => {
            tokio::time::sleep_until(wake).await;
            true
        }
        None => false,
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

    #[tokio::test]
    async fn each_registry_has_its_own_transfer_limit() {
        use futures_util::FutureExt;
        let mut config = ClientConfig::default();
        let narrow = crate::Registry::parse("narrow.example").unwrap();
        config.policy_mut(narrow).max_concurrent_transfers = 1;
        let t = Transport::new(config, None).unwrap();
        let held = t.transfer_permit("narrow.example").await.unwrap();
        // The narrow registry's one slot is taken; another registry is not held up.
        assert!(t.transfer_permit("narrow.example").now_or_never().is_none());
        assert!(
            t.transfer_permit("Narrow.Example:443")
                .now_or_never()
                .is_none()
        );
        let other = t.transfer_permit("wide.example").now_or_never();
        assert!(matches!(other, Some(Ok(_))));
        drop(held);
        assert!(matches!(
            t.transfer_permit("NARROW.example").now_or_never(),
            Some(Ok(_))
        ));
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
        let mut config = ClientConfig::default();
        config.chunk_size = 0;
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
