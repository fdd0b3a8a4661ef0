//! Turning the stores' [`CredentialSource`] descriptions into credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orca_auth::{ACR_REFRESH_TOKEN_USER, AzureTokenProvider, Credential, Secret};
use orca_credentials::azure::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential, authority_host,
};
use orca_credentials::{DockerConfig, Environment, ProcessEnvironment, SystemCommandRunner};
use orca_store::{CredentialSource, StoreRegistry};

use crate::Error;

/// One registry's credential, ready to hand out: environment variables were read when
/// the [`ArtifactStore`](crate::ArtifactStore) was built; files are read at each
/// negotiation (they rotate).
enum Resolved {
    Fixed(Credential),
    /// The source could not be resolved (an unset variable): the error is the registry's
    /// own, reported when that registry is used, so one store's missing secret does not
    /// stop every other store.
    Unavailable {
        what: String,
        message: String,
    },
    BasicFile {
        username: String,
        path: PathBuf,
    },
    AcrTokenFile(PathBuf),
    Docker(Option<PathBuf>),
}

/// The credentials of every registered store (and, optionally, of every other registry),
/// as an `orca_auth` credential source.
pub(crate) struct StoreCredentials {
    by_registry: HashMap<String, Resolved>,
    fallback: Option<Resolved>,
    first: Option<Arc<dyn orca_auth::CredentialSource>>,
}

impl StoreCredentials {
    pub(crate) fn new(
        stores: &StoreRegistry,
        unregistered: Option<&CredentialSource>,
        first: Option<Arc<dyn orca_auth::CredentialSource>>,
    ) -> Result<StoreCredentials, Error> {
        let env = ProcessEnvironment;
        let mut by_registry = HashMap::new();
        for store in stores.iter() {
            let resolved = resolve(store.credentials(), &env).unwrap_or_else(|message| {
                Resolved::Unavailable {
                    what: format!(
                        "the {} credentials of the artifact store {}",
                        store.credentials().kind(),
                        store.registry()
                    ),
                    message,
                }
            });
            by_registry.insert(store.registry().to_string(), resolved);
        }
        let fallback = unregistered
            .map(|source| {
                resolve(source, &env).map_err(|message| Error::Internal {
                    message: format!(
                        "the {} credentials for unregistered registries: {message}",
                        source.kind()
                    ),
                    source: None,
                })
            })
            .transpose()?;
        Ok(StoreCredentials {
            by_registry,
            fallback,
            first,
        })
    }
}

fn env_var(env: &dyn Environment, name: &str) -> Result<String, String> {
    env.var(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("the environment variable {name} is not set"))
}

fn resolve(source: &CredentialSource, env: &dyn Environment) -> Result<Resolved, String> {
    let azure =
        |provider: Arc<dyn AzureTokenProvider>| Resolved::Fixed(Credential::Azure(provider));
    Ok(match source {
        CredentialSource::BasicEnv {
            username,
            password_env,
        } => Resolved::Fixed(Credential::from_username_secret(
            username,
            Secret::new(env_var(env, password_env)?),
        )),
        CredentialSource::BasicEnvVars {
            username_env,
            password_env,
        } => Resolved::Fixed(Credential::from_username_secret(
            &env_var(env, username_env)?,
            Secret::new(env_var(env, password_env)?),
        )),
        CredentialSource::BasicFile {
            username,
            password_file,
        } => Resolved::BasicFile {
            username: username.clone(),
            path: password_file.clone(),
        },
        CredentialSource::AcrRefreshTokenEnv { token_env } => {
            Resolved::Fixed(Credential::from_username_secret(
                ACR_REFRESH_TOKEN_USER,
                Secret::new(env_var(env, token_env)?),
            ))
        }
        CredentialSource::AcrRefreshTokenFile { token_file } => {
            Resolved::AcrTokenFile(token_file.clone())
        }
        CredentialSource::DockerConfig { path } => Resolved::Docker(path.clone()),
        CredentialSource::AzureClientSecret {
            tenant_id,
            client_id,
            secret_env,
        } => azure(Arc::new(ClientSecretCredential::new(
            &authority_host(env),
            tenant_id,
            client_id,
            Secret::new(env_var(env, secret_env)?),
        ))),
        CredentialSource::AzureWorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => {
            let tenant = match tenant_id {
                Some(t) => t.clone(),
                None => env_var(env, "AZURE_TENANT_ID")?,
            };
            let client = match client_id {
                Some(c) => c.clone(),
                None => env_var(env, "AZURE_CLIENT_ID")?,
            };
            let file = match token_file {
                Some(f) => f.clone(),
                None => PathBuf::from(env_var(env, "AZURE_FEDERATED_TOKEN_FILE")?),
            };
            azure(Arc::new(WorkloadIdentityCredential::new(
                &authority_host(env),
                &tenant,
                &client,
                file,
            )))
        }
        CredentialSource::AzureManagedIdentity { client_id } => {
            // The endpoint as the environment gives it: App Service's IDENTITY_ENDPOINT
            // (with IDENTITY_HEADER), else the instance metadata service.
            let provider = ManagedIdentityCredential::from_env(env);
            azure(Arc::new(match client_id {
                Some(id) => provider.with_client_id(id),
                None => provider.system_assigned(),
            }))
        }
        CredentialSource::AzureCli { tenant_id } => {
            let mut provider = AzureCliCredential::new(Arc::new(SystemCommandRunner::new()));
            if let Some(tenant) = tenant_id {
                provider = provider.with_tenant(tenant);
            }
            azure(Arc::new(provider))
        }
        // Anonymous, and kinds added later that this version does not know.
        _ => Resolved::Fixed(Credential::Anonymous),
    })
}

fn read_secret(path: &Path) -> Result<Secret, orca_auth::Error> {
    read_secret_file(path).map_err(|source| {
        orca_auth::Error::credential_lookup(format!("reading {}", path.display()), source)
    })
}

/// A secret kept in a file (read at each use: they rotate), without surrounding
/// whitespace.
pub(crate) fn read_secret_file(path: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    Ok(Secret::new(text.trim().to_owned()))
}

impl orca_auth::CredentialSource for StoreCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, orca_auth::Error> {
        if let Some(first) = &self.first {
            let credential = first.credential(registry)?;
            if !credential.is_anonymous() {
                return Ok(credential);
            }
        }
        let key = orca_reference::Registry::parse(registry)
            .map_or_else(|_| registry.to_ascii_lowercase(), |r| r.to_string());
        let Some(resolved) = self.by_registry.get(&key).or(self.fallback.as_ref()) else {
            return Ok(Credential::Anonymous);
        };
        match resolved {
            Resolved::Fixed(credential) => Ok(credential.clone()),
            Resolved::Unavailable { what, message } => Err(orca_auth::Error::credential_lookup(
                what.clone(),
                message.clone(),
            )),
            Resolved::BasicFile { username, path } => Ok(Credential::from_username_secret(
                username,
                read_secret(path)?,
            )),
            Resolved::AcrTokenFile(path) => Ok(Credential::from_username_secret(
                ACR_REFRESH_TOKEN_USER,
                read_secret(path)?,
            )),
            Resolved::Docker(path) => {
                let path = match path {
                    Some(p) => Some(p.clone()),
                    None => DockerConfig::default_path(&ProcessEnvironment),
                };
                match path {
                    Some(p) if p.exists() => DockerConfig::from_path(&p)?.credential(registry),
                    _ => Ok(Credential::Anonymous),
                }
            }
        }
    }
}
