//! Credentials and the [`CredentialSource`] trait the negotiation asks them of.
//!
//! The sources that do IO (docker `config.json`, credential helpers, the environment,
//! Azure AD) live in `orca-credentials`; here are only the pure ones.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::azure::AzureTokenProvider;
use crate::error::{CredentialKind, Error};
use crate::secret::Secret;

/// The user name ACR uses to say "the password is a refresh token".
pub const ACR_REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// The user name docker credential helpers use to say "the secret is an identity token".
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// A credential for one registry.
///
/// # Security
///
/// `Debug` never prints secrets (they are [`Secret`]s); use [`Credential::kind`] to name a
/// credential in messages.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// No credential: anonymous token requests only.
    Anonymous,
    /// A user name and password: sent as Basic, or traded for a token.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An identity (`OAuth2` refresh) token, traded at the token endpoint with
    /// `grant_type=refresh_token`.
    IdentityToken {
        /// The user name it came with, if any (used for the GET fallback).
        username: Option<String>,
        /// The refresh token.
        token: Secret,
    },
    /// A registry bearer token, sent as is.
    RegistryToken(Secret),
    /// An Azure AD access token, exchanged at ACR's `/oauth2/exchange` for a refresh token.
    AzureAccessToken {
        /// The AAD access token.
        token: Secret,
        /// The AAD tenant, when known.
        tenant: Option<String>,
    },
    /// An Azure AD token provider whose token requests become steps of the negotiation.
    Azure(Arc<dyn AzureTokenProvider>),
}

impl Credential {
    /// A user name and secret, with the conventions applied: user `<token>` (docker
    /// credential helpers) or `00000000-0000-0000-0000-000000000000` (ACR) means the
    /// secret is an identity (refresh) token.
    pub fn from_username_secret(username: &str, secret: impl Into<Secret>) -> Credential {
        let secret = secret.into();
        match username {
            IDENTITY_TOKEN_USER => Credential::IdentityToken {
                username: None,
                token: secret,
            },
            ACR_REFRESH_TOKEN_USER => Credential::IdentityToken {
                username: Some(ACR_REFRESH_TOKEN_USER.to_owned()),
                token: secret,
            },
            _ => Credential::Basic {
                username: username.to_owned(),
                password: secret,
            },
        }
    }

    /// A plain Basic credential, with no convention applied.
    pub fn basic(username: &str, password: impl Into<Secret>) -> Credential {
        Credential::Basic {
            username: username.to_owned(),
            password: password.into(),
        }
    }

    /// What kind of credential this is, with its user name: safe to print.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Anonymous => CredentialKind::Anonymous,
            Credential::Basic { username, .. } => CredentialKind::Basic {
                username: username.clone(),
            },
            Credential::IdentityToken { username, .. } => CredentialKind::IdentityToken {
                username: username.clone(),
            },
            Credential::RegistryToken(_) => CredentialKind::RegistryToken,
            Credential::AzureAccessToken { .. } => CredentialKind::AzureAccessToken,
            Credential::Azure(provider) => CredentialKind::Azure {
                provider: provider.name().to_owned(),
            },
        }
    }

    /// Whether this is [`Credential::Anonymous`].
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Credential::Anonymous)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, password } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", password)
                .finish(),
            Credential::IdentityToken { username, token } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", token)
                .finish(),
            Credential::RegistryToken(token) => {
                f.debug_tuple("RegistryToken").field(token).finish()
            }
            Credential::AzureAccessToken { token, tenant } => f
                .debug_struct("AzureAccessToken")
                .field("token", token)
                .field("tenant", tenant)
                .finish(),
            Credential::Azure(provider) => f.debug_tuple("Azure").field(&provider.name()).finish(),
        }
    }
}

/// Where credentials come from: asked once per negotiation with the registry
/// (`host[:port]`) being authenticated to.
///
/// Return [`Credential::Anonymous`] when there is no credential for the registry, and an
/// error only when looking one up failed (a broken helper, an unreadable file): the
/// negotiator never turns such a failure into anonymous access.
///
/// A lookup may block (read a file, run a credential helper). The negotiation never calls
/// it itself: it hands the caller a [`Step::Lookup`](crate::Step::Lookup), which an async
/// client runs off its runtime (`tokio::task::spawn_blocking`).
pub trait CredentialSource: Send + Sync {
    /// The credential for `registry` (`host[:port]`).
    ///
    /// # Errors
    ///
    /// When the lookup itself fails.
    fn credential(&self, registry: &str) -> Result<Credential, Error>;
}

impl<T: CredentialSource + ?Sized> CredentialSource for Arc<T> {
    fn credential(&self, registry: &str) -> Result<Credential, Error> {
        (**self).credential(registry)
    }
}

/// No credentials for any registry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous;

impl CredentialSource for Anonymous {
    fn credential(&self, _registry: &str) -> Result<Credential, Error> {
        Ok(Credential::Anonymous)
    }
}

/// Explicit credentials per registry (`host[:port]`, case-insensitive), with an optional
/// fallback for every other registry. Docker Hub's names (`docker.io`, `index.docker.io`,
/// `registry-1.docker.io`) share one credential.
#[derive(Clone, Debug, Default)]
pub struct StaticCredentials {
    by_registry: HashMap<String, Credential>,
    fallback: Option<Credential>,
}

impl StaticCredentials {
    /// No credentials yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the credential for `registry`.
    #[must_use]
    pub fn with(mut self, registry: &str, credential: Credential) -> Self {
        self.insert(registry, credential);
        self
    }

    /// Adds (or replaces) the credential for `registry`.
    pub fn insert(&mut self, registry: &str, credential: Credential) {
        self.by_registry
            .insert(registry.to_ascii_lowercase(), credential);
    }

    /// Uses `credential` for every registry not named explicitly.
    #[must_use]
    pub fn with_fallback(mut self, credential: Credential) -> Self {
        self.fallback = Some(credential);
        self
    }
}

/// Docker Hub's names: a credential given for one serves the others.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

impl CredentialSource for StaticCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, Error> {
        let registry = registry.to_ascii_lowercase();
        let alias = || {
            DOCKER_HUB_ALIASES
                .contains(&registry.as_str())
                .then(|| {
                    DOCKER_HUB_ALIASES
                        .iter()
                        .find_map(|a| self.by_registry.get(*a))
                })
                .flatten()
        };
        Ok(self
            .by_registry
            .get(&registry)
            .or_else(alias)
            .or(self.fallback.as_ref())
            .cloned()
            .unwrap_or(Credential::Anonymous))
    }
}

/// Tries sources in order and returns the first credential that is not anonymous.
///
/// An error from a source stops the chain (a broken source is not skipped silently).
#[derive(Clone, Default)]
pub struct ChainCredentials {
    sources: Vec<Arc<dyn CredentialSource>>,
}

impl ChainCredentials {
    /// An empty chain (anonymous for every registry).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a source.
    #[must_use]
    pub fn then(mut self, source: impl CredentialSource + 'static) -> Self {
        self.sources.push(Arc::new(source));
        self
    }
}

impl fmt::Debug for ChainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainCredentials")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl CredentialSource for ChainCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, Error> {
        for source in &self.sources {
            let credential = source.credential(registry)?;
            if !credential.is_anonymous() {
                return Ok(credential);
            }
        }
        Ok(Credential::Anonymous)
    }
}
