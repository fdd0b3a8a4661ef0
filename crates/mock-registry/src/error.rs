//! The crate's one error type.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong when starting or driving a [`MockRegistry`](crate::MockRegistry)
/// or a `reference_registry::ReferenceRegistry` (feature `reference-registry`).
///
/// Errors the registry *answers* (`BLOB_UNKNOWN`, `DENIED`, …) are HTTP responses, not
/// values of this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },
    /// The storage directory could not be prepared or read.
    #[error("storage directory {path} is unusable")]
    Storage {
        /// The file or directory that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The storage directory's `state.json` is not valid.
    #[error("storage state {path} is corrupt: {reason}")]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration {field}: {reason}")]
    InvalidConfig {
        /// The field or flag at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The reference registry (`docker-registry`) could not be set up or did not start
    /// (only with the `reference-registry` feature).
    #[error("reference registry: {reason}")]
    ReferenceRegistry {
        /// What failed.
        reason: String,
        /// The underlying IO error, if any.
        #[source]
        source: Option<io::Error>,
    },
}
