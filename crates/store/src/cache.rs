//! The local content cache: an OCI image layout directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use orca_manifest::{Descriptor, Digest, Hasher, Manifest, media_types};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The annotation orca writes on its `index.json` entries: the bytes the entry keeps
/// alive (manifest, config, layers), for the size bound.
pub const SIZE_ANNOTATION: &str = "dev.orca.cache.size";

/// Blobs no entry uses are removed by eviction only when older than this, so that a blob
/// another process has just written for an entry it is about to add survives.
const ORPHAN_GRACE: Duration = Duration::from_secs(600);

const LOCK_FILE: &str = ".orca.lock";

/// The prefix of the cache's temporary files (a blob being written, `index.json` being
/// replaced). A process killed while writing one leaves it; eviction removes those that
/// nobody holds locked and that have been unchanged for [`ORPHAN_GRACE`].
const TEMP_PREFIX: &str = ".orca-tmp-";

/// How exact the use times [`ContentCache::touch`] records are.
const TOUCH_GRANULARITY: Duration = Duration::from_secs(60);

/// The annotation `index.json` entries carry to name them (`oci:DIR:<name>` in skopeo).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Knobs of a [`ContentCache`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CacheOptions {
    /// The most bytes of blobs kept; least recently used artifacts are evicted beyond it.
    /// `None` means unbounded.
    pub max_bytes: Option<u64>,
    /// Hash a cached blob again each time it is used, so that one damaged on disk (same
    /// size, other bytes) is found, dropped and fetched again. On by default. Off, a
    /// cached blob whose size matches is trusted under its content-addressed name: a
    /// truncated or grown file is still found, a changed byte is not.
    pub verify_reads: bool,
    /// Place cached single-file layers in a fetch's destination as hard links to the
    /// cached blob rather than as copies (falling back to a copy where the file system
    /// refuses, such as across devices). Off by default.
    ///
    /// A link costs no new inode and no data copy, but the fetched file *is* the cached
    /// blob: the blob is made read-only (mode `0444`) for that reason, and whoever
    /// changes a fetched file in place anyway (as its owner may) changes the cache too —
    /// which [`CacheOptions::verify_reads`] then finds and repairs on the next use.
    pub hard_links: bool,
}

impl Default for CacheOptions {
    fn default() -> CacheOptions {
        CacheOptions {
            max_bytes: Some(1 << 30),
            verify_reads: true,
            hard_links: false,
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

    /// [`CacheOptions::verify_reads`] (builder style).
    #[must_use]
    pub fn with_verify_reads(mut self, yes: bool) -> CacheOptions {
        self.verify_reads = yes;
        self
    }

    /// [`CacheOptions::hard_links`] (builder style).
    #[must_use]
    pub fn with_hard_links(mut self, yes: bool) -> CacheOptions {
        self.hard_links = yes;
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
/// Each `index.json` entry records the bytes it keeps alive. When
/// [`ContentCache::add_entry`] takes the total of distinct entries over
/// [`CacheOptions::max_bytes`], the least recently used entries (by their manifest blob's
/// modification time, which [`ContentCache::touch`] sets on every use) are removed with
/// the blobs no remaining entry reaches; blobs no entry names are removed then too once
/// older than ten minutes (younger ones may belong to a fetch in progress elsewhere).
///
/// [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
#[derive(Clone, Debug)]
pub struct ContentCache {
    root: PathBuf,
    options: CacheOptions,
    /// What the clones of one opened cache share: the queue of `index.json` entries.
    shared: Arc<Shared>,
}

/// The queue of entries waiting to be written into `index.json` (see
/// [`ContentCache::add_entries`]) and the last index this process wrote.
#[derive(Default)]
struct Shared {
    state: Mutex<Queue>,
    settled: Condvar,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        self.settled
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Queue {
    /// Entries not yet written, in arrival order.
    waiting: Vec<Pending>,
    /// A caller is writing a batch.
    flushing: bool,
    /// The last ticket handed out.
    next_ticket: u64,
    /// Every ticket up to this one has been written, or failed.
    settled: u64,
    /// Settled tickets whose batch failed (their callers retry alone).
    failed: BTreeSet<u64>,
    /// The index as this process last wrote it.
    memo: Option<IndexMemo>,
}

/// One caller's entries: a manifest under one or more names.
struct Pending {
    ticket: u64,
    names: Vec<String>,
    descriptor: Descriptor,
    size: u64,
}

/// `index.json` as written, and the identity of the file written, so that the next write
/// skips reading it back while no one else has replaced it.
struct IndexMemo {
    identity: FileIdentity,
    index: IndexFile,
}

/// What tells one `index.json` from another: it is replaced by rename, so a new file is a
/// new inode, and size and times change too.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

#[cfg(unix)]
fn file_identity(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    Some(FileIdentity {
        device: meta.dev(),
        inode: meta.ino(),
        size: meta.size(),
        modified: (meta.mtime(), meta.mtime_nsec()),
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

#[cfg(not(unix))]
fn file_identity(_path: &Path) -> Option<FileIdentity> {
    None
}

/// Settles the batch a caller took when it is done with it, even if writing it panicked:
/// hands the memo back, marks the others' tickets failed when the write failed, and
/// wakes the waiters.
struct Flush<'a> {
    shared: &'a Shared,
    batch: Vec<Pending>,
    own: u64,
    memo: Option<IndexMemo>,
    ok: bool,
}

impl Drop for Flush<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.flushing = false;
        if let Some(last) = self.batch.last() {
            state.settled = state.settled.max(last.ticket);
        }
        if self.ok {
            state.memo = self.memo.take();
        } else {
            for p in &self.batch {
                if p.ticket != self.own {
                    state.failed.insert(p.ticket);
                }
            }
        }
        drop(state);
        self.shared.settled.notify_all();
    }
}

/// A blob being written into the cache: hashed and counted as it is written, moved into
/// place by [`BlobWriter::commit`] only when its digest and size match. Dropped without
/// a commit, it leaves nothing behind.
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    expected: Descriptor,
    target: PathBuf,
    /// `None` when the caller verifies the bytes ([`ContentCache::verified_blob_writer`]).
    hasher: Option<Hasher>,
    written: u64,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("expected", &self.expected.digest)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

impl IndexFile {
    fn empty() -> IndexFile {
        IndexFile {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_INDEX.to_owned()),
            manifests: Vec::new(),
            other: BTreeMap::new(),
        }
    }
}

/// An exclusive `flock` on the cache's lock file, released when dropped.
struct LockGuard {
    _file: File,
}

impl ContentCache {
    /// Open (creating when missing) the cache at `root`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be created, [`Error::CorruptCache`] when
    /// `oci-layout` is not an image layout this crate can use.
    pub fn open(root: impl Into<PathBuf>, options: CacheOptions) -> Result<ContentCache, Error> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs")).map_err(|e| Error::io("create", &root, e))?;
        let cache = ContentCache {
            root,
            options,
            shared: Arc::default(),
        };
        let layout = cache.root.join("oci-layout");
        match fs::read(&layout) {
            Ok(bytes) => {
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptCache {
                        path: layout.clone(),
                        message: e.to_string(),
                    })?;
                if value
                    .get("imageLayoutVersion")
                    .and_then(|v| v.as_str())
                    .is_none()
                {
                    return Err(Error::CorruptCache {
                        path: layout,
                        message: "no imageLayoutVersion".to_owned(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let text = format!(
                    "{{\"imageLayoutVersion\":\"{}\"}}",
                    media_types::OCI_LAYOUT_VERSION
                );
                cache.write_atomically(&layout, text.as_bytes())?;
            }
            Err(e) => return Err(Error::io("read", layout, e)),
        }
        if !cache.index_path().exists() {
            let _lock = cache.lock()?;
            if !cache.index_path().exists() {
                cache.write_index(&IndexFile::empty())?;
            }
        }
        Ok(cache)
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
        fs::metadata(self.blob_path(digest)).ok().map(|m| m.len())
    }

    /// Open the blob `digest` for reading, recording the access for eviction; `None`
    /// when it is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it exists but cannot be opened.
    pub fn open_blob(&self, digest: &Digest) -> Result<Option<File>, Error> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("open", path, e)),
        }
    }

    /// Record that the manifest `digest` was used now (for least-recently-used eviction).
    ///
    /// The time recorded is exact to a minute: a blob used more
    /// recently than that is not written to again, so that a hot entry costs one `stat`
    /// per use rather than an inode update.
    ///
    /// Returns whether the blob is cached (it may have been evicted since it was read).
    pub fn touch(&self, digest: &Digest) -> bool {
        let path = self.blob_path(digest);
        let now = SystemTime::now();
        let Ok(meta) = fs::metadata(&path) else {
            return false;
        };
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age < TOUCH_GRANULARITY);
        if recent {
            return true;
        }
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(since_epoch.subsec_nanos()),
            },
        };
        // Best effort: a read-only cache still serves, it just evicts by write time.
        let _ = rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::empty());
        true
    }

    /// Place the cached blob `expected` describes at `target` (a path that must not
    /// exist), as a copy or, with [`CacheOptions::hard_links`], a hard link; verified
    /// first with [`CacheOptions::verify_reads`]. Returns the bytes placed, or `None`
    /// when the blob is not cached.
    ///
    /// A copy is created with mode `0644`.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when the cached file has another size or (verifying)
    /// hashes to another digest: the cached file is then removed, and so is anything
    /// written at `target`, so the caller can fetch the blob again. [`Error::Io`] when
    /// reading the blob or writing `target` fails (nothing is left at `target`).
    pub fn place_blob(&self, expected: &Descriptor, target: &Path) -> Result<Option<u64>, Error> {
        let path = self.blob_path(&expected.digest);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let damaged = |problem: String| {
            let _ = fs::remove_file(&path);
            Error::CacheVerification {
                expected: expected.digest.to_string(),
                problem,
            }
        };
        if meta.len() != expected.size {
            return Err(damaged(format!(
                "has {} bytes, not {}",
                meta.len(),
                expected.size
            )));
        }
        let mut hasher = if self.options.verify_reads {
            Some(Hasher::new(&expected.digest.algorithm()).map_err(|e| {
                Error::CacheVerification {
                    expected: expected.digest.to_string(),
                    problem: e.to_string(),
                }
            })?)
        } else {
            None
        };
        if self.options.hard_links {
            if let Some(hasher) = hasher.take() {
                let actual = hash_reader(hasher, &mut file, expected.size)
                    .map_err(|e| Error::io("read", &path, e))?;
                if actual != expected.digest {
                    return Err(damaged(format!("hashes to {actual}")));
                }
            }
            if let Ok(linked) = link_read_only(&path, &meta, target) {
                return Ok(Some(linked));
            }
            // Another device, or links not allowed there: copy (already verified).
            io::Seek::rewind(&mut file).map_err(|e| Error::io("read", &path, e))?;
        }
        let mut out = open_new_file(target)?;
        let copied = match hasher {
            None => io::copy(&mut file, &mut out).map_err(|e| Error::io("copy", target, e)),
            Some(hasher) => copy_hashing(hasher, &mut file, &mut out, expected.size)
                .map_err(|e| Error::io("copy", target, e))
                .and_then(|(n, actual)| {
                    if actual == expected.digest {
                        Ok(n)
                    } else {
                        Err(damaged(format!("hashes to {actual}")))
                    }
                }),
        };
        match copied {
            Ok(n) if n == expected.size => Ok(Some(n)),
            Ok(n) => {
                let _ = fs::remove_file(target);
                Err(damaged(format!("has {n} bytes, not {}", expected.size)))
            }
            Err(e) => {
                let _ = fs::remove_file(target);
                Err(e)
            }
        }
    }

    /// Read a (small) blob whole, verifying its digest; `None` when it is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when the file does not hash to `digest` (it is then
    /// removed), [`Error::Io`] when it cannot be read.
    pub fn read_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>, Error> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        if let Err(e) = digest.verify(&bytes) {
            let _ = fs::remove_file(&path);
            return Err(Error::CacheVerification {
                expected: digest.to_string(),
                problem: e.to_string(),
            });
        }
        Ok(Some(bytes))
    }

    /// Start writing the blob `expected` describes.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the temporary file cannot be created,
    /// [`Error::CacheVerification`] for a digest algorithm that cannot be computed.
    pub fn blob_writer(&self, expected: &Descriptor) -> Result<BlobWriter, Error> {
        self.new_blob_writer(expected, true)
    }

    /// Like [`ContentCache::blob_writer`], for bytes the caller verifies against
    /// `expected` itself, committing only once its own check passed (a verified download
    /// such as `orca_distribution::BlobStream`, whose end says whether the digest
    /// matched): the size is still checked, the digest is not computed a second time.
    ///
    /// # Errors
    ///
    /// As [`ContentCache::blob_writer`].
    pub fn verified_blob_writer(&self, expected: &Descriptor) -> Result<BlobWriter, Error> {
        self.new_blob_writer(expected, false)
    }

    fn new_blob_writer(&self, expected: &Descriptor, hash: bool) -> Result<BlobWriter, Error> {
        let hasher =
            Hasher::new(&expected.digest.algorithm()).map_err(|e| Error::CacheVerification {
                expected: expected.digest.to_string(),
                problem: e.to_string(),
            })?;
        let dir = self
            .root
            .join("blobs")
            .join(expected.digest.algorithm_str());
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
        // Held while it is written, so eviction in another process never removes it
        // (where files cannot be locked, the age alone protects it).
        let _ = file.as_file().try_lock();
        Ok(BlobWriter {
            file,
            expected: expected.clone(),
            target: self.blob_path(&expected.digest),
            hasher: hash.then_some(hasher),
            written: 0,
        })
    }

    /// Store `bytes` as the blob `expected` describes, verified.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when they do not match it.
    pub fn put_blob(&self, expected: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        if self.contains(&expected.digest) == Some(expected.size) {
            return Ok(());
        }
        let mut writer = self.blob_writer(expected)?;
        writer
            .write_all(bytes)
            .map_err(|e| Error::io("write", writer.file.path().to_path_buf(), e))?;
        writer.commit()
    }

    /// Name the manifest `descriptor` (already stored as a blob, with the blobs it
    /// references) `name` in `index.json`, replacing an entry of the same name, then
    /// evict down to the size bound.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn add_entry(&self, name: &str, descriptor: &Descriptor) -> Result<(), Error> {
        self.add_entries(&[name], descriptor)
    }

    /// [`ContentCache::add_entry`] for several names of one manifest (a tag and the
    /// pinned reference, say), with one read and one write of `index.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn add_entries(&self, names: &[&str], descriptor: &Descriptor) -> Result<(), Error> {
        let mut pending = Pending {
            ticket: 0,
            names: Vec::new(),
            descriptor: descriptor.clone(),
            size: self.entry_size(&descriptor.digest),
        };
        for name in names {
            if !pending.names.iter().any(|n| n == name) {
                pending.names.push((*name).to_owned());
            }
        }
        // Group commit: concurrent callers queue their entries, and whichever finds no
        // write in progress writes the whole queue with one read and one write of
        // `index.json`, so that 16 fetches finishing together cost one rewrite, not 16.
        let mut state = self.shared.state();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        pending.ticket = ticket;
        state.waiting.push(pending);
        let total = loop {
            if state.settled >= ticket {
                let failed = state.failed.remove(&ticket);
                drop(state);
                if failed {
                    // The batch it was in was not written (another caller got the error):
                    // alone, this caller gets its own.
                    return self.add_alone(names, descriptor);
                }
                break None;
            }
            if !state.flushing {
                state.flushing = true;
                let batch = std::mem::take(&mut state.waiting);
                let memo = state.memo.take();
                drop(state);
                let mut flush = Flush {
                    shared: &self.shared,
                    batch,
                    own: ticket,
                    memo: None,
                    ok: false,
                };
                match self.write_batch(&flush.batch, memo) {
                    Ok((memo, total)) => {
                        flush.memo = memo;
                        flush.ok = true;
                        drop(flush);
                        break Some(total);
                    }
                    Err(e) => {
                        drop(flush);
                        return Err(e);
                    }
                }
            }
            state = self.shared.wait(state);
        };
        let _ = self.touch(&descriptor.digest);
        // The caller that wrote a batch checks the bound for all of it.
        if let (Some(max), Some(total)) = (self.options.max_bytes, total)
            && total > max
        {
            self.evict_to(max)?;
        }
        Ok(())
    }

    /// [`ContentCache::add_entries`] without the queue: one read-modify-write of its own.
    fn add_alone(&self, names: &[&str], descriptor: &Descriptor) -> Result<(), Error> {
        let pending = Pending {
            ticket: 0,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            descriptor: descriptor.clone(),
            size: self.entry_size(&descriptor.digest),
        };
        let (memo, total) = self.write_batch(std::slice::from_ref(&pending), None)?;
        self.shared.state().memo = memo;
        let _ = self.touch(&descriptor.digest);
        if let Some(max) = self.options.max_bytes
            && total > max
        {
            self.evict_to(max)?;
        }
        Ok(())
    }

    /// Adds the entries of `batch` to `index.json` under the lock, in order (a later
    /// entry of the same name replaces an earlier one); returns what was written, for the
    /// next batch to reuse while the file stays the one written, and the bytes the
    /// entries keep alive.
    fn write_batch(
        &self,
        batch: &[Pending],
        memo: Option<IndexMemo>,
    ) -> Result<(Option<IndexMemo>, u64), Error> {
        let _lock = self.lock()?;
        let path = self.index_path();
        let mut index = match memo {
            Some(memo) if file_identity(&path).is_some_and(|now| now == memo.identity) => {
                memo.index
            }
            _ => self.read_index()?,
        };
        let named: BTreeSet<&str> = batch
            .iter()
            .flat_map(|p| p.names.iter().map(String::as_str))
            .collect();
        index.manifests.retain(|m| {
            m.annotation(REF_NAME_ANNOTATION)
                .is_none_or(|n| !named.contains(n))
        });
        for (i, pending) in batch.iter().enumerate() {
            for name in &pending.names {
                // A later entry of the batch with the same name wins.
                if batch[i + 1..].iter().any(|p| p.names.contains(name)) {
                    continue;
                }
                let mut entry = pending.descriptor.clone();
                entry
                    .annotations
                    .insert(REF_NAME_ANNOTATION.to_owned(), name.clone());
                entry
                    .annotations
                    .insert(SIZE_ANNOTATION.to_owned(), pending.size.to_string());
                index.manifests.push(entry);
            }
        }
        self.write_index(&index)?;
        let total = distinct_sizes(&index.manifests);
        let memo = file_identity(&path).map(|identity| IndexMemo { identity, index });
        Ok((memo, total))
    }

    /// The manifest descriptor named `name` in `index.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn entry(&self, name: &str) -> Result<Option<CacheEntry>, Error> {
        Ok(self.entries()?.into_iter().find(|e| e.name == name))
    }

    /// Every entry of `index.json` that has a name.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::CorruptCache`] for an unusable `index.json`.
    pub fn entries(&self) -> Result<Vec<CacheEntry>, Error> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                let name = d.annotation(REF_NAME_ANNOTATION)?.to_owned();
                Some(CacheEntry {
                    name,
                    descriptor: d,
                })
            })
            .collect())
    }

    /// Evict least recently used entries until the blobs their entries keep fit in
    /// `max_bytes`, removing the blobs no remaining entry uses; blobs no entry has ever
    /// used are removed once older than ten minutes, and so are the partial files of
    /// writers killed mid-way (unchanged for ten minutes and held by no process).
    /// Returns the bytes freed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read or a file removed.
    pub fn evict_to(&self, max_bytes: u64) -> Result<u64, Error> {
        let _lock = self.lock()?;
        let abandoned = self.remove_abandoned_temporaries();
        let mut index = self.read_index()?;
        if distinct_sizes(&index.manifests) <= max_bytes {
            return Ok(abandoned);
        }
        // Least recently used first: the manifest blob's modification time (see `touch`).
        let mut order: Vec<(SystemTime, Digest)> = index
            .manifests
            .iter()
            .map(|d| {
                let used = fs::metadata(self.blob_path(&d.digest))
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (used, d.digest.clone())
            })
            .collect();
        order.sort();
        let mut evicted = BTreeSet::new();
        for (_, digest) in order {
            if distinct_sizes(&index.manifests) <= max_bytes {
                break;
            }
            index.manifests.retain(|d| d.digest != digest);
            self.reachable(&digest, &mut evicted, 0);
        }
        self.write_index(&index)?;
        let mut live = BTreeSet::new();
        for entry in &index.manifests {
            self.reachable(&entry.digest, &mut live, 0);
        }
        let mut freed = 0;
        let now = SystemTime::now();
        for (path, meta) in self.blob_files()? {
            if live.contains(&path) {
                continue;
            }
            // Blobs of evicted entries go now; blobs no entry names (another process may
            // be about to name them) only after the grace period.
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= ORPHAN_GRACE);
            if (evicted.contains(&path) || old) && fs::remove_file(&path).is_ok() {
                freed += meta.len();
            }
        }
        tracing::debug!(freed, abandoned, "content cache eviction");
        Ok(freed + abandoned)
    }

    /// Removes the temporary files (in the root and each `blobs/<algorithm>`) that a
    /// killed process left: unchanged for [`ORPHAN_GRACE`] and lockable, so no writer
    /// holds them. Best effort; returns the bytes freed.
    fn remove_abandoned_temporaries(&self) -> u64 {
        let mut dirs = vec![self.root.clone()];
        if let Ok(algorithms) = fs::read_dir(self.root.join("blobs")) {
            dirs.extend(algorithms.flatten().map(|a| a.path()));
        }
        let now = SystemTime::now();
        let mut freed = 0;
        for dir in dirs {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    continue;
                }
                let path = entry.path();
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                let idle = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= ORPHAN_GRACE);
                if !meta.is_file() || !idle {
                    continue;
                }
                // Removed while locked, so no writer can take it up meanwhile.
                let Ok(held) = File::open(&path) else {
                    continue;
                };
                if held.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
                    tracing::debug!(path = %path.display(), "removed a killed writer's partial file");
                    freed += meta.len();
                }
            }
        }
        freed
    }

    /// What the cache holds.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be read.
    pub fn stats(&self) -> Result<CacheStats, Error> {
        let files = self.blob_files()?;
        Ok(CacheStats {
            blobs: files.len() as u64,
            bytes: files.iter().map(|(_, m)| m.len()).sum(),
            entries: self.read_index()?.manifests.len() as u64,
        })
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn lock(&self) -> Result<LockGuard, Error> {
        let path = self.root.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("lock", &path, e.into()))?;
        Ok(LockGuard { _file: file })
    }

    fn read_index(&self) -> Result<IndexFile, Error> {
        let path = self.index_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(IndexFile::empty()),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptCache {
            path,
            message: e.to_string(),
        })
    }

    fn write_index(&self, index: &IndexFile) -> Result<(), Error> {
        let bytes = serde_json::to_vec(index).map_err(|e| Error::CorruptCache {
            path: self.index_path(),
            message: e.to_string(),
        })?;
        self.write_atomically(&self.index_path(), &bytes)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let mut file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.root)
            .map_err(|e| Error::io("create a temporary file in", &self.root, e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io("write", file.path().to_path_buf(), e))?;
        file.persist(path)
            .map_err(|e| Error::io("replace", path, e.error))?;
        Ok(())
    }

    /// The bytes of a manifest and everything it reaches that is cached.
    fn entry_size(&self, digest: &Digest) -> u64 {
        let mut live = BTreeSet::new();
        self.reachable(digest, &mut live, 0);
        live.iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Adds the blob paths a manifest reaches (itself, config, layers, children) to `live`.
    fn reachable(&self, digest: &Digest, live: &mut BTreeSet<PathBuf>, depth: u32) {
        let path = self.blob_path(digest);
        if depth > 8 || !live.insert(path.clone()) {
            return;
        }
        let Ok(bytes) = fs::read(&path) else {
            return;
        };
        let Ok(manifest) = Manifest::parse(bytes, None) else {
            return;
        };
        if let Some(config) = manifest.config() {
            live.insert(self.blob_path(&config.digest));
        }
        for layer in manifest.layers() {
            live.insert(self.blob_path(&layer.digest));
        }
        for child in manifest.manifests() {
            self.reachable(&child.digest, live, depth + 1);
        }
    }

    fn blob_files(&self) -> Result<Vec<(PathBuf, fs::Metadata)>, Error> {
        let blobs = self.root.join("blobs");
        let mut files = Vec::new();
        let algorithms = fs::read_dir(&blobs).map_err(|e| Error::io("read", &blobs, e))?;
        for algorithm in algorithms.flatten() {
            let Ok(entries) = fs::read_dir(algorithm.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if let Ok(meta) = entry.metadata()
                    && meta.is_file()
                {
                    files.push((entry.path(), meta));
                }
            }
        }
        Ok(files)
    }
}

/// Reads `reader` to its end (at most `size + 1` bytes are hashed, enough to tell the
/// size is wrong) and returns the digest.
fn hash_reader(mut hasher: Hasher, reader: &mut File, size: u64) -> io::Result<Digest> {
    let mut buf = vec![0; copy_buffer(size)];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

/// Copies `reader` into `out`, hashing what passes; returns the bytes copied and the digest.
fn copy_hashing(
    mut hasher: Hasher,
    reader: &mut File,
    out: &mut File,
    size: u64,
) -> io::Result<(u64, Digest)> {
    let mut buf = vec![0; copy_buffer(size)];
    let mut copied = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    Ok((copied, hasher.finish()))
}

/// A buffer for a file of `size` bytes: the whole file (plus one byte, to see its end
/// in the same read) when small, 256 KiB pieces otherwise.
fn copy_buffer(size: u64) -> usize {
    usize::try_from(size.saturating_add(1))
        .unwrap_or(usize::MAX)
        .clamp(4096, 256 * 1024)
}

/// Creates `target` (which must not exist) for writing, mode `0644`.
fn open_new_file(target: &Path) -> Result<File, Error> {
    let mut options = File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    let file = options
        .open(target)
        .map_err(|e| Error::io("create", target, e))?;
    #[cfg(unix)]
    {
        // The mode given to `open` is masked by the umask; a copy gets 0644 exactly, as
        // files a fetch downloads do.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set the mode of", target, e))?;
    }
    Ok(file)
}

/// Hard-links the blob at `path` to `target`, making the blob read-only first (the link
/// is the same file); returns its size.
fn link_read_only(path: &Path, meta: &fs::Metadata, target: &Path) -> io::Result<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o777 != 0o444 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o444))?;
        }
    }
    fs::hard_link(path, target)?;
    Ok(meta.len())
}

/// The sum of the size annotations of distinct manifests.
fn distinct_sizes(entries: &[Descriptor]) -> u64 {
    let mut seen = BTreeSet::new();
    entries
        .iter()
        .filter(|d| seen.insert(d.digest.clone()))
        .map(|d| {
            d.annotation(SIZE_ANNOTATION)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(d.size)
        })
        .sum()
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.written += n as u64;
        if self.written > self.expected.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {} is larger than its {} bytes",
                    self.expected.digest, self.expected.size
                ),
            ));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verify what was written and move it into place. A blob already present (another
    /// process won the race) is kept as it is.
    ///
    /// # Errors
    ///
    /// [`Error::CacheVerification`] when the digest or size is wrong (nothing is kept).
    pub fn commit(mut self) -> Result<(), Error> {
        self.file
            .flush()
            .map_err(|e| Error::io("write", self.file.path().to_path_buf(), e))?;
        if self.written != self.expected.size {
            return Err(Error::CacheVerification {
                expected: self.expected.digest.to_string(),
                problem: format!("has {} bytes, not {}", self.written, self.expected.size),
            });
        }
        if let Some(hasher) = self.hasher.take() {
            let actual = hasher.finish();
            if actual != self.expected.digest {
                return Err(Error::CacheVerification {
                    expected: self.expected.digest.to_string(),
                    problem: format!("hashes to {actual}"),
                });
            }
        }
        match self.file.persist_noclobber(&self.target) {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io("rename into", self.target, e.error)),
        }
    }
}
