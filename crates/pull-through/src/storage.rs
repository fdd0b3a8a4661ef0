//! Where the front keeps what it fetched: the [`Storage`] trait and [`DirStorage`], a
//! directory.

use std::fmt;
use std::io::{self, Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use orca_manifest::Digest;
use orca_mock_registry::wire;

/// A manifest as stored: its exact bytes, their digest and media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    /// The digest of [`StoredManifest::bytes`] (verified before storing).
    pub digest: Digest,
    /// The manifest's media type (what `Content-Type` says when it is served).
    pub media_type: String,
    /// The manifest bytes, exactly as received upstream.
    pub bytes: Bytes,
}

/// What a manifest request names: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ManifestRef {
    /// A tag (valid by the distribution grammar).
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// A stored blob opened for reading.
pub struct BlobRead {
    /// The whole blob's size, whatever range was asked for.
    pub size: u64,
    /// The bytes of the range asked for (the whole blob without one). An `Err` item ends
    /// the response early (the client sees a cut connection, never wrong bytes).
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The front's storage: manifests by repository and tag or digest, blobs by repository
/// and digest.
///
/// Object-safe (`Arc<dyn Storage>`), so the front takes any implementation: a directory
/// ([`DirStorage`], the embedded default) or an existing registry that the front fills by
/// pushing what it fetched (several stateless fronts then share it).
///
/// # Contract
///
/// - Everything handed to `put_*` is verified already: the digest of a manifest's bytes
///   and of a blob file's content is the one given. An implementation need not check
///   again, and must never make anything visible before it is whole (write aside, then
///   rename, commit or push).
/// - Reads return `Ok(None)` for what is not there; `Err` only for a failure of the
///   storage itself (the front then answers 500 and logs it).
/// - Repository names and tags given are valid by the distribution grammar
///   ([`wire::valid_name`], [`wire::valid_tag`]): no `..`, no leading `/`, so they are safe
///   as relative paths.
/// - Concurrent calls are allowed, including two `put_blob` of the same digest.
/// - The front keeps when a tag was last checked upstream in memory: storage keeps no
///   clock.
pub trait Storage: Send + Sync + 'static {
    /// The manifest `reference` names in `repository`.
    fn manifest<'a>(
        &'a self,
        repository: &'a str,
        reference: &'a ManifestRef,
    ) -> BoxFuture<'a, io::Result<Option<StoredManifest>>>;

    /// Store a manifest under its digest, and point `tag` at it when one is given.
    fn put_manifest<'a>(
        &'a self,
        repository: &'a str,
        manifest: &'a StoredManifest,
        tag: Option<&'a str>,
    ) -> BoxFuture<'a, io::Result<()>>;

    /// The size of a stored blob, `None` when it is not stored for `repository`.
    fn blob_size<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<Option<u64>>>;

    /// Open a stored blob, all of it or the inclusive byte `range` (within the blob: the
    /// front checks it against [`Storage::blob_size`] first).
    fn read_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<BlobRead>>>;

    /// Store the verified blob in `file` (`size` bytes, hashing to `digest`) for
    /// `repository`. The implementation may move the file (a rename when it is on the same
    /// file system) or copy it; the front deletes it afterwards if it is still there.
    fn put_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        size: u64,
        file: &'a Path,
    ) -> BoxFuture<'a, io::Result<()>>;

    /// Where the front should write blobs while they download, when this storage prefers
    /// a place (a directory on its own file system, so that [`Storage::put_blob`] is a
    /// rename). `None`: the front's own spool directory.
    fn spool_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// Storage in a directory:
///
/// ```text
/// DIR/blobs/<alg>/<hex>                               content (blobs and manifests)
/// DIR/repositories/<name>/_blobs/<alg>/<hex>          empty: the blob is linked to <name>
/// DIR/repositories/<name>/_manifests/<alg>/<hex>      the manifest's media type
/// DIR/repositories/<name>/_tags/<tag>                 the digest the tag points at
/// DIR/tmp/                                            downloads in flight, temporary files
/// ```
///
/// Every file is written beside its place and renamed into it, so a reader never sees a
/// partial file and a crash leaves only `tmp/` litter (cleared on open). A directory
/// belongs to one front at a time: opening it clears `tmp/`, where downloads spool (fronts
/// that scale out share a backing registry instead).
///
/// Bounded with [`DirStorage::with_max_bytes`]: once the content in `blobs/` exceeds the
/// bound, the least recently used blobs go (a blob's modification time records its last
/// use, refreshed at most once a minute) until it fits again; what was just stored stays.
/// A manifest or blob evicted is a miss the next time it is asked for, fetched upstream
/// again; the small link and tag files stay.
#[derive(Clone, Debug)]
pub struct DirStorage {
    root: Arc<PathBuf>,
    budget: Option<Arc<Budget>>,
}

/// The bound of a [`DirStorage`] and the bytes `blobs/` holds (this process is the only
/// writer, so the count is kept, not rescanned).
#[derive(Debug)]
struct Budget {
    max_bytes: u64,
    used: std::sync::Mutex<u64>,
}

/// How exact the use times of stored blobs are: a blob used more recently than this is
/// not touched again, so a hot blob costs one `stat` per use, not an inode update.
const TOUCH_GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a blob's recorded use (its modification time) is older than
/// [`TOUCH_GRANULARITY`], so a use now should be recorded.
fn stale_use(meta: &std::fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .is_none_or(|age| age >= TOUCH_GRANULARITY)
}

/// Pieces of a blob read from disk at once (a few are read ahead of the client).
const READ_PIECE: usize = 1024 * 1024;
/// Pieces read ahead of the consumer.
const READ_AHEAD: usize = 4;

impl DirStorage {
    /// Open (creating it when missing) a storage directory; what a crash left in `tmp/`
    /// is removed.
    ///
    /// # Errors
    /// When the directory cannot be created or `tmp/` cannot be cleared.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<DirStorage> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("repositories"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(DirStorage {
            root: Arc::new(root),
            budget: None,
        })
    }

    /// Bound the content kept to `max_bytes` (see [`DirStorage`]); what is stored already
    /// is counted now, and evicted down to the bound when it exceeds it.
    ///
    /// # Errors
    /// When `blobs/` cannot be read.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> io::Result<DirStorage> {
        let used = self.blob_files()?.iter().map(|(_, _, len)| len).sum();
        self.budget = Some(Arc::new(Budget {
            max_bytes,
            used: std::sync::Mutex::new(used),
        }));
        self.account(0, None);
        Ok(self)
    }

    /// Every stored blob: (path, last use, bytes).
    fn blob_files(&self) -> io::Result<Vec<(PathBuf, std::time::SystemTime, u64)>> {
        let mut files = Vec::new();
        for algorithm in std::fs::read_dir(self.root.join("blobs"))? {
            let algorithm = algorithm?;
            if !algorithm.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(algorithm.path())? {
                let entry = entry?;
                let Ok(meta) = entry.metadata() else {
                    continue; // removed meanwhile
                };
                if meta.is_file() {
                    let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                    files.push((entry.path(), used, meta.len()));
                }
            }
        }
        Ok(files)
    }

    /// Count `added` new bytes and, over the bound, remove the least recently used blobs
    /// (never `keep`) until the rest fits. Best effort: a blob that cannot be removed is
    /// left and counted.
    fn account(&self, added: u64, keep: Option<&Path>) {
        let Some(budget) = &self.budget else {
            return;
        };
        let mut used = budget
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *used = used.saturating_add(added);
        if *used <= budget.max_bytes {
            return;
        }
        let Ok(mut files) = self.blob_files() else {
            return;
        };
        // Recount: a blob stored twice at once (two repositories) is counted once on disk.
        *used = files.iter().map(|(_, _, len)| len).sum();
        files.sort_by_key(|(_, last_use, _)| *last_use);
        let mut evicted = 0u64;
        for (path, _, len) in files {
            if *used <= budget.max_bytes {
                break;
            }
            if Some(path.as_path()) == keep {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                *used -= len;
                evicted += 1;
            }
        }
        tracing::debug!(
            evicted,
            used = *used,
            max = budget.max_bytes,
            "storage eviction"
        );
    }

    /// Record a use of the blob at `path` (its modification time), at most once per
    /// [`TOUCH_GRANULARITY`]; only a bounded storage needs it.
    fn touch(&self, path: &Path) {
        if self.budget.is_none() {
            return;
        }
        if let Ok(meta) = std::fs::metadata(path)
            && stale_use(&meta)
            && let Ok(file) = std::fs::File::open(path)
        {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
    }

    /// [`DirStorage::touch`] for a blob already open, with its metadata already read.
    fn touch_open(&self, file: &std::fs::File, meta: &std::fs::Metadata) {
        if self.budget.is_some() && stale_use(meta) {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().to_string())
            .join(digest.encoded())
    }

    fn repo_path(&self, repository: &str, kind: &str) -> io::Result<PathBuf> {
        if !wire::valid_name(repository) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid repository name {repository:?}"),
            ));
        }
        Ok(self.root.join("repositories").join(repository).join(kind))
    }

    fn link_path(&self, repository: &str, kind: &str, digest: &Digest) -> io::Result<PathBuf> {
        Ok(self
            .repo_path(repository, kind)?
            .join(digest.algorithm().to_string())
            .join(digest.encoded()))
    }

    fn tag_path(&self, repository: &str, tag: &str) -> io::Result<PathBuf> {
        if !wire::valid_tag(tag) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid tag {tag:?}"),
            ));
        }
        Ok(self.repo_path(repository, "_tags")?.join(tag))
    }

    /// Write `bytes` to `path` through a temporary file in `tmp/` and a rename.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = self.root.join("tmp").join(temp_name());
        let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn read_manifest(
        &self,
        repository: &str,
        reference: &ManifestRef,
    ) -> io::Result<Option<StoredManifest>> {
        let digest = match reference {
            ManifestRef::Digest(d) => d.clone(),
            ManifestRef::Tag(tag) => {
                let Some(text) = read_optional(&self.tag_path(repository, tag)?)? else {
                    return Ok(None);
                };
                let text = String::from_utf8_lossy(&text);
                Digest::parse(text.trim()).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("tag file of {repository}:{tag}: {e}"),
                    )
                })?
            }
        };
        let Some(media_type) =
            read_optional(&self.link_path(repository, "_manifests", &digest)?)?
        else {
            return Ok(None);
        };
        let blob = self.blob_path(&digest);
        let Some(bytes) = read_optional(&blob)? else {
            return Ok(None);
        };
        self.touch(&blob);
        Ok(Some(StoredManifest {
            digest,
            media_type: String::from_utf8_lossy(&media_type).trim().to_owned(),
            bytes: Bytes::from(bytes),
        }))
    }

    fn write_manifest(
        &self,
        repository: &str,
        manifest: &StoredManifest,
        tag: Option<&str>,
    ) -> io::Result<()> {
        let blob = self.blob_path(&manifest.digest);
        if !blob.exists() {
            self.write_atomic(&blob, &manifest.bytes)?;
            self.account(manifest.bytes.len() as u64, Some(&blob));
        }
        self.write_atomic(
            &self.link_path(repository, "_manifests", &manifest.digest)?,
            manifest.media_type.as_bytes(),
        )?;
        if let Some(tag) = tag {
            self.write_atomic(
                &self.tag_path(repository, tag)?,
                manifest.digest.as_str().as_bytes(),
            )?;
        }
        Ok(())
    }

    fn size_of(&self, repository: &str, digest: &Digest) -> io::Result<Option<u64>> {
        if !self.link_path(repository, "_blobs", digest)?.try_exists()? {
            return Ok(None);
        }
        match std::fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn ingest(&self, repository: &str, digest: &Digest, size: u64, file: &Path) -> io::Result<()> {
        let blob = self.blob_path(digest);
        let present = std::fs::metadata(&blob).is_ok_and(|m| m.len() == size);
        if !present {
            if let Some(parent) = blob.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if std::fs::rename(file, &blob).is_err() {
                // Another file system: copy aside, then rename.
                let tmp = self.root.join("tmp").join(temp_name());
                let copied = std::fs::copy(file, &tmp).and_then(|_| std::fs::rename(&tmp, &blob));
                if copied.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                copied?;
            }
        }
        self.write_atomic(&self.link_path(repository, "_blobs", digest)?, b"")?;
        if !present {
            self.account(size, Some(&blob));
        }
        Ok(())
    }
}

/// A file's bytes, `None` when it does not exist.
fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A fresh name for a temporary file.
pub(crate) fn temp_name() -> String {
    format!("{:016x}.tmp", rand::random::<u64>())
}

/// Run blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io::Error::other(format!("storage task failed: {e}")))?
}

impl Storage for DirStorage {
    fn manifest<'a>(
        &'a self,
        repository: &'a str,
        reference: &'a ManifestRef,
    ) -> BoxFuture<'a, io::Result<Option<StoredManifest>>> {
        let this = self.clone();
        let repository = repository.to_owned();
        let reference = reference.clone();
        Box::pin(blocking(move || {
            this.read_manifest(&repository, &reference)
        }))
    }

    fn put_manifest<'a>(
        &'a self,
        repository: &'a str,
        manifest: &'a StoredManifest,
        tag: Option<&'a str>,
    ) -> BoxFuture<'a, io::Result<()>> {
        let this = self.clone();
        let repository = repository.to_owned();
        let manifest = manifest.clone();
        let tag = tag.map(str::to_owned);
        Box::pin(blocking(move || {
            this.write_manifest(&repository, &manifest, tag.as_deref())
        }))
    }

    fn blob_size<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<Option<u64>>> {
        let this = self.clone();
        let repository = repository.to_owned();
        let digest = digest.clone();
        Box::pin(blocking(move || this.size_of(&repository, &digest)))
    }

    fn read_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<BlobRead>>> {
        Box::pin(async move {
            let this = self.clone();
            let (repo, d) = (repository.to_owned(), digest.clone());
            let opened = blocking(move || {
                if this.size_of(&repo, &d)?.is_none() {
                    return Ok(None);
                }
                let path = this.blob_path(&d);
                match std::fs::File::open(&path) {
                    Ok(f) => {
                        let meta = f.metadata()?;
                        this.touch_open(&f, &meta);
                        Ok(Some((f, meta.len())))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
            let Some((file, size)) = opened else {
                return Ok(None);
            };
            let (start, len) = match range {
                Some((s, e)) if s <= e && e < size => (s, e - s + 1),
                Some(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "range outside the blob",
                    ));
                }
                None => (0, size),
            };
            Ok(Some(BlobRead {
                size,
                body: read_file(file, start, len),
            }))
        })
    }

    fn put_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        size: u64,
        file: &'a Path,
    ) -> BoxFuture<'a, io::Result<()>> {
        let this = self.clone();
        let repository = repository.to_owned();
        let digest = digest.clone();
        let file = file.to_owned();
        Box::pin(blocking(move || {
            this.ingest(&repository, &digest, size, &file)
        }))
    }

    fn spool_dir(&self) -> Option<PathBuf> {
        Some(self.root.join("tmp"))
    }
}

/// A piece of a blob file; its buffer returns to the reading thread when the last handle
/// drops, so a long read reuses a few buffers rather than faulting in fresh memory.
struct Recycled {
    buf: Vec<u8>,
    len: usize,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

/// Read `len` bytes of `file` from `start` on a blocking thread with std reads, a few
/// pieces ahead of the consumer. The thread stops at the end, on the first error (the
/// stream's last item) or when the stream is dropped.
pub(crate) fn read_file(
    mut file: std::fs::File,
    start: u64,
    len: u64,
) -> BoxStream<'static, io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let (home, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut read = || -> io::Result<()> {
            file.seek(io::SeekFrom::Start(start))?;
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left).map_or(READ_PIECE, |l| l.min(READ_PIECE));
                let mut buf = returned
                    .try_recv()
                    .ok()
                    .filter(|b| b.len() >= n)
                    .unwrap_or_else(|| vec![0; READ_PIECE]);
                file.read_exact(&mut buf[..n])?;
                let bytes = Bytes::from_owner(Recycled {
                    buf,
                    len: n,
                    home: home.clone(),
                });
                if tx.blocking_send(Ok(bytes)).is_err() {
                    return Ok(());
                }
                left -= n as u64;
            }
            Ok(())
        };
        if let Err(e) = read() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    async fn collect(read: BlobRead) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = read.body;
        while let Some(piece) = body.next().await {
            out.extend_from_slice(&piece.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn manifests_blobs_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let storage = DirStorage::open(dir.path()).unwrap();
        let bytes = Bytes::from_static(b"{\"schemaVersion\":2}");
        let manifest = StoredManifest {
            digest: Digest::sha256(&bytes),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            bytes,
        };
        let tag = ManifestRef::Tag("1".into());
        assert_eq!(storage.manifest("a/b", &tag).await.unwrap(), None);
        storage
            .put_manifest("a/b", &manifest, Some("1"))
            .await
            .unwrap();
        assert_eq!(
            storage.manifest("a/b", &tag).await.unwrap().as_ref(),
            Some(&manifest)
        );
        let by_digest = ManifestRef::Digest(manifest.digest.clone());
        assert!(storage.manifest("a/b", &by_digest).await.unwrap().is_some());
        // Linked to a/b only.
        assert_eq!(storage.manifest("c", &by_digest).await.unwrap(), None);

        let content = vec![7u8; 3 * READ_PIECE + 5];
        let digest = Digest::sha256(&content);
        let spool = storage.spool_dir().unwrap().join("x");
        std::fs::write(&spool, &content).unwrap();
        assert_eq!(storage.blob_size("a/b", &digest).await.unwrap(), None);
        storage
            .put_blob("a/b", &digest, content.len() as u64, &spool)
            .await
            .unwrap();
        assert!(!spool.exists(), "a rename within the storage's file system");
        assert_eq!(
            storage.blob_size("a/b", &digest).await.unwrap(),
            Some(content.len() as u64)
        );
        assert_eq!(storage.blob_size("other", &digest).await.unwrap(), None);
        let whole = storage
            .read_blob("a/b", &digest, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(whole.size, content.len() as u64);
        assert_eq!(collect(whole).await, content);
        let part = storage
            .read_blob("a/b", &digest, Some((10, 19)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(collect(part).await, content[10..20]);
        assert!(
            storage
                .read_blob("a/b", &digest, Some((0, content.len() as u64)))
                .await
                .is_err()
        );
        assert!(storage.blob_size("../x", &digest).await.is_err());
    }

    #[tokio::test]
    async fn a_bounded_storage_evicts_the_least_recently_used_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let storage = DirStorage::open(dir.path())
            .unwrap()
            .with_max_bytes(2_500)
            .unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let mut digests = Vec::new();
        for seed in 0..3u8 {
            if seed == 2 {
                // The first is used again (an hour after the second was stored).
                let read = storage.read_blob("r", &digests[0], None).await.unwrap();
                assert!(read.is_some());
            }
            let content = vec![seed; 1_000];
            let digest = Digest::sha256(&content);
            let spool = storage.spool_dir().unwrap().join("x");
            std::fs::write(&spool, &content).unwrap();
            storage.put_blob("r", &digest, 1_000, &spool).await.unwrap();
            // Stored an hour ago, as far as its last use goes.
            std::fs::File::open(storage.blob_path(&digest))
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
            digests.push(digest);
        }
        // 3,000 bytes over a 2,500 bound: the second, least recently used, went.
        assert_eq!(storage.blob_size("r", &digests[1]).await.unwrap(), None);
        assert_eq!(
            storage.blob_size("r", &digests[0]).await.unwrap(),
            Some(1_000)
        );
        assert_eq!(
            storage.blob_size("r", &digests[2]).await.unwrap(),
            Some(1_000)
        );

        // A manifest counts too; what was just stored is kept even when it alone is over.
        let bytes = Bytes::from(vec![b' '; 3_000]);
        let manifest = StoredManifest {
            digest: Digest::sha256(&bytes),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            bytes,
        };
        storage
            .put_manifest("r", &manifest, Some("1"))
            .await
            .unwrap();
        let tag = ManifestRef::Tag("1".into());
        assert!(storage.manifest("r", &tag).await.unwrap().is_some());
        for digest in &digests {
            assert_eq!(storage.blob_size("r", digest).await.unwrap(), None);
        }

        // Reopened with a smaller bound, what is there is evicted down to it at once.
        let again = DirStorage::open(dir.path())
            .unwrap()
            .with_max_bytes(100)
            .unwrap();
        assert!(again.blob_files().unwrap().is_empty());
        assert_eq!(again.manifest("r", &tag).await.unwrap(), None, "a miss now");
    }

    #[test]
    fn object_safe() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(DirStorage::open(dir.path()).unwrap());
        assert!(storage.spool_dir().is_some());
    }
}
