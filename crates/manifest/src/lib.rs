//! OCI and Docker digests, descriptors, media types, manifests and indexes.
//!
//! This crate is pure: it does no network or file IO of its own and reads no clock.
//! Everything that hashes content streams it, so verifying a large blob takes constant
//! memory.
//!
//! ```
//! use orca_manifest::{Digest, Descriptor, media_types};
//!
//! let digest: Digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".parse()?;
//! digest.verify(b"{}")?;
//! assert_eq!(Descriptor::empty().digest, digest);
//! assert_eq!(Descriptor::empty().media_type, media_types::OCI_EMPTY);
//! # Ok::<(), orca_manifest::Error>(())
//! ```

pub mod annotations;
mod descriptor;
mod digest;
mod error;
pub mod media_types;

pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest, DigestErrorKind, Hasher, Verifier, VerifyingReader};
pub use error::Error;

/// The content of the OCI empty descriptor.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The sha256 digest of [`EMPTY_JSON`].
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
