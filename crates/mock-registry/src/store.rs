//! Content and metadata: blobs (content-addressed, shared by every repository), the links
//! that make a blob visible in a repository, manifests, tags and upload sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use orca_manifest::{Algorithm, Digest, Hasher};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::Storage;

/// What the registry knows about a stored manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManifestMeta {
    pub(crate) media_type: String,
    pub(crate) size: u64,
    /// `artifactType`, or the config media type of an image manifest without one.
    pub(crate) artifact_type: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

/// One repository.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Repository {
    /// Digests of the blobs linked into this repository.
    pub(crate) blobs: BTreeSet<String>,
    /// Manifests by digest.
    pub(crate) manifests: BTreeMap<String, ManifestMeta>,
    /// Tag → manifest digest.
    pub(crate) tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) repositories: BTreeMap<String, Repository>,
}

enum Backend {
    Memory(Mutex<HashMap<String, Bytes>>),
    Directory(PathBuf),
}

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum BlobSource {
    Memory(Bytes),
    File(PathBuf),
}

/// An upload session's bytes so far.
pub(crate) enum Sink {
    Memory(BytesMut),
    File(std::fs::File),
}

impl Sink {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Memory(buf) => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
            Sink::File(file) => file.write_all(bytes),
        }
    }
}

/// The parts of a session that a request body flows through.
struct Content {
    hasher: Hasher,
    sink: Sink,
}

/// An upload session.
pub(crate) struct Upload {
    pub(crate) repository: String,
    pub(crate) size: u64,
    /// `None` while a request is writing, and for good if that request was dropped midway
    /// (the session's bytes are then unknown).
    content: Option<Content>,
    /// The temporary file of a directory store's session.
    path: Option<PathBuf>,
    /// A chunk shorter than the minimum chunk length arrived: it must have been the last.
    pub(crate) short_chunk: bool,
}

/// Pieces queued per worker of a [`Feed`]: at most 16 MiB in flight per session. Fewer
/// (16) left the hashing thread idle a third of the time on 2 cores, because the threads'
/// turns on the CPU are uneven.
const FEED_DEPTH: usize = 64;

/// The size of the pieces a [`Feed`] hands its threads.
const FEED_PIECE: usize = 256 * 1024;

/// A request body on its way into a session: one blocking thread hashes, another stores,
/// so receiving, hashing and storing overlap instead of taking turns on one core (storing
/// into fresh memory or the page cache costs about as much as hashing).
///
/// The body's bytes are copied into a few recycled buffers rather than handed on as
/// hyper's frames: a frame held by the threads keeps hyper's whole read buffer alive, so
/// hyper had to take fresh memory for every read, and the page faults on it cost more
/// than this copy.
pub(crate) struct Feed {
    hash_tx: tokio::sync::mpsc::Sender<Bytes>,
    store_tx: tokio::sync::mpsc::Sender<Bytes>,
    hash: tokio::task::JoinHandle<Hasher>,
    store: tokio::task::JoinHandle<(Sink, io::Result<()>)>,
    written: u64,
    /// The piece being filled.
    piece: Vec<u8>,
    /// Buffers of pieces both threads are done with.
    returned: std::sync::mpsc::Receiver<Vec<u8>>,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl Feed {
    /// Queue a copy of `bytes`; an error when the storing thread failed (the error itself
    /// comes from [`Upload::end_feed`]).
    pub(crate) async fn push(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = (FEED_PIECE - self.piece.len()).min(bytes.len());
            self.piece.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.piece.len() == FEED_PIECE {
                self.send_piece().await?;
            }
        }
        Ok(())
    }

    /// Hand the piece being filled to both threads and start another.
    async fn send_piece(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let mut next = self.returned.try_recv().unwrap_or_default();
        next.clear();
        next.reserve_exact(FEED_PIECE);
        let buf = std::mem::replace(&mut self.piece, next);
        let len = buf.len();
        let piece = Bytes::from_owner(Recycled {
            len,
            buf,
            home: self.home.clone(),
        });
        let stopped = || io::Error::other("the upload's storage thread stopped");
        self.hash_tx
            .send(piece.clone())
            .await
            .map_err(|_| stopped())?;
        self.store_tx.send(piece).await.map_err(|_| stopped())?;
        self.written += len as u64;
        Ok(())
    }
}

impl Drop for Upload {
    /// A session that ends without being committed (cancelled, refused, or dropped with
    /// a request that failed midway) takes its temporary file with it.
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: a leftover temporary file is never visible as a blob.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A session whose content was lost with a request dropped midway.
fn interrupted() -> io::Error {
    io::Error::other("an earlier request to this upload session was interrupted")
}

impl Upload {
    /// Start writing a request body: the session's hash and bytes move to two blocking
    /// threads until [`Upload::end_feed`] brings them back.
    pub(crate) fn start_feed(&mut self) -> io::Result<Feed> {
        let Content {
            mut hasher,
            mut sink,
        } = self.content.take().ok_or_else(interrupted)?;
        let (hash_tx, mut hash_rx) = tokio::sync::mpsc::channel::<Bytes>(FEED_DEPTH);
        let (store_tx, mut store_rx) = tokio::sync::mpsc::channel::<Bytes>(FEED_DEPTH);
        let hash = tokio::task::spawn_blocking(move || {
            while let Some(piece) = hash_rx.blocking_recv() {
                hasher.update(&piece);
            }
            hasher
        });
        let store = tokio::task::spawn_blocking(move || {
            while let Some(piece) = store_rx.blocking_recv() {
                if let Err(e) = sink.append(&piece) {
                    return (sink, Err(e));
                }
            }
            (sink, Ok(()))
        });
        let (home, returned) = std::sync::mpsc::channel();
        Ok(Feed {
            hash_tx,
            store_tx,
            hash,
            store,
            written: 0,
            piece: Vec::with_capacity(FEED_PIECE),
            returned,
            home,
        })
    }

    /// Wait for everything queued to be hashed and stored, and take the session's content
    /// back; returns the number of bytes written.
    pub(crate) async fn end_feed(&mut self, mut feed: Feed) -> io::Result<u64> {
        // A failure here is the storing thread's, reported below.
        let _ = feed.send_piece().await;
        let Feed {
            hash_tx,
            store_tx,
            hash,
            store,
            written,
            ..
        } = feed;
        drop((hash_tx, store_tx));
        let hasher = hash.await.map_err(io::Error::other)?;
        let (sink, stored) = store.await.map_err(io::Error::other)?;
        stored?;
        self.content = Some(Content { hasher, sink });
        self.size += written;
        Ok(written)
    }
}

pub(crate) struct Store {
    backend: Backend,
    /// Flush each blob file to disk before it is renamed into place.
    fsync: bool,
    meta: Mutex<Meta>,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn storage_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Storage {
        path: path.to_owned(),
        source,
    }
}

/// A random identifier: 32 lowercase hex characters.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Store {
    pub(crate) fn open(storage: &Storage, fsync: bool) -> Result<Store, Error> {
        let (backend, meta) = match storage {
            Storage::Memory => (Backend::Memory(Mutex::default()), Meta::default()),
            Storage::Directory(dir) => {
                for sub in ["blobs", "uploads"] {
                    let path = dir.join(sub);
                    std::fs::create_dir_all(&path).map_err(storage_error(&path))?;
                }
                let state = dir.join("state.json");
                let meta = match std::fs::read(&state) {
                    Ok(bytes) => {
                        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptState {
                            path: state.clone(),
                            reason: e.to_string(),
                        })?
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
                    Err(e) => return Err(storage_error(&state)(e)),
                };
                (Backend::Directory(dir.clone()), meta)
            }
        };
        Ok(Store {
            backend,
            fsync,
            meta: Mutex::new(meta),
            uploads: Mutex::default(),
        })
    }

    /// Read the metadata.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Meta) -> R) -> R {
        f(&lock(&self.meta))
    }

    /// Change the metadata; a directory store writes `state.json` (temp file, flushed when
    /// the store fsyncs, then renamed).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Meta) -> R) -> io::Result<R> {
        let mut meta = lock(&self.meta);
        let result = f(&mut meta);
        if let Backend::Directory(dir) = &self.backend {
            let bytes = serde_json::to_vec(&*meta).map_err(io::Error::other)?;
            let tmp = dir.join(format!("uploads/state-{}.json", random_id()));
            let written = (|| {
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(&bytes)?;
                if self.fsync {
                    // As for blobs: a crash after the rename never leaves a torn state.json.
                    file.sync_all()?;
                }
                std::fs::rename(&tmp, dir.join("state.json"))
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written?;
        }
        Ok(result)
    }

    fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
        dir.join("blobs")
            .join(digest.algorithm_str())
            .join(digest.encoded())
    }

    /// The blob's bytes, wherever they are, and its size; `None` if not stored.
    pub(crate) fn blob(&self, digest: &Digest) -> Option<(BlobSource, u64)> {
        match &self.backend {
            Backend::Memory(map) => lock(map)
                .get(digest.as_str())
                .map(|b| (BlobSource::Memory(b.clone()), b.len() as u64)),
            Backend::Directory(dir) => {
                let path = Store::blob_path(dir, digest);
                let len = std::fs::metadata(&path).ok()?.len();
                Some((BlobSource::File(path), len))
            }
        }
    }

    /// A small blob (a manifest) read whole.
    pub(crate) fn blob_bytes(&self, digest: &Digest) -> io::Result<Option<Bytes>> {
        match self.blob(digest) {
            None => Ok(None),
            Some((BlobSource::Memory(b), _)) => Ok(Some(b)),
            Some((BlobSource::File(path), _)) => std::fs::read(path).map(|v| Some(v.into())),
        }
    }

    /// Store bytes whose digest the caller computed.
    pub(crate) fn put_blob_bytes(&self, digest: &Digest, bytes: Bytes) -> io::Result<()> {
        match &self.backend {
            Backend::Memory(map) => {
                lock(map).insert(digest.as_str().to_owned(), bytes);
            }
            Backend::Directory(dir) => {
                let tmp = dir.join("uploads").join(random_id());
                std::fs::write(&tmp, &bytes)?;
                let dest = Store::blob_path(dir, digest);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::rename(&tmp, dest)?;
            }
        }
        Ok(())
    }

    /// Start an upload session; returns its id.
    pub(crate) async fn start_upload(&self, repository: &str) -> io::Result<String> {
        let id = random_id();
        let (sink, path) = match &self.backend {
            Backend::Memory(_) => (Sink::Memory(BytesMut::new()), None),
            Backend::Directory(dir) => {
                let path = dir.join("uploads").join(&id);
                let file = tokio::fs::File::create(&path).await?.into_std().await;
                (Sink::File(file), Some(path))
            }
        };
        let upload = Upload {
            repository: repository.to_owned(),
            size: 0,
            content: Some(Content {
                hasher: Hasher::sha256(),
                sink,
            }),
            path,
            short_chunk: false,
        };
        lock(&self.uploads).insert(id.clone(), Arc::new(tokio::sync::Mutex::new(upload)));
        Ok(id)
    }

    /// The upload session `id`, if it exists.
    pub(crate) fn upload(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Upload>>> {
        lock(&self.uploads).get(id).cloned()
    }

    /// Forget an upload session; its bytes go when no request holds it any more.
    pub(crate) fn cancel_upload(&self, id: &str) -> bool {
        lock(&self.uploads).remove(id).is_some()
    }

    /// Finish upload `id` (already removed from the table by the caller holding it):
    /// verify `expected` and move the bytes into place. Returns `Ok(false)` on a digest
    /// mismatch (the bytes are discarded).
    pub(crate) async fn commit_upload(
        &self,
        upload: &mut Upload,
        expected: &Digest,
    ) -> io::Result<bool> {
        let Content { hasher, sink } = upload.content.take().ok_or_else(interrupted)?;
        match sink {
            Sink::Memory(buf) => {
                let bytes = buf.freeze();
                let actual = match expected.algorithm() {
                    Algorithm::Sha256 => hasher.finish(),
                    other => match Digest::compute(&other, &bytes) {
                        Ok(d) => d,
                        Err(_) => return Ok(false),
                    },
                };
                if &actual != expected {
                    return Ok(false);
                }
                self.put_blob_bytes(expected, bytes)?;
                Ok(true)
            }
            Sink::File(file) => {
                // The path stays with the session: if committing fails, dropping the
                // session removes the file (after a rename, there is nothing to remove).
                let Some(path) = upload.path.clone() else {
                    return Err(io::Error::other("a file upload without its path"));
                };
                let Backend::Directory(dir) = &self.backend else {
                    return Err(io::Error::other("file upload in a memory store"));
                };
                let (fsync, dir, expected) = (self.fsync, dir.clone(), expected.clone());
                tokio::task::spawn_blocking(move || {
                    commit_file(file, &path, &dir, &expected, hasher, fsync)
                })
                .await
                .map_err(io::Error::other)?
            }
        }
    }

    /// Remove an upload from the table (to complete it).
    pub(crate) fn take_upload(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Upload>>> {
        lock(&self.uploads).remove(id)
    }
}

/// Verify a finished file upload and rename it into place (flushed to disk first when
/// `fsync`); a mismatch removes it and returns `Ok(false)`.
fn commit_file(
    file: std::fs::File,
    path: &Path,
    dir: &Path,
    expected: &Digest,
    hasher: Hasher,
    fsync: bool,
) -> io::Result<bool> {
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    let actual = match expected.algorithm() {
        Algorithm::Sha256 => Some(hasher.finish()),
        other => hash_file(path, &other)?,
    };
    if actual.as_ref() != Some(expected) {
        let _ = std::fs::remove_file(path);
        return Ok(false);
    }
    let dest = Store::blob_path(dir, expected);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(path, &dest)?;
    Ok(true)
}

/// A piece of a blob file read by [`read_file`]; its buffer goes back to the reader when
/// the last handle to it is dropped, so a long download reuses a few buffers instead of
/// asking for fresh memory (a page fault per 4 KiB) for every piece.
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
        // The reader may be gone; the buffer is then simply freed.
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

/// Pieces a [`read_file`] thread reads ahead of its consumer.
const READ_AHEAD: usize = 4;

/// Read `len` bytes of the file at `path` from `start`, in pieces of at most `piece`
/// bytes, on a blocking thread with std file reads (`tokio::fs` would copy every read
/// through a buffer of its own, and hop threads per read). The thread stops at the end,
/// on the first error (sent as the last item) or when the receiver is dropped.
pub(crate) fn read_file(
    path: PathBuf,
    start: u64,
    len: u64,
    piece: usize,
) -> tokio::sync::mpsc::Receiver<io::Result<Bytes>> {
    let piece = piece.max(1);
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let (home, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        let read = || -> io::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            io::Seek::seek(&mut file, io::SeekFrom::Start(start))?;
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left).map_or(piece, |l| l.min(piece));
                let mut buf = returned
                    .try_recv()
                    .ok()
                    .filter(|b| b.len() >= n)
                    .unwrap_or_else(|| vec![0; piece]);
                file.read_exact(&mut buf[..n])?;
                let bytes = Bytes::from_owner(Recycled {
                    buf,
                    len: n,
                    home: home.clone(),
                });
                if tx.blocking_send(Ok(bytes)).is_err() {
                    return Ok(()); // the consumer is gone
                }
                left -= n as u64;
            }
            Ok(())
        };
        if let Err(e) = read() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn hash_file(path: &Path, algorithm: &Algorithm) -> io::Result<Option<Digest>> {
    let Ok(mut hasher) = Hasher::new(algorithm) else {
        return Ok(None);
    };
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(Some(hasher.finish()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn feed_and_commit(store: &Store, pieces: &[&[u8]], claimed: &Digest) -> bool {
        let id = store.start_upload("team/app").await.expect("session");
        let upload = store.take_upload(&id).expect("taken");
        let mut upload = upload.lock().await;
        let mut feed = upload.start_feed().expect("feed");
        for piece in pieces {
            feed.push(piece).await.expect("queued");
        }
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        assert_eq!(upload.end_feed(feed).await.expect("fed"), total as u64);
        assert_eq!(upload.size, total as u64);
        store
            .commit_upload(&mut upload, claimed)
            .await
            .expect("commit")
    }

    #[tokio::test]
    async fn fed_bytes_are_hashed_and_stored_in_both_backends() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (storage, fsync) in [
            (Storage::Memory, true),
            (Storage::Directory(dir.path().to_owned()), true),
            (Storage::Directory(dir.path().to_owned()), false),
        ] {
            let store = Store::open(&storage, fsync).expect("store");
            let pieces: [&[u8]; 3] = [b"hello ", b"", b"world"];
            let digest = Digest::sha256(b"hello world");
            assert!(feed_and_commit(&store, &pieces, &digest).await);
            let stored = store.blob_bytes(&digest).expect("read").expect("stored");
            assert_eq!(&stored[..], b"hello world");
            // More than two pieces, pushed in sizes that do not divide a piece.
            let big: Vec<u8> = (0..2 * FEED_PIECE + 1000)
                .map(|i| u8::try_from(i % 253).expect("below 253"))
                .collect();
            let parts: Vec<&[u8]> = big.chunks(100_003).collect();
            assert!(feed_and_commit(&store, &parts, &Digest::sha256(&big)).await);
            let stored = store.blob_bytes(&Digest::sha256(&big)).expect("read");
            assert_eq!(stored.as_deref(), Some(&big[..]));
            let wrong = Digest::sha256(b"something else");
            assert!(!feed_and_commit(&store, &pieces, &wrong).await);
            assert!(store.blob(&wrong).is_none());
        }
        // Refused uploads leave no temporary files behind.
        let left = std::fs::read_dir(dir.path().join("uploads"))
            .expect("uploads dir")
            .count();
        assert_eq!(left, 0);
    }

    async fn read_all(path: &Path, start: u64, len: u64, piece: usize) -> io::Result<Vec<u8>> {
        let mut rx = read_file(path.to_owned(), start, len, piece);
        let mut out = Vec::new();
        while let Some(bytes) = rx.recv().await {
            out.extend_from_slice(&bytes?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_file_is_read_in_pieces_from_any_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob");
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).expect("write");
        // Pieces that do not divide the length, so the last one is short and buffers of
        // earlier pieces come back for reuse.
        assert_eq!(
            read_all(&path, 0, 10_000, 999).await.expect("read"),
            content
        );
        assert_eq!(
            read_all(&path, 1234, 5000, 64).await.expect("read"),
            &content[1234..6234]
        );
        assert!(read_all(&path, 0, 0, 64).await.expect("read").is_empty());
        // Asking for more than the file holds ends in an error, after the bytes that exist.
        let e = read_all(&path, 9_990, 20, 8).await.expect_err("short file");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = read_all(&dir.path().join("missing"), 0, 1, 8)
            .await
            .expect_err("missing file");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_session_that_ends_uncommitted_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&Storage::Directory(dir.path().to_owned()), false).expect("store");
        let uploads = || {
            std::fs::read_dir(dir.path().join("uploads"))
                .expect("uploads dir")
                .count()
        };
        // Taken to be completed, then dropped with a request that failed midway.
        let id = store.start_upload("team/app").await.expect("session");
        let upload = store.take_upload(&id).expect("taken");
        let mut feed = upload.lock().await.start_feed().expect("feed");
        feed.push(b"part").await.expect("queued");
        assert_eq!(uploads(), 1);
        drop(feed);
        drop(upload);
        assert_eq!(uploads(), 0);
        // Cancelled while a request still holds it: the file goes with the request.
        let id = store.start_upload("team/app").await.expect("session");
        let held = store.upload(&id).expect("session");
        assert!(store.cancel_upload(&id));
        assert_eq!(uploads(), 1);
        drop(held);
        assert_eq!(uploads(), 0);
        // A committed upload's file is the blob now, not a leftover to remove.
        let digest = Digest::sha256(b"kept");
        assert!(feed_and_commit(&store, &[b"kept"], &digest).await);
        assert_eq!(uploads(), 0);
        assert_eq!(
            &store.blob_bytes(&digest).expect("read").expect("stored")[..],
            b"kept"
        );
    }

    #[tokio::test]
    async fn a_session_whose_request_was_dropped_midway_refuses_more() {
        let store = Store::open(&Storage::Memory, true).expect("store");
        let id = store.start_upload("team/app").await.expect("session");
        let upload = store.upload(&id).expect("session");
        let mut upload = upload.lock().await;
        let mut feed = upload.start_feed().expect("feed");
        feed.push(b"part").await.expect("queued");
        drop(feed);
        let e = upload.start_feed().err().expect("interrupted");
        assert!(e.to_string().contains("interrupted"), "{e}");
        let e = store
            .commit_upload(&mut upload, &Digest::sha256(b"part"))
            .await
            .expect_err("interrupted");
        assert!(e.to_string().contains("interrupted"), "{e}");
    }
}
