//! Extraction limits.

use std::fmt;

/// Bounds on what one extraction may write.
///
/// Every count is of what was actually read or created, never of what a header claims: a
/// header announcing 10 bytes followed by 10 GB is stopped at the limit, and a header
/// announcing 10 GB followed by 10 bytes is a truncated archive.
///
/// ```
/// use orca_unpack::Limits;
///
/// let mut limits = Limits::small();
/// limits.max_entries = 50;
/// assert!(limits.max_entries < Limits::default().max_entries);
/// let built = Limits::builder().max_entries(50).max_path_depth(8).build();
/// assert_eq!((built.max_entries, built.max_path_depth), (50, 8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Total bytes of file content written.
    pub max_total_bytes: u64,
    /// Bytes of content of any one file.
    pub max_entry_bytes: u64,
    /// Entries of any kind (files, directories, links), not counting the PAX and GNU
    /// extension headers that the tar format uses for long names.
    pub max_entries: u64,
    /// Components of an entry's path.
    pub max_path_depth: u64,
    /// Bytes of an entry's path (and of a link's target).
    pub max_path_length: u64,
    /// Uncompressed bytes per compressed byte, checked continuously once more than
    /// [`Limits::RATIO_GRACE_BYTES`] have been decompressed (a small file of zeros
    /// legitimately compresses a thousandfold).
    pub max_compression_ratio: u64,
}

impl Limits {
    /// Bytes that may be decompressed before [`Limits::max_compression_ratio`] applies.
    pub const RATIO_GRACE_BYTES: u64 = 16 * 1024 * 1024;

    /// For configuration folders and templates: 256 MiB total, 64 MiB per file, 10,000
    /// entries, depth 32, paths of 1,024 bytes, ratio 100.
    pub const fn small() -> Limits {
        Limits {
            max_total_bytes: 256 * MIB,
            max_entry_bytes: 64 * MIB,
            max_entries: 10_000,
            max_path_depth: 32,
            max_path_length: 1024,
            max_compression_ratio: 100,
        }
    }

    /// The default: 4 GiB total, 2 GiB per file, 100,000 entries, depth 64, paths of
    /// 4,096 bytes, ratio 200.
    pub const fn standard() -> Limits {
        Limits {
            max_total_bytes: 4 * GIB,
            max_entry_bytes: 2 * GIB,
            max_entries: 100_000,
            max_path_depth: 64,
            max_path_length: 4096,
            max_compression_ratio: 200,
        }
    }

    /// For large trusted artifacts (model weights, datasets): 64 GiB total, 32 GiB per
    /// file, 1,000,000 entries, depth 128, paths of 4,096 bytes, ratio 1,000.
    pub const fn large() -> Limits {
        Limits {
            max_total_bytes: 64 * GIB,
            max_entry_bytes: 32 * GIB,
            max_entries: 1_000_000,
            max_path_depth: 128,
            max_path_length: 4096,
            max_compression_ratio: 1000,
        }
    }
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

impl Default for Limits {
    /// [`Limits::standard`].
    fn default() -> Limits {
        Limits::standard()
    }
}

impl Limits {
    /// A builder starting from [`Limits::standard`].
    pub fn builder() -> LimitsBuilder {
        LimitsBuilder(Limits::standard())
    }
}

/// Builds [`Limits`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LimitsBuilder(Limits);

impl LimitsBuilder {
    /// [`Limits::max_total_bytes`].
    pub fn max_total_bytes(mut self, value: u64) -> Self {
        self.0.max_total_bytes = value;
        self
    }

    /// [`Limits::max_entry_bytes`].
    pub fn max_entry_bytes(mut self, value: u64) -> Self {
        self.0.max_entry_bytes = value;
        self
    }

    /// [`Limits::max_entries`].
    pub fn max_entries(mut self, value: u64) -> Self {
        self.0.max_entries = value;
        self
    }

    /// [`Limits::max_path_depth`].
    pub fn max_path_depth(mut self, value: u64) -> Self {
        self.0.max_path_depth = value;
        self
    }

    /// [`Limits::max_path_length`].
    pub fn max_path_length(mut self, value: u64) -> Self {
        self.0.max_path_length = value;
        self
    }

    /// [`Limits::max_compression_ratio`].
    pub fn max_compression_ratio(mut self, value: u64) -> Self {
        self.0.max_compression_ratio = value;
        self
    }

    /// The limits.
    pub fn build(self) -> Limits {
        self.0
    }
}

/// Which limit an [`Error::Limit`](crate::Error::Limit) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_total_bytes`].
    TotalBytes,
    /// [`Limits::max_entry_bytes`].
    EntryBytes,
    /// [`Limits::max_entries`].
    Entries,
    /// [`Limits::max_path_depth`].
    PathDepth,
    /// [`Limits::max_path_length`].
    PathLength,
    /// [`Limits::max_compression_ratio`].
    CompressionRatio,
    /// Metadata between two entries (at most [`HEADER_BYTES`](crate::HEADER_BYTES)).
    HeaderBytes,
    /// Data after the end-of-archive marker (at most [`TRAILING_BYTES`](crate::TRAILING_BYTES)).
    TrailingBytes,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::TotalBytes => "total bytes",
            LimitKind::EntryBytes => "bytes per entry",
            LimitKind::Entries => "entry count",
            LimitKind::PathDepth => "path depth",
            LimitKind::PathLength => "path length",
            LimitKind::CompressionRatio => "compression ratio",
            LimitKind::HeaderBytes => "header bytes between two entries",
            LimitKind::TrailingBytes => "trailing bytes after the end of the archive",
        })
    }
}
