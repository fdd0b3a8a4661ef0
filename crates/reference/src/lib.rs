#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod grammar;
mod reference;

pub use error::{Error, ErrorKind, Part};
pub use reference::Reference;

/// The tag fetched when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// Docker Hub's registry name in normalised references.
pub const DOCKER_HUB: &str = "docker.io";

/// The longest repository path accepted, in bytes (the registry is not counted).
pub const MAX_REPOSITORY_LEN: usize = 255;

/// The longest tag accepted, in characters.
pub const MAX_TAG_LEN: usize = 128;
