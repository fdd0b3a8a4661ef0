//! The store registry: which registries may be used, how to reach and authenticate to
//! them, and how large an artifact each operation accepts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use orca_reference::{Reference, Registry};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::rules::{CacheRule, CacheRules, CredentialSet, SecretSource, Username};
use crate::size::{format_size, parse_size};

/// Where a store's credential comes from.
///
/// This is a description: it names an environment variable, a file or an identity, and
/// never holds the secret itself, so a [`StoreRegistry`] can be saved without writing a
/// secret to disk. The facade (`orca`) turns it into a credential when it authenticates.
///
/// In TOML it is a table with a `kind`:
///
/// | `kind` | fields |
/// |---|---|
/// | `anonymous` | — |
/// | `docker-config` | `path` (optional; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`) |
/// | `basic-env` | `username`, `password_env` |
/// | `basic-file` | `username`, `password_file` |
/// | `acr-refresh-token-env` | `token_env` |
/// | `acr-refresh-token-file` | `token_file` |
/// | `azure-client-secret` | `tenant_id`, `client_id`, `secret_env` |
/// | `azure-workload-identity` | `tenant_id`, `client_id`, `token_file` (each optional; default from `AZURE_*`) |
/// | `azure-managed-identity` | `client_id` (optional) |
/// | `azure-cli` | `tenant_id` (optional) |
///
/// # Security
///
/// Nothing here is secret; `Debug`, `Display` and the TOML form show only names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CredentialSource {
    /// No credential: anonymous access (anonymous tokens where the registry offers them).
    #[default]
    Anonymous,
    /// The docker `config.json` (`auths`, `identitytoken`, `credsStore`, `credHelpers`).
    DockerConfig {
        /// The file; `None` means the default location.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
    /// Basic authentication with the password in an environment variable.
    BasicEnv {
        /// The user name (ACR's `00000000-0000-0000-0000-000000000000` makes the password
        /// a refresh token).
        username: String,
        /// The variable holding the password.
        password_env: String,
    },
    /// Basic authentication with the password in a file (read at each authentication, so
    /// a rotated secret is picked up; surrounding whitespace is trimmed).
    BasicFile {
        /// The user name.
        username: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// An ACR refresh token in an environment variable.
    AcrRefreshTokenEnv {
        /// The variable holding the token.
        token_env: String,
    },
    /// An ACR refresh token in a file (re-read at each authentication).
    AcrRefreshTokenFile {
        /// The file holding the token.
        token_file: PathBuf,
    },
    /// An Azure AD application's client secret, exchanged at the registry.
    AzureClientSecret {
        /// The AAD tenant.
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// The variable holding the client secret.
        secret_env: String,
    },
    /// Azure workload identity: a federated token file traded as a client assertion.
    AzureWorkloadIdentity {
        /// The AAD tenant; `None` means `AZURE_TENANT_ID`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant_id: Option<String>,
        /// The client id; `None` means `AZURE_CLIENT_ID`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The token file; `None` means `AZURE_FEDERATED_TOKEN_FILE`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
    },
    /// Azure managed identity through the instance metadata service.
    AzureManagedIdentity {
        /// A user-assigned identity's client id; `None` means the system identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// The Azure CLI's signed-in account (`az account get-access-token`).
    AzureCli {
        /// The tenant to ask a token for; `None` means the CLI's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant_id: Option<String>,
    },
}

impl CredentialSource {
    /// The TOML `kind` of this source (`basic-env`, `azure-cli`, …): safe to print.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::Anonymous => "anonymous",
            CredentialSource::DockerConfig { .. } => "docker-config",
            CredentialSource::BasicEnv { .. } => "basic-env",
            CredentialSource::BasicFile { .. } => "basic-file",
            CredentialSource::AcrRefreshTokenEnv { .. } => "acr-refresh-token-env",
            CredentialSource::AcrRefreshTokenFile { .. } => "acr-refresh-token-file",
            CredentialSource::AzureClientSecret { .. } => "azure-client-secret",
            CredentialSource::AzureWorkloadIdentity { .. } => "azure-workload-identity",
            CredentialSource::AzureManagedIdentity { .. } => "azure-managed-identity",
            CredentialSource::AzureCli { .. } => "azure-cli",
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// How a store is reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tls {
    /// Use plain HTTP instead of HTTPS.
    ///
    /// # Security
    ///
    /// Credentials and content travel unencrypted; for loopback test registries.
    pub plain_http: bool,
    /// A PEM file of extra root certificates to trust for this registry.
    pub ca_file: Option<PathBuf>,
}

/// Size limits per operation name: the largest artifact (the sum of its layers' sizes)
/// each operation accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The limit for operations without one of their own; `None` means unlimited.
    pub default: Option<u64>,
    /// Limits by operation name (`anonymization`, `cdm-template`, …).
    pub operations: BTreeMap<String, u64>,
}

impl Limits {
    /// The limit for `operation`: its own, else the default, else `None` (unlimited).
    pub fn limit_for(&self, operation: &str) -> Option<u64> {
        self.operations.get(operation).copied().or(self.default)
    }
}

/// A registered artifact store: a registry and how to use it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Store {
    registry: Registry,
    credentials: CredentialSource,
    tls: Tls,
    limits: Limits,
}

impl Store {
    /// A store for `registry` (`myacr.azurecr.io`, `127.0.0.1:5000`, `[::1]:5000`):
    /// anonymous, HTTPS, no limits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRegistry`] when `registry` is not a registry name.
    pub fn new(registry: &str) -> Result<Store, Error> {
        Ok(Store {
            registry: check_registry(registry)?,
            credentials: CredentialSource::Anonymous,
            tls: Tls::default(),
            limits: Limits::default(),
        })
    }

    /// Use `credentials` (builder style).
    #[must_use]
    pub fn with_credentials(mut self, credentials: CredentialSource) -> Store {
        self.credentials = credentials;
        self
    }

    /// Use plain HTTP (builder style). See [`Tls::plain_http`].
    #[must_use]
    pub fn with_plain_http(mut self, plain_http: bool) -> Store {
        self.tls.plain_http = plain_http;
        self
    }

    /// Trust the roots in the PEM file `path` too (builder style).
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Store {
        self.tls.ca_file = Some(path.into());
        self
    }

    /// Limit artifacts fetched or pushed for `operation` to `bytes` (builder style).
    #[must_use]
    pub fn with_limit(mut self, operation: impl Into<String>, bytes: u64) -> Store {
        self.limits.operations.insert(operation.into(), bytes);
        self
    }

    /// Limit artifacts of operations without a limit of their own (builder style).
    #[must_use]
    pub fn with_default_limit(mut self, bytes: u64) -> Store {
        self.limits.default = Some(bytes);
        self
    }

    /// The registry, normalised (`host[:port]`, lower case, default port dropped).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Where the credential comes from.
    pub fn credentials(&self) -> &CredentialSource {
        &self.credentials
    }

    /// How the registry is reached.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

fn check_registry(registry: &str) -> Result<Registry, Error> {
    Registry::parse(registry).map_err(|e| Error::InvalidRegistry {
        registry: registry.to_owned(),
        reason: e.to_string(),
    })
}

/// The registered artifact stores, keyed by registry.
///
/// Keys are [`Registry`]s, normalised once: `MyACR.azurecr.io:443` is
/// `myacr.azurecr.io`; any other port is part of the name (`localhost` and
/// `localhost:5000` are two stores).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreRegistry {
    stores: BTreeMap<Registry, Store>,
    cache: CacheRules,
}

impl StoreRegistry {
    /// No stores: every reference is refused.
    pub fn new() -> StoreRegistry {
        StoreRegistry::default()
    }

    /// Register `store`, replacing (and returning) one for the same registry.
    pub fn add(&mut self, store: Store) -> Option<Store> {
        self.stores.insert(store.registry.clone(), store)
    }

    /// Register `store` (builder style).
    #[must_use]
    pub fn with(mut self, store: Store) -> StoreRegistry {
        self.add(store);
        self
    }

    /// Remove the store for `registry` (any spelling), returning it.
    pub fn remove(&mut self, registry: &str) -> Option<Store> {
        let registry = Registry::parse(registry).ok()?;
        self.stores.remove(&registry)
    }

    /// The store for `registry` (any spelling), if registered.
    pub fn get(&self, registry: &str) -> Option<&Store> {
        let registry = Registry::parse(registry).ok()?;
        self.stores.get(&registry)
    }

    /// The store for a registry already parsed.
    pub fn get_registry(&self, registry: &Registry) -> Option<&Store> {
        self.stores.get(registry)
    }

    /// Every store, ordered by registry.
    pub fn iter(&self) -> impl Iterator<Item = &Store> {
        self.stores.values()
    }

    /// How many stores are registered.
    pub fn len(&self) -> usize {
        self.stores.len()
    }

    /// Whether no store is registered.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// The pull-through cache rules and credential sets (the file's `[cache]` section).
    pub fn cache_rules(&self) -> &CacheRules {
        &self.cache
    }

    /// The pull-through cache rules, to change (every change is checked, see
    /// [`CacheRules`]).
    pub fn cache_rules_mut(&mut self) -> &mut CacheRules {
        &mut self.cache
    }

    /// Add a pull-through cache rule ([`CacheRules::add`]).
    ///
    /// # Errors
    ///
    /// See [`CacheRules::add`]: a duplicate target, an unknown credential set, the
    /// 1,000-rule limit, an overlap under `strict_overlap`.
    pub fn add_cache_rule(&mut self, rule: CacheRule) -> Result<(), Error> {
        self.cache.add(rule)
    }

    /// Remove the cache rule whose target is `target`, returning it.
    pub fn remove_cache_rule(&mut self, target: &str) -> Option<CacheRule> {
        self.cache.remove(target)
    }

    /// Add or replace a credential set, returning the one replaced.
    pub fn add_credential_set(&mut self, set: CredentialSet) -> Option<CredentialSet> {
        self.cache.add_credential_set(set)
    }

    /// Remove the credential set `name`, returning it.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialSetInUse`] naming a rule that uses it.
    pub fn remove_credential_set(&mut self, name: &str) -> Result<Option<CredentialSet>, Error> {
        self.cache.remove_credential_set(name)
    }

    /// Parse `input` strictly (a registry is required) and find its store.
    ///
    /// No network IO happens here; a reference without a registry (`configs/app:1`) is
    /// never taken to mean Docker Hub.
    ///
    /// # Errors
    ///
    /// [`Error::NotRegistered`] when the reference names no registry, or one that is not
    /// registered; [`Error::InvalidReference`] when it does not parse otherwise.
    pub fn resolve(&self, input: &str) -> Result<(Reference, &Store), Error> {
        let reference = match Reference::parse(input) {
            Ok(reference) => reference,
            Err(e) if e.kind() == orca_reference::ErrorKind::MissingRegistry => {
                return Err(Error::NotRegistered {
                    reference: input.to_owned(),
                    registry: None,
                });
            }
            // `MyTeam/app`: a registry by Docker's rule only for its capitals, so never a
            // registered one.
            Err(e) if e.kind() == orca_reference::ErrorKind::AmbiguousRegistry => {
                return Err(Error::NotRegistered {
                    reference: input.to_owned(),
                    registry: input.split('/').next().map(ToOwned::to_owned),
                });
            }
            Err(e) => return Err(Error::InvalidReference(e)),
        };
        let store = self.store_for(&reference)?;
        Ok((reference, store))
    }

    /// The store for a parsed reference's registry.
    ///
    /// # Errors
    ///
    /// [`Error::NotRegistered`] when its registry is not registered.
    pub fn store_for(&self, reference: &Reference) -> Result<&Store, Error> {
        self.get_registry(reference.registry())
            .ok_or_else(|| Error::NotRegistered {
                reference: reference.to_string(),
                registry: Some(reference.registry().to_string()),
            })
    }

    /// Read a stores file (see [`StoreRegistry::from_toml_str`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::Parse`] naming the line and key.
    pub fn load(path: &Path) -> Result<StoreRegistry, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        StoreRegistry::from_toml_str(&text, Some(path))
    }

    /// Parse a stores file:
    ///
    /// ```toml
    /// [[store]]
    /// registry = "myacr.azurecr.io"
    /// credentials = { kind = "azure-workload-identity" }
    /// limits = { default = "100MiB", anonymization = "1MiB", cdm-template = "50MiB" }
    ///
    /// [[store]]
    /// registry = "127.0.0.1:5000"
    /// plain_http = true
    /// ca_file = "/etc/orca/ca.pem"   # optional
    /// credentials = { kind = "basic-env", username = "svc", password_env = "REGISTRY_PASSWORD" }
    /// ```
    ///
    /// Sizes are whole bytes or strings with a unit (`"1MiB"`, see
    /// [`parse_size`](crate::parse_size)). Unknown keys are refused. A registry listed
    /// twice is refused.
    ///
    /// Pull-through cache rules and credential sets ([`CacheRules`]) follow in `[cache]`:
    ///
    /// ```toml
    /// [cache]
    /// registry = "cache.example:5000"   # optional: the registry fetches resolve through
    /// strict_overlap = false            # optional: refuse overlapping wildcards (ACR's way)
    ///
    /// [[cache.rules]]
    /// target = "library/*"
    /// upstream = "docker.io/library/*"
    /// credential_set = "hub"            # optional: anonymous without one
    ///
    /// [cache.credential_sets.hub]
    /// username = "me"                   # or username_env = "HUB_USER"
    /// password_env = "HUB_TOKEN"        # or password_file = "/run/secrets/hub", or helper = "pass"
    /// ```
    ///
    /// Rules are checked as [`CacheRules::add`] checks them, in file order.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] with the 1-based line and column and the key at fault; `path`
    /// (when given) is named in the message.
    pub fn from_toml_str(text: &str, path: Option<&Path>) -> Result<StoreRegistry, Error> {
        let file: FileModel = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            parse_error(text, path, offset, e.message().to_owned())
        })?;
        let mut registry = StoreRegistry::new();
        for entry in file.store {
            let store = Store {
                registry: entry.registry.value.clone(),
                credentials: entry.credentials,
                tls: Tls {
                    plain_http: entry.plain_http,
                    ca_file: entry.ca_file,
                },
                limits: {
                    let mut operations: BTreeMap<String, u64> =
                        entry.limits.into_iter().map(|(k, v)| (k, v.0)).collect();
                    Limits {
                        default: operations.remove("default"),
                        operations,
                    }
                },
            };
            if registry.add(store).is_some() {
                return Err(parse_error(
                    text,
                    path,
                    entry.registry.span.start,
                    format!("the registry {} is listed twice", entry.registry.value),
                ));
            }
        }
        if let Some(cache) = file.cache {
            registry.cache = cache_from_model(cache, text, path)?;
        }
        Ok(registry)
    }

    /// The stores as a TOML document that [`StoreRegistry::from_toml_str`] reads back.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`], which does not happen for values built through this API.
    pub fn to_toml_string(&self) -> Result<String, Error> {
        let file = SaveModel {
            cache: (!self.cache.is_unset()).then(|| SaveCache::new(&self.cache)),
            store: self
                .stores
                .values()
                .map(|s| SaveStore {
                    registry: &s.registry,
                    plain_http: s.tls.plain_http,
                    ca_file: s.tls.ca_file.as_deref(),
                    credentials: &s.credentials,
                    limits: SaveLimits(&s.limits),
                })
                .collect(),
        };
        let body = toml::to_string(&file).map_err(|e| Error::Serialize(e.to_string()))?;
        Ok(format!(
            "# orca artifact stores. Secrets are referenced (environment variables, files), never written here.\n\n{body}"
        ))
    }

    /// Write the stores to `path`: into a temporary file beside it, then renamed over it,
    /// so a reader never sees half a file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = self.to_toml_string()?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(parent)
            .map_err(|e| Error::io("create a temporary file in", parent, e))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|e| Error::io("write", file.path().to_path_buf(), e))?;
        file.persist(path)
            .map_err(|e| Error::io("replace", path, e.error))?;
        Ok(())
    }
}

fn parse_error(text: &str, path: Option<&Path>, offset: usize, message: String) -> Error {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let key = key_at(&text[line_start..line_end], offset - line_start);
    Error::Parse {
        path: path.map(Path::to_path_buf),
        line,
        column,
        key,
        message,
    }
}

/// The key a byte offset within one line belongs to: the key before the nearest `=` to
/// its left, else the key the offset points into, else a table header's name; keys of
/// enclosing inline tables are prefixed (`credentials.kind`).
fn key_at(line: &str, offset: usize) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some(
            trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        );
    }
    let offset = offset.min(line.len());
    let left = line.get(..offset).unwrap_or(line);
    let mut end = if let Some(eq) = left.rfind('=') {
        eq
    } else {
        let rest = line.get(offset..).unwrap_or("");
        offset + rest.find('=').unwrap_or(rest.len())
    };
    let mut keys = Vec::new();
    loop {
        let key = last_key(&line[..end])?;
        keys.push(key);
        // The enclosing inline table, if any: the last `{` not closed before `end`.
        let mut depth = 0i32;
        let mut open = None;
        for (i, c) in line[..end].char_indices().rev() {
            match c {
                '}' => depth += 1,
                '{' if depth == 0 => {
                    open = Some(i);
                    break;
                }
                '{' => depth -= 1,
                _ => {}
            }
        }
        match open.and_then(|i| line[..i].rfind('=')) {
            Some(eq) => end = eq,
            None => break,
        }
    }
    keys.reverse();
    Some(keys.join("."))
}

/// The last bare or quoted key in `text` (which ends just before an `=`).
fn last_key(text: &str) -> Option<String> {
    let key = text
        .rsplit(['{', ',', '\t', ' '].as_slice())
        .find(|s| !s.trim().is_empty())?
        .trim()
        .trim_matches('"');
    (!key.is_empty()).then(|| key.to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    store: Vec<StoreModel>,
    #[serde(default)]
    cache: Option<CacheModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheModel {
    #[serde(default)]
    registry: Option<Spanned<Registry>>,
    #[serde(default)]
    strict_overlap: bool,
    #[serde(default)]
    rules: Vec<RuleModel>,
    #[serde(default)]
    credential_sets: BTreeMap<String, SetModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleModel {
    target: toml::Spanned<String>,
    upstream: toml::Spanned<String>,
    #[serde(default)]
    credential_set: Option<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetModel {
    #[serde(default)]
    username: Option<toml::Spanned<String>>,
    #[serde(default)]
    username_env: Option<toml::Spanned<String>>,
    #[serde(default)]
    password_env: Option<toml::Spanned<String>>,
    #[serde(default)]
    password_file: Option<toml::Spanned<String>>,
    #[serde(default)]
    helper: Option<toml::Spanned<String>>,
}

/// The `[cache]` section, checked rule by rule; errors point at the value at fault.
fn cache_from_model(
    model: CacheModel,
    text: &str,
    path: Option<&Path>,
) -> Result<CacheRules, Error> {
    let mut cache = CacheRules::new();
    cache.set_registry(model.registry.map(|r| r.value));
    // Sets first: rules name them.
    for (name, set) in model.credential_sets {
        let fields = [
            &set.username,
            &set.username_env,
            &set.password_env,
            &set.password_file,
            &set.helper,
        ];
        let at = fields
            .iter()
            .filter_map(|f| f.as_ref().map(|s| s.span().start))
            .min()
            .or_else(|| text.find(&format!("credential_sets.{name}")))
            .unwrap_or(0);
        let fail = |message: String| parse_error(text, path, at, message);
        let username = match (set.username, set.username_env) {
            (Some(_), Some(_)) => {
                return Err(fail(format!(
                    "credential set {name}: give `username` or `username_env`, not both"
                )));
            }
            (Some(u), None) => Some(Username::Literal(u.into_inner())),
            (None, Some(v)) => Some(Username::Env(v.into_inner())),
            (None, None) => None,
        };
        let secret = match (set.password_env, set.password_file, set.helper) {
            (Some(v), None, None) => SecretSource::Env(v.into_inner()),
            (None, Some(f), None) => SecretSource::File(PathBuf::from(f.into_inner())),
            (None, None, Some(h)) => SecretSource::Helper(h.into_inner()),
            _ => {
                return Err(fail(format!(
                    "credential set {name}: give exactly one of `password_env`, `password_file`, `helper`"
                )));
            }
        };
        let built = match (username, secret) {
            (None, SecretSource::Helper(h)) => CredentialSet::helper(&name, &h),
            (Some(u), secret) => CredentialSet::new(&name, u, secret),
            (None, _) => Err(Error::InvalidCredentialSet {
                name: name.clone(),
                reason: "a password from a variable or file needs `username` or `username_env`"
                    .to_owned(),
            }),
        }
        .map_err(|e| fail(e.to_string()))?;
        cache.add_credential_set(built);
    }
    cache
        .set_strict_overlap(model.strict_overlap)
        .map_err(|e| parse_error(text, path, 0, e.to_string()))?;
    for rule in model.rules {
        let mut built = CacheRule::new(rule.target.get_ref(), rule.upstream.get_ref()).map_err(|e| {
            let at = if matches!(&e, Error::InvalidCacheRule { reason, .. } if reason.starts_with("upstream")) {
                rule.upstream.span().start
            } else {
                rule.target.span().start
            };
            parse_error(text, path, at, e.to_string())
        })?;
        let set_at = rule.credential_set.as_ref().map(|s| s.span().start);
        if let Some(set) = rule.credential_set {
            built = built.with_credential_set(set.into_inner());
        }
        cache.add(built).map_err(|e| {
            let at = match (&e, set_at) {
                (Error::UnknownCredentialSet { .. }, Some(at)) => at,
                _ => rule.target.span().start,
            };
            parse_error(text, path, at, e.to_string())
        })?;
    }
    Ok(cache)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreModel {
    registry: Spanned<Registry>,
    #[serde(default)]
    plain_http: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    credentials: CredentialSource,
    #[serde(default)]
    limits: LimitsModel,
}

/// A registry name with where it was written (checked while parsing).
struct Spanned<T> {
    value: T,
    span: std::ops::Range<usize>,
}

impl<'de> Deserialize<'de> for Spanned<Registry> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<String>::deserialize(deserializer)?;
        let span = spanned.span();
        let value = check_registry(spanned.get_ref()).map_err(serde::de::Error::custom)?;
        Ok(Spanned { value, span })
    }
}

/// `default` and the operations' limits (one map, so that an error points at the value).
type LimitsModel = BTreeMap<String, Size>;

/// A size in TOML: an integer of bytes or a string with a unit.
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: whole bytes, or a string such as \"1MiB\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Serialize)]
struct SaveModel<'a> {
    store: Vec<SaveStore<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<SaveCache<'a>>,
}

#[derive(Serialize)]
struct SaveCache<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    strict_overlap: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<SaveRule<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    credential_sets: BTreeMap<&'a str, SaveSet<'a>>,
}

#[derive(Serialize)]
struct SaveRule<'a> {
    target: String,
    upstream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_set: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct SaveSet<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username_env: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_env: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    helper: Option<&'a str>,
}

impl<'a> SaveCache<'a> {
    fn new(cache: &'a CacheRules) -> SaveCache<'a> {
        SaveCache {
            registry: cache.registry().map(Registry::as_str),
            strict_overlap: cache.strict_overlap(),
            rules: cache
                .rules()
                .iter()
                .map(|r| SaveRule {
                    target: r.target(),
                    upstream: r.upstream(),
                    credential_set: r.credential_set(),
                })
                .collect(),
            credential_sets: cache
                .credential_sets()
                .iter()
                .map(|(name, set)| {
                    let mut saved = SaveSet::default();
                    match set.username() {
                        Some(Username::Literal(u)) => saved.username = Some(u),
                        Some(Username::Env(v)) => saved.username_env = Some(v),
                        None => {}
                    }
                    match set.secret() {
                        SecretSource::Env(v) => saved.password_env = Some(v),
                        SecretSource::File(p) => saved.password_file = Some(p),
                        SecretSource::Helper(h) => saved.helper = Some(h),
                    }
                    (name.as_str(), saved)
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct SaveStore<'a> {
    registry: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    plain_http: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'a Path>,
    credentials: &'a CredentialSource,
    limits: SaveLimits<'a>,
}

struct SaveLimits<'a>(&'a Limits);

impl Serialize for SaveLimits<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(default) = self.0.default {
            map.serialize_entry("default", &format_size(default))?;
        }
        for (operation, bytes) in &self.0.operations {
            map.serialize_entry(operation, &format_size(*bytes))?;
        }
        map.end()
    }
}
