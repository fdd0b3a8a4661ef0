//! The crate's one error type.

use std::io;

use crate::Digest;
use crate::digest::DigestErrorKind;

/// The most characters of untrusted text (a media type, a JSON error that quotes the input)
/// an error keeps; longer text is cut there and ends in `…`.
pub const MAX_QUOTED_CHARS: usize = 256;

/// `text`, cut to [`MAX_QUOTED_CHARS`] characters.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Everything that can go wrong in `orca-manifest`.
///
/// # Security
///
/// Text that comes from a manifest or a header (media types, JSON error details) is cut to
/// [`MAX_QUOTED_CHARS`] characters, so an error about a hostile 4 MiB body stays small.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a valid digest.
    #[error("invalid digest {input:?} at byte {position}: {kind}")]
    InvalidDigest {
        /// The string that was parsed.
        input: String,
        /// What is wrong.
        kind: DigestErrorKind,
        /// Byte offset of the problem in `input`.
        position: usize,
    },
    /// The digest's algorithm is well formed but orca cannot compute it.
    #[error("unsupported digest algorithm {algorithm:?} (orca computes sha256 and sha512)")]
    UnsupportedAlgorithm {
        /// The algorithm's name.
        algorithm: String,
    },
    /// Content does not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest the content should have.
        expected: Digest,
        /// The digest it has.
        actual: Digest,
    },
    /// Content has a different number of bytes than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the content being checked.
        digest: Digest,
        /// The size the descriptor gives.
        expected: u64,
        /// The bytes seen (when larger, counting stopped at the first byte too many).
        actual: u64,
    },
    /// Reading content failed.
    #[error("reading content failed")]
    Io(#[source] io::Error),
    /// A manifest body is larger than [`crate::ParseOptions::max_size`].
    #[error("manifest of {size} bytes exceeds the {limit}-byte limit for manifests")]
    ManifestTooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A manifest body is empty or only white space.
    #[error("manifest body is empty")]
    EmptyManifest,
    /// A manifest body is not valid JSON, or lacks a required field, or has one of the wrong
    /// type.
    #[error("invalid {} at line {line}, column {column}: {reason}", .media_type.as_deref().unwrap_or("manifest"))]
    InvalidManifest {
        /// The media type it was parsed as, when known by then.
        media_type: Option<String>,
        /// What is wrong, as the JSON parser describes it.
        reason: String,
        /// 1-based line of the problem (0 when it concerns the whole document).
        line: usize,
        /// 1-based column of the problem (0 when it concerns the whole document).
        column: usize,
    },
    /// The body's `mediaType` contradicts the response's `Content-Type`.
    #[error("manifest mediaType {body:?} contradicts Content-Type {content_type:?}")]
    MediaTypeMismatch {
        /// The `mediaType` field of the body.
        body: String,
        /// The `Content-Type` it was received with (without parameters).
        content_type: String,
    },
    /// The manifest's `schemaVersion` is missing or is not 2.
    #[error("unsupported manifest schemaVersion {}: orca reads schemaVersion 2 only", .found.as_deref().unwrap_or("(missing)"))]
    SchemaVersion {
        /// The value found, as JSON text; `None` when the field is missing.
        found: Option<String>,
    },
    /// A Docker schema 1 manifest, which orca refuses.
    #[error(
        "Docker schema 1 manifests ({identified_by}) are not supported: schema 1 is deprecated \
         and removed from Docker; push the image again with a current client (schema 2 or OCI)"
    )]
    DockerSchema1 {
        /// What identified it: its media type, or `schemaVersion 1`.
        identified_by: String,
    },
    /// An OCI artifact manifest, a draft of image-spec 1.1 that was withdrawn before release.
    #[error(
        "OCI artifact manifests (application/vnd.oci.artifact.manifest.v1+json) are not \
         supported: the type was withdrawn from image-spec 1.1; use an image manifest with \
         artifactType"
    )]
    OciArtifactManifest,
    /// A media type that is not a manifest orca reads.
    #[error(
        "unsupported manifest media type {media_type:?} (orca reads OCI image manifests and \
         indexes and Docker schema 2 manifests and manifest lists)"
    )]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
    },
    /// The body has no `mediaType`, there is no usable `Content-Type`, and its fields do not
    /// say which kind of manifest it is.
    #[error(
        "cannot tell the manifest's type: no mediaType field, no manifest Content-Type, and {reason}"
    )]
    UndeterminedMediaType {
        /// Why the shape does not decide it.
        reason: &'static str,
    },
    /// A string is not a platform of the form `os[/architecture[/variant]][:os_version]`.
    #[error(
        "invalid platform {value:?}: {reason} (expected os[/architecture[/variant]][:os_version], e.g. linux/arm64)"
    )]
    InvalidPlatform {
        /// The string given (cut to [`MAX_QUOTED_CHARS`]).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A string is not a valid media type (RFC 6838 `type/subtype`, no parameters).
    #[error("invalid media type {value:?}: {reason}")]
    InvalidMediaType {
        /// The string given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Wrap into an [`io::Error`] of kind `InvalidData`, for readers.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// Undo [`Error::into_io`], or wrap a foreign IO error as [`Error::Io`].
    pub(crate) fn from_verify_io(err: io::Error) -> Error {
        if err
            .get_ref()
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<Error>)
        {
            match err
                .into_inner()
                .map(<dyn std::error::Error + Send + Sync>::downcast::<Error>)
            {
                Some(Ok(inner)) => *inner,
                Some(Err(other)) => Error::Io(io::Error::new(io::ErrorKind::InvalidData, other)),
                None => Error::Io(io::Error::from(io::ErrorKind::InvalidData)),
            }
        } else {
            Error::Io(err)
        }
    }
}
