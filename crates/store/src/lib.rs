//! Registered artifact stores and a local OCI-layout content cache.
//!
//! - [`StoreRegistry`]: the registries a service may fetch from, each a [`Store`] with its
//!   [`CredentialSource`] (described, never holding a secret), [`Tls`] settings and
//!   per-operation size [`Limits`]; loaded from and saved to a TOML file. A reference
//!   whose registry is not registered — including one with no registry at all, such as
//!   `configs/app:1` — is refused with [`Error::NotRegistered`] before anything touches
//!   the network.
//! - [`ContentCache`]: an [OCI image layout] directory (`oci-layout`, `index.json`,
//!   `blobs/<alg>/<hex>`) that `skopeo … oci:DIR` reads; content-addressed, verified on
//!   write, safe with several processes writing at once, bounded in size with
//!   least-recently-used eviction.
//!
//! The crate does file IO only: the TOML file it is asked to load or save and the cache
//! directory. It never does network IO, never reads an environment variable or a secret
//! file (a [`CredentialSource`] only names them), and contains no `unsafe`.
//!
//! ```
//! use orca_store::{CredentialSource, Store, StoreRegistry};
//!
//! let mut stores = StoreRegistry::new();
//! stores.add(
//!     Store::new("myacr.azurecr.io")?
//!         .with_credentials(CredentialSource::BasicEnv {
//!             username: "svc".into(),
//!             password_env: "ACR_PASSWORD".into(),
//!         })
//!         .with_limit("anonymization", 1 << 20)
//!         .with_default_limit(100 << 20),
//! );
//! let (reference, store) = stores.resolve("myacr.azurecr.io/configs/anonymization:default")?;
//! assert_eq!(reference.repository(), "configs/anonymization");
//! assert_eq!(store.limits().limit_for("anonymization"), Some(1 << 20));
//!
//! // Unregistered, or no registry at all: refused before any network IO.
//! assert!(matches!(stores.resolve("docker.io/library/nginx"), Err(orca_store::Error::NotRegistered { .. })));
//! assert!(matches!(stores.resolve("configs/app:1"), Err(orca_store::Error::NotRegistered { .. })));
//!
//! // The TOML form names the secret's variable, never its value.
//! let text = stores.to_toml_string()?;
//! assert!(text.contains("ACR_PASSWORD"));
//! assert_eq!(orca_store::StoreRegistry::from_toml_str(&text, None)?, stores);
//! # Ok::<(), orca_store::Error>(())
//! ```
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

mod cache;
mod error;
mod registry;
mod rules;
mod size;

pub use cache::{
    BlobWriter, CacheEntry, CacheOptions, CacheStats, ContentCache, REF_NAME_ANNOTATION,
    SIZE_ANNOTATION,
};
pub use error::Error;
pub use registry::{CredentialSource, Limits, Store, StoreRegistry, Tls};
pub use rules::{
    CacheRule, CacheRules, CredentialSet, MAX_CACHE_RULES, MAX_CREDENTIAL_SET_NAME, Resolved,
    SecretSource, Username,
};
pub use size::{format_size, parse_size};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
