//! Token responses, form bodies and the JWT `exp` claim.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::TokenResponseErrorKind;
use crate::secret::Secret;

/// The lifetime of a token whose response gives neither `expires_in` nor a JWT `exp` (the
/// distribution spec's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The longest lifetime believed: longer claims are cut to this (a year).
pub const MAXIMUM_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A parsed token endpoint response.
///
/// Invariant: [`expires_in`](Self::expires_in) is at most [`MAXIMUM_TOKEN_LIFETIME`]. It is
/// what the server said, however short: a token is never believed to live longer than its
/// issuer meant (a registry refuses a token it considers expired, and a streamed upload
/// cannot be replayed).
#[derive(Clone)]
pub struct TokenResponse {
    token: Secret,
    refresh_token: Option<Secret>,
    expires_in: Duration,
    issued_at: Option<String>,
}

impl TokenResponse {
    /// Parses a token response: `token` or `access_token` (Docker Hub sends both, ACR only
    /// `access_token`; `token` wins), `expires_in` (a number, or a string of digits as IMDS
    /// sends), `issued_at`, `refresh_token`.
    ///
    /// When `expires_in` is absent the lifetime is read from the token's JWT `exp` claim
    /// relative to `now` (ACR; an `exp` in the past gives zero), else it is
    /// [`DEFAULT_TOKEN_LIFETIME`]. A short `expires_in` is kept as it is.
    ///
    /// # Security
    ///
    /// The JWT is decoded only to read `exp`; its signature is not checked and nothing
    /// else in it is trusted.
    ///
    /// # Errors
    ///
    /// The problem with the body.
    pub fn parse(body: &[u8], now: SystemTime) -> Result<TokenResponse, TokenResponseErrorKind> {
        let object = json_object(body)?;
        let string = |name: &str| {
            object
                .get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let token = string("token")
            .or_else(|| string("access_token"))
            .ok_or(TokenResponseErrorKind::MissingToken)?;
        if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(TokenResponseErrorKind::InvalidTokenCharacters);
        }
        let expires_in = match object.get("expires_in") {
            None | Some(serde_json::Value::Null) => jwt_expiry(token)
                .map_or(DEFAULT_TOKEN_LIFETIME, |exp| {
                    exp.duration_since(now).unwrap_or(Duration::ZERO)
                }),
            Some(serde_json::Value::Number(n)) => n
                .as_u64()
                .map(Duration::from_secs)
                .or_else(|| {
                    n.as_f64()
                        .map(|f| Duration::from_secs_f64(f.clamp(0.0, 1e12)))
                })
                .ok_or(TokenResponseErrorKind::InvalidExpiresIn)?,
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| TokenResponseErrorKind::InvalidExpiresIn)?,
            Some(_) => return Err(TokenResponseErrorKind::InvalidExpiresIn),
        };
        Ok(TokenResponse {
            token: Secret::new(token),
            refresh_token: string("refresh_token").map(Secret::new),
            expires_in: expires_in.min(MAXIMUM_TOKEN_LIFETIME),
            issued_at: string("issued_at").map(str::to_owned),
        })
    }

    /// The bearer token.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// The refresh token, when the server sent one.
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// How long the token lives, as its issuer said (at most a year).
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The `issued_at` timestamp as sent (RFC 3339).
    ///
    /// # Deviation
    ///
    /// Expiry is counted from the `now` the response was received at rather than from
    /// `issued_at`, which is never later and so never makes a token live longer.
    pub fn issued_at(&self) -> Option<&str> {
        self.issued_at.as_deref()
    }

    /// When the token expires, counted from `received`.
    pub fn expires_at(&self, received: SystemTime) -> SystemTime {
        received.checked_add(self.expires_in).unwrap_or(received)
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &self.token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Reads the `refresh_token` of an ACR `/oauth2/exchange` response.
pub(crate) fn parse_exchange_response(body: &[u8]) -> Result<Secret, TokenResponseErrorKind> {
    json_object(body)?
        .get("refresh_token")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .ok_or(TokenResponseErrorKind::MissingToken)
}

fn json_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, TokenResponseErrorKind> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(TokenResponseErrorKind::NotJson { line: 1, column: 1 }),
        Err(err) => Err(TokenResponseErrorKind::NotJson {
            line: err.line(),
            column: err.column(),
        }),
    }
}

/// The `exp` claim of a JWT, decoded without checking anything else.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    let seconds = exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| Duration::from_secs_f64(f.min(1e12)).as_secs())
    })?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Characters left as they are in a form value (RFC 3986 unreserved).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One value form-encoded as [`form_body`] writes it.
pub(crate) fn form_value(value: &str) -> String {
    utf8_percent_encode(value, FORM).to_string()
}

/// An `application/x-www-form-urlencoded` body (spaces as `%20`).
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> Bytes {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(name, FORM));
        out.push('=');
        out.extend(utf8_percent_encode(value, FORM));
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: u64) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            engine.encode(br#"{"alg":"RS256"}"#),
            engine.encode(format!(r#"{{"exp":{exp},"sub":"x"}}"#))
        )
    }

    #[test]
    fn token_field_variants() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cases: [(&str, &str, u64, bool); 7] = [
            (
                r#"{"token":"a","access_token":"b","expires_in":300}"#,
                "a",
                300,
                false,
            ),
            (
                r#"{"access_token":"b","expires_in":"3599"}"#,
                "b",
                3599,
                false,
            ),
            (r#"{"token":"a"}"#, "a", 60, false),
            (r#"{"token":"a","expires_in":10}"#, "a", 10, false),
            (
                r#"{"token":"a","expires_in":0,"refresh_token":"r"}"#,
                "a",
                0,
                true,
            ),
            (
                r#"{"token":"a","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}"#,
                "a",
                300,
                false,
            ),
            (
                r#"{"token":"a","expires_in":30000000000}"#,
                "a",
                31_536_000,
                false,
            ),
        ];
        assert_eq!(cases.len(), 7);
        for (body, token, secs, refresh) in cases {
            let parsed = TokenResponse::parse(body.as_bytes(), now).expect(body);
            assert_eq!(parsed.token().expose(), token, "{body}");
            assert_eq!(parsed.expires_in(), Duration::from_secs(secs), "{body}");
            assert_eq!(parsed.refresh_token().is_some(), refresh, "{body}");
        }
    }

    #[test]
    fn acr_lifetime_comes_from_jwt_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(1_000 + 3_600));
        let parsed = TokenResponse::parse(body.as_bytes(), now).expect("parses");
        assert_eq!(parsed.expires_in(), Duration::from_secs(3_600));
        assert_eq!(parsed.expires_at(now), now + Duration::from_secs(3_600));
        // A short-lived token keeps its short life; an exp in the past gives none.
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(1_000 + 20));
        let parsed = TokenResponse::parse(body.as_bytes(), now).expect("parses");
        assert_eq!(parsed.expires_in(), Duration::from_secs(20));
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(10));
        let parsed = TokenResponse::parse(body.as_bytes(), now).expect("parses");
        assert_eq!(parsed.expires_in(), Duration::ZERO);
    }

    #[test]
    fn bad_bodies() {
        let now = UNIX_EPOCH;
        let cases: [(&str, TokenResponseErrorKind); 6] = [
            ("", TokenResponseErrorKind::NotJson { line: 1, column: 0 }),
            ("[]", TokenResponseErrorKind::NotJson { line: 1, column: 1 }),
            ("{}", TokenResponseErrorKind::MissingToken),
            (r#"{"token":""}"#, TokenResponseErrorKind::MissingToken),
            (
                r#"{"token":"a","expires_in":"soon"}"#,
                TokenResponseErrorKind::InvalidExpiresIn,
            ),
            (
                "{\"token\":\"a\\nb\"}",
                TokenResponseErrorKind::InvalidTokenCharacters,
            ),
        ];
        assert_eq!(cases.len(), 6);
        for (body, kind) in cases {
            assert_eq!(
                TokenResponse::parse(body.as_bytes(), now).err(),
                Some(kind),
                "{body}"
            );
        }
    }

    #[test]
    fn form_encoding() {
        let body = form_body(&[
            ("scope", "repository:a/b:pull,push registry:catalog:*"),
            ("x", "é&="),
        ]);
        assert_eq!(
            &body[..],
            b"scope=repository%3Aa%2Fb%3Apull%2Cpush%20registry%3Acatalog%3A%2A&x=%C3%A9%26%3D"
        );
    }
}
