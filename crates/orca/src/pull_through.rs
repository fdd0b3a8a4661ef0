//! Pull-through caching through the store registry's cache rules: [`Upstreams`] maps a
//! repository of the cache registry to an upstream client and repository; [`PullThrough`]
//! makes [`ArtifactStore`] fill the cache registry from upstream on a
//! miss.
//!
//! # Library use
//!
//! ```no_run
//! use std::time::Duration;
//! use orca::pull_through::PullThrough;
//! use orca::{ArtifactStore, CacheRule, Store, StoreRegistry};
//!
//! # async fn run() -> Result<(), orca::Error> {
//! let mut stores = StoreRegistry::new().with(Store::new("cache.example:5000")?);
//! stores.add_cache_rule(CacheRule::new("library/*", "docker.io/library/*")?)?;
//! let artifacts = ArtifactStore::builder(stores)
//!     .pull_through(PullThrough::new("cache.example:5000")?.revalidate_after(Duration::from_secs(300)))
//!     .build()?;
//! // Served by cache.example:5000 when it has it; else fetched from Docker Hub, pushed into
//! // cache.example:5000 (so the next fetch is a hit), then fetched from there.
//! artifacts.fetch("cache.example:5000/library/hello-world:latest", "demo", "/tmp/out".as_ref()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # For a serving front
//!
//! [`Upstreams::resolve`] is the piece a registry front needs: repository → (upstream
//! [`Client`], upstream repository). The client carries the rule's credential set (read
//! at each authentication: environment variable, file or docker credential helper, off the
//! async runtime) and the upstream's TLS settings from its store entry.
//!
//! ```no_run
//! use orca::pull_through::Upstreams;
//! use orca::{ClientConfig, StoreRegistry};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let stores = StoreRegistry::load("stores.toml".as_ref())?;
//! let upstreams = Upstreams::new(&stores, ClientConfig::default())?;
//! if let Some(upstream) = upstreams.resolve("library/nginx") {
//!     let reference = upstream.repository().clone().with_tag("1.27")?;
//!     let descriptor = upstream.client().resolve(&reference).await?;
//!     println!("{reference} is {}", descriptor.digest);
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use orca_auth::{AuthOptions, Authenticator, Credential, Secret};
use orca_credentials::{CredentialHelper, DockerConfig, Environment, ProcessEnvironment};
use orca_distribution::{Client, ClientConfig, ErrorKind};
use orca_manifest::{Descriptor, Manifest};
use orca_reference::{Reference, Registry};
use orca_store::{
    CacheRule, CacheRules, CredentialSet, Limits, SecretSource, StoreRegistry, Username,
};

use crate::Error;
use crate::artifact_store::{ArtifactStore, remote, repository_of, with_digest};
use crate::store_credentials::read_secret_file;
use crate::telemetry;

/// How deep indexes may nest when an index is pulled through.
const MAX_DEPTH: u32 = 4;

/// The default [`PullThrough::revalidate_after`]: five minutes.
pub const DEFAULT_REVALIDATE_AFTER: Duration = Duration::from_secs(300);

/// The cache rules' upstreams, each reached by a client holding its rule's credential set.
///
/// Built once from a [`StoreRegistry`]: one [`Client`] per credential set (and one
/// anonymous), each with its own token cache, so two sets for one upstream registry never
/// share a token. A set's credential answers only for the upstream registries of the rules
/// naming it; elsewhere its client is anonymous.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Upstreams {
    rules: Arc<CacheRules>,
    clients: Arc<HashMap<Option<String>, Client>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("rules", &self.rules.len())
            .field("credential_sets", &self.rules.credential_sets().len())
            .finish_non_exhaustive()
    }
}

/// What [`Upstreams::resolve`] found: the client to use upstream and the upstream
/// repository (registry and repository, no tag or digest).
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client,
    repository: Reference,
    rule: CacheRule,
}

impl Upstream {
    /// The client for the upstream: the rule's credential set, the upstream's TLS settings.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The upstream repository, the wildcard's suffix substituted; add the tag or digest
    /// asked for ([`Reference::with_tag`], [`Reference::with_digest`]).
    pub fn repository(&self) -> &Reference {
        &self.repository
    }

    /// The rule that matched.
    pub fn rule(&self) -> &CacheRule {
        &self.rule
    }
}

impl Upstreams {
    /// The upstreams of `stores`' cache rules, with clients built from `config` (timeouts,
    /// retries, user agent) plus each upstream registry's TLS settings (plain HTTP, CA
    /// file) from its store entry, when it has one; credentials from the process
    /// environment.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when a client cannot be built (a bad CA file).
    pub fn new(stores: &StoreRegistry, config: ClientConfig) -> Result<Upstreams, Error> {
        let env: Arc<dyn Environment> = Arc::new(ProcessEnvironment);
        Upstreams::with_environment(stores, config, &env)
    }

    /// [`Upstreams::new`] reading credential sets' variables from `env` (tests, or a
    /// service with a secret store of its own).
    ///
    /// # Errors
    ///
    /// See [`Upstreams::new`].
    pub fn with_environment(
        stores: &StoreRegistry,
        mut config: ClientConfig,
        env: &Arc<dyn Environment>,
    ) -> Result<Upstreams, Error> {
        let rules = stores.cache_rules();
        for rule in rules.rules() {
            if let Some(store) = stores.get_registry(rule.upstream_registry()) {
                let policy = config.policy_mut(rule.upstream_registry().clone());
                policy.plain_http = store.tls().plain_http;
                if let Some(ca) = &store.tls().ca_file
                    && !policy.root_certificates.contains(ca)
                {
                    policy.root_certificates.push(ca.clone());
                }
            }
        }
        let build = |source: Arc<dyn orca_auth::CredentialSource>| {
            let auth = Authenticator::from_arc(source, AuthOptions::default());
            Client::with_authenticator(config.clone(), auth).map_err(|e| Error::Internal {
                message: "the HTTP client for the cache rules' upstreams cannot be built (TLS settings, CA files)".to_owned(),
                source: Some(Box::new(e)),
            })
        };
        let mut clients = HashMap::new();
        clients.insert(None, build(Arc::new(orca_auth::Anonymous))?);
        for (name, set) in rules.credential_sets() {
            let registries = rules
                .rules()
                .iter()
                .filter(|r| r.credential_set() == Some(name))
                .map(|r| r.upstream_registry().clone())
                .collect();
            let source = SetCredentials {
                set: set.clone(),
                registries,
                env: Arc::clone(env),
            };
            clients.insert(Some(name.clone()), build(Arc::new(source))?);
        }
        Ok(Upstreams {
            rules: Arc::new(rules.clone()),
            clients: Arc::new(clients),
        })
    }

    /// The rules.
    pub fn rules(&self) -> &CacheRules {
        &self.rules
    }

    /// The upstream for `repository` of the cache registry (`library/nginx`), by the rules'
    /// precedence ([`CacheRules::resolve`]); `None` when no rule covers it.
    pub fn resolve(&self, repository: &str) -> Option<Upstream> {
        let found = self.rules.resolve(repository)?;
        let key = found.rule().credential_set().map(ToOwned::to_owned);
        // Every set a rule names has a client (CacheRules keeps them consistent).
        let client = self.clients.get(&key)?.clone();
        Some(Upstream {
            client,
            repository: found.upstream().clone(),
            rule: found.rule().clone(),
        })
    }
}

/// A credential set as an `orca_auth` credential source: the secret is read at each
/// lookup (the client runs lookups on its blocking pool), for its rules' registries only.
struct SetCredentials {
    set: CredentialSet,
    registries: Vec<Registry>,
    env: Arc<dyn Environment>,
}

impl SetCredentials {
    fn var(&self, name: &str) -> Result<String, orca_auth::Error> {
        self.env.var(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            orca_auth::Error::credential_lookup(
                format!("the credential set {}", self.set.name()),
                format!("the environment variable {name} is not set"),
            )
        })
    }
}

impl orca_auth::CredentialSource for SetCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, orca_auth::Error> {
        let Ok(parsed) = Registry::parse(registry) else {
            return Ok(Credential::Anonymous);
        };
        if !self.registries.contains(&parsed) {
            return Ok(Credential::Anonymous);
        }
        let what = || format!("the credential set {}", self.set.name());
        let secret = match self.set.secret() {
            SecretSource::Env(var) => Secret::new(self.var(var)?),
            SecretSource::File(path) => read_secret_file(path).map_err(|e| {
                orca_auth::Error::credential_lookup(
                    what(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
            SecretSource::Helper(helper) => {
                let helper = CredentialHelper::new(
                    helper,
                    Arc::new(orca_credentials::SystemCommandRunner::new()),
                );
                return match helper.get(&DockerConfig::helper_server(parsed.as_str())) {
                    Ok(Some(credential)) => Ok(credential),
                    Ok(None) => Err(orca_auth::Error::credential_lookup(
                        what(),
                        format!("{} has no credential for {parsed}", helper.program()),
                    )),
                    Err(e) => Err(orca_auth::Error::credential_lookup(what(), e)),
                };
            }
            _ => {
                return Err(orca_auth::Error::credential_lookup(
                    what(),
                    "this kind of secret source is not known to this version",
                ));
            }
        };
        let username = match self.set.username() {
            Some(Username::Literal(u)) => u.clone(),
            Some(Username::Env(var)) => self.var(var)?,
            _ => {
                return Err(orca_auth::Error::credential_lookup(
                    what(),
                    "no user name is configured",
                ));
            }
        };
        Ok(Credential::from_username_secret(&username, secret))
    }
}

/// The pull-through option of [`ArtifactStoreBuilder::pull_through`](crate::ArtifactStoreBuilder::pull_through):
/// which registry is the cache, and how often a cached tag is checked upstream.
#[derive(Clone)]
pub struct PullThrough {
    registry: Registry,
    revalidate_after: Duration,
    env: Arc<dyn Environment>,
}

impl std::fmt::Debug for PullThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullThrough")
            .field("registry", &self.registry)
            .field("revalidate_after", &self.revalidate_after)
            .finish_non_exhaustive()
    }
}

impl PullThrough {
    /// Fetches from `registry` (a registered store) resolve through the store registry's
    /// cache rules; cached tags are revalidated after [`DEFAULT_REVALIDATE_AFTER`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `registry` is not a registry name.
    pub fn new(registry: &str) -> Result<PullThrough, Error> {
        let registry = Registry::parse(registry).map_err(|e| Error::InvalidArgument {
            message: format!("the pull-through cache registry {registry:?} is not a registry"),
            source: Some(Box::new(e)),
        })?;
        Ok(PullThrough::for_registry(registry))
    }

    /// [`PullThrough::new`] for a registry already parsed.
    pub fn for_registry(registry: Registry) -> PullThrough {
        PullThrough {
            registry,
            revalidate_after: DEFAULT_REVALIDATE_AFTER,
            env: Arc::new(ProcessEnvironment),
        }
    }

    /// Check a cached tag upstream (one `HEAD`) when it was last checked longer than
    /// `interval` ago in this process; within it, the cache registry answers alone.
    /// `Duration::ZERO` checks at every fetch. A digest is never revalidated.
    #[must_use]
    pub fn revalidate_after(mut self, interval: Duration) -> PullThrough {
        self.revalidate_after = interval;
        self
    }

    /// Read credential sets' environment variables from `env` instead of the process's.
    #[must_use]
    pub fn environment(mut self, env: Arc<dyn Environment>) -> PullThrough {
        self.env = env;
        self
    }

    /// The cache registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The pull-through state an [`ArtifactStore`] keeps.
pub(crate) struct State {
    registry: Registry,
    revalidate_after: Duration,
    upstreams: Upstreams,
    /// When each cached tag (`registry/repo:tag`) was last found current upstream.
    checked: Mutex<HashMap<String, Instant>>,
    /// One lock per reference being checked or filled, so concurrent fetches of one
    /// reference in this process ask upstream once (the later ones find it fresh).
    in_flight: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl State {
    pub(crate) fn new(
        options: PullThrough,
        stores: &StoreRegistry,
        config: ClientConfig,
    ) -> Result<State, Error> {
        if stores.get_registry(&options.registry).is_none() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "the pull-through cache registry {} is not a registered artifact store",
                    options.registry
                ),
                source: None,
            });
        }
        Ok(State {
            upstreams: Upstreams::with_environment(stores, config, &options.env)?,
            registry: options.registry,
            revalidate_after: options.revalidate_after,
            checked: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The lock of `key`, shared by every fetch of it in flight.
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = map.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        if map.len() >= 1024 {
            map.retain(|_, weak| weak.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    fn fresh(&self, key: &str) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|at| at.elapsed() < self.revalidate_after)
    }

    fn mark(&self, key: String) {
        let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: forget the oldest half past 10,000 tags.
        if checked.len() >= 10_000 {
            let mut times: Vec<Instant> = checked.values().copied().collect();
            times.sort();
            let cut = times[times.len() / 2];
            checked.retain(|_, at| *at > cut);
        }
        checked.insert(key, Instant::now());
    }
}

fn is_not_found(e: &orca_distribution::Error) -> bool {
    e.kind() == ErrorKind::NotFound
}

impl ArtifactStore {
    /// When pull-through is on and `reference` is in the cache registry under a rule:
    /// makes the cache registry hold it, current (see [`PullThrough`]). An image whose
    /// layers exceed `operation`'s limit is refused before any blob moves.
    pub(crate) async fn pull_through(
        &self,
        reference: &Reference,
        operation: &str,
        limits: &Limits,
    ) -> Result<(), Error> {
        let limit = limits.limit_for(operation).map(|bytes| (bytes, operation));
        let Some(state) = &self.inner.pull_through else {
            return Ok(());
        };
        if reference.registry() != &state.registry {
            return Ok(());
        }
        let Some(upstream) = state.upstreams.resolve(reference.repository()) else {
            return Ok(());
        };
        let cache = &self.inner.client;
        let lock = state.lock_for(&reference.to_string());
        let _held = lock.lock().await;
        if let Some(digest) = reference.digest() {
            let target = with_digest(&repository_of(reference), digest);
            match cache.resolve(&target).await {
                Ok(_) => {
                    telemetry::pull_through("hit");
                    return Ok(());
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(remote(&target, e)),
            }
            telemetry::pull_through("miss");
            let source = upstream.repository().clone().with_digest(digest.clone());
            tracing::info!(upstream = %source, "pull-through miss: fetching upstream");
            return Box::pin(self.fill(&upstream, &source, &target, limit, 0)).await;
        }
        let Some(tag) = reference.tag() else {
            return Ok(());
        };
        let key = reference.to_string();
        if state.fresh(&key) {
            telemetry::pull_through("hit");
            return Ok(());
        }
        let cached = match cache.resolve(reference).await {
            Ok(descriptor) => Some(descriptor),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(remote(reference, e)),
        };
        let source = upstream
            .repository()
            .clone()
            .with_tag(tag)
            .map_err(|source| Error::InvalidReference {
                reference: tag.to_owned(),
                source,
            })?;
        match upstream.client().resolve(&source).await {
            Ok(current) => {
                if cached.as_ref().map(|c| &c.digest) == Some(&current.digest) {
                    telemetry::pull_through("revalidated");
                    state.mark(key);
                    return Ok(());
                }
                telemetry::pull_through(if cached.is_some() { "changed" } else { "miss" });
                tracing::info!(upstream = %source, digest = %current.digest, "pull-through: fetching upstream");
                let pinned = with_digest(&source, &current.digest);
                Box::pin(self.fill(&upstream, &pinned, reference, limit, 0)).await?;
                state.mark(key);
                Ok(())
            }
            Err(e) if cached.is_some() => {
                telemetry::pull_through("stale");
                tracing::warn!(upstream = %source, error = %e, "the upstream cannot be checked; serving the cached copy");
                Ok(())
            }
            Err(e) => Err(remote(&source, e)),
        }
    }

    /// Copies the manifest `source` (pinned) from upstream, with what it reaches, into the
    /// cache registry at `target`; the manifest last, so a reader never finds it without
    /// its blobs.
    async fn fill(
        &self,
        upstream: &Upstream,
        source: &Reference,
        target: &Reference,
        limit: Option<(u64, &str)>,
        depth: u32,
    ) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::InvalidArtifact {
                reference: source.to_string(),
                message: "indexes nest too deeply".to_owned(),
                source: None,
            });
        }
        let client = upstream.client();
        let fetched = client
            .fetch_manifest(source, &orca_distribution::FetchOptions::default())
            .await
            .map_err(|e| remote(source, e))?;
        if let Some(pinned) = source.digest()
            && pinned != &fetched.descriptor.digest
        {
            return Err(Error::DigestMismatch {
                reference: source.to_string(),
                source: format!(
                    "the manifest received hashes to {}, not {pinned}",
                    fetched.descriptor.digest
                )
                .into(),
            });
        }
        let manifest: Manifest = fetched.manifest().map_err(|e| Error::InvalidArtifact {
            reference: source.to_string(),
            message: "the upstream manifest cannot be parsed".to_owned(),
            source: Some(Box::new(e)),
        })?;
        let size = manifest
            .layers()
            .iter()
            .try_fold(0u64, |sum, l| sum.checked_add(l.size))
            .unwrap_or(u64::MAX);
        if let Some((limit, operation)) = limit
            && size > limit
        {
            return Err(Error::TooLargeArtifacts {
                reference: target.to_string(),
                operation: operation.to_owned(),
                size,
                limit,
            });
        }
        for child in manifest.manifests() {
            let child_source = with_digest(&repository_of(source), &child.digest);
            let child_target = with_digest(&repository_of(target), &child.digest);
            Box::pin(self.fill(upstream, &child_source, &child_target, limit, depth + 1)).await?;
        }
        let blobs: Vec<Descriptor> = manifest
            .config()
            .into_iter()
            .chain(manifest.layers())
            .cloned()
            .collect();
        let mut jobs = Vec::with_capacity(blobs.len());
        for blob in &blobs {
            jobs.push(self.fill_blob(upstream, source, target, blob));
        }
        futures_util::stream::iter(jobs)
            .buffer_unordered(self.inner.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        self.inner
            .client
            .push_manifest(
                target,
                fetched.bytes.clone(),
                &fetched.descriptor.media_type,
            )
            .await
            .map_err(|e| remote(target, e))?;
        Ok(())
    }

    /// One blob, upstream to the cache registry, verified as it streams; skipped when the
    /// cache registry has it.
    async fn fill_blob(
        &self,
        upstream: &Upstream,
        source: &Reference,
        target: &Reference,
        blob: &Descriptor,
    ) -> Result<(), Error> {
        let cache = &self.inner.client;
        if cache
            .blob_exists(target, &blob.digest)
            .await
            .map_err(|e| remote(target, e))?
            .is_some()
        {
            return Ok(());
        }
        crate::copy::stream_blob(upstream.client(), source, cache, target, blob, |_| {}).await?;
        Ok(())
    }
}
