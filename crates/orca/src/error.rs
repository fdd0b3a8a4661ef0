//! The facade's one error: a stable code and an HTTP status for every failure.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A boxed cause, kept behind [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure of an [`ArtifactStore`](crate::ArtifactStore) operation.
///
/// [`Error::code`] is a stable string a service returns to its callers;
/// [`Error::http_status`] the status to return it with; [`Error::body`] (or `Serialize`)
/// the `{"code": …, "message": …}` form.
///
/// | code | status | when |
/// |---|---|---|
/// | `ArtifactStoreIsNotRegistered` | 400 | the registry is not registered, or the reference names none |
/// | `FailedToConnectToArtifactStore` | 400 | DNS, connect, TLS, timeouts, plain HTTP refused |
/// | `TooLargeArtifacts` | 400 | the artifact exceeds the operation's limit |
/// | `InvalidReference` | 400 | the reference does not parse |
/// | `ArtifactNotFound` | 404 | no such repository, tag, manifest or blob; an index with no manifest for the platform asked for, an image for another platform |
/// | `Unauthorized` | 401 or 403 | credentials missing or refused (401), or not allowed (403) |
/// | `DigestMismatch` | 502 | content does not hash to its digest |
/// | `UnsafeArtifactContent` | 400 | a path escapes the destination, a link, a device, an extraction limit… |
/// | `InvalidArtifact` | 400 | the manifest is not a usable artifact (an index and no platform, a platform asked of an artifact, an unknown type, duplicate titles) |
/// | `TooManyRequests` | 429 | the registry throttles after every retry |
/// | `ArtifactStoreUnavailable` | 502 | the registry failed (5xx) or broke the protocol |
/// | `InvalidArgument` | 400 | a caller's input is wrong (a missing file to push, a bad option) |
/// | `InternalError` | 500 | local IO, the cache, a bad credential configuration |
///
/// # Security
///
/// Messages name the reference, the registry and the operation; never a secret. The
/// causes (`source()`) come from orca's crates, which hold no secret in errors either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference's registry is not a registered store (or it names no registry).
    #[error("{reference}: {}", match registry {
        Some(r) => format!("the artifact store {r} is not registered"),
        None => "the reference names no registry; only registered artifact stores are used".to_owned(),
    })]
    ArtifactStoreIsNotRegistered {
        /// The reference as given.
        reference: String,
        /// Its registry, when it names one.
        registry: Option<String>,
    },
    /// The registry could not be reached.
    #[error("{reference}: cannot connect to the artifact store {registry}")]
    FailedToConnectToArtifactStore {
        /// The reference.
        reference: String,
        /// The registry.
        registry: String,
        /// The transport failure.
        #[source]
        source: BoxError,
    },
    /// The artifact is larger than the operation allows.
    #[error(
        "{reference}: the artifact has {size} bytes, more than the {limit} bytes allowed for {operation}"
    )]
    TooLargeArtifacts {
        /// The reference.
        reference: String,
        /// The operation whose limit applies.
        operation: String,
        /// The artifact's size (the sum of its layers).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The reference does not parse.
    #[error("invalid reference: {source}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        #[source]
        source: orca_reference::Error,
    },
    /// The repository, tag, manifest or blob does not exist.
    #[error("{reference}: artifact not found")]
    ArtifactNotFound {
        /// The reference.
        reference: String,
        /// The registry's answer.
        #[source]
        source: Option<BoxError>,
    },
    /// The credentials are missing or refused (401), or may not do this (403).
    #[error("{reference}: {}", if *status == 403 { "access denied" } else { "unauthorized" })]
    Unauthorized {
        /// The reference.
        reference: String,
        /// 401 or 403.
        status: u16,
        /// The registry's answer or the authentication failure.
        #[source]
        source: BoxError,
    },
    /// Content does not hash to the digest it should have.
    #[error("{reference}: content does not match its digest")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The check that failed.
        #[source]
        source: BoxError,
    },
    /// The artifact's content would write outside the destination, or breaks an
    /// extraction limit or rule.
    #[error("{reference}: unsafe artifact content")]
    UnsafeArtifactContent {
        /// The reference.
        reference: String,
        /// What was refused.
        #[source]
        source: BoxError,
    },
    /// The manifest is not an artifact this operation can use.
    #[error("{reference}: {message}")]
    InvalidArtifact {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The registry kept throttling (429) after every retry.
    #[error("{reference}: the artifact store is throttling requests")]
    TooManyRequests {
        /// The reference.
        reference: String,
        /// The registry's answer.
        #[source]
        source: BoxError,
    },
    /// The registry failed (5xx) or broke the protocol.
    #[error("{reference}: the artifact store failed")]
    ArtifactStoreUnavailable {
        /// The reference.
        reference: String,
        /// The registry's answer.
        #[source]
        source: BoxError,
    },
    /// A caller's input is wrong.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A local failure: file IO, the content cache, the credential configuration.
    #[error("{message}")]
    Internal {
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// The serialised form of an [`Error`], for service responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// [`Error::code`].
    pub code: String,
    /// The error's message and its causes, joined by `: `.
    pub message: String,
}

impl Error {
    /// The stable code (see the table on [`Error`]).
    pub fn code(&self) -> &'static str {
        match self {
            Error::ArtifactStoreIsNotRegistered { .. } => "ArtifactStoreIsNotRegistered",
            Error::FailedToConnectToArtifactStore { .. } => "FailedToConnectToArtifactStore",
            Error::TooLargeArtifacts { .. } => "TooLargeArtifacts",
            Error::InvalidReference { .. } => "InvalidReference",
            Error::ArtifactNotFound { .. } => "ArtifactNotFound",
            Error::Unauthorized { .. } => "Unauthorized",
            Error::DigestMismatch { .. } => "DigestMismatch",
            Error::UnsafeArtifactContent { .. } => "UnsafeArtifactContent",
            Error::InvalidArtifact { .. } => "InvalidArtifact",
            Error::TooManyRequests { .. } => "TooManyRequests",
            Error::ArtifactStoreUnavailable { .. } => "ArtifactStoreUnavailable",
            Error::InvalidArgument { .. } => "InvalidArgument",
            Error::Internal { .. } => "InternalError",
        }
    }

    /// The HTTP status a service returns this error with (see the table on [`Error`]).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::ArtifactStoreIsNotRegistered { .. }
            | Error::FailedToConnectToArtifactStore { .. }
            | Error::TooLargeArtifacts { .. }
            | Error::InvalidReference { .. }
            | Error::UnsafeArtifactContent { .. }
            | Error::InvalidArtifact { .. }
            | Error::InvalidArgument { .. } => 400,
            Error::ArtifactNotFound { .. } => 404,
            Error::Unauthorized { status, .. } => *status,
            Error::TooManyRequests { .. } => 429,
            Error::DigestMismatch { .. } | Error::ArtifactStoreUnavailable { .. } => 502,
            Error::Internal { .. } => 500,
        }
    }

    /// The message with its causes, joined by `: `.
    pub fn full_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }

    /// The `{"code": …, "message": …}` form.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.full_message(),
        }
    }
}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(serializer)
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Maps a client failure for `reference` to the facade's codes.
pub(crate) fn from_distribution(
    reference: &str,
    registry: &str,
    e: orca_distribution::Error,
) -> Error {
    use orca_distribution::ErrorKind as K;
    let reference = reference.to_owned();
    match e.kind() {
        K::Connect | K::Timeout => Error::FailedToConnectToArtifactStore {
            reference,
            registry: registry.to_owned(),
            source: Box::new(e),
        },
        K::Config if matches!(e, orca_distribution::Error::PlainHttpRefused { .. }) => {
            Error::FailedToConnectToArtifactStore {
                reference,
                registry: registry.to_owned(),
                source: Box::new(e),
            }
        }
        K::Unauthorized | K::Auth | K::CredentialsRejected => Error::Unauthorized {
            reference,
            status: 401,
            source: Box::new(e),
        },
        K::Denied => Error::Unauthorized {
            reference,
            status: 403,
            source: Box::new(e),
        },
        K::NotFound => Error::ArtifactNotFound {
            reference,
            source: Some(Box::new(e)),
        },
        K::DigestMismatch | K::SizeExceeded | K::SizeMismatch => Error::DigestMismatch {
            reference,
            source: Box::new(e),
        },
        K::TooManyRequests => Error::TooManyRequests {
            reference,
            source: Box::new(e),
        },
        K::Unsupported | K::Invalid => Error::InvalidArgument {
            message: format!("{reference}: the artifact store refused the request"),
            source: Some(Box::new(e)),
        },
        K::Io if matches!(e, orca_distribution::Error::File { .. }) => Error::Internal {
            message: format!("{reference}: writing the download failed"),
            source: Some(Box::new(e)),
        },
        K::Config | K::Io => Error::Internal {
            message: format!("{reference}: the request could not be made"),
            source: Some(Box::new(e)),
        },
        _ => Error::ArtifactStoreUnavailable {
            reference,
            source: Box::new(e),
        },
    }
}

/// Maps an extraction or packing failure for `reference` to the facade's codes.
pub(crate) fn from_unpack(reference: &str, e: orca_unpack::Error) -> Error {
    use orca_unpack::Error as U;
    let reference = reference.to_owned();
    match e {
        U::DigestMismatch { .. } | U::SizeMismatch { .. } => Error::DigestMismatch {
            reference,
            source: Box::new(e),
        },
        U::Io { .. } | U::Read(_) => Error::Internal {
            message: format!("{reference}: writing the artifact failed"),
            source: Some(Box::new(e)),
        },
        U::InvalidDestination { .. } | U::Unpackable { .. } => Error::InvalidArgument {
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
        U::UnsupportedDigest { .. } | U::UnsupportedCompression { .. } => Error::InvalidArtifact {
            reference,
            message: "the artifact cannot be read".to_owned(),
            source: Some(Box::new(e)),
        },
        _ => Error::UnsafeArtifactContent {
            reference,
            source: Box::new(e),
        },
    }
}

/// Maps a store-registry failure to the facade's codes.
pub(crate) fn from_store(e: orca_store::Error) -> Error {
    match e {
        orca_store::Error::NotRegistered {
            reference,
            registry,
        } => Error::ArtifactStoreIsNotRegistered {
            reference,
            registry,
        },
        orca_store::Error::InvalidReference(source) => Error::InvalidReference {
            reference: source.input().to_owned(),
            source,
        },
        other => Error::Internal {
            message: "the artifact store configuration or cache failed".to_owned(),
            source: Some(Box::new(other)),
        },
    }
}

/// A local IO failure.
pub(crate) fn io(action: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Internal {
        message: format!("cannot {action} {}", path.display()),
        source: Some(Box::new(e)),
    }
}

impl From<orca_store::Error> for Error {
    /// [`orca_store::Error::NotRegistered`] is `ArtifactStoreIsNotRegistered`, an invalid
    /// reference `InvalidReference`, the rest (a bad stores file, the cache) `InternalError`.
    fn from(e: orca_store::Error) -> Error {
        from_store(e)
    }
}
