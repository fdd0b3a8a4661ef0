//! Single-flight blob downloads: one upstream download per repository and digest, spooled
//! to a file that every waiting client reads as it grows.
//!
//! The leader's task fetches the blob (the client verifies size and digest as bytes
//! arrive) and a blocking thread appends each piece to the spool file, publishing how much
//! is written through a `watch` channel. Every client, the first included, follows that
//! file up to the written mark, except the last byte, which it gets only once the digest
//! verified; if verification fails, the followers' bodies end in an error, so their
//! connections are cut and nobody receives a whole, wrong blob. A verified spool file is
//! handed to [`Storage::put_blob`](crate::Storage::put_blob); a failed one is deleted.
//!
//! The flight stays joinable until storage holds the blob, so a client arriving between
//! the download's end and the blob's landing joins it rather than starting another one.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use orca_distribution::ErrorKind;
use orca_manifest::{Descriptor, Digest};
use tokio::sync::watch;

use crate::metrics::label;
use crate::server::Ctx;
use crate::upstream::Upstream;

/// Bytes a follower reads from the spool file at once.
const FOLLOW_PIECE: u64 = 1024 * 1024;
/// Pieces queued between the download and the spool writer.
const WRITE_QUEUE: usize = 16;

/// Why a flight did not deliver a verified blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Upstream has no such blob.
    NotFound,
    /// Storage already had the blob when the flight began (another flight landed it):
    /// serve it from there.
    Stored,
    /// Upstream could not be asked or failed (kind, sanitised message).
    Upstream(&'static str, String),
    /// Upstream's bytes did not verify (wrong digest or size).
    Corrupt(String),
    /// The spool file could not be written.
    Spool(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Starting,
    Running,
    Verified,
    Failed(Failure),
}

#[derive(Clone, Debug)]
pub(crate) struct Progress {
    size: u64,
    written: u64,
    state: State,
}

/// One download in flight.
pub(crate) struct Flight {
    file: Arc<File>,
    path: PathBuf,
    progress: watch::Receiver<Progress>,
}

type Key = (String, Digest);

/// The downloads in flight, by repository and digest.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Key, Arc<Flight>>>,
}

impl Flights {
    /// The flight for `repository`'s `digest`: the one running (`false`), or a new one
    /// fetching from `upstream` (`true`).
    pub(crate) fn join(
        &self,
        ctx: &Arc<Ctx>,
        repository: &str,
        digest: &Digest,
        upstream: Upstream,
    ) -> io::Result<(Arc<Flight>, bool)> {
        let key = (repository.to_owned(), digest.clone());
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = map.get(&key) {
            return Ok((flight.clone(), false));
        }
        let path = ctx.spool_dir.join(crate::storage::temp_name());
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let (tx, rx) = watch::channel(Progress {
            size: 0,
            written: 0,
            state: State::Starting,
        });
        let flight = Arc::new(Flight {
            file: Arc::new(file),
            path,
            progress: rx,
        });
        map.insert(key.clone(), flight.clone());
        drop(map);
        tokio::spawn(pump(ctx.clone(), flight.clone(), tx, key, upstream));
        Ok((flight, true))
    }

    /// The size of a download of `repository`'s `digest` under way, and whether it is
    /// over and verified.
    pub(crate) fn peek(&self, repository: &str, digest: &Digest) -> Option<(u64, bool)> {
        let key = (repository.to_owned(), digest.clone());
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let p = map.get(&key)?.progress.borrow().clone();
        match p.state {
            State::Running => Some((p.size, false)),
            State::Verified => Some((p.size, true)),
            State::Starting | State::Failed(_) => None,
        }
    }

    fn remove(&self, key: &Key) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl Flight {
    /// Wait until the download started: the blob's size and whether it is all here and
    /// verified already, or why it did not start.
    pub(crate) async fn started(&self) -> Result<(u64, bool), Failure> {
        let mut rx = self.progress.clone();
        loop {
            let p = rx.borrow_and_update().clone();
            match p.state {
                State::Starting => {}
                State::Running => return Ok((p.size, false)),
                State::Verified => return Ok((p.size, true)),
                State::Failed(f) => return Err(f),
            }
            if rx.changed().await.is_err() {
                return Err(Failure::Upstream(
                    "internal",
                    "the download task ended".into(),
                ));
            }
        }
    }

    /// The blob's bytes as the download writes them; the last byte only after the digest
    /// verified, an error (a cut connection) if it does not.
    pub(crate) fn follow(self: Arc<Self>) -> BoxStream<'static, io::Result<Bytes>> {
        let rx = self.progress.clone();
        let state = (self, rx, 0u64, false);
        Box::pin(futures_util::stream::unfold(
            state,
            |(flight, mut rx, pos, done)| async move {
                if done {
                    return None;
                }
                match next_piece(&flight, &mut rx, pos).await {
                    Ok(Some(piece)) => {
                        let pos = pos + piece.len() as u64;
                        Some((Ok(piece), (flight, rx, pos, false)))
                    }
                    Ok(None) => None,
                    Err(e) => Some((Err(e), (flight, rx, pos, true))),
                }
            },
        ))
    }
}

/// The next piece at `pos`, waiting for the writer as needed; `None` at the verified end.
async fn next_piece(
    flight: &Arc<Flight>,
    rx: &mut watch::Receiver<Progress>,
    pos: u64,
) -> io::Result<Option<Bytes>> {
    loop {
        let p = rx.borrow_and_update().clone();
        let limit = match &p.state {
            State::Verified => {
                if pos >= p.size {
                    return Ok(None);
                }
                p.size
            }
            // The last byte waits for the verdict.
            State::Running => p.written.min(p.size.saturating_sub(1)),
            State::Starting => 0,
            State::Failed(f) => {
                return Err(io::Error::other(format!(
                    "the upstream download failed: {f:?}"
                )));
            }
        };
        if pos < limit {
            let n = (limit - pos).min(FOLLOW_PIECE);
            let file = flight.file.clone();
            let piece = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
                let mut buf = vec![0u8; usize::try_from(n).map_err(io::Error::other)?];
                file.read_exact_at(&mut buf, pos)?;
                Ok(Bytes::from(buf))
            })
            .await
            .map_err(io::Error::other)??;
            return Ok(Some(piece));
        }
        if rx.changed().await.is_err() {
            // The task ended: its last word is final.
            let last = rx.borrow().clone();
            if !matches!(last.state, State::Verified | State::Failed(_)) {
                return Err(io::Error::other("the download task ended"));
            }
        }
    }
}

/// What an upstream failure means to the front.
pub(crate) fn classify(e: &orca_distribution::Error) -> Failure {
    match e.kind() {
        ErrorKind::NotFound => Failure::NotFound,
        ErrorKind::DigestMismatch | ErrorKind::SizeExceeded | ErrorKind::SizeMismatch => {
            Failure::Corrupt(e.to_string())
        }
        kind => Failure::Upstream(kind_name(kind), e.to_string()),
    }
}

/// A stable label for an upstream failure kind.
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::Denied => "denied",
        ErrorKind::NotFound => "not_found",
        ErrorKind::DigestMismatch => "digest_mismatch",
        ErrorKind::SizeExceeded => "size_exceeded",
        ErrorKind::SizeMismatch => "size_mismatch",
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::TooManyRequests => "too_many_requests",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Protocol => "protocol",
        ErrorKind::Auth => "auth",
        ErrorKind::CredentialsRejected => "credentials_rejected",
        ErrorKind::Config => "config",
        _ => "other",
    }
}

/// The leader's task: fetch, spool, verify, store; then leave the map.
async fn pump(
    ctx: Arc<Ctx>,
    flight: Arc<Flight>,
    tx: watch::Sender<Progress>,
    key: Key,
    upstream: Upstream,
) {
    let tx = Arc::new(tx);
    let (repository, digest) = (&key.0, &key.1);
    let outcome = download(&ctx, &flight, &tx, repository, digest, &upstream).await;
    match outcome {
        Ok(size) => {
            tx.send_modify(|p| p.state = State::Verified);
            tracing::info!(
                repository = %repository,
                digest = %digest,
                size,
                upstream = %upstream.repository,
                "blob fetched upstream and verified"
            );
            if let Err(e) = ctx
                .storage
                .put_blob(repository, digest, size, &flight.path)
                .await
            {
                ctx.metrics.inc(
                    "orca_pull_through_upstream_failures_total",
                    label("kind", "storage"),
                );
                tracing::error!(repository = %repository, digest = %digest, error = %crate::chain(&e), "storing a fetched blob failed");
            }
        }
        Err(failure) => {
            match &failure {
                Failure::Stored | Failure::NotFound => {}
                Failure::Corrupt(message) => {
                    ctx.metrics.inc(
                        "orca_pull_through_upstream_failures_total",
                        label("kind", "corrupt"),
                    );
                    tracing::error!(repository = %repository, digest = %digest, upstream = %upstream.repository, error = %message, "upstream blob failed verification; not stored");
                }
                Failure::Upstream(kind, message) => {
                    ctx.metrics.inc(
                        "orca_pull_through_upstream_failures_total",
                        label("kind", kind),
                    );
                    tracing::warn!(repository = %repository, digest = %digest, upstream = %upstream.repository, error = %message, "upstream blob download failed");
                }
                Failure::Spool(message) => {
                    ctx.metrics.inc(
                        "orca_pull_through_upstream_failures_total",
                        label("kind", "spool"),
                    );
                    tracing::error!(repository = %repository, digest = %digest, error = %message, "writing the spool file failed");
                }
            }
            // Out of the map first, so that a request after the verdict starts afresh.
            ctx.flights.remove(&key);
            let _ = std::fs::remove_file(&flight.path);
            tx.send_modify(|p| p.state = State::Failed(failure));
            return;
        }
    }
    // Remove the spool file unless storage took it; open handles keep reading.
    let _ = std::fs::remove_file(&flight.path);
    ctx.flights.remove(&key);
}

async fn download(
    ctx: &Arc<Ctx>,
    flight: &Arc<Flight>,
    tx: &Arc<watch::Sender<Progress>>,
    repository: &str,
    digest: &Digest,
    upstream: &Upstream,
) -> Result<u64, Failure> {
    // Another flight may have landed the blob between the caller's look and this one.
    if let Ok(Some(_)) = ctx.storage.blob_size(repository, digest).await {
        return Err(Failure::Stored);
    }
    let started = Instant::now();
    let size = upstream
        .client
        .blob_exists(&upstream.repository, digest)
        .await;
    ctx.metrics.upstream_latency(started.elapsed());
    let size = match size {
        Ok(Some(size)) => size,
        Ok(None) => return Err(Failure::NotFound),
        Err(e) => return Err(classify(&e)),
    };
    let descriptor = Descriptor::new("application/octet-stream", digest.clone(), size);
    let started = Instant::now();
    let stream = upstream
        .client
        .fetch_blob(&upstream.repository, &descriptor)
        .await;
    ctx.metrics.upstream_latency(started.elapsed());
    let mut stream = stream.map_err(|e| classify(&e))?;
    ctx.metrics
        .inc("orca_pull_through_upstream_downloads_total", String::new());
    tx.send_modify(|p| {
        p.size = size;
        p.state = State::Running;
    });
    let (pieces, mut queue) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let file = flight.file.clone();
    let writer_tx = tx.clone();
    let writer = tokio::task::spawn_blocking(move || -> io::Result<u64> {
        let mut written = 0u64;
        while let Some(piece) = queue.blocking_recv() {
            file.write_all_at(&piece, written)?;
            written += piece.len() as u64;
            writer_tx.send_modify(|p| p.written = written);
        }
        Ok(written)
    });
    let mut failure = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(piece) => {
                ctx.metrics.upstream_bytes(piece.len() as u64);
                if pieces.send(piece).await.is_err() {
                    break; // the writer failed; its error says why
                }
            }
            Err(e) => {
                failure = Some(classify(&e));
                break;
            }
        }
    }
    drop(pieces);
    let written = writer
        .await
        .map_err(|e| Failure::Spool(e.to_string()))
        .and_then(|r| r.map_err(|e| Failure::Spool(e.to_string())));
    if let Some(failure) = failure {
        return Err(failure);
    }
    let written = written?;
    if written != size {
        return Err(Failure::Corrupt(format!(
            "{written} bytes written of {size}"
        )));
    }
    Ok(size)
}
