//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use orca_manifest::Digest;

use crate::limits::LimitKind;

/// Everything that can go wrong while extracting, packing or writing a layer.
///
/// Every refusal names the problem and the entry it was found in; IO failures name the
/// operation and the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A limit from [`Limits`](crate::Limits) was exceeded; nothing was written.
    #[error("{limit} limit exceeded: the limit is {value}, the archive reached {seen}{}", entry_suffix(.entry.as_deref()))]
    Limit {
        /// Which limit.
        limit: LimitKind,
        /// The configured value of the limit.
        value: u64,
        /// What was seen when the extractor stopped (bytes actually read, entries counted,
        /// path components or bytes of a path, or the ratio).
        seen: u64,
        /// The entry being read when the limit was hit, when there was one.
        entry: Option<String>,
    },
    /// An entry's path (or a link's target) is not a safe relative path.
    #[error("unsafe path {path:?}: {problem}")]
    UnsafePath {
        /// The path as written in the archive (lossily decoded).
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The archive holds a symbolic link or hard link and links were not allowed.
    #[error("entry {path:?} is a {kind} to {target:?} and links are not allowed")]
    LinkNotAllowed {
        /// The entry's path.
        path: String,
        /// Symbolic or hard link.
        kind: LinkKind,
        /// The link's target as written.
        target: String,
    },
    /// A link whose target leaves the destination, or does not name something this
    /// extraction created (hard links), or resolves through a link in a way that cannot be
    /// proven to stay inside.
    #[error(
        "{kind} {path:?} points outside the destination or at something it may not: {target:?}"
    )]
    LinkEscapes {
        /// The entry's path.
        path: String,
        /// Symbolic or hard link.
        kind: LinkKind,
        /// The link's target as written.
        target: String,
    },
    /// An entry would be written through a link (a parent component is a symbolic link, or
    /// a file already there is a link) or below something that is not a directory.
    #[error(
        "entry {path:?} would be written through or below {conflict:?}, which is not a directory this extraction created"
    )]
    ThroughLink {
        /// The entry's path.
        path: String,
        /// The component in the way.
        conflict: String,
    },
    /// An entry type that is never extracted: devices, fifos, sockets, sparse files, …
    #[error("entry {path:?} has unsupported type {entry_type}")]
    UnsupportedEntry {
        /// The entry's path.
        path: String,
        /// The tar type flag, described.
        entry_type: EntryType,
    },
    /// The same path appears twice and [`Duplicates::Error`](crate::Duplicates) was asked
    /// for, or a directory would be replaced by something else.
    #[error("duplicate entry {path:?}{}", if *.type_change { " changes a directory into something else" } else { "" })]
    Duplicate {
        /// The entry's path.
        path: String,
        /// Whether the second entry would turn a directory into a non-directory (refused
        /// whatever the option says).
        type_change: bool,
    },
    /// The stream ended before the archive did (inside an entry or before the
    /// end-of-archive marker), or the gzip stream was cut.
    #[error("truncated archive: {detail}")]
    Truncated {
        /// What was being read.
        detail: String,
    },
    /// The archive is not a valid tar (bad header checksum, bad number fields, corrupt
    /// gzip data, …).
    #[error("malformed archive: {detail}")]
    Malformed {
        /// The decoder's description of the problem.
        detail: String,
    },
    /// The stream is compressed with something this crate does not read.
    #[error("unsupported compression {format} (only tar and tar+gzip are read)")]
    UnsupportedCompression {
        /// The format recognised from the magic bytes.
        format: &'static str,
    },
    /// A digest did not match the bytes read.
    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which digest.
        what: DigestTarget,
        /// The expected digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// A digest uses an algorithm this crate cannot compute.
    #[error("cannot verify {what} digest {digest}: unsupported algorithm")]
    UnsupportedDigest {
        /// Which digest.
        what: DigestTarget,
        /// The digest.
        digest: Digest,
    },
    /// The layer had a different size than its descriptor says.
    #[error("layer size mismatch: expected {expected} bytes, read {actual}{}", if *.at_least { " or more" } else { "" })]
    SizeMismatch {
        /// The descriptor's size.
        expected: u64,
        /// Bytes read.
        actual: u64,
        /// Reading stopped as soon as the expected size was passed.
        at_least: bool,
    },
    /// An entry of an ORAS folder layer is not inside the folder named by the layer's title.
    #[error("entry {path:?} is outside the folder {prefix:?} the layer's title names")]
    OutsidePrefix {
        /// The entry's path.
        path: String,
        /// The expected leading folder.
        prefix: String,
    },
    /// A descriptor annotation has a value this crate cannot use (an unsafe title, a
    /// malformed content digest, …).
    #[error("annotation {key} has an unusable value {value:?}: {reason}")]
    InvalidAnnotation {
        /// The annotation key.
        key: String,
        /// Its value.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The destination cannot be used (no parent directory, no file name, parent missing).
    #[error("invalid destination {path:?}: {reason}")]
    InvalidDestination {
        /// The destination given.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A file type that cannot be packed (device, fifo, socket).
    #[error("cannot pack {path:?}: {reason}")]
    Unpackable {
        /// The file on disk.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A file system operation failed.
    #[error("{operation} {path:?} failed")]
    Io {
        /// What was being done (`"create"`, `"rename"`, …).
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading the input stream failed for a reason of its own (not the archive's content).
    #[error("reading the layer stream failed")]
    Read(#[source] io::Error),
}

/// Long paths are cut in messages (the payload keeps them whole).
fn entry_suffix(entry: Option<&str>) -> String {
    const SHOWN: usize = 120;
    match entry {
        Some(e) if e.chars().count() > SHOWN => {
            let head: String = e.chars().take(SHOWN).collect();
            format!(" (at entry {head:?}…, {} bytes)", e.len())
        }
        Some(e) => format!(" (at entry {e:?})"),
        None => String::new(),
    }
}

impl Error {
    /// The limit this error is about, when it is [`Error::Limit`] (a caller maps these to
    /// "artifact too large").
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Error::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Error {
        Error::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}

/// What is wrong with a path; see [`Error::UnsafePath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathProblem {
    /// The path is empty or names only the root (`.`, `./`) where a name is needed.
    Empty,
    /// It starts with `/` (or `\`).
    Absolute,
    /// It has a `..` component.
    ParentDir,
    /// It starts with a Windows drive (`C:`).
    WindowsDrive,
    /// It contains a backslash, the Windows separator (UNC `\\server\share` included).
    Backslash,
    /// It contains a NUL byte.
    Nul,
    /// It is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "it is empty or names only the root",
            PathProblem::Absolute => "it is absolute",
            PathProblem::ParentDir => "it has a `..` component",
            PathProblem::WindowsDrive => "it starts with a Windows drive letter",
            PathProblem::Backslash => "it contains a backslash (Windows separator or UNC path)",
            PathProblem::Nul => "it contains a NUL byte",
            PathProblem::NotUtf8 => "it is not valid UTF-8",
        })
    }
}

/// The kind of a link entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// A symbolic link.
    Symlink,
    /// A hard link.
    Hardlink,
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Symlink => "symbolic link",
            LinkKind::Hardlink => "hard link",
        })
    }
}

/// A tar entry type flag, for [`Error::UnsupportedEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryType(pub u8);

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            b'3' => "character device",
            b'4' => "block device",
            b'6' => "fifo",
            b'S' => "GNU sparse file",
            b'V' => "GNU volume label",
            b'M' => "GNU multi-volume continuation",
            _ => "unknown",
        };
        if self.0.is_ascii_graphic() {
            write!(f, "{name} ('{}')", char::from(self.0))
        } else {
            write!(f, "{name} (byte {})", self.0)
        }
    }
}

/// Which digest an [`Error::DigestMismatch`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestTarget {
    /// The layer's digest, over the bytes as stored (compressed).
    Layer,
    /// `io.deis.oras.content.digest`, over the uncompressed tar stream.
    Content,
}

impl fmt::Display for DigestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestTarget::Layer => "layer",
            DigestTarget::Content => "content (io.deis.oras.content.digest)",
        })
    }
}
