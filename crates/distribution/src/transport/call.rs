//! The call model: what endpoint code asks for ([`Call`], [`Body`]), what it gets back
//! ([`Response`]), the URL and header helpers both sides share, and how an unexpected
//! status becomes an [`Error::Status`].

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use orca_auth::Scope;

use crate::error::{BoxError, Error, parse_error_body, redact_url};
use crate::pool::PooledBody;
use crate::sanitize::{Secrets, excerpt};

/// The body type every request is sent with.
pub(crate) type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// The most error-body bytes read to find the registry's error codes.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
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
    pub(super) fn take(&mut self) -> Option<ReqBody> {
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
    /// The operation's deadline, when the call is one request of a longer operation (a
    /// download's resumes share one); `None` starts one for this call.
    pub(crate) deadline: Option<super::Deadline>,
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
            deadline: None,
        }
    }

    /// Make this call part of an operation whose `deadline` is shared.
    pub(crate) fn deadline(mut self, deadline: &super::Deadline) -> Call {
        self.deadline = Some(deadline.clone());
        self
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
    /// `Warning: 299` texts, sanitised.
    pub(crate) warnings: Vec<String>,
    /// The secrets the request carried, removed from any text of the answer shown.
    pub(crate) secrets: Secrets,
}

impl Response {
    pub(crate) fn header_str(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
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
    pub(super) fn into_error(self, errors: Vec<crate::RegistryError>) -> Error {
        Error::Status {
            method: self.method.to_string(),
            url: redact_url(&self.url),
            status: self.status,
            errors,
            retry_after: self.retry_after,
        }
    }
}

pub(super) async fn read_error(response: Response) -> (FailedHead, Vec<crate::RegistryError>) {
    let head = FailedHead {
        method: response.method.clone(),
        url: response.url.clone(),
        status: response.status.as_u16(),
        retry_after: retry_after(&response.headers),
    };
    let response_secrets = response.secrets;
    let limited = http_body_util::Limited::new(
        response.body,
        usize::try_from(ERROR_BODY_LIMIT).unwrap_or(usize::MAX),
    );
    let errors = match tokio::time::timeout(Duration::from_secs(10), limited.collect()).await {
        Ok(Ok(collected)) => parse_error_body(&collected.to_bytes(), &response_secrets),
        _ => Vec::new(),
    };
    (head, errors)
}

/// Turn an unexpected response into [`Error::Status`].
pub(crate) async fn status_error(response: Response) -> Error {
    let (head, errors) = read_error(response).await;
    head.into_error(errors)
}

pub(super) fn parse_url(method: &Method, raw: &str) -> Result<url::Url, Error> {
    url::Url::parse(raw).map_err(|e| Error::Protocol {
        method: method.to_string(),
        url: redact_url(raw),
        message: "not an absolute URL".into(),
        source: Some(Box::new(e)),
    })
}

pub(super) fn is_redirect(status: StatusCode) -> bool {
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

/// The texts of `Warning: 299 <agent> "<text>"` headers, sanitised (see
/// [`crate::sanitize::excerpt`]); each is also logged.
pub(crate) fn warnings(headers: &HeaderMap, url: &url::Url, secrets: &Secrets) -> Vec<String> {
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
        let text = excerpt(&text, secrets);
        tracing::warn!(url = %redact_url(url.as_str()), warning = %text, "registry warning");
        out.push(text);
    }
    out
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
        assert_eq!(
            warnings(&h, &url, &Secrets::default()),
            ["this repository is deprecated"]
        );
    }

    #[test]
    fn origins_are_normalised() {
        let u = url::Url::parse("https://R.Example:443/v2/").unwrap();
        assert_eq!(origin(&u), "https://r.example");
    }

    #[test]
    fn hosts_and_origins() {
        let u = url::Url::parse("https://r.example:443/v2/").unwrap();
        assert_eq!(origin(&u), "https://r.example");
        let u = url::Url::parse("http://127.0.0.1:8080/v2/").unwrap();
        assert_eq!(origin(&u), "http://127.0.0.1:8080");
    }
}
