//! Sans-IO registry authentication: challenges, scopes, credentials, token requests and a
//! token cache.
//!
//! The crate parses `WWW-Authenticate` challenges, finds the credential for a registry,
//! builds the token requests to send (`http::Request<Bytes>`) and reads their responses;
//! the caller (`orca-distribution`) does the network IO. It reads no clock (`now` is an
//! argument) and has no `unsafe`. Its only IO: running docker credential helpers and `az`
//! through a [`CommandRunner`], and reading docker `config.json` and the Azure federated
//! token file.
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
pub mod docker;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod negotiation;
mod realm;
mod redact;
mod scope;
mod secret;
mod token;

pub use authorization::{AuthScheme, Authorization, Step};
pub use azure::{AzureStep, AzureTokenProvider};
pub use challenge::Challenge;
pub use credential::{
    ACR_REFRESH_TOKEN_USER, Anonymous, ChainCredentials, CommandOutput, CommandRunner, Credential,
    CredentialSource, Environment, EnvironmentCredentials, IDENTITY_TOKEN_USER, ProcessEnvironment,
    StaticCredentials, SystemCommandRunner,
};
pub use docker::{CredentialHelper, DockerConfig};
pub use error::{
    ChallengeErrorKind, CredentialKind, Error, RealmRejection, ScopeErrorKind,
    TokenResponseErrorKind,
};
pub use negotiation::{AuthOptions, Authenticator, Negotiation, ResponseHeaders, is_denied};
pub use redact::{REDACTED, redact_url};
pub use scope::{Action, Scope};
pub use secret::Secret;
pub use token::{MAXIMUM_TOKEN_LIFETIME, MINIMUM_TOKEN_LIFETIME, TokenResponse, jwt_expiry};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
