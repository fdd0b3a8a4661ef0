//! The local content cache: an OCI image layout directory.

use std::fs::File;
use std::path::{Path, PathBuf};

use orca_manifest::{Descriptor, Digest};

use crate::Error;

/// The annotation `index.json` entries carry to name them (`oci:DIR:<name>` in skopeo).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Knobs of a [`ContentCache`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CacheOptions {
    /// The most bytes of blobs kept; least recently used artifacts are evicted beyond it.
    /// `None` means unbounded.
    pub max_bytes: Option<u64>,
}

impl Default for CacheOptions {
    fn default() -> CacheOptions {
        CacheOptions {
            max_bytes: Some(1 << 30),
        }
    }
}

impl CacheOptions {
    /// Bound the cache to `bytes` (builder style); `None` means unbounded.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: Option<u64>) -> CacheOptions {
        self.max_bytes = bytes;
        self
    }
}

/// One entry of `index.json`: a manifest kept in the cache, under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The name (`org.opencontainers.image.ref.name`): the full reference it was fetched
    /// as, such as `myacr.azurecr.io/configs/anonymization:default`.
    pub name: String,
    /// The manifest's descriptor.
    pub descriptor: Descriptor,
}

/// What the cache holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Blobs stored (manifests included).
    pub blobs: u64,
    /// Their total size.
    pub bytes: u64,
    /// Entries in `index.json`.
    pub entries: u64,
}

/// A content cache in an [OCI image layout] directory.
///
/// Layout: `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (an image index
/// whose entries name the manifests fetched, annotated with
/// [`REF_NAME_ANNOTATION`]), `blobs/<algorithm>/<encoded>`; plus `.orca.lock`, the lock
/// file (other tools ignore it). Read it with `skopeo copy oci:DIR:<name> …`.
///
/// # Concurrency
///
/// Several processes may use one directory at once. Blobs are written to a temporary
/// file in `blobs/<algorithm>/`, verified, and renamed into place (a reader sees a whole
/// blob or none); `index.json` is read-modified-written under an exclusive `flock` on
/// `.orca.lock`, and replaced by rename. Eviction takes the same lock.
///
/// # Eviction
///
/// After each [`ContentCache::add_entry`], while the blobs exceed
/// [`CacheOptions::max_bytes`], the least recently used entry (by the access time this
/// cache records on every read) is removed with the blobs no other entry uses.
///
/// [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
#[derive(Clone, Debug)]
pub struct ContentCache {
    root: PathBuf,
    options: CacheOptions,
}

/// A blob being written into the cache: hashed and counted as it is written, moved into
/// place by [`BlobWriter::commit`] only when its digest and size match. Dropped without
/// a commit, it leaves nothing behind.
#[derive(Debug)]
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    expected: Descriptor,
    target: PathBuf,
    hasher: orca_manifest::Hasher,
    written: u64,
}

impl ContentCache {
    /// Open (creating when missing) the cache at `root`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be created, [`Error::CorruptCache`] when
    /// `oci-layout` is not an image layout this crate can use.
    pub fn open(root: impl Into<PathBuf>, options: CacheOptions) -> Result<ContentCache, Error> {
        let _ = (root.into(), options);
        todo!()
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options it was opened with.
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm_str())
            .join(digest.encoded())
    }

    /// The size of the blob `digest` when it is cached.
    pub fn contains(&self, digest: &Digest) -> Option<u64> {
        std::fs::metadata(self.blob_path(digest))
            .ok()
            .map(|m| m.len())
    }

    /// Open the blob `digest` for reading, recording the access for eviction; `None`
    /// when it is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it exists but cannot be opened.
    pub fn open_blob(&self, digest: &Digest) -> Result<Option<File>, Error> {
        let _ = digest;
        todo!()
    }

    /// Read a (small) blob whole, verifying its digest; `None` when it is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when the file does not hash to `digest` (it is then
    /// removed), [`Error::Io`] when it cannot be read.
    pub fn read_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, Error> {
        let _ = digest;
        todo!()
    }

    /// Start writing the blob `expected` describes.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn blob_writer(&self, expected: &Descriptor) -> Result<BlobWriter, Error> {
        let _ = expected;
        todo!()
    }

    /// Store `bytes` as the blob `expected` describes, verified.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when they do not match it.
    pub fn put_blob(&self, expected: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        let _ = (expected, bytes);
        todo!()
    }

    /// Name the manifest `descriptor` (already stored as a blob) `name` in `index.json`,
    /// replacing an entry of the same name, then evict down to the size bound.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn add_entry(&self, name: &str, descriptor: &Descriptor) -> Result<(), Error> {
        let _ = (name, descriptor);
        todo!()
    }

    /// The manifest descriptor named `name` in `index.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn entry(&self, name: &str) -> Result<Option<CacheEntry>, Error> {
        let _ = name;
        todo!()
    }

    /// Every entry of `index.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn entries(&self) -> Result<Vec<CacheEntry>, Error> {
        todo!()
    }

    /// Evict least recently used entries until the blobs fit in `max_bytes`, and remove
    /// blobs no entry uses. Returns the bytes freed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read or a file removed.
    pub fn evict_to(&self, max_bytes: u64) -> Result<u64, Error> {
        let _ = max_bytes;
        todo!()
    }

    /// What the cache holds.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read.
    pub fn stats(&self) -> Result<CacheStats, Error> {
        todo!()
    }
}

impl std::io::Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = (&self.file, &self.hasher, self.written, buf);
        todo!()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        todo!()
    }
}

impl BlobWriter {
    /// Verify what was written and move it into place. A blob already present (another
    /// process won the race) is kept as it is.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when the digest or size is wrong (nothing is kept).
    pub fn commit(self) -> Result<(), Error> {
        let _ = (&self.expected, &self.target);
        todo!()
    }
}
