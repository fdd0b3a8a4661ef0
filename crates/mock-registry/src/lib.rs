//! A spec-faithful in-process OCI registry with auth modes and a fault plan.
//!
//! [`MockRegistry`] serves the [distribution spec v1.1] surface on a loopback port from
//! memory or a directory: ping, manifests (by tag and digest, with `Accept` negotiation and
//! `OCI-Subject`), blobs (with `Range`), uploads (monolithic, chunked with `Content-Range`,
//! single-request `POST ?digest=`, cross-repository mount), tags and catalog with `n`/`last`
//! and `Link`, and referrers with `artifactType` filtering. It can require Basic auth, a
//! Docker-style token service or Azure Container Registry's token exchange, enforcing
//! scopes on every request, and it misbehaves on request through a [`FaultPlan`].
//!
//! It is proven against Debian's `docker-registry` (distribution 2.8) by a behaviour suite
//! that runs the same raw HTTP tests against both; the `reference_registry` module (feature
//! `reference-registry`) starts that registry. The crate's `README.md` lists where the two
//! differ.
//!
//! # Features
//!
//! None is on by default, so the library pulls no argument parser, certificate maker,
//! password hasher or process handling into its users.
//!
//! - `reference-registry`: the `reference_registry` module (a child process, a run-time
//!   certificate, bcrypt htpasswd lines).
//! - `tls`: HTTPS on both listeners ([`Config::tls`]), with rustls and ring.
//! - `binary`: the `orca-mock-registry` binary (`cargo run -p orca-mock-registry
//!   --features binary -- --help`).
//!
//! It never depends on orca's client or auth crates, so the two sides cannot agree on a
//! mistake. It binds where it is told (by default `127.0.0.1:0`) and nowhere else.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use orca_mock_registry::{Config, MockRegistry};
//!
//! let reg = MockRegistry::start(Config::default()).await?;
//! assert!(reg.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(reg.base_url(), format!("http://{}", reg.host()));
//! assert!(reg.requests().is_empty());
//! # Ok::<(), orca_mock_registry::Error>(())
//! # }).unwrap();
//! ```
//!
//! [distribution spec v1.1]: https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod api;
mod auth;
mod body;
mod config;
mod error;
mod faults;
mod log;
#[cfg(feature = "reference-registry")]
pub mod reference_registry;

mod routes;
mod server;
mod store;
#[cfg(feature = "tls")]
mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{
    Access, AcrService, AuthMode, Config, Secret, Storage, TlsIdentity, TokenService, User,
};
pub use error::Error;
pub use faults::{Fault, FaultAction, FaultPlan, Faults};
pub use log::{AuthSeen, LoggedRequest};
#[cfg(feature = "tls")]
pub use tls::acceptor as tls_acceptor;

use server::{Listener, Shared};

/// A running registry. Dropping it stops both listeners and every connection.
///
/// Must be started inside a tokio runtime (multi-threaded or current-thread).
pub struct MockRegistry {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MockRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockRegistry")
            .field("base_url", &self.shared.base_url)
            .field("blob_storage_url", &self.shared.storage_url)
            .finish_non_exhaustive()
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

impl MockRegistry {
    /// Bind `config.addr` (and a second loopback port for the blob-storage listener), open
    /// the storage and start serving.
    ///
    /// # Errors
    ///
    /// [`Error::Bind`] when a port cannot be bound, [`Error::Storage`] or
    /// [`Error::CorruptState`] when a storage directory is unusable, [`Error::InvalidConfig`]
    /// when [`Config::tls`] is set but unusable (or the `tls` feature is off).
    pub async fn start(config: Config) -> Result<MockRegistry, Error> {
        let tls = match &config.tls {
            None => None,
            #[cfg(feature = "tls")]
            Some(identity) => Some(tls::acceptor(identity)?),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                return Err(Error::InvalidConfig {
                    field: "tls",
                    reason: "this build has no TLS support (the `tls` feature is off)".to_owned(),
                });
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let store = store::Store::open(&config.storage, config.fsync)?;
        let listener = bind(config.addr).await?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let storage_listener = bind(SocketAddr::new(addr.ip(), 0)).await?;
        let storage_addr = storage_listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let host = addr.to_string();
        let shared = Arc::new(Shared {
            store,
            auth: auth::Auth::new(config.auth),
            faults: Faults::from_plan(config.faults),
            log: Mutex::default(),
            connections: AtomicU64::new(0),
            base_url: format!("{scheme}://{host}"),
            host,
            storage_url: format!("{scheme}://{storage_addr}"),
            storage_sig: store::random_id(),
            chunk_min_length: config.chunk_min_length,
            max_manifest_size: config.max_manifest_size,
            referrers_api: config.referrers_api,
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections.max(1),
        });
        let tasks = vec![
            tokio::spawn(server::serve(
                listener,
                shared.clone(),
                Listener::Registry,
                tls.clone(),
            )),
            tokio::spawn(server::serve(
                storage_listener,
                shared.clone(),
                Listener::BlobStorage,
                tls,
            )),
        ];
        Ok(MockRegistry {
            shared,
            addr,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`Config::tls`]), without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// `127.0.0.1:PORT`: what a reference's registry part is.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the blob-storage listener that [`Fault::redirect_blobs`] sends
    /// blob `GET`s to.
    pub fn blob_storage_url(&self) -> &str {
        &self.shared.storage_url
    }

    /// The run-time fault handle: add, replace or clear faults.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Every request answered so far (on both listeners), oldest first. A request is
    /// logged when its response headers are ready, before its body is sent.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forget the logged requests.
    pub fn clear_requests(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// TCP connections accepted so far on the registry listener (for connection-reuse
    /// checks).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for MockRegistry {
    fn drop(&mut self) {
        // Aborting an accept loop drops its JoinSet, which aborts every connection task.
        for task in &self.tasks {
            task.abort();
        }
    }
}
