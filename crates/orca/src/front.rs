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
    BlobRead, CACHE_HEADER, DirStorage, Error, Front, ManifestRef, Options, StaticUpstreams,
    Storage, StoredManifest, Upstream, Upstreams,
};

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
