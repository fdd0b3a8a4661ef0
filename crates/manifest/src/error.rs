//! The crate's one error type.

use std::io;

use crate::Digest;
use crate::digest::DigestErrorKind;

/// Everything that can go wrong in `orca-manifest`.
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
