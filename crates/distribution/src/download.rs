//! Blob downloads: [`BlobStream`], verified as bytes arrive and resumed with `Range`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::Method;
use http::header::{self};
use http_body_util::BodyExt;
use orca_manifest::{Descriptor, Digest, Verifier};
use orca_reference::Reference;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use crate::client::{Client, pull_scope};
use crate::error::{Error, ErrorKind, redact_url};
use crate::hash_pipe::HashPipe;
use crate::observe::{Direction, Event, RetryReason};
use crate::sanitize::{Secrets, excerpt};
use crate::transport::{Call, Deadline, Pace, status_error};

/// A blob's bytes as they arrive, verified.
///
/// Every piece is counted and hashed as it passes. The stream fails with
/// [`Error::SizeExceeded`] as soon as more bytes than the descriptor's size arrive, with
/// [`Error::SizeMismatch`] if it ends early and cannot be resumed, and with
/// [`Error::DigestMismatch`] after the last byte if the content hashes to another digest:
/// a consumer must treat everything it received as untrusted until the stream ended with
/// `None`.
///
/// A dropped connection or a stalled read is resumed with `Range: bytes=<received>-`
/// ([`crate::ClientConfig::max_resumes`] times).
pub struct BlobStream {
    inner: BoxStream<'static, Result<Bytes, Error>>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream").finish_non_exhaustive()
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl BlobStream {
    /// `Warning: 299` texts of the response that started the download (those of a
    /// resumed request are logged).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Call `observe` with each piece as it passes (to count progress, say), keeping every
    /// check of the stream: a piece seen is no more trusted than the stream says.
    #[must_use]
    pub fn on_piece(self, mut observe: impl FnMut(&Bytes) + Send + 'static) -> BlobStream {
        BlobStream {
            inner: self
                .inner
                .inspect(move |piece| {
                    if let Ok(piece) = piece {
                        observe(piece);
                    }
                })
                .boxed(),
            warnings: self.warnings,
        }
    }

    /// The blob as an [`AsyncRead`], for consumers that read rather than poll pieces:
    /// extraction (`orca_unpack::write_layer_async`), a file copy, a decoder. Nothing is
    /// buffered beyond the piece being read.
    ///
    /// Every check of the stream still applies: a size or digest failure is the
    /// [`std::io::Error`] of the read that meets it (after the last byte, for a digest),
    /// of kind [`std::io::ErrorKind::InvalidData`] (a connection given up on is `Other`, a
    /// stall `TimedOut`), with the client's [`Error`] inside
    /// (`io_error.get_ref()` and `downcast_ref::<orca_distribution::Error>()`). A
    /// consumer must treat what it read as untrusted until a read returned 0 bytes.
    pub fn into_async_read(self) -> BlobReader {
        BlobReader {
            stream: self,
            piece: Bytes::new(),
            failed: false,
        }
    }

    /// Write the blob to the file `path`, placed only once every byte is verified.
    ///
    /// The bytes go into a temporary file beside `path` (`.NAME.orca-part-…`) on a
    /// thread of its own, fed through a small bounded queue of the pieces themselves (no
    /// copy), so receiving, hashing and writing overlap. When the stream ends with its
    /// size and digest checked, the file is renamed to `path` (replacing a file there,
    /// as `curl -o` does) with mode 0644; on any failure it is removed and `path` is left
    /// as it was. Nothing is synced to disk. Returns the number of bytes written.
    ///
    /// The temporary file is `flock`ed while it is written. A process killed mid-way
    /// cannot remove its own; the next `save` to the same `path` removes each one nobody
    /// holds that has not changed for a minute (a process reads `path`'s directory for
    /// them at most once a minute, so saving many blobs into one directory stays cheap).
    ///
    /// # Errors
    ///
    /// Every error of the stream, and [`Error::File`] when the file cannot be created,
    /// written or renamed (or `path` names no file).
    pub async fn save(mut self, path: impl AsRef<Path>) -> Result<u64, Error> {
        use std::io::Write;
        let path = path.as_ref().to_path_buf();
        let file_error = |action, path: &Path, source| Error::File {
            action,
            path: path.to_path_buf(),
            source,
        };
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(file_error(
                "write to",
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "it names no file"),
            ));
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(".{name}.orca-part-");
        remove_abandoned_parts(&parent, &prefix);
        let staged = tempfile::Builder::new()
            .prefix(&prefix)
            .tempfile_in(&parent)
            .map_err(|e| file_error("create a temporary file in", &parent, e))?;
        // Held while it is written, so another save of the same file never removes it.
        let _ = staged.as_file().try_lock();
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(8);
        let writer = tokio::task::spawn_blocking(move || {
            let mut staged = staged;
            while let Some(piece) = receiver.blocking_recv() {
                if let Err(e) = staged.as_file_mut().write_all(&piece) {
                    return Err((e, staged));
                }
            }
            Ok(staged)
        });
        let mut written = 0u64;
        let mut failure = None;
        while let Some(piece) = self.next().await {
            match piece {
                Ok(piece) => {
                    written += piece.len() as u64;
                    if sender.send(piece).await.is_err() {
                        break; // the writer failed: its error says why
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(sender);
        let joined = writer.await.map_err(|e| {
            file_error(
                "write",
                &path,
                std::io::Error::other(format!("the writing thread failed: {e}")),
            )
        })?;
        // Dropping the temporary file (on every error path) removes it.
        let staged = match joined {
            Ok(staged) => staged,
            Err((e, staged)) => return Err(file_error("write", staged.path(), e)),
        };
        if let Some(e) = failure {
            return Err(e);
        }
        let target = path.clone();
        let placed = tokio::task::spawn_blocking(move || {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(staged.path(), std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| file_error("set the mode of", staged.path(), e))?;
            }
            staged
                .persist(&target)
                .map(|_| ())
                .map_err(|e| file_error("rename into", &target, e.error))
        })
        .await;
        match placed {
            Ok(result) => result?,
            Err(e) => {
                let e = std::io::Error::other(format!("the renaming thread failed: {e}"));
                return Err(file_error("rename into", &path, e));
            }
        }
        Ok(written)
    }

    /// Read the whole blob into memory (for small blobs such as configs).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        while let Some(piece) = self.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out.freeze())
    }
}

/// A [`BlobStream`] read as an [`AsyncRead`] (see [`BlobStream::into_async_read`]).
pub struct BlobReader {
    stream: BlobStream,
    /// The rest of the piece being read.
    piece: Bytes,
    /// The stream failed; every later read fails too.
    failed: bool,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").finish_non_exhaustive()
    }
}

impl BlobReader {
    /// `Warning: 299` texts of the response that started the download.
    pub fn warnings(&self) -> &[String] {
        self.stream.warnings()
    }
}

impl AsyncRead for BlobReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Bounded: each turn either copies bytes and returns, or takes the next piece;
        // empty pieces are never yielded by the stream.
        loop {
            if self.failed {
                return Poll::Ready(Err(std::io::Error::other("the blob stream failed earlier")));
            }
            if !self.piece.is_empty() {
                let n = buf.remaining().min(self.piece.len());
                buf.put_slice(&self.piece[..n]);
                self.piece.advance(n);
                return Poll::Ready(Ok(()));
            }
            match self.stream.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Ok(piece))) => self.piece = piece,
                Poll::Ready(Some(Err(e))) => {
                    self.failed = true;
                    let kind = match e.kind() {
                        ErrorKind::DigestMismatch
                        | ErrorKind::SizeMismatch
                        | ErrorKind::SizeExceeded => std::io::ErrorKind::InvalidData,
                        ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
                        _ => std::io::ErrorKind::Other,
                    };
                    return Poll::Ready(Err(std::io::Error::new(kind, e)));
                }
            }
        }
    }
}

struct Download {
    client: Client,
    registry: String,
    repository: String,
    url: String,
    expected: Descriptor,
    verifier: Option<Verifier>,
    /// Instead of `verifier`, for large blobs: the verifier on a thread of its own.
    pipe: Option<HashPipe<Verifier>>,
    received: u64,
    skip: u64,
    body: Option<crate::pool::PooledBody>,
    /// `Warning: 299` texts of the first response.
    warnings: Vec<String>,
    resumes_left: u32,
    done: bool,
    /// The throughput rule over the current response's body.
    pace: Pace,
    /// The download's deadline, shared by its resumes.
    deadline: Deadline,
    /// A failure found while handing out a piece, reported as the next item.
    pending: Option<Error>,
    /// When the last piece was handed out: the consumer's time until the next call is
    /// not the registry's.
    handed_out: Option<tokio::time::Instant>,
    _permit: OwnedSemaphorePermit,
}

impl Download {
    /// GET the blob from `self.received` on.
    async fn open(&mut self) -> Result<(), Error> {
        let mut call = Call::new(
            Method::GET,
            self.url.clone(),
            &self.registry,
            pull_scope(&self.repository),
        )
        .deadline(&self.deadline);
        if self.received > 0 {
            call = call.header(header::RANGE, &format!("bytes={}-", self.received))?;
        }
        let response = self.client.inner.send(call).await?;
        if response.status.as_u16() == 416 && self.received > 0 {
            // The registry has no bytes past those received: the blob is shorter than
            // its descriptor, which is what the user must read, not "416".
            return Err(Error::SizeMismatch {
                url: redact_url(&self.url),
                expected: self.expected.size,
                actual: self.received,
            });
        }
        match response.status.as_u16() {
            200 => {
                self.skip = self.received;
            }
            206 if self.received > 0 => {
                let start = response
                    .header_str(&header::CONTENT_RANGE)
                    .and_then(parse_content_range_start);
                if start != Some(self.received) {
                    return Err(Error::protocol(
                        &Method::GET,
                        &response.url,
                        format!(
                            "asked for bytes from {}, got Content-Range {:?}",
                            self.received,
                            response
                                .header_str(&header::CONTENT_RANGE)
                                .map(|v| excerpt(v, &Secrets::default()))
                        ),
                    ));
                }
                self.skip = 0;
            }
            _ => return Err(status_error(response).await),
        }
        if self.received == 0 && self.warnings.is_empty() {
            self.warnings = response.warnings;
        }
        self.pace = Pace::new(self.deadline.min_throughput());
        self.body = Some(response.body);
        Ok(())
    }

    fn fail(&mut self, e: Error) -> Result<Bytes, Error> {
        self.done = true;
        self.body = None;
        Err(e)
    }

    /// The body broke or ended early: resume when allowed.
    fn interrupted(&mut self, cause: Error) -> Result<(), Error> {
        self.body = None;
        if self.resumes_left == 0 {
            return Err(cause);
        }
        self.resumes_left -= 1;
        let attempt = self.client.inner.config.max_resumes - self.resumes_left;
        self.client.inner.observe(|| Event::Retry {
            method: &Method::GET,
            registry: &self.registry,
            repository: Some(&self.repository),
            attempt,
            reason: RetryReason::Resume {
                received: self.received,
            },
            delay: Duration::ZERO,
        });
        tracing::debug!(received = self.received, error = %cause, "blob download interrupted; resuming with Range");
        Ok(())
    }

    /// The body ended cleanly: check the size (resuming a short body), then the digest,
    /// and report the blob verified. `None` when the stream ended well or a resume is
    /// due (`self.done` tells which).
    async fn finish(&mut self) -> Option<Result<Bytes, Error>> {
        let size = self.expected.size;
        if self.received < size {
            // Short by the body's own framing: perhaps a proxy cut it, so ask for the
            // rest. A registry that has no more answers 416, and the user reads this size
            // mismatch, not the 416 (see `open`).
            let cause = Error::SizeMismatch {
                url: redact_url(&self.url),
                expected: size,
                actual: self.received,
            };
            return self.interrupted(cause).err().map(|e| self.fail(e));
        }
        self.deadline.progress();
        self.done = true;
        self.body = None;
        let verifier = match self.pipe.take() {
            Some(pipe) => {
                let Some(verifier) = pipe.finish().await else {
                    let e = Error::config("the download's hashing thread failed");
                    return Some(Err(e));
                };
                verifier
            }
            None => self.verifier.take()?,
        };
        match verifier.finish() {
            Ok(()) => {
                self.client.inner.observe(|| Event::Verified {
                    registry: &self.registry,
                    repository: &self.repository,
                    digest: &self.expected.digest,
                    size: self.expected.size,
                    direction: Direction::Download,
                });
                None
            }
            Err(e) => Some(Err(verification_error(&self.url, e, |other| {
                Error::InvalidContent {
                    method: "GET".into(),
                    url: redact_url(&self.url),
                    message: "verification failed".into(),
                    source: Box::new(other),
                }
            }))),
        }
    }

    /// Count, hash and pace one piece of the body; `None` when nothing is left of it
    /// (bytes a resumed `200` repeats are skipped).
    fn piece(&mut self, mut data: Bytes) -> Option<Result<Bytes, Error>> {
        let size = self.expected.size;
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data.advance(n);
            self.skip -= n as u64;
        }
        if data.is_empty() {
            return None;
        }
        if self.received + data.len() as u64 > size {
            let e = Error::SizeExceeded {
                url: redact_url(&self.url),
                limit: size,
            };
            return Some(self.fail(e));
        }
        if let Some(v) = self.verifier.as_mut() {
            v.update(&data);
        }
        self.received += data.len() as u64;
        self.client.inner.observe(|| Event::Bytes {
            registry: &self.registry,
            repository: &self.repository,
            digest: Some(&self.expected.digest),
            direction: Direction::Download,
            bytes: self.received,
            moved: data.len() as u64,
            total: Some(size),
        });
        match self.pace.record(data.len() as u64) {
            Ok(true) => self.deadline.progress(),
            Ok(false) => {}
            // The bytes are good; the next piece resumes the body, or reports the failure.
            Err(slow) => {
                let cause = slow.into_error("GET", &self.url);
                if let Err(e) = self.interrupted(cause) {
                    self.done = true;
                    self.pending = Some(e);
                }
            }
        }
        Some(Ok(data))
    }

    async fn next_piece(&mut self) -> Option<Result<Bytes, Error>> {
        if self.done {
            // A failure found while handing out the last piece is reported now.
            return self.pending.take().map(Err);
        }
        if let Some(at) = self.handed_out.take() {
            let paused = at.elapsed();
            self.pace.excuse(paused);
            self.deadline.excuse(paused);
        }
        loop {
            if self.body.is_none()
                && let Err(e) = self.open().await
            {
                return Some(self.fail(e));
            }
            let body = self.body.as_mut()?;
            // Most frames are already buffered: take them without arming a timer. A wait
            // ends when the throughput window closes or at the operation's deadline.
            let wake = self.pace.window_end().min(self.deadline.at());
            let frame = match body.frame().now_or_never() {
                Some(ready) => Ok(ready),
                None => tokio::time::timeout_at(wake, body.frame()).await,
            };
            match frame {
                Err(_) => {
                    if self.deadline.expired() {
                        let e = self.deadline.error("GET", &self.url);
                        return Some(self.fail(e));
                    }
                    if let Err(slow) = self.pace.check() {
                        let cause = slow.into_error("GET", &self.url);
                        if let Err(e) = self.interrupted(cause) {
                            return Some(self.fail(e));
                        }
                    }
                }
                Ok(Some(Err(e))) => {
                    let cause = Error::Connect {
                        method: "GET".into(),
                        url: redact_url(&self.url),
                        source: Box::new(e),
                    };
                    if let Err(e) = self.interrupted(cause) {
                        return Some(self.fail(e));
                    }
                }
                Ok(None) => {
                    if let Some(end) = self.finish().await {
                        return Some(end);
                    }
                    if self.done {
                        return None;
                    }
                }
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Some(piece) = self.piece(data) {
                        if let (Ok(data), Some(pipe)) = (&piece, &self.pipe)
                            && !pipe.feed(data.clone()).await
                        {
                            let e = Error::config("the download's hashing thread stopped");
                            return Some(self.fail(e));
                        }
                        self.handed_out = Some(tokio::time::Instant::now());
                        return Some(piece);
                    }
                }
            }
        }
    }
}

/// Blobs at least this large are hashed on a thread of their own.
const PIPE_BYTES: u64 = 4 * 1024 * 1024;

/// A failed size or digest check of a transfer to or from `url`, as the client's error;
/// any other verification failure goes through `other`.
pub(crate) fn verification_error(
    url: &str,
    e: orca_manifest::Error,
    other: impl FnOnce(orca_manifest::Error) -> Error,
) -> Error {
    match e {
        orca_manifest::Error::DigestMismatch { expected, actual } => Error::DigestMismatch {
            url: redact_url(url),
            expected,
            actual,
        },
        orca_manifest::Error::SizeMismatch {
            expected, actual, ..
        } => Error::SizeMismatch {
            url: redact_url(url),
            expected,
            actual,
        },
        e => other(e),
    }
}

/// How long an unlocked `.NAME.orca-part-*` file must have been unchanged before
/// [`BlobStream::save`] removes it as a killed process's.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// The most parent directories whose last read [`part_names`] remembers.
const MAX_SCANNED_PARENTS: usize = 256;

/// When this process last read a parent directory, and the `.NAME.orca-part-*` names it
/// held.
type Scan = (Instant, Vec<String>);

/// The part-file names of each parent as this process last read it. A parent is read at
/// most once per [`ABANDONED_AFTER`]: a part file made after a read is younger than that
/// until the next one, so it could not have been removed anyway, and saving many blobs
/// into one directory does not read it whole for each.
static PART_SCANS: LazyLock<Mutex<HashMap<PathBuf, Scan>>> = LazyLock::new(Mutex::default);

/// The `.*.orca-part-*` names in `parent`, from its last read when that is recent.
fn part_names(parent: &Path) -> Vec<String> {
    let scans = || PART_SCANS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((at, names)) = scans().get(parent)
        && at.elapsed() < ABANDONED_AFTER
    {
        return names.clone();
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with('.') && name.contains(".orca-part-"))
        .collect();
    let mut scans = scans();
    if scans.len() >= MAX_SCANNED_PARENTS {
        scans.retain(|_, (at, _)| at.elapsed() < ABANDONED_AFTER);
        if scans.len() >= MAX_SCANNED_PARENTS {
            scans.clear();
        }
    }
    scans.insert(parent.to_path_buf(), (Instant::now(), names.clone()));
    names
}

/// Removes the files in `parent` named `<prefix>XXXXXX` that are unchanged for
/// [`ABANDONED_AFTER`] and lockable (no writer holds them); best effort, at most 64
/// looked at per call. The directory is read at most once a minute ([`part_names`]).
fn remove_abandoned_parts(parent: &Path, prefix: &str) {
    let now = std::time::SystemTime::now();
    let names = part_names(parent);
    let candidates = names
        .iter()
        .filter(|name| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .take(64);
    for name in candidates {
        let path = parent.join(name);
        let idle = std::fs::symlink_metadata(&path).is_ok_and(|meta| {
            meta.is_file()
                && meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= ABANDONED_AFTER)
        });
        // Removed while locked, so no writer can take it up meanwhile.
        if idle
            && let Ok(held) = std::fs::File::open(&path)
            && held.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// `bytes <start>-<end>/<total>` → start.
fn parse_content_range_start(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes").map_or(value, str::trim_start);
    let value = value.strip_prefix('=').unwrap_or(value).trim();
    value.split('-').next()?.trim().parse().ok()
}

impl Client {
    /// Refuse a blob above the registry's [`RegistryPolicy::max_blob_bytes`](crate::RegistryPolicy::max_blob_bytes)
    /// before any byte moves.
    pub(crate) fn check_blob_cap(
        &self,
        repository: &Reference,
        size: u64,
        url: &str,
    ) -> Result<(), Error> {
        match self.inner.policy(repository.registry()).max_blob_bytes {
            Some(limit) if size > limit => Err(Error::SizeExceeded {
                url: redact_url(url),
                limit,
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn blob_url(&self, repository: &Reference, digest: &Digest) -> String {
        self.repo_url(
            repository.registry(),
            repository.repository(),
            &format!("blobs/{digest}"),
        )
    }

    /// Fetch a blob as a verified stream (see [`BlobStream`]).
    ///
    /// Redirects (to a storage back end) are followed; `Authorization` is not sent to
    /// another scheme, host or port. The request is sent before this returns, so a
    /// missing blob fails here.
    pub async fn fetch_blob(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
    ) -> Result<BlobStream, Error> {
        let verifier =
            Verifier::new(descriptor.digest.clone(), Some(descriptor.size)).map_err(|e| {
                Error::Config {
                    message: format!("cannot verify {}", descriptor.digest),
                    source: Some(Box::new(e)),
                }
            })?;
        let url = self.blob_url(repository, &descriptor.digest);
        self.check_blob_cap(repository, descriptor.size, &url)?;
        let permit = self.inner.transfer_permit(repository.registry()).await?;
        let (verifier, pipe) = if descriptor.size >= PIPE_BYTES {
            (None, Some(HashPipe::start(verifier)))
        } else {
            (Some(verifier), None)
        };
        let mut download = Download {
            client: self.clone(),
            registry: repository.registry().to_string(),
            repository: repository.repository().to_string(),
            url,
            expected: descriptor.clone(),
            verifier,
            pipe,
            received: 0,
            skip: 0,
            body: None,
            warnings: Vec::new(),
            resumes_left: self.inner.config.max_resumes,
            done: false,
            pace: Pace::new(self.inner.policy(repository.registry()).min_throughput),
            deadline: Deadline::new(self.inner.policy(repository.registry())),
            pending: None,
            handed_out: None,
            _permit: permit,
        };
        download.open().await?;
        let warnings = std::mem::take(&mut download.warnings);
        let stream = futures_util::stream::unfold(download, |mut d| async move {
            let item = d.next_piece().await?;
            Some((item, d))
        });
        Ok(BlobStream {
            inner: stream.boxed(),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn content_ranges_parse(end in 0u64..u64::MAX - 1) {
            proptest::prop_assert_eq!(parse_content_range_start(&format!("bytes {end}-{end}/{}", end + 1)), Some(end));
        }
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(parse_content_range_start("bytes=5-"), Some(5));
    }

    #[test]
    fn a_parent_is_read_once_a_minute_and_what_that_read_saw_is_still_removed() {
        let dir = tempfile::tempdir().unwrap();
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let aged = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"partial").unwrap();
            std::fs::File::options()
                .append(true)
                .open(&path)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
            path
        };
        let first = aged(".a.bin.orca-part-K1lled");
        let second = aged(".b.bin.orca-part-K1lled");
        remove_abandoned_parts(dir.path(), ".a.bin.orca-part-");
        assert!(!first.exists() && second.exists());
        // Made after the read: not seen until the next one, a minute later (it would be
        // too young to remove by then anyway had it been made now).
        let later = aged(".a.bin.orca-part-Later1");
        remove_abandoned_parts(dir.path(), ".a.bin.orca-part-");
        assert!(later.exists());
        // What the read saw is still removed, without reading the directory again.
        remove_abandoned_parts(dir.path(), ".b.bin.orca-part-");
        assert!(!second.exists());
    }
}
