//! A caching registry front (a pull-through cache, as Azure Container Registry's artifact
//! cache does it): pulls are served from [`Storage`]; a miss is fetched upstream once,
//! however many clients ask, verified, stored and streamed to the clients as it arrives.
//!
//! [`Front`] serves the distribution API's pull surface on a loopback port by default:
//! `GET /v2/`, `GET`/`HEAD` of manifests (by tag or digest) and blobs (with `Range` on a
//! hit), and `/metrics` in the Prometheus text format. Pushes, deletes, tag lists, the
//! catalog and referrers answer 405 `UNSUPPORTED`.
//!
//! - A repository that an [`Upstreams`] rule maps to an upstream is served from storage
//!   when present. A tag is checked upstream (a `HEAD`) at most once per
//!   [`Options::revalidate_after`]; a digest never is. Otherwise the manifest or blob is
//!   fetched with the rule's client, verified, stored and served (`Orca-Cache: miss`).
//! - Concurrent misses on one blob share one upstream download (see the `flight` module's
//!   notes): every client reads the spool file as it grows, the last byte only once the
//!   digest verified. A blob that does not verify is never stored and every client's
//!   connection is cut before its end.
//! - A repository no rule matches is served from storage or gets 404.
//! - Upstream down: a stored tag is served anyway with `Orca-Cache: stale` and
//!   `Warning: 110 - "Response is stale"`, and a warning is logged.
//! - [`Front::shutdown`] stops accepting and lets in-flight responses finish.
//!
//! Routing, name and tag grammar, `Range` and `Accept` come from
//! [`orca_mock_registry::wire`], the mock registry's own, so both servers answer alike
//! while the mock never depends on the client crates. It spawns tasks on the tokio
//! runtime it is started on and writes only to its storage and spool directory.
//!
//! ```no_run
//! use std::sync::Arc;
//! use orca_distribution::{Client, ClientConfig};
//! use orca_pull_through::{DirStorage, Front, Options, StaticUpstreams};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientConfig::default())?;
//! let rules = StaticUpstreams::new().with("library/*", client, "docker.io/library/*")?;
//! let storage = DirStorage::open("/var/cache/orca-front")?;
//! let front = Front::start(Arc::new(storage), Arc::new(rules), Options::default()).await?;
//! println!("pull from {}/library/alpine:3", front.host());
//! front.shutdown().await;
//! # Ok(())
//! # }
//! ```

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod backing;
mod flight;
mod metrics;
mod server;
mod storage;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backing::{BackingLocation, BackingOptions, InvalidBacking, RegistryStorage};
pub use orca_mock_registry::{Secret, TlsIdentity, User};
pub use server::CACHE_HEADER;
pub use storage::{BlobRead, DirStorage, ManifestRef, Storage, StoredManifest};
pub use upstream::{StaticUpstreams, Upstream, Upstreams};

/// [`Options::max_connections`] by default: well under the usual limit of 1,024 open
/// files, each connection needing a socket upstream or a spool file too.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Knobs of a [`Front`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Where to listen; `127.0.0.1:0` by default (loopback, any free port).
    pub addr: SocketAddr,
    /// How long a tag confirmed upstream is served without asking again (60 s).
    pub revalidate_after: Duration,
    /// Where downloads are spooled; `None`: the storage's choice
    /// ([`Storage::spool_dir`]), else a new directory under the system's temporary
    /// directory, removed once the front and the downloads still using it are done.
    pub spool_dir: Option<PathBuf>,
    /// How long [`Front::shutdown`] waits for in-flight responses (30 s).
    pub shutdown_grace: Duration,
    /// Serve HTTPS with this certificate and key (the `tls` feature); `None`: plain HTTP.
    pub tls: Option<TlsIdentity>,
    /// How long a client has to send a request's headers (HTTP/1) before its connection
    /// is closed, so that idle or trickling connections do not pile up (30 s).
    pub header_read_timeout: Duration,
    /// Who may pull: with users, every request (`/v2/`, manifests, blobs, `/metrics`)
    /// needs HTTP Basic credentials of one of them, else 401 with a Basic challenge
    /// (`docker login`, `orca login` work as with distribution's htpasswd). Empty (the
    /// default): anyone who can connect pulls what the rules' credentials can read.
    pub users: Vec<User>,
    /// How long an upstream repository that refused a rule's credentials is not asked
    /// again (30 s): a burst of clients must not become a burst of failed logins upstream,
    /// which can lock the account. Meanwhile a stored tag is served stale and anything
    /// else gets 403 `DENIED`.
    pub refusal_hold: Duration,
    /// How many client connections are served at once (512; 0 counts as 1). Beyond it,
    /// new connections wait in the listening socket's backlog until one ends, so a
    /// flood of clients cannot exhaust file descriptors or memory.
    pub max_connections: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            revalidate_after: Duration::from_secs(60),
            spool_dir: None,
            shutdown_grace: Duration::from_secs(30),
            tls: None,
            header_read_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            users: Vec::new(),
            refusal_hold: Duration::from_secs(30),
        }
    }
}

impl Options {
    /// [`Options::addr`].
    #[must_use]
    pub fn with_addr(mut self, addr: SocketAddr) -> Options {
        self.addr = addr;
        self
    }

    /// [`Options::revalidate_after`].
    #[must_use]
    pub fn with_revalidate_after(mut self, after: Duration) -> Options {
        self.revalidate_after = after;
        self
    }

    /// [`Options::spool_dir`].
    #[must_use]
    pub fn with_spool_dir(mut self, dir: impl Into<PathBuf>) -> Options {
        self.spool_dir = Some(dir.into());
        self
    }

    /// [`Options::shutdown_grace`].
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Options {
        self.shutdown_grace = grace;
        self
    }

    /// [`Options::tls`].
    #[must_use]
    pub fn with_tls(mut self, identity: TlsIdentity) -> Options {
        self.tls = Some(identity);
        self
    }

    /// [`Options::header_read_timeout`].
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Options {
        self.header_read_timeout = timeout;
        self
    }

    /// Add a user to [`Options::users`].
    #[must_use]
    pub fn with_user(mut self, user: User) -> Options {
        self.users.push(user);
        self
    }

    /// [`Options::refusal_hold`].
    #[must_use]
    pub fn with_refusal_hold(mut self, hold: Duration) -> Options {
        self.refusal_hold = hold;
        self
    }

    /// [`Options::max_connections`].
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Options {
        self.max_connections = max;
        self
    }
}

/// What can go wrong starting a [`Front`]. (Failures while serving are answers and log
/// lines, not values of this type.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// [`Options::tls`] is unusable: the PEM holds no certificate or key, they do not
    /// go together, or this build has no `tls` feature.
    #[error("cannot serve HTTPS")]
    Tls {
        /// Why.
        #[source]
        source: orca_mock_registry::Error,
    },
    /// The spool directory could not be created.
    #[error("cannot create the spool directory {path}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A running caching front. Dropping it stops it at once; [`Front::shutdown`] stops it
/// gracefully.
///
/// Must be started inside a tokio runtime.
pub struct Front {
    addr: SocketAddr,
    base_url: String,
    ctx: Arc<server::Ctx>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Front {
    /// Bind `options.addr` and serve pulls from `storage`, fetching misses through
    /// `upstreams`.
    ///
    /// # Errors
    /// [`Error::Tls`] when [`Options::tls`] is unusable, [`Error::Bind`] when the address
    /// cannot be bound, [`Error::Spool`] when the spool directory cannot be created.
    pub async fn start(
        storage: Arc<dyn Storage>,
        upstreams: Arc<dyn Upstreams>,
        options: Options,
    ) -> Result<Front, Error> {
        let tls = match &options.tls {
            None => None,
            #[cfg(feature = "tls")]
            Some(identity) => Some(
                orca_mock_registry::tls_acceptor(identity)
                    .map_err(|source| Error::Tls { source })?,
            ),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                return Err(Error::Tls {
                    source: orca_mock_registry::Error::InvalidConfig {
                        field: "tls",
                        reason: "this build has no TLS support (the `tls` feature of orca-pull-through is off)".to_owned(),
                    },
                });
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (spool_dir, spool_owner) =
            if let Some(dir) = options.spool_dir.clone().or_else(|| storage.spool_dir()) {
                std::fs::create_dir_all(&dir).map_err(|source| Error::Spool {
                    path: dir.clone(),
                    source,
                })?;
                (dir, None)
            } else {
                // A directory of its own, removed when the front is done with it.
                let dir = tempfile::Builder::new()
                    .prefix("orca-pull-through-")
                    .tempdir()
                    .map_err(|source| Error::Spool {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (dir.path().to_path_buf(), Some(dir))
            };
        let listener = TcpListener::bind(options.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: options.addr,
            source,
        })?;
        let ctx = Arc::new(
            server::Ctx::new(
                storage,
                upstreams,
                spool_dir,
                options.revalidate_after,
                options.users,
                options.refusal_hold,
            )
            .owning_spool(spool_owner),
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(
            listener,
            ctx.clone(),
            stopped,
            server::Limits {
                grace: options.shutdown_grace,
                header_read_timeout: options.header_read_timeout,
                max_connections: options.max_connections.max(1),
            },
            tls,
        ));
        tracing::info!(addr = %addr, "pull-through front listening");
        Ok(Front {
            addr,
            base_url: format!("{scheme}://{addr}"),
            ctx,
            stop,
            task: Some(task),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`Options::tls`]), without a trailing
    /// slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`: what a reference's registry part is.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Where downloads are spooled before they land ([`Options::spool_dir`]).
    pub fn spool_dir(&self) -> &std::path::Path {
        &self.ctx.spool_dir
    }

    /// The metrics, as `/metrics` serves them (Prometheus text format).
    pub fn metrics(&self) -> String {
        self.ctx.metrics.render()
    }

    /// Stop accepting connections, let in-flight responses finish (at most
    /// [`Options::shutdown_grace`]), and return. Downloads that no client waits for any
    /// more are left to land in storage in the background while the runtime lives.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An error and its sources, each once, for log lines (`cannot connect to the registry:
/// tcp connect error: Connection refused`, not only the outermost message).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
