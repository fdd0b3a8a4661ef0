//! The distribution spec's error codes and its error body,
//! `{"errors":[{"code":"…","message":"…","detail":…}]}`: one table and one parser for the
//! client, for authentication and (the table only) for the mock registry.
//!
//! ```
//! use orca_manifest::registry_error::{ErrorCode, parse_error_body};
//!
//! let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"tag":"v1"}}]}"#;
//! let errors = parse_error_body(body);
//! assert_eq!(errors[0].code, ErrorCode::ManifestUnknown);
//! assert_eq!(errors[0].detail.as_deref(), Some(r#"{"tag":"v1"}"#));
//! assert_eq!(errors[0].to_string(), "MANIFEST_UNKNOWN: manifest unknown");
//! assert_eq!(ErrorCode::ManifestUnknown.status(), Some(404));
//! assert!(parse_error_body(b"<html>502 Bad Gateway</html>").is_empty());
//! ```

use std::fmt;

use serde_json::Value;

use crate::error::clip;

/// The largest error body [`parse_error_body`] reads; a longer one yields no entries (a
/// client reads at most this many bytes of an error response).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The most entries [`parse_error_body`] returns; the rest of a longer list is dropped.
pub const MAX_ERRORS: usize = 16;

/// The most characters kept of a code that is not in the table.
const MAX_CODE_CHARS: usize = 64;

/// An error code of the distribution spec (and of the registries that implement it).
///
/// Unknown codes are kept as [`ErrorCode::Other`], so that no code is ever lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: blob unknown to registry.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: blob upload invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: blob upload unknown to registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: provided digest did not match uploaded content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: manifest invalid.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: manifest unknown to registry.
    ManifestUnknown,
    /// `NAME_INVALID`: invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN`: repository name not known to registry.
    NameUnknown,
    /// `SIZE_INVALID`: provided length did not match content length.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required.
    Unauthorized,
    /// `DENIED`: requested access to the resource is denied.
    Denied,
    /// `UNSUPPORTED`: the operation is unsupported.
    Unsupported,
    /// `TOOMANYREQUESTS`: too many requests.
    TooManyRequests,
    /// `RANGE_INVALID`: invalid content range (distribution's registry; not in the spec's
    /// table).
    RangeInvalid,
    /// `UNAVAILABLE`: service unavailable (distribution's registry).
    Unavailable,
    /// `UNKNOWN`: unknown error (distribution's registry).
    Unknown,
    /// Any other code, as sent (control characters removed, cut to 64 characters).
    Other(String),
}

/// The table: code, its spelling, the spec's message and the status the spec gives it.
static TABLE: [(ErrorCode, &str, &str, u16); 17] = [
    (
        ErrorCode::BlobUnknown,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
        404,
    ),
    (
        ErrorCode::BlobUploadInvalid,
        "BLOB_UPLOAD_INVALID",
        "blob upload invalid",
        400,
    ),
    (
        ErrorCode::BlobUploadUnknown,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
        404,
    ),
    (
        ErrorCode::DigestInvalid,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
        400,
    ),
    (
        ErrorCode::ManifestBlobUnknown,
        "MANIFEST_BLOB_UNKNOWN",
        "manifest references a manifest or blob unknown to registry",
        400,
    ),
    (
        ErrorCode::ManifestInvalid,
        "MANIFEST_INVALID",
        "manifest invalid",
        400,
    ),
    (
        ErrorCode::ManifestUnknown,
        "MANIFEST_UNKNOWN",
        "manifest unknown to registry",
        404,
    ),
    (
        ErrorCode::NameInvalid,
        "NAME_INVALID",
        "invalid repository name",
        400,
    ),
    (
        ErrorCode::NameUnknown,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        404,
    ),
    (
        ErrorCode::SizeInvalid,
        "SIZE_INVALID",
        "provided length did not match content length",
        400,
    ),
    (
        ErrorCode::Unauthorized,
        "UNAUTHORIZED",
        "authentication required",
        401,
    ),
    (
        ErrorCode::Denied,
        "DENIED",
        "requested access to the resource is denied",
        403,
    ),
    (
        ErrorCode::Unsupported,
        "UNSUPPORTED",
        "the operation is unsupported",
        405,
    ),
    (
        ErrorCode::TooManyRequests,
        "TOOMANYREQUESTS",
        "too many requests",
        429,
    ),
    (
        ErrorCode::RangeInvalid,
        "RANGE_INVALID",
        "invalid content range",
        416,
    ),
    (
        ErrorCode::Unavailable,
        "UNAVAILABLE",
        "service unavailable",
        503,
    ),
    (ErrorCode::Unknown, "UNKNOWN", "unknown error", 500),
];

impl ErrorCode {
    /// Every code in the table (not [`ErrorCode::Other`]).
    pub fn known() -> impl Iterator<Item = ErrorCode> {
        TABLE.iter().map(|(code, ..)| code.clone())
    }

    /// The code spelled `code` in an error body; [`ErrorCode::Other`] when it is not in the
    /// table (control characters removed, cut to 64 characters).
    pub fn parse(code: &str) -> ErrorCode {
        match TABLE.iter().find(|(_, name, ..)| *name == code) {
            Some((known, ..)) => known.clone(),
            None => ErrorCode::Other(
                code.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_CODE_CHARS)
                    .collect(),
            ),
        }
    }

    fn row(&self) -> Option<&'static (ErrorCode, &'static str, &'static str, u16)> {
        TABLE.iter().find(|(known, ..)| known == self)
    }

    /// The code as the spec spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(code) => code,
            known => known.row().map_or("", |(_, name, ..)| name),
        }
    }

    /// The spec's message for the code (`None` for [`ErrorCode::Other`]).
    pub fn message(&self) -> Option<&'static str> {
        self.row().map(|(_, _, message, _)| *message)
    }

    /// The HTTP status the spec (or distribution's registry) sends with the code (`None`
    /// for [`ErrorCode::Other`]).
    pub fn status(&self) -> Option<u16> {
        self.row().map(|(.., status)| *status)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a registry's error body.
///
/// # Security
///
/// The text comes from the server: `message` and `detail` are cut to
/// [`MAX_QUOTED_CHARS`](crate::MAX_QUOTED_CHARS) characters and have their control
/// characters removed, so an entry is safe to log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryError {
    /// The error code.
    pub code: ErrorCode,
    /// The registry's message; empty when it sent none.
    pub message: String,
    /// The `detail` member, re-serialised as compact JSON, if present and not `null`.
    pub detail: Option<String>,
}

impl RegistryError {
    /// An entry with `code` and `message` and no detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RegistryError {
        RegistryError {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

impl fmt::Display for RegistryError {
    /// `CODE: message`, or `CODE` when there is no message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

/// The entries of a registry error body, `{"errors":[{"code","message","detail"}]}`.
///
/// Tolerant: anything that is not such a body (HTML from a proxy, an empty body, an OAuth
/// error) yields no entries; an entry that is not an object or has no string `code` is
/// skipped; a `message` that is not a string counts as none. Bounded: a body over
/// [`MAX_ERROR_BODY`] bytes yields no entries, at most [`MAX_ERRORS`] entries are
/// returned, and each text is cut (see [`RegistryError`]).
pub fn parse_error_body(body: &[u8]) -> Vec<RegistryError> {
    if body.len() > MAX_ERROR_BODY {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let Some(entries) = value.get("errors").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let code = entry.get("code")?.as_str()?;
            let message = entry
                .get("message")
                .and_then(Value::as_str)
                .map(safe_text)
                .unwrap_or_default();
            let detail = entry
                .get("detail")
                .filter(|d| !d.is_null())
                .map(|d| safe_text(&d.to_string()));
            Some(RegistryError {
                code: ErrorCode::parse(code),
                message,
                detail,
            })
        })
        .take(MAX_ERRORS)
        .collect()
}

/// `text` without control characters, cut to [`MAX_QUOTED_CHARS`](crate::MAX_QUOTED_CHARS).
fn safe_text(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    clip(&clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        let known: Vec<ErrorCode> = ErrorCode::known().collect();
        assert_eq!(known.len(), 17);
        for code in &known {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
            assert!(code.message().is_some_and(|m| !m.is_empty()), "{code}");
            assert!(
                code.status().is_some_and(|s| (400..600).contains(&s)),
                "{code}"
            );
        }
        let other = ErrorCode::parse("SOMETHING_NEW");
        assert_eq!(other, ErrorCode::Other("SOMETHING_NEW".into()));
        assert_eq!(
            (other.as_str(), other.message(), other.status()),
            ("SOMETHING_NEW", None, None)
        );
        let long = ErrorCode::parse(&format!("X\n{}", "Y".repeat(100)));
        assert_eq!(long.as_str().chars().count(), 64);
        assert!(!long.as_str().contains('\n'));
    }

    #[test]
    fn every_entry_is_read_and_odd_ones_are_tolerated() {
        let body = br#"{"errors":[
            {"code":"DENIED","message":"no","detail":{"a":1}},
            {"code":"X_Y"},
            {"code":"NAME_UNKNOWN","message":7,"detail":null},
            "not an object",
            {"message":"no code"},
            {"code":5}
        ]}"#;
        let errors = parse_error_body(body);
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].code, ErrorCode::Denied);
        assert_eq!(errors[0].detail.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(
            errors[1],
            RegistryError::new(ErrorCode::Other("X_Y".into()), "")
        );
        assert_eq!(errors[2], RegistryError::new(ErrorCode::NameUnknown, ""));
        for not_a_body in [
            &b"<html>"[..],
            b"",
            b"{}",
            b"[]",
            br#"{"errors":{}}"#,
            b"null",
        ] {
            assert!(parse_error_body(not_a_body).is_empty());
        }
    }

    #[test]
    fn hostile_bodies_are_bounded() {
        let entry = format!(
            r#"{{"code":"DENIED","message":"{}\u0007\n","detail":"{}"}}"#,
            "m".repeat(1_000),
            "d".repeat(1_000)
        );
        let many = format!(r#"{{"errors":[{}]}}"#, vec![entry.as_str(); 20].join(","));
        assert!(many.len() < MAX_ERROR_BODY);
        let errors = parse_error_body(many.as_bytes());
        assert_eq!(errors.len(), MAX_ERRORS);
        let message_chars = errors[0].message.chars().count();
        assert!(
            message_chars <= crate::MAX_QUOTED_CHARS + 1,
            "{message_chars}"
        );
        assert!(!errors[0].message.chars().any(char::is_control));
        assert!(
            errors[0]
                .detail
                .as_ref()
                .is_some_and(|d| d.chars().count() <= crate::MAX_QUOTED_CHARS + 1)
        );
        let huge = format!(
            r#"{{"errors":[{{"code":"DENIED","message":"{}"}}]}}"#,
            "m".repeat(MAX_ERROR_BODY)
        );
        assert!(parse_error_body(huge.as_bytes()).is_empty());
    }
}
