//! What the negotiator hands the client: [`Authorization`] headers and [`Step`]s.

use std::fmt;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Request};

use crate::lookup::Lookup;
use crate::secret::Secret;

/// The scheme of an [`Authorization`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Basic base64(user:password)`.
    Basic,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

/// A value for the `Authorization` header.
///
/// # Security
///
/// The header value is marked sensitive (HTTP/2 never indexes it, and `http`'s `Debug`
/// hides it) and this type's `Debug` prints only the scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    scheme: AuthScheme,
    value: HeaderValue,
}

impl Authorization {
    /// `Basic base64(username:password)`.
    pub fn basic(username: &str, password: &Secret) -> Authorization {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        Self::build(AuthScheme::Basic, &format!("Basic {encoded}"))
            .unwrap_or_else(|| Self::redacted_placeholder(AuthScheme::Basic))
    }

    /// `Bearer <token>`; `None` when the token has characters a header cannot carry.
    pub fn bearer(token: &Secret) -> Option<Authorization> {
        Self::build(AuthScheme::Bearer, &format!("Bearer {}", token.expose()))
    }

    fn build(scheme: AuthScheme, text: &str) -> Option<Authorization> {
        let mut value = HeaderValue::from_str(text).ok()?;
        value.set_sensitive(true);
        Some(Authorization { scheme, value })
    }

    // Base64 output is always a valid header value, so this is never reached; it exists so
    // that `basic` needs no panic path.
    fn redacted_placeholder(scheme: AuthScheme) -> Authorization {
        let mut value = HeaderValue::from_static("Basic");
        value.set_sensitive(true);
        Authorization { scheme, value }
    }

    /// The header value to send (marked sensitive).
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }

    /// Basic or Bearer.
    pub fn scheme(&self) -> AuthScheme {
        self.scheme
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("scheme", &self.scheme)
            .field("value", &format_args!("<redacted>"))
            .finish()
    }
}

/// What to do next in a [`Negotiation`](crate::Negotiation).
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // moved once per round trip; boxing would change the contract clients match on
pub enum Step {
    /// Send this request and give the response to
    /// [`Negotiation::receive`](crate::Negotiation::receive).
    Send(Request<Bytes>),
    /// Done: retry the original request with this `Authorization`.
    Authorize(Authorization),
    /// Run this lookup where blocking is allowed and give its result to
    /// [`Negotiation::resume`](crate::Negotiation::resume).
    Lookup(Lookup),
}

impl fmt::Debug for Step {
    /// Method, URI and body length only: headers and form bodies carry secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(request) => f
                .debug_struct("Send")
                .field("method", request.method())
                .field("uri", request.uri())
                .field("body", &format_args!("<{} bytes>", request.body().len()))
                .finish_non_exhaustive(),
            Step::Authorize(authorization) => {
                f.debug_tuple("Authorize").field(authorization).finish()
            }
            Step::Lookup(lookup) => lookup.fmt(f),
        }
    }
}
