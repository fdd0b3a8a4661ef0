#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod grammar;
mod reference;
mod registry;

pub use error::{Error, ErrorKind, Part};
/// The digest type of a reference: `orca-manifest`'s, re-exported so that users of this
/// crate alone can name it.
pub use orca_manifest::{Digest, DigestErrorKind};
pub use reference::Reference;
pub use registry::{DEFAULT_PORT, Registry, Repository};

/// The tag fetched when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// Docker Hub's registry name in normalised references.
pub const DOCKER_HUB: &str = "docker.io";

/// The host serving Docker Hub's registry API ([`Registry::api_host`] of [`DOCKER_HUB`]).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The longest repository path accepted, in bytes (the registry is not counted).
pub const MAX_REPOSITORY_LEN: usize = 255;

/// The longest tag accepted, in characters.
pub const MAX_TAG_LEN: usize = 128;
