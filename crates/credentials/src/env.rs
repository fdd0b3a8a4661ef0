//! The environment: variable lookups and credentials given in variables.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use orca_auth::{Credential, CredentialSource, Secret};

/// Environment variable lookups, injectable so tests never touch the process environment.
pub trait Environment: Send + Sync {
    /// The variable's value, if set and valid Unicode.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher + Send + Sync> Environment for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A variable's value when set and not empty.
pub(crate) fn non_empty(env: &dyn Environment, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}

/// Credentials from environment variables, for one registry or all.
///
/// Reads `<PREFIX>_USERNAME` + `<PREFIX>_PASSWORD` (with the `<token>` and ACR user
/// conventions of [`Credential::from_username_secret`]), else `<PREFIX>_IDENTITY_TOKEN`,
/// else `<PREFIX>_REGISTRY_TOKEN`. When `<PREFIX>_REGISTRY` is set, the credential
/// applies only to that registry. The default prefix is `ORCA`.
pub struct EnvironmentCredentials {
    env: Arc<dyn Environment>,
    prefix: String,
}

impl EnvironmentCredentials {
    /// Reads `ORCA_*` variables from `env`.
    pub fn new(env: Arc<dyn Environment>) -> Self {
        Self::with_prefix(env, "ORCA")
    }

    /// Reads `<prefix>_*` variables from `env`.
    pub fn with_prefix(env: Arc<dyn Environment>, prefix: &str) -> Self {
        Self {
            env,
            prefix: prefix.to_owned(),
        }
    }

    fn var(&self, suffix: &str) -> Option<String> {
        non_empty(&*self.env, &format!("{}_{suffix}", self.prefix))
    }
}

impl fmt::Debug for EnvironmentCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentCredentials")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl CredentialSource for EnvironmentCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, orca_auth::Error> {
        if let Some(only) = self.var("REGISTRY")
            && !only.eq_ignore_ascii_case(registry)
        {
            return Ok(Credential::Anonymous);
        }
        if let (Some(user), Some(password)) = (self.var("USERNAME"), self.var("PASSWORD")) {
            return Ok(Credential::from_username_secret(&user, password));
        }
        if let Some(token) = self.var("IDENTITY_TOKEN") {
            return Ok(Credential::IdentityToken {
                username: self.var("USERNAME"),
                token: Secret::new(token),
            });
        }
        if let Some(token) = self.var("REGISTRY_TOKEN") {
            return Ok(Credential::RegistryToken(Secret::new(token)));
        }
        Ok(Credential::Anonymous)
    }
}
