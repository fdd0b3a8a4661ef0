//! Check functions shared by the fuzz targets (`fuzz/fuzz_targets/www_authenticate.rs`,
//! `token_response.rs`) and the tests that replay their corpora.
//!
//! Each function panics when an invariant is broken; that panic is the finding. They are
//! public only so the fuzz crate can call them: not an API for other uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};

use crate::challenge::Challenge;
use crate::token::{MAXIMUM_TOKEN_LIFETIME, TokenResponse, jwt_expiry};

/// `WWW-Authenticate` parsing never panics, and whatever parses re-formats to text that
/// parses back to equal challenges (one at a time and all joined in one header).
///
/// # Panics
///
/// When an invariant is broken.
pub fn check_www_authenticate(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(challenges) = Challenge::parse(text)
    {
        assert!(!challenges.is_empty(), "Ok with no challenge for {text:?}");
        for challenge in &challenges {
            let formatted = challenge.to_string();
            let reparsed = Challenge::parse(&formatted).unwrap_or_else(|err| {
                panic!("{formatted:?} (from {text:?}) does not re-parse: {err}")
            });
            assert_eq!(
                reparsed,
                vec![challenge.clone()],
                "{formatted:?} from {text:?}"
            );
        }
        let joined = challenges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            Challenge::parse(&joined).ok().as_ref(),
            Some(&challenges),
            "joined {joined:?} from {text:?}"
        );
    }
    // The header path (visible ASCII only) never panics either, and agrees with `parse`.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.append(http::header::WWW_AUTHENTICATE, value);
        let from_headers = Challenge::from_headers(&headers);
        if let Ok(text) = std::str::from_utf8(data) {
            assert_eq!(
                from_headers.ok(),
                Challenge::parse(text).ok(),
                "header and text parsing disagree on {text:?}"
            );
        }
    }
}

/// Token-response parsing never panics, and a parsed token lives at most
/// [`MAXIMUM_TOKEN_LIFETIME`], whatever `expires_in` or the JWT `exp` says.
///
/// # Panics
///
/// When an invariant is broken.
pub fn check_token_response(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for at in [
        UNIX_EPOCH,
        now,
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX)),
    ] {
        if let Ok(response) = TokenResponse::parse(data, at) {
            assert!(response.expires_in() <= MAXIMUM_TOKEN_LIFETIME);
            assert!(!response.token().is_empty());
            assert!(response.expires_at(at) >= at);
            assert!(response.expires_at(at) <= at + MAXIMUM_TOKEN_LIFETIME);
            assert!(
                crate::Authorization::bearer(response.token()).is_some(),
                "a parsed token must make a valid header"
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jwt_expiry(text);
    }
}
