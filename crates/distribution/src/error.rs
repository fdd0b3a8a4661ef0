//! The crate's one error type and the error kinds.

use std::time::Duration;

use orca_manifest::Digest;

use crate::sanitize::{Secrets, excerpt};

/// A boxed error kept behind [`std::error::Error::source`], so that no hyper, rustls or
/// serde type appears in the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is, for callers that map failures to their own codes
/// (the facade maps `Connect` and `Timeout` to `FailedToConnectToArtifactStore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The registry wants credentials, or refused the ones offered (401).
    Unauthorized,
    /// The credentials are valid but may not do this (403, or `DENIED`).
    Denied,
    /// The repository, manifest, blob, tag or upload does not exist (404, or `*_UNKNOWN`).
    NotFound,
    /// Content does not hash to the digest it should have.
    DigestMismatch,
    /// Content is larger than allowed, or than its descriptor says.
    SizeExceeded,
    /// Content is smaller than its descriptor says.
    SizeMismatch,
    /// The registry could not be reached (DNS, TCP, TLS handshake).
    Connect,
    /// The registry did not answer in time.
    Timeout,
    /// The registry asks the client to slow down (429, `TOOMANYREQUESTS`).
    TooManyRequests,
    /// The registry failed or is unavailable (5xx).
    Unavailable,
    /// The registry does not implement this operation (405, `UNSUPPORTED`).
    Unsupported,
    /// The registry refused the request as invalid (400 and codes such as
    /// `MANIFEST_INVALID`, `NAME_INVALID`).
    Invalid,
    /// The registry answered something the protocol does not allow.
    Protocol,
    /// Authentication could not be negotiated (bad challenge, token service failure).
    Auth,
    /// The credentials were refused, by the registry (Basic) or by its token service.
    CredentialsRejected,
    /// The client's configuration or a caller's input is wrong.
    Config,
    /// Reading local input (an upload's source) or writing local output failed.
    Io,
}

/// The registry's error codes and error-body entries: `orca-manifest`'s one table and
/// parser, re-exported here where [`Error::Status`] carries them.
pub use orca_manifest::registry_error::{ErrorCode, RegistryError};

/// The most entries of one error body kept.
const MAX_REGISTRY_ERRORS: usize = 8;

/// Parse a registry error body with `orca-manifest`'s parser; anything that is not one
/// yields no entries.
///
/// # Security
/// The body is remote text: at most [`MAX_REGISTRY_ERRORS`] entries are kept, and each
/// code, message and detail is a bounded excerpt with control characters escaped and
/// credentials (`secrets`, and any `Basic …`/`Bearer …` value) replaced by `REDACTED`.
pub(crate) fn parse_error_body(body: &[u8], secrets: &Secrets) -> Vec<RegistryError> {
    orca_manifest::registry_error::parse_error_body(body)
        .into_iter()
        .take(MAX_REGISTRY_ERRORS)
        .map(|e| {
            let code = match e.code {
                ErrorCode::Other(other) => ErrorCode::Other(excerpt(&other, secrets)),
                known => known,
            };
            let mut entry = RegistryError::new(code, excerpt(&e.message, secrets));
            entry.detail = e.detail.map(|d| excerpt(&d, secrets));
            entry
        })
        .collect()
}

/// Everything that can go wrong in `orca-distribution`.
///
/// URLs in errors never carry credentials: they are redacted by [`orca_auth::redact_url`]
/// (user info removed, every query value but the distribution API's own reads `REDACTED`),
/// and no error carries a header value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry answered with an error status.
    #[error("{method} {url}: HTTP {status}{}", display_codes(.errors))]
    Status {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error codes in the response body (possibly none).
        errors: Vec<RegistryError>,
        /// How long the registry asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The connection to the registry could not be made or broke.
    #[error("{method} {url}: cannot connect to the registry")]
    Connect {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// The TLS handshake failed (untrusted or invalid certificate, no common protocol).
    /// Not retried: repeating the handshake gives the same answer.
    #[error("{method} {url}: TLS handshake with the registry failed")]
    Tls {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The TLS error.
        #[source]
        source: BoxError,
    },
    /// A TLS connection was expected and the server answered in plain HTTP. If the
    /// registry is meant to be reached without TLS, allow it in its policy
    /// ([`crate::RegistryPolicy::plain_http`], or [`crate::ClientConfig::with_plain_http`]); a
    /// command line says how with its own flag (`--plain-http` in `orca`).
    #[error(
        "{method} {url}: the registry answered in plain HTTP, not TLS; if that is meant, allow plain HTTP for it (--plain-http, or RegistryPolicy::plain_http)"
    )]
    PlainHttpAnswer {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The TLS error.
        #[source]
        source: BoxError,
    },
    /// The registry did not answer (or stopped sending) within the configured timeout.
    #[error("{method} {url}: timed out after {after:?}")]
    Timeout {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// A body moved fewer bytes in a window than [`crate::MinThroughput`] requires.
    #[error(
        "{method} {url}: too slow: {received} bytes in the last {window:?}, the minimum is {minimum}"
    )]
    TooSlow {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// The bytes that moved in the window.
        received: u64,
        /// The bytes required per window.
        minimum: u64,
        /// The window.
        window: Duration,
    },
    /// Content does not hash to its expected digest.
    #[error("{url}: digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The URL the content came from (or went to), credentials stripped.
        url: String,
        /// The digest the content should have.
        expected: Digest,
        /// The digest the content has.
        actual: Digest,
    },
    /// Content is larger than allowed or than its descriptor says.
    #[error("{url}: content exceeds {limit} bytes")]
    SizeExceeded {
        /// The URL the content came from, credentials stripped.
        url: String,
        /// The limit (the descriptor's size or a configured cap).
        limit: u64,
    },
    /// Content ended before its descriptor's size.
    #[error("{url}: content has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The URL the content came from, credentials stripped.
        url: String,
        /// The expected size.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// The registry's answer breaks the protocol (missing header, bad JSON, wrong media
    /// type, bad `Content-Range`, too many redirects…).
    #[error("{method} {url}: protocol error: {message}")]
    Protocol {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// What the registry sent is not valid content: a manifest that does not parse, a
    /// digest header that is not a digest, content that cannot be verified.
    #[error("{method} {url}: {message}")]
    InvalidContent {
        /// The request method.
        method: String,
        /// The request URL, credentials stripped.
        url: String,
        /// What is wrong.
        message: String,
        /// The `orca-manifest` error.
        #[source]
        source: Box<orca_manifest::Error>,
    },
    /// Negotiating authentication failed.
    #[error("authentication with {registry} failed: {message}")]
    Auth {
        /// The registry (`host[:port]`).
        registry: String,
        /// What failed.
        message: String,
        /// The `orca-auth` error, if the negotiation gave one.
        #[source]
        source: Option<Box<orca_auth::Error>>,
    },
    /// The credentials were refused: the registry answered 401 to the Basic credentials
    /// it asked for, or its token service (or ACR exchange) answered 401 to them.
    #[error(
        "{registry} rejected the credentials{}: {by} answered HTTP {status}",
        user.as_ref().map(|u| format!(" of user {u:?}")).unwrap_or_default()
    )]
    CredentialsRejected {
        /// The registry (`host[:port]`).
        registry: String,
        /// The user name, when the credential has one.
        user: Option<String>,
        /// The URL that refused them (the registry's or its token service's), credentials
        /// stripped.
        by: String,
        /// The HTTP status it answered.
        status: u16,
        /// The `orca-auth` error, when a token service refused.
        #[source]
        source: Option<Box<orca_auth::Error>>,
    },
    /// A host the registry sent the request to (a redirect's target, such as a storage
    /// back end) answered 401. The registry's credentials are never offered to another
    /// origin, so this is not negotiated.
    #[error(
        "{method} {url}: {host}, where the registry redirected the request, refused it with HTTP {status} (the registry's credentials are not offered to another host)"
    )]
    RedirectRefused {
        /// The request method.
        method: String,
        /// The URL that refused, credentials stripped.
        url: String,
        /// `host[:port]` of that URL.
        host: String,
        /// The HTTP status (401).
        status: u16,
    },
    /// A URL (the registry's, or a redirect or token service it named) is plain HTTP and
    /// its host is not allowed plain HTTP, so nothing is sent. Allow it in its policy
    /// ([`crate::RegistryPolicy::plain_http`], or [`crate::ClientConfig::with_plain_http`]).
    #[error(
        "refusing plain HTTP to {registry}: plain HTTP is not allowed for it (--plain-http, or RegistryPolicy::plain_http)"
    )]
    PlainHttpRefused {
        /// The registry (`host[:port]`).
        registry: String,
    },
    /// The client configuration or an argument is invalid.
    #[error("invalid configuration or argument: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Reading an upload's source failed.
    #[error("reading upload source failed")]
    Io(#[source] std::io::Error),
    /// Writing a download into a local file failed ([`crate::BlobStream::save`]).
    #[error("cannot {action} {}", path.display())]
    File {
        /// What was being done: `create a temporary file in`, `write`, `rename into`.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

fn display_codes(errors: &[RegistryError]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(" ({})", list.join("; "))
    }
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Status { status, errors, .. } => status_kind(*status, errors),
            Error::Connect { .. } | Error::Tls { .. } | Error::PlainHttpAnswer { .. } => {
                ErrorKind::Connect
            }
            Error::CredentialsRejected { .. } => ErrorKind::CredentialsRejected,
            Error::RedirectRefused { .. } => ErrorKind::Unauthorized,
            Error::Timeout { .. } | Error::TooSlow { .. } => ErrorKind::Timeout,
            Error::DigestMismatch { .. } => ErrorKind::DigestMismatch,
            Error::SizeExceeded { .. } => ErrorKind::SizeExceeded,
            Error::SizeMismatch { .. } => ErrorKind::SizeMismatch,
            Error::Protocol { .. } | Error::InvalidContent { .. } => ErrorKind::Protocol,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::PlainHttpRefused { .. } | Error::Config { .. } => ErrorKind::Config,
            Error::Io(_) | Error::File { .. } => ErrorKind::Io,
        }
    }

    /// Whether repeating the same request may succeed: connection failures, timeouts,
    /// 408, 429 and 5xx (except 501 and 505).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => status_is_retryable(*status),
            Error::Connect { .. } | Error::Timeout { .. } | Error::TooSlow { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status, for [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's error codes, for [`Error::Status`] (empty otherwise).
    pub fn codes(&self) -> Vec<&ErrorCode> {
        match self {
            Error::Status { errors, .. } => errors.iter().map(|e| &e.code).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the registry sent this error code.
    pub fn has_code(&self, code: &ErrorCode) -> bool {
        self.codes().contains(&code)
    }

    pub(crate) fn protocol(method: &http::Method, url: &str, message: impl Into<String>) -> Error {
        Error::Protocol {
            method: method.to_string(),
            url: redact_url(url),
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }
}

pub(crate) fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505)
}

fn status_kind(status: u16, errors: &[RegistryError]) -> ErrorKind {
    for e in errors {
        match e.code {
            ErrorCode::Denied => return ErrorKind::Denied,
            ErrorCode::TooManyRequests => return ErrorKind::TooManyRequests,
            ErrorCode::BlobUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown
            | ErrorCode::BlobUploadUnknown => return ErrorKind::NotFound,
            ErrorCode::Unsupported => return ErrorKind::Unsupported,
            // The registry's own check of an upload against its digest.
            ErrorCode::DigestInvalid => return ErrorKind::DigestMismatch,
            _ => {}
        }
    }
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Denied,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::TooManyRequests,
        405 | 501 => ErrorKind::Unsupported,
        413 => ErrorKind::SizeExceeded,
        s if s >= 500 => ErrorKind::Unavailable,
        s if s >= 400 => ErrorKind::Invalid,
        _ => ErrorKind::Protocol,
    }
}

/// The one URL-redaction policy (user info stripped, query values `REDACTED` but the
/// distribution API's own), shared with orca-auth.
pub(crate) use orca_auth::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_with_the_shared_parser() {
        let body =
            br#"{"errors":[{"code":"DENIED","message":"no","detail":{"a":1}},{"code":"X_Y"}]}"#;
        let errors = parse_error_body(body, &Secrets::default());
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].code, ErrorCode::Denied);
        assert_eq!(errors[1].code, ErrorCode::Other("X_Y".into()));
        assert!(parse_error_body(b"<html>", &Secrets::default()).is_empty());
    }

    #[test]
    fn kinds_follow_codes_then_status() {
        let status = |status, codes: &[&str]| Error::Status {
            method: "GET".into(),
            url: "https://r/v2/".into(),
            status,
            errors: codes
                .iter()
                .map(|c| RegistryError::new(ErrorCode::parse(c), ""))
                .collect(),
            retry_after: None,
        };
        assert_eq!(status(403, &["DENIED"]).kind(), ErrorKind::Denied);
        assert_eq!(status(400, &["DENIED"]).kind(), ErrorKind::Denied);
        assert_eq!(status(404, &[]).kind(), ErrorKind::NotFound);
        assert_eq!(
            status(401, &["UNAUTHORIZED"]).kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(status(503, &[]).kind(), ErrorKind::Unavailable);
        assert!(status(503, &[]).is_retryable());
        assert!(status(429, &[]).is_retryable());
        assert!(!status(501, &[]).is_retryable());
        assert!(!status(404, &[]).is_retryable());
    }

    #[test]
    fn error_messages() {
        let digest = |b: &[u8]| Digest::sha256(b);
        let errors = [
            Error::Status {
                method: "GET".into(),
                url: redact_url("https://r.example/v2/team/app/manifests/1.0"),
                status: 404,
                errors: parse_error_body(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#, &Secrets::default()),
                retry_after: None,
            },
            Error::Status {
                method: "PUT".into(),
                url: redact_url("https://r.example/v2/team/app/blobs/uploads/1?_state=x&sig=secret"),
                status: 400,
                errors: parse_error_body(br#"{"errors":[{"code":"DIGEST_INVALID"},{"code":"SIZE_INVALID","message":"bad size"}]}"#, &Secrets::default()),
                retry_after: None,
            },
            Error::DigestMismatch {
                url: "https://r.example/v2/team/app/blobs/x".into(),
                expected: digest(b"a"),
                actual: digest(b"b"),
            },
            Error::SizeExceeded {
                url: "https://r.example/v2/team/app/manifests/1.0".into(),
                limit: 4_194_304,
            },
            Error::Timeout {
                method: "HEAD".into(),
                url: "https://r.example/v2/".into(),
                after: Duration::from_secs(90),
            },
            Error::PlainHttpRefused {
                registry: "storage.example".into(),
            },
            Error::Auth {
                registry: "r.example".into(),
                message: "cannot answer the registry's challenge".into(),
                source: None,
            },
            Error::CredentialsRejected {
                registry: "r.example".into(),
                user: Some("alice".into()),
                by: redact_url("https://auth.example/token?scope=x&account=alice"),
                status: 401,
                source: None,
            },
            Error::RedirectRefused {
                method: "GET".into(),
                url: redact_url("https://storage.example/b/1?sig=secret"),
                host: "storage.example".into(),
                status: 401,
            },
            Error::PlainHttpAnswer {
                method: "GET".into(),
                url: "https://r.example:5000/v2/".into(),
                source: "received corrupt message of type InvalidContentType".into(),
            },
            Error::Status {
                method: "GET".into(),
                url: "https://r.example/v2/team/app/tags/list".into(),
                status: 400,
                errors: parse_error_body(
                    "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"you sent Basic YWxpY2U6cHc= \\u001b]0;pwned\\u0007\"}]}".as_bytes(),
                    &Secrets::default(),
                ),
                retry_after: None,
            },
        ];
        assert_eq!(errors.len(), 11);
        let text: Vec<String> = errors
            .iter()
            .map(|e| format!("{:?}: {e}", e.kind()))
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    #[test]
    fn urls_lose_credentials_and_signatures() {
        let u = redact_url("https://user:pw@blob.example/x?sig=abc&n=2&X-Amz-Signature=zz#frag");
        assert_eq!(
            u,
            "https://blob.example/x?sig=REDACTED&n=2&X-Amz-Signature=REDACTED"
        );
        assert_eq!(redact_url("/v2/x?token=s"), "/v2/x?token=REDACTED");
    }
}
