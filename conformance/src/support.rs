//! The scenario context and helpers shared by scenarios.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use orca_auth::{AuthOptions, Authenticator, Credential, Secret, StaticCredentials};
use orca_distribution::{Client, ClientConfig, PushOptions, PushedManifest, RetryPolicy};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
use orca_mock_registry::{AuthMode, Config, MockRegistry};
use orca_reference::Reference;

use crate::target::{MockMode, Target};
use crate::{Failure, ensure};

const USER: &str = "orca";
const PASSWORD: &str = "orca-conformance-pw";
const AAD_TOKEN: &str = "aad-conformance-token";

/// What a scenario runs with: a client for the target, the target's registry, a unique
/// repository prefix, and the mock when the target is one.
pub struct Ctx {
    /// The target's label.
    pub label: String,
    /// A client for the target, with its credentials.
    pub client: Client,
    /// `host[:port]`.
    pub registry: String,
    /// Repository prefix unique to this run.
    pub prefix: String,
    /// The mock, when the target is one.
    pub mock: Option<MockRegistry>,
    mode: Option<MockMode>,
    credential: Option<Credential>,
    config: ClientConfig,
    _reference: Option<ReferenceRegistry>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("label", &self.label)
            .field("registry", &self.registry)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn base_config() -> ClientConfig {
    let mut config = ClientConfig::default().with_retry(
        RetryPolicy::builder()
            .max_retries(4)
            .initial_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_secs(2))
            .build(),
    );
    config.read_timeout = Duration::from_secs(30);
    config.connect_timeout = Duration::from_secs(10);
    config.max_resumes = 3;
    config
}

fn mock_auth(mode: MockMode) -> AuthMode {
    match mode {
        MockMode::None => AuthMode::None,
        MockMode::Basic => AuthMode::basic(USER, PASSWORD),
        MockMode::Bearer => AuthMode::bearer(USER, PASSWORD),
        MockMode::Acr => AuthMode::acr(AAD_TOKEN, USER, PASSWORD),
    }
}

fn mock_credential(mode: MockMode) -> Option<Credential> {
    match mode {
        MockMode::None => None,
        MockMode::Basic | MockMode::Bearer => Some(Credential::basic(USER, PASSWORD)),
        MockMode::Acr => Some(Credential::AzureAccessToken {
            token: Secret::from(AAD_TOKEN),
            tenant: None,
        }),
    }
}

fn client_for(
    config: &ClientConfig,
    registry: &str,
    credential: Option<&Credential>,
) -> Result<Client, Failure> {
    let credentials = match credential {
        Some(c) => StaticCredentials::new().with(registry, c.clone()),
        None => StaticCredentials::new(),
    };
    let auth = Authenticator::new(credentials, AuthOptions::default());
    Ok(Client::with_authenticator(config.clone(), auth)?)
}

fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl Ctx {
    /// Connect to (or start) `target`; `None` when it is unavailable (the reference
    /// registry's binary is missing).
    pub(crate) async fn open(target: &Target) -> Result<Option<Ctx>, Failure> {
        let label = target.label();
        let prefix = format!("conformance/{}", run_id());
        match target {
            Target::Mock(mode) => {
                let mock = MockRegistry::start(Config::default().with_auth(mock_auth(*mode)))
                    .await
                    .map_err(|e| Failure(format!("cannot start the mock registry: {e}")))?;
                let registry = mock.host().to_owned();
                let config = base_config().with_plain_http(registry.clone());
                let credential = mock_credential(*mode);
                let client = client_for(&config, &registry, credential.as_ref())?;
                Ok(Some(Ctx {
                    label,
                    client,
                    registry,
                    prefix,
                    mock: Some(mock),
                    mode: Some(*mode),
                    credential,
                    config,
                    _reference: None,
                    _dir: None,
                }))
            }
            Target::Real(real) => {
                let mut config = base_config();
                if real.plain_http {
                    config = config.with_plain_http(real.registry.clone());
                }
                if let Some(ca) = &real.ca_cert {
                    config = config.with_root_certificate(ca.clone());
                }
                let credential = match (&real.username, &real.password) {
                    (Some(u), Some(p)) => Some(Credential::from_username_secret(u, p.clone())),
                    (None, None) => None,
                    _ => return Err(Failure("--username and --password go together".into())),
                };
                let client = client_for(&config, &real.registry, credential.as_ref())?;
                Ok(Some(Ctx {
                    label,
                    client,
                    registry: real.registry.clone(),
                    prefix,
                    mock: None,
                    mode: None,
                    credential,
                    config,
                    _reference: None,
                    _dir: None,
                }))
            }
            Target::Reference { tls_basic } => {
                let options = ReferenceOptions {
                    tls: *tls_basic,
                    users: if *tls_basic {
                        vec![(USER.to_owned(), orca_mock_registry::Secret::new(PASSWORD))]
                    } else {
                        Vec::new()
                    },
                };
                let Some(reference) = ReferenceRegistry::start(options)
                    .await
                    .map_err(|e| Failure(format!("cannot start docker-registry: {e}")))?
                else {
                    return Ok(None);
                };
                let registry = reference.host().to_owned();
                let mut config = base_config();
                let mut dir = None;
                if let Some(pem) = reference.ca_pem() {
                    let tmp = tempfile::tempdir()
                        .map_err(|e| Failure(format!("temporary directory: {e}")))?;
                    let path: PathBuf = tmp.path().join("ca.pem");
                    std::fs::write(&path, pem)
                        .map_err(|e| Failure(format!("writing the CA: {e}")))?;
                    config = config.with_root_certificate(path);
                    dir = Some(tmp);
                } else {
                    config = config.with_plain_http(registry.clone());
                }
                let credential = tls_basic.then(|| Credential::basic(USER, PASSWORD));
                let client = client_for(&config, &registry, credential.as_ref())?;
                Ok(Some(Ctx {
                    label,
                    client,
                    registry,
                    prefix,
                    mock: None,
                    mode: None,
                    credential,
                    config,
                    _reference: Some(reference),
                    _dir: dir,
                }))
            }
        }
    }

    /// Whether the target wants credentials.
    pub fn has_credentials(&self) -> bool {
        self.credential.is_some()
    }

    /// Whether the target is reached over TLS.
    pub fn tls(&self) -> bool {
        !self.config.is_plain_http(&self.registry)
    }

    /// Whether the target is the mock with a token service.
    pub fn token_service(&self) -> bool {
        matches!(self.mode, Some(MockMode::Bearer | MockMode::Acr))
    }

    /// A reference to repository `name` under this run's prefix (no tag).
    pub fn repo(&self, name: &str) -> Result<Reference, Failure> {
        Reference::new(&self.registry, &format!("{}/{name}", self.prefix))
            .map_err(|e| Failure(format!("bad repository name {name}: {e}")))
    }

    /// `repo(name)` with `tag`.
    pub fn tagged(&self, name: &str, tag: &str) -> Result<Reference, Failure> {
        self.repo(name)?
            .with_tag(tag)
            .map_err(|e| Failure(format!("bad tag {tag}: {e}")))
    }

    /// `repo(name)` pinned to `digest`.
    pub fn pinned(&self, name: &str, digest: &Digest) -> Result<Reference, Failure> {
        Ok(self.repo(name)?.with_digest(digest.clone()))
    }

    /// A new client with the same configuration and credentials but its own token cache.
    pub fn fresh_client(&self) -> Result<Client, Failure> {
        client_for(&self.config, &self.registry, self.credential.as_ref())
    }

    /// A client whose configuration `edit` changed (same credentials, own token cache).
    pub fn client_with(&self, edit: impl FnOnce(&mut ClientConfig)) -> Result<Client, Failure> {
        let mut config = self.config.clone();
        edit(&mut config);
        client_for(&config, &self.registry, self.credential.as_ref())
    }

    /// A client with a wrong password (`None` when the target takes no credentials).
    pub fn client_with_wrong_credentials(&self) -> Result<Option<Client>, Failure> {
        let wrong = match &self.credential {
            None => return Ok(None),
            Some(Credential::AzureAccessToken { .. }) => Credential::AzureAccessToken {
                token: Secret::from("not-the-aad-token"),
                tenant: None,
            },
            Some(_) => Credential::basic(USER, "not-the-password"),
        };
        client_for(&self.config, &self.registry, Some(&wrong)).map(Some)
    }

    /// A second mock with the same auth mode and a configuration `edit` changed, and a
    /// client for it (same credentials, configuration changed by `client_edit`).
    pub async fn fresh_mock(
        &self,
        edit: impl FnOnce(Config) -> Config,
        client_edit: impl FnOnce(&mut ClientConfig),
    ) -> Result<(MockRegistry, Client), Failure> {
        let mode = self.mode.ok_or("fresh_mock needs a mock target")?;
        let mock = MockRegistry::start(edit(Config::default().with_auth(mock_auth(mode))))
            .await
            .map_err(|e| Failure(format!("cannot start a mock registry: {e}")))?;
        let mut config = self.config.clone().with_plain_http(mock.host().to_owned());
        client_edit(&mut config);
        let client = client_for(&config, mock.host(), self.credential.as_ref())?;
        Ok((mock, client))
    }

    /// An `orca::ArtifactStore` with the target registered as its one store (`configure`
    /// sets limits and TLS), the client configuration of the target and its credentials.
    pub fn artifact_store(
        &self,
        configure: impl FnOnce(orca::Store) -> orca::Store,
    ) -> Result<orca::ArtifactStore, Failure> {
        let mut store = orca::Store::new(&self.registry)
            .map_err(|e| Failure(format!("cannot register {}: {e}", self.registry)))?
            .with_plain_http(!self.tls());
        if let Some(ca) = self.config.extra_root_certificates.first() {
            store = store.with_ca_file(ca.clone());
        }
        let credentials = match &self.credential {
            Some(c) => StaticCredentials::new().with(&self.registry, c.clone()),
            None => StaticCredentials::new(),
        };
        orca::ArtifactStore::builder(orca::StoreRegistry::new().with(configure(store)))
            .client_config(self.config.clone())
            .credential_source(std::sync::Arc::new(credentials))
            .build()
            .map_err(|e| {
                Failure(format!(
                    "cannot build the artifact store: {}",
                    e.full_message()
                ))
            })
    }

    /// The mock (scenarios marked as needing it).
    pub fn mock(&self) -> Result<&MockRegistry, Failure> {
        self.mock
            .as_ref()
            .ok_or_else(|| Failure("this scenario needs the mock".into()))
    }
}

/// Deterministic, incompressible bytes.
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Upload `bytes` as a layer blob; returns its descriptor.
pub(crate) async fn push_layer(
    client: &Client,
    repo: &Reference,
    bytes: Vec<u8>,
) -> Result<Descriptor, Failure> {
    let descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &bytes);
    client
        .push_blob(
            repo,
            &descriptor,
            Bytes::from(bytes),
            &PushOptions::default(),
        )
        .await?;
    Ok(descriptor)
}

/// An artifact manifest over `layers` (config: the empty descriptor, uploaded too).
pub(crate) fn artifact_manifest(
    artifact_type: &str,
    layers: &[Descriptor],
    subject: Option<&Descriptor>,
) -> Result<Vec<u8>, Failure> {
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "artifactType": artifact_type,
        "config": Descriptor::empty(),
        "layers": layers,
    });
    if let Some(s) = subject {
        manifest["subject"] = serde_json::to_value(s).map_err(|e| Failure(e.to_string()))?;
    }
    serde_json::to_vec(&manifest).map_err(|e| Failure(e.to_string()))
}

/// Push a one-layer artifact under `tag`; returns the manifest's descriptor and the layer's.
pub(crate) async fn push_artifact(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    tag: &str,
    layer: Vec<u8>,
) -> Result<(Descriptor, Descriptor), Failure> {
    let repo = ctx.repo(name)?;
    push_config(client, &repo).await?;
    let layer = push_layer(client, &repo, layer).await?;
    let manifest = artifact_manifest(
        "application/vnd.orca.conformance",
        std::slice::from_ref(&layer),
        None,
    )?;
    let descriptor = Descriptor::for_bytes(media_types::OCI_IMAGE_MANIFEST, &manifest);
    let pushed = client
        .push_manifest(
            &ctx.tagged(name, tag)?,
            Bytes::from(manifest),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await?;
    ensure(pushed.digest == descriptor.digest, || {
        format!(
            "push returned {}, expected {}",
            pushed.digest, descriptor.digest
        )
    })?;
    Ok((descriptor, layer))
}

/// Upload the empty config blob `{}`.
pub(crate) async fn push_config(client: &Client, repo: &Reference) -> Result<(), Failure> {
    client
        .push_blob(
            repo,
            &Descriptor::empty(),
            Bytes::from_static(orca_manifest::EMPTY_JSON),
            &PushOptions::default(),
        )
        .await?;
    Ok(())
}

/// Push a referrer of `subject` with `artifact_type` under `tag`.
pub(crate) async fn push_referrer(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    subject: &Descriptor,
    artifact_type: &str,
    seed: u64,
) -> Result<PushedManifest, Failure> {
    let repo = ctx.repo(name)?;
    let layer = push_layer(client, &repo, random_bytes(64, seed)).await?;
    let manifest = artifact_manifest(artifact_type, &[layer], Some(subject))?;
    let digest = Digest::sha256(&manifest);
    Ok(client
        .push_manifest(
            &ctx.pinned(name, &digest)?,
            Bytes::from(manifest),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await?)
}

/// How many requests the mock logged whose path starts with one of the token endpoints.
pub(crate) fn token_requests(mock: &MockRegistry) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.starts_with("/token") || r.path.starts_with("/oauth2/"))
        .count()
}
