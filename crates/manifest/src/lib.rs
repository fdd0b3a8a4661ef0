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
//!
//! [`Manifest::parse`] reads any manifest orca accepts (OCI image manifest and index, Docker
//! schema 2 manifest and manifest list) and keeps the bytes received, so a manifest's digest
//! is always the digest of those bytes. [`ImageManifest::artifact`] and [`ImageIndex::new`]
//! build what orca pushes, serialised canonically.
//!
//! ```
//! use orca_manifest::{Descriptor, ImageManifest, Manifest, media_types};
//!
//! let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello")
//!     .with_annotation(orca_manifest::annotations::TITLE, "hello.txt");
//! let pushed = ImageManifest::artifact("application/vnd.example.greeting", vec![layer])?
//!     .to_manifest()?;
//! let fetched = Manifest::parse(pushed.bytes().clone(), Some(media_types::OCI_IMAGE_MANIFEST))?;
//! assert_eq!(fetched.digest(), pushed.digest());
//! assert_eq!(fetched.artifact_type(), Some("application/vnd.example.greeting"));
//! assert_eq!(fetched.layers()[0].title(), Some("hello.txt"));
//! # Ok::<(), orca_manifest::Error>(())
//! ```

pub mod annotations;
mod descriptor;
mod digest;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod image;
mod index;
mod manifest;
pub mod media_types;
mod object;
pub mod registry_error;

pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest, DigestErrorKind, Hasher, Verifier, VerifyingReader};
pub use error::{Error, MAX_QUOTED_CHARS};
pub use image::ImageManifest;
pub use index::ImageIndex;
pub use manifest::{DEFAULT_MAX_MANIFEST_SIZE, Manifest, ParseOptions, Parsed};

// The README's examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The content of the OCI empty descriptor.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The sha256 digest of [`EMPTY_JSON`].
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
