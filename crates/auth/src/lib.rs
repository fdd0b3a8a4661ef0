//! Sans-IO registry authentication: challenges, scopes, credentials, token requests and a
//! token cache.
//!
//! The crate parses `WWW-Authenticate` challenges, finds the credential for a registry,
//! builds the token requests to send (`http::Request<Bytes>`) and reads their responses;
//! the caller (`orca-distribution`) does the network IO. It does no IO at all: no sockets,
//! no files, no processes, no clock (`now` is an argument), and has no `unsafe`. Where a
//! credential must be found (a docker config, a credential helper, `az`: the work of
//! `orca-credentials`), the negotiation hands the caller a [`Step::Lookup`] to run where
//! blocking is allowed.
//!
//! ```
//! use std::time::SystemTime;
//! use bytes::Bytes;
//! use orca_auth::{Action, AuthOptions, Authenticator, Credential, Scope, StaticCredentials, Step};
//!
//! let source = StaticCredentials::new().with("reg.example", Credential::basic("me", "pw"));
//! let auth = Authenticator::new(source, AuthOptions::default());
//! let scopes = [Scope::repository("team/app", &[Action::Pull])];
//! let now = SystemTime::now();
//!
//! let uri: http::Uri = "https://reg.example/v2/team/app/manifests/latest".parse()?;
//! let unauthorized = http::Response::builder()
//!     .status(401)
//!     .header("www-authenticate", r#"Bearer realm="https://reg.example/token",service="reg.example""#)
//!     .body(())?;
//! let mut negotiation = auth.challenge(&uri, &unauthorized, &scopes, now)?;
//! // First the credential lookup (an async client runs it with `spawn_blocking`).
//! let Step::Lookup(lookup) = negotiation.next(now)? else { unreachable!() };
//! negotiation.resume(lookup.run(), now)?;
//! let Step::Send(request) = negotiation.next(now)? else { unreachable!() };
//! assert_eq!(
//!     request.uri(),
//!     "https://reg.example/token?service=reg.example&scope=repository%3Ateam%2Fapp%3Apull"
//! );
//! // ... the caller sends `request` and hands back the response:
//! let response = http::Response::new(Bytes::from_static(br#"{"token":"abc","expires_in":300}"#));
//! negotiation.receive(response, now)?;
//! let Step::Authorize(authorization) = negotiation.next(now)? else { unreachable!() };
//! assert_eq!(authorization.header_value(), "Bearer abc");
//! // The token is cached for the next request wanting the same scopes.
//! assert!(auth.authorization("reg.example", &scopes, now).is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authorization;
pub mod azure;
mod cache;
mod challenge;
mod credential;
mod error;
pub mod excerpt;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod lookup;
mod negotiation;
mod realm;
mod redact;
mod scope;
mod secret;
mod token;

pub use authorization::{AuthScheme, Authorization, Step};
pub use azure::{AzureStep, AzureTokenProvider, LocalIdentityEndpoint};
pub use challenge::Challenge;
pub use credential::{
    ACR_REFRESH_TOKEN_USER, Anonymous, ChainCredentials, Credential, CredentialSource,
    IDENTITY_TOKEN_USER, StaticCredentials,
};
pub use error::{
    ChallengeErrorKind, CredentialKind, Error, RealmRejection, Refuser, ScopeErrorKind,
    TokenResponseErrorKind,
};
pub use lookup::{Lookup, LookupResult};
pub use negotiation::{
    AuthOptions, Authenticator, MissingRight, Negotiation, ResponseHeaders, is_denied,
    missing_right,
};
pub use redact::{REDACTED, redact_url};
pub use scope::{Action, Scope};
pub use secret::Secret;
pub use token::{DEFAULT_TOKEN_LIFETIME, MAXIMUM_TOKEN_LIFETIME, TokenResponse, jwt_expiry};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
