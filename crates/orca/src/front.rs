//! The caching registry front (`orca-pull-through`) with its upstreams taken from the store
//! registry's cache rules and credential sets (feature `pull-through`; what
//! `orca serve --cache-rules` runs).
//!
//! [`pull_through::Upstreams`](crate::pull_through::Upstreams) implements the front's
//! [`Upstreams`] trait, so the rules' precedence, credential sets and upstream TLS settings
//! are the ones [`ArtifactStore`](crate::ArtifactStore) uses for library pull-through.
//!
//! ```no_run
//! use std::sync::Arc;
//! use orca::front::{DirStorage, Front, Options};
//! use orca::pull_through::Upstreams;
//! use orca::{ClientConfig, StoreRegistry};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let stores = StoreRegistry::load("stores.toml".as_ref())?;
//! let upstreams = Upstreams::new(&stores, ClientConfig::default())?;
//! let front = Front::start(
//!     Arc::new(DirStorage::open("/var/cache/orca-front")?),
//!     Arc::new(upstreams),
//!     Options::default(),
//! )
//! .await?;
//! println!("serving pulls on {}", front.base_url());
//! front.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub use orca_pull_through::{
    BackingLocation, BackingOptions, BlobRead, CACHE_HEADER, DirStorage, Error, Front,
    InvalidBacking, ManifestRef, Options, RegistryStorage, Secret, StaticUpstreams, Storage,
    StoredManifest, TlsIdentity, Upstream, Upstreams, User,
};

use orca_auth::{AuthOptions, Authenticator};
use orca_distribution::{Client, ClientConfig};
use orca_store::StoreRegistry;

/// The front's storage in the registry `location` (`REGISTRY[/PREFIX]`, what
/// `orca serve --cache-rules --backing` takes): a [`RegistryStorage`] whose client has the
/// backing registry's TLS settings (plain HTTP, CA file) and credentials from its entry in
/// `stores` (`orca store add`), on top of `config` (timeouts, retries, user agent).
///
/// ```no_run
/// use std::sync::Arc;
/// use orca::front::{BackingOptions, Front, Options, registry_storage};
/// use orca::pull_through::Upstreams;
/// use orca::{ClientConfig, StoreRegistry};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let stores = StoreRegistry::load("stores.toml".as_ref())?;
/// let storage = registry_storage(
///     &stores,
///     ClientConfig::default(),
///     "registry.internal:5000/cache",
///     BackingOptions::default(),
/// )?;
/// let upstreams = Upstreams::new(&stores, ClientConfig::default())?;
/// let front = Front::start(Arc::new(storage), Arc::new(upstreams), Options::default()).await?;
/// # front.shutdown().await; Ok(()) }
/// ```
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for a `location` that is not `REGISTRY[/PREFIX]`;
/// [`crate::Error::ArtifactStoreIsNotRegistered`] when the backing registry has no entry in
/// `stores`; [`crate::Error::Internal`] when its credentials cannot be resolved or the
/// client cannot be built (a bad CA file).
pub fn registry_storage(
    stores: &StoreRegistry,
    mut config: ClientConfig,
    location: &str,
    options: BackingOptions,
) -> Result<RegistryStorage, crate::Error> {
    let location: BackingLocation =
        location
            .parse()
            .map_err(|e: InvalidBacking| crate::Error::InvalidArgument {
                message: e.to_string(),
                source: Some(Box::new(e)),
            })?;
    let Some(store) = stores.get_registry(location.registry()) else {
        return Err(crate::Error::ArtifactStoreIsNotRegistered {
            reference: location.to_string(),
            registry: Some(location.registry().to_string()),
        });
    };
    let policy = config.policy_mut(location.registry().clone());
    policy.plain_http = store.tls().plain_http;
    if let Some(ca) = &store.tls().ca_file
        && !policy.root_certificates.contains(ca)
    {
        policy.root_certificates.push(ca.clone());
    }
    // Only the backing registry's own credentials: another store's missing secret is not
    // this storage's concern.
    let mut only = StoreRegistry::new();
    only.add(store.clone());
    let credentials = crate::store_credentials::StoreCredentials::new(&only, None, None)?;
    let auth = Authenticator::new(credentials, AuthOptions::default());
    let client = Client::with_authenticator(config, auth).map_err(|e| crate::Error::Internal {
        message: format!(
            "the HTTP client for the backing registry {} cannot be built (TLS settings, CA files)",
            location.registry()
        ),
        source: Some(Box::new(e)),
    })?;
    Ok(RegistryStorage::new(client, location, options))
}

impl Upstreams for crate::pull_through::Upstreams {
    /// The rule's upstream, by the rules' precedence; never an error: every credential set a
    /// rule names has its client (a missing secret is reported when upstream is asked).
    fn resolve(&self, repository: &str) -> Result<Option<Upstream>, String> {
        Ok(crate::pull_through::Upstreams::resolve(self, repository)
            .map(|found| Upstream::new(found.client().clone(), found.repository())))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::CacheRule;
    use crate::{ClientConfig, StoreRegistry};

    use super::Upstreams;

    /// Through the front's trait, as the front calls it.
    fn lookup(upstreams: &dyn Upstreams, repository: &str) -> Option<String> {
        upstreams
            .resolve(repository)
            .unwrap()
            .map(|u| u.repository.to_string())
    }

    #[test]
    fn the_rules_answer_the_fronts_lookups() {
        let mut stores = StoreRegistry::new();
        stores
            .add_cache_rule(CacheRule::new("library/*", "docker.io/library/*").unwrap())
            .unwrap();
        stores
            .add_cache_rule(CacheRule::new("tools/jq", "ghcr.io/jqlang/jq").unwrap())
            .unwrap();
        let upstreams =
            crate::pull_through::Upstreams::new(&stores, ClientConfig::default()).unwrap();
        assert_eq!(
            lookup(&upstreams, "library/nginx").as_deref(),
            Some("docker.io/library/nginx")
        );
        assert_eq!(
            lookup(&upstreams, "tools/jq").as_deref(),
            Some("ghcr.io/jqlang/jq")
        );
        assert_eq!(lookup(&upstreams, "other/x"), None);
    }
}

#[cfg(test)]
mod backing_tests {
    use crate::store::Store;
    use crate::{ClientConfig, Error, StoreRegistry};

    use super::{BackingOptions, registry_storage};

    #[test]
    fn the_backing_registry_must_be_a_registered_store() {
        let mut stores = StoreRegistry::new();
        stores.add(Store::new("127.0.0.1:5000").unwrap().with_plain_http(true));
        let storage = registry_storage(
            &stores,
            ClientConfig::default(),
            "127.0.0.1:5000/cache",
            BackingOptions::default(),
        )
        .unwrap();
        assert_eq!(storage.location().to_string(), "127.0.0.1:5000/cache");
        let unregistered = registry_storage(
            &stores,
            ClientConfig::default(),
            "other.example:5000",
            BackingOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(unregistered, Error::ArtifactStoreIsNotRegistered { .. }),
            "{unregistered}"
        );
        let invalid = registry_storage(
            &stores,
            ClientConfig::default(),
            "http://127.0.0.1:5000",
            BackingOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(invalid, Error::InvalidArgument { .. }),
            "{invalid}"
        );
        assert!(
            invalid.to_string().contains("without a scheme"),
            "{invalid}"
        );
    }
}
