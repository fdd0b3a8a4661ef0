//! The distribution API's wire surface, shared with other servers.
//!
//! What a registry server needs before it touches storage: which route a path names,
//! whether a repository name and a tag are valid, which `Range` a request asks for,
//! whether `Accept` admits a media type, and the spec's `{"errors":[…]}` body. The mock
//! registry routes with it, and so does `orca-pull-through` (the caching front), so both
//! answer the same paths the same way without the mock depending on the client crates.
//! Pure functions: no IO.
//!
//! ```
//! use orca_mock_registry::wire::{self, Route};
//!
//! let route = wire::parse_route("/v2/library/nginx/manifests/1.27");
//! assert_eq!(route.name(), Some("library/nginx"));
//! assert!(wire::valid_tag("1.27"));
//! assert_eq!(wire::parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
//! ```

use http::HeaderMap;
use http::header;
use orca_manifest::media_types;

pub use orca_manifest::registry_error::ErrorCode;

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags {
        /// The repository (not yet validated: see [`valid_name`]).
        name: String,
    },
    /// `/v2/<name>/manifests/<reference>`
    Manifest {
        /// The repository (not yet validated).
        name: String,
        /// A tag or a digest, as sent.
        reference: String,
    },
    /// `/v2/<name>/blobs/<digest>`
    Blob {
        /// The repository (not yet validated).
        name: String,
        /// The digest, as sent.
        digest: String,
    },
    /// `/v2/<name>/blobs/uploads/`
    StartUpload {
        /// The repository (not yet validated).
        name: String,
    },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload {
        /// The repository (not yet validated).
        name: String,
        /// The upload session's id.
        id: String,
    },
    /// `/v2/<name>/referrers/<digest>`
    Referrers {
        /// The repository (not yet validated).
        name: String,
        /// The subject's digest, as sent.
        digest: String,
    },
    /// `/token` (bearer mode)
    Token,
    /// `/oauth2/token` (ACR mode)
    OAuth2Token,
    /// `/oauth2/exchange` (ACR mode)
    OAuth2Exchange,
    /// Anything else.
    NotFound,
}

impl Route {
    /// The repository a route names, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::StartUpload { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Parse a request path (without the query).
pub fn parse_route(path: &str) -> Route {
    match path {
        "/v2" | "/v2/" => return Route::Base,
        "/v2/_catalog" => return Route::Catalog,
        "/token" => return Route::Token,
        "/oauth2/token" => return Route::OAuth2Token,
        "/oauth2/exchange" => return Route::OAuth2Exchange,
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..n - k].join("/");
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Route::Tags { name: name(2) };
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let id = segs[n - 1];
        return if id.is_empty() {
            Route::StartUpload { name: name(3) }
        } else {
            Route::Upload {
                name: name(3),
                id: id.to_owned(),
            }
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Route::StartUpload { name: name(2) };
    }
    if n >= 3 && !segs[n - 1].is_empty() {
        let last = segs[n - 1].to_owned();
        match segs[n - 2] {
            "manifests" => {
                return Route::Manifest {
                    name: name(2),
                    reference: last,
                };
            }
            "blobs" => {
                return Route::Blob {
                    name: name(2),
                    digest: last,
                };
            }
            "referrers" => {
                return Route::Referrers {
                    name: name(2),
                    digest: last,
                };
            }
            _ => {}
        }
    }
    Route::NotFound
}

/// Whether `name` is a valid repository name: path components of `[a-z0-9]+` joined by
/// `.`, `_`, `__` or `-+`, separated by `/`, at most 255 characters in all.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn valid_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// A `Range` header that cannot be satisfied against the blob's length (answer 416 with
/// `Content-Range: bytes */<len>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeNotSatisfiable;

/// Parse a single `bytes=` range against a length: `Ok(None)` for no range (or one this
/// server serves whole: another unit, several ranges), `Ok(Some((start, end)))` with `end`
/// inclusive and clamped to the length.
///
/// # Errors
/// [`RangeNotSatisfiable`] when the range is malformed or lies outside the blob.
pub fn parse_range(
    value: Option<&str>,
    len: u64,
) -> Result<Option<(u64, u64)>, RangeNotSatisfiable> {
    let bad = |_| RangeNotSatisfiable;
    let Some(value) = value else { return Ok(None) };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Several ranges: serve the whole body, as allowed.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(RangeNotSatisfiable)?;
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().map_err(bad)?;
        if suffix == 0 {
            return Err(RangeNotSatisfiable);
        }
        (len.saturating_sub(suffix), len.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(bad)?;
        let end: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(bad)?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if len == 0 || start >= len || end < start {
        return Err(RangeNotSatisfiable);
    }
    Ok(Some((start, end)))
}

/// Whether the request's `Accept` headers admit `media_type` (`*/*` and `application/*`
/// admit everything; no header admits everything).
pub fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut any_header = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let essence = media_types::essence(item);
            if essence.is_empty() {
                continue;
            }
            any_header = true;
            if essence == "*/*" || essence == media_type || essence == "application/*" {
                return true;
            }
        }
    }
    !any_header
}

/// The `Content-Type` of an error body.
pub const ERROR_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The status the spec's table gives `code` (500 for a code it does not know).
pub fn error_status(code: &ErrorCode) -> http::StatusCode {
    code.status()
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The spec's error body for one error: `{"errors":[{"code","message","detail"}]}`, with
/// the code's usual message.
pub fn error_body(code: &ErrorCode, detail: Option<serde_json::Value>) -> String {
    error_body_with(code, code.message().unwrap_or("unknown error"), detail)
}

/// [`error_body`] with a message of its own (what a client prints after the code).
pub fn error_body_with(
    code: &ErrorCode,
    message: &str,
    detail: Option<serde_json::Value>,
) -> String {
    serde_json::json!({
        "errors": [{
            "code": code.as_str(),
            "message": message,
            "detail": detail.unwrap_or(serde_json::Value::Null),
        }]
    })
    .to_string()
}

/// The user name and password of a Basic `Authorization` header; `None` without one, or
/// when it does not decode (base64 of UTF-8 `name:password`).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
