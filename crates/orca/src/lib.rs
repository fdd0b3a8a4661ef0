//! Fetch, push, copy and discover artifacts in OCI registries: the facade over orca's
//! crates.
//!
//! A service names an artifact by a reference it receives as a parameter
//! (`myacr.azurecr.io/configs/anonymization:default`) and gets verified files on disk, or
//! an [`Error`] with a stable [`code`](Error::code) and [`HTTP status`](Error::http_status).
//!
//! - [`StoreRegistry`] (from `orca-store`): which registries may be used, with their
//!   credential source, TLS settings and per-operation size limits.
//! - [`ArtifactStore`]: built from a store registry, client options and an optional
//!   content cache; [`fetch`](ArtifactStore::fetch), [`push_dir`](ArtifactStore::push_dir),
//!   [`push_files`](ArtifactStore::push_files), [`push_blob`](ArtifactStore::push_blob),
//!   [`resolve`](ArtifactStore::resolve), [`tags`](ArtifactStore::tags),
//!   [`referrers`](ArtifactStore::referrers), [`copy`](ArtifactStore::copy),
//!   [`delete`](ArtifactStore::delete) and more.
//! - [`pull_through`]: fetches resolving through the store registry's cache rules
//!   ([`ArtifactStoreBuilder::pull_through`]), and [`pull_through::Upstreams`], the
//!   repository → upstream map a serving front needs.
//! - `front` (feature `pull-through`): the caching registry front of `orca-pull-through`
//!   with its upstreams from the cache rules (`orca serve --cache-rules`).
//! - Metrics through the [`metrics`] facade and spans through [`tracing`]; progress
//!   through an [`Observer`].
//!
//! The protocol work — authentication, retries, verification of every byte — is
//! `orca-distribution`'s; extraction is `orca-unpack`'s. This crate composes them.
//!
//! ```no_run
//! use orca::{ArtifactStore, CredentialSource, Store, StoreRegistry};
//!
//! # async fn run() -> Result<(), orca::Error> {
//! let stores = StoreRegistry::new().with(
//!     Store::new("myacr.azurecr.io")?
//!         .with_credentials(CredentialSource::AzureWorkloadIdentity {
//!             tenant_id: None,
//!             client_id: None,
//!             token_file: None,
//!         })
//!         .with_limit("anonymization", 1 << 20),
//! );
//! let artifacts = ArtifactStore::builder(stores)
//!     .cache_dir("/var/cache/orca")
//!     .build()?;
//! match artifacts
//!     .fetch("myacr.azurecr.io/configs/anonymization:default", "anonymization", "/tmp/config".as_ref())
//!     .await
//! {
//!     Ok(fetched) => println!("{} files from {}", fetched.files.len(), fetched.reference),
//!     Err(e) => println!("{} {}", e.http_status(), serde_json::to_string(&e).unwrap()),
//! }
//! # Ok(())
//! # }
//! ```

mod artifact_store;
mod cli_support; // blobs by digest and a login check, for `orca blob` and `orca login` (added by the CLI)
mod copy;
mod error;
mod fetch;
#[cfg(feature = "pull-through")]
pub mod front;
mod memo;
mod observer;
mod options;
mod platform;
pub mod pull_through;
mod push;
mod results;
mod store_credentials;
mod telemetry;

pub use orca_auth as auth;
pub use orca_credentials as credentials;
pub use orca_distribution as distribution;
pub use orca_manifest as manifest;
pub use orca_reference as reference;
pub use orca_store as store;
pub use orca_unpack as unpack;

pub use artifact_store::{ArtifactStore, ArtifactStoreBuilder};
pub use error::{BoxError, Error, ErrorBody};
pub use observer::{Call, Direction, Event, Observer, TransferOutcome};
pub use options::{BlobOptions, ConfigStyle, CopyOptions, FetchOptions, FileSpec, PushOptions};
pub use orca_distribution::ClientConfig;
pub use orca_manifest::{Descriptor, Digest, Platform};
#[cfg(feature = "registry")]
#[doc(inline)]
pub use orca_mock_registry as registry; // `orca serve` (added by the CLI)
pub use orca_reference::Reference;
pub use orca_store::{
    CacheOptions, CacheRule, CacheRules, ContentCache, CredentialSet, CredentialSource, Limits,
    Store, StoreRegistry, Tls,
};
pub use results::{Copied, Fetched, FetchedFile, FileKind, ManifestContent, Pushed, Referrers};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
