//! Blob transfers: verified streaming downloads with `Range` resume, and uploads
//! (monolithic, single POST, chunked, streamed), cross-repository mounts.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::Method;
use http::header::{self, HeaderName};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use orca_auth::{Action, Scope};
use orca_manifest::{Algorithm, Descriptor, Digest, Hasher, Verifier};
use orca_reference::Reference;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::OwnedSemaphorePermit;

use crate::client::{Client, pull_scope, push_scope};
use crate::error::{BoxError, Error, redact_url, status_is_retryable};
use crate::transport::{Body, Call, Response, status_error};

/// `OCI-Chunk-Min-Length`: the smallest PATCH a registry accepts (except the last).
const OCI_CHUNK_MIN_LENGTH: HeaderName = HeaderName::from_static("oci-chunk-min-length");
const OCTET_STREAM: &str = "application/octet-stream";
/// Read size of streamed uploads.
const STREAM_READ: usize = 256 * 1024;

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

    /// Read the whole blob into memory (for small blobs such as configs).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        while let Some(piece) = self.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out.freeze())
    }
}

struct Download {
    client: Client,
    registry: String,
    repository: String,
    url: String,
    expected: Descriptor,
    verifier: Option<Verifier>,
    received: u64,
    skip: u64,
    body: Option<crate::pool::PooledBody>,
    /// `Warning: 299` texts of the first response.
    warnings: Vec<String>,
    resumes_left: u32,
    done: bool,
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
        );
        if self.received > 0 {
            call = call.header(header::RANGE, &format!("bytes={}-", self.received))?;
        }
        let response = self.client.inner.send(call).await?;
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
                            response.header_str(&header::CONTENT_RANGE)
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
        tracing::debug!(received = self.received, error = %cause, "blob download interrupted; resuming with Range");
        Ok(())
    }

    async fn next_piece(&mut self) -> Option<Result<Bytes, Error>> {
        if self.done {
            return None;
        }
        let size = self.expected.size;
        let read_timeout = self.client.inner.config.read_timeout;
        loop {
            if self.body.is_none()
                && let Err(e) = self.open().await
            {
                return Some(self.fail(e));
            }
            let body = self.body.as_mut()?;
            // Most frames are already buffered: take them without arming a timer.
            let frame = match body.frame().now_or_never() {
                Some(ready) => Ok(ready),
                None => tokio::time::timeout(read_timeout, body.frame()).await,
            };
            match frame {
                Err(_) => {
                    let cause = Error::Timeout {
                        method: "GET".into(),
                        url: redact_url(&self.url),
                        after: read_timeout,
                    };
                    if let Err(e) = self.interrupted(cause) {
                        return Some(self.fail(e));
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
                    if self.received < size {
                        let cause = Error::SizeMismatch {
                            url: redact_url(&self.url),
                            expected: size,
                            actual: self.received,
                        };
                        if let Err(e) = self.interrupted(cause) {
                            return Some(self.fail(e));
                        }
                        continue;
                    }
                    self.done = true;
                    self.body = None;
                    let verifier = self.verifier.take()?;
                    return match verifier.finish() {
                        Ok(()) => None,
                        Err(e) => Some(Err(verification_error(&self.url, e, |other| {
                            Error::Protocol {
                                method: "GET".into(),
                                url: redact_url(&self.url),
                                message: "verification failed".into(),
                                source: Some(Box::new(other)),
                            }
                        }))),
                    };
                }
                Ok(Some(Ok(frame))) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    if self.skip > 0 {
                        let n = usize::try_from(self.skip)
                            .unwrap_or(usize::MAX)
                            .min(data.len());
                        data.advance(n);
                        self.skip -= n as u64;
                    }
                    if data.is_empty() {
                        continue;
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
                    return Some(Ok(data));
                }
            }
        }
    }
}

/// A failed size or digest check of a transfer to or from `url`, as the client's error;
/// any other verification failure goes through `other`.
fn verification_error(
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

/// `bytes <start>-<end>/<total>` → start.
fn parse_content_range_start(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes").map_or(value, str::trim_start);
    let value = value.strip_prefix('=').unwrap_or(value).trim();
    value.split('-').next()?.trim().parse().ok()
}

/// `0-<end>` (an upload's `Range` header) → the next offset to send.
fn parse_upload_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let (start, end) = value.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if start != 0 {
        return None;
    }
    Some(end + 1)
}

/// How [`Client::push_blob_reader`] uploads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadMethod {
    /// Streamed monolithic `PUT` when the digest is known, chunked otherwise.
    #[default]
    Auto,
    /// `POST` then one `PUT ?digest=` carrying the whole blob, streamed as it is read
    /// (needs the digest up front).
    Streamed,
    /// `POST`, a `PATCH` per chunk with `Content-Range`, then `PUT ?digest=`.
    Chunked,
}

/// Options for blob pushes.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// How to upload.
    pub method: UploadMethod,
    /// Try a cross-repository mount from this repository (same registry) first, falling
    /// back to an upload when the registry does not mount.
    pub mount_from: Option<String>,
    /// `HEAD` the blob first and skip the upload when it exists.
    pub skip_existing: bool,
    /// Also hash the blob here before the registry gets all of it, so that wrong content
    /// never reaches the registry: [`Client::push_blob`] hashes the bytes before sending
    /// them; a streamed upload hashes its source as it is read and holds back the last
    /// piece until the digest is known to match.
    ///
    /// Off by default: the registry verifies every upload against the digest it is
    /// given (the distribution spec requires it; its `DIGEST_INVALID` becomes
    /// [`ErrorKind::DigestMismatch`](crate::ErrorKind::DigestMismatch)), and the size is
    /// always checked here, so a second hash costs a core's worth of work for nothing
    /// on a conforming registry. ORAS, skopeo and `oci-client` likewise leave it to the
    /// registry when the digest is known. Turn it on for a registry you do not trust to
    /// verify. Chunked uploads without a descriptor always hash (to learn the digest).
    pub verify_source: bool,
}

/// How a blob got into the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// The bytes were uploaded.
    Uploaded,
    /// The registry mounted it from another repository.
    Mounted,
    /// It was already there.
    AlreadyExists,
}

/// What a blob push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// How it got there.
    pub outcome: PushOutcome,
    /// `Warning: 299` texts of the response that completed the upload (none when nothing
    /// was uploaded, or when a lost response was confirmed with `HEAD`; every warning is
    /// also logged).
    pub warnings: Vec<String>,
}

/// What a mount request did.
#[derive(Debug)]
pub enum MountOutcome {
    /// The blob is now in the target repository.
    Mounted,
    /// The registry did not mount; it opened an upload session instead.
    NotMounted(UploadSession),
}

/// An open upload session: where to send the next request.
#[derive(Clone, Debug)]
pub struct UploadSession {
    location: url::Url,
    min_chunk: Option<u64>,
}

impl UploadSession {
    /// The `OCI-Chunk-Min-Length` the registry asked for, if any.
    pub fn min_chunk_length(&self) -> Option<u64> {
        self.min_chunk
    }

    /// The session's URL with `digest=` appended to its query (which is kept).
    fn with_digest(&self, digest: &Digest) -> String {
        let mut url = self.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        url.to_string()
    }

    fn update_location(&mut self, response: &Response) -> Result<(), Error> {
        if let Some(location) = response.header_str(&header::LOCATION) {
            self.location = resolve_location(&response.method, &response.url, location)?;
        }
        Ok(())
    }
}

fn resolve_location(method: &Method, request_url: &str, location: &str) -> Result<url::Url, Error> {
    let base = url::Url::parse(request_url).map_err(|e| Error::Protocol {
        method: method.to_string(),
        url: redact_url(request_url),
        message: "bad request URL".into(),
        source: Some(Box::new(e)),
    })?;
    base.join(location).map_err(|e| Error::Protocol {
        method: method.to_string(),
        url: redact_url(request_url),
        message: "upload Location is not a URL".into(),
        source: Some(Box::new(e)),
    })
}

impl Client {
    fn blob_url(&self, repository: &Reference, digest: &Digest) -> String {
        self.repo_url(
            repository.registry(),
            repository.repository(),
            &format!("blobs/{digest}"),
        )
    }

    fn uploads_url(&self, repository: &Reference) -> String {
        self.repo_url(
            repository.registry(),
            repository.repository(),
            "blobs/uploads/",
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
        let permit = self
            .inner
            .transfers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::config("the client's transfer limit was closed"))?;
        let mut download = Download {
            client: self.clone(),
            registry: repository.registry().to_string(),
            repository: repository.repository().to_string(),
            url: self.blob_url(repository, &descriptor.digest),
            expected: descriptor.clone(),
            verifier: Some(verifier),
            received: 0,
            skip: 0,
            body: None,
            warnings: Vec::new(),
            resumes_left: self.inner.config.max_resumes,
            done: false,
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

    /// Cross-repository mount: `POST …/blobs/uploads/?mount=<digest>&from=<repository>`.
    pub async fn mount_blob(
        &self,
        target: &Reference,
        from_repository: &str,
        digest: &Digest,
    ) -> Result<MountOutcome, Error> {
        let mut url = url::Url::parse(&self.uploads_url(target)).map_err(|e| Error::Config {
            message: "cannot build the upload URL".into(),
            source: Some(Box::new(e)),
        })?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from_repository);
        let mut scopes = push_scope(target.repository());
        scopes.push(Scope::repository(from_repository, &[Action::Pull]));
        let call = Call::new(Method::POST, url.to_string(), target.registry(), scopes);
        let response = self.inner.send_expect(call, &[201, 202]).await?;
        if response.status.as_u16() == 201 {
            return Ok(MountOutcome::Mounted);
        }
        Ok(MountOutcome::NotMounted(session_from(&response)?))
    }

    /// Open an upload session (`POST …/blobs/uploads/`).
    pub async fn start_upload(&self, repository: &Reference) -> Result<UploadSession, Error> {
        let call = Call::new(
            Method::POST,
            self.uploads_url(repository),
            repository.registry(),
            push_scope(repository.repository()),
        );
        let response = self.inner.send_expect(call, &[202]).await?;
        session_from(&response)
    }

    /// Push a blob held in memory: `POST` then one `PUT ?digest=`.
    ///
    /// The size is checked against `descriptor` first, and the digest too with
    /// [`PushOptions::verify_source`] (otherwise the registry checks it). A failed `PUT` is repeated only
    /// after checking (`HEAD`) that the blob did not land, with a fresh session.
    pub async fn push_blob(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        bytes: Bytes,
        options: &PushOptions,
    ) -> Result<PushedBlob, Error> {
        if bytes.len() as u64 != descriptor.size {
            return Err(Error::config(format!(
                "blob has {} bytes, its descriptor says {}",
                bytes.len(),
                descriptor.size
            )));
        }
        if options.verify_source {
            descriptor.digest.verify(&bytes).map_err(|e| match e {
                orca_manifest::Error::DigestMismatch { expected, actual } => {
                    Error::DigestMismatch {
                        url: String::new(),
                        expected,
                        actual,
                    }
                }
                other => Error::Config {
                    message: "cannot verify the blob to push".into(),
                    source: Some(Box::new(other)),
                },
            })?;
        }
        let _permit = self.permit().await?;
        let pushed = |outcome, warnings| PushedBlob {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            outcome,
            warnings,
        };
        let mut session = match self
            .prepare(repository, &descriptor.digest, options)
            .await?
        {
            Prepared::Done(outcome) => return Ok(pushed(outcome, Vec::new())),
            Prepared::Session(s) => s,
        };
        let mut attempt = 0;
        loop {
            let call = Call::new(
                Method::PUT,
                session.with_digest(&descriptor.digest),
                repository.registry(),
                push_scope(repository.repository()),
            )
            .header(header::CONTENT_TYPE, OCTET_STREAM)?
            .body(Body::Bytes(bytes.clone()));
            let e = match self.inner.send(call).await {
                Ok(r) if r.status.as_u16() == 201 => {
                    return Ok(pushed(PushOutcome::Uploaded, r.warnings));
                }
                Ok(r) => status_error(r).await,
                Err(e) => e,
            };
            if !e.is_retryable() || attempt >= self.inner.config.retry.max_retries {
                return Err(e);
            }
            attempt += 1;
            tokio::time::sleep(self.inner.config.retry.delay(attempt, None)).await;
            if self
                .blob_exists(repository, &descriptor.digest)
                .await?
                .is_some()
            {
                return Ok(pushed(PushOutcome::Uploaded, Vec::new()));
            }
            session = self.start_upload(repository).await?;
        }
    }

    /// Push a blob in one request: `POST …/blobs/uploads/?digest=<d>` with the body.
    ///
    /// Registries that do not support this answer 202 with a session; the blob is then
    /// sent with a `PUT` to it.
    pub async fn push_blob_single_post(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        bytes: Bytes,
    ) -> Result<PushedBlob, Error> {
        let _permit = self.permit().await?;
        let mut url =
            url::Url::parse(&self.uploads_url(repository)).map_err(|e| Error::Config {
                message: "cannot build the upload URL".into(),
                source: Some(Box::new(e)),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", descriptor.digest.as_str());
        let call = Call::new(
            Method::POST,
            url.to_string(),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .body(Body::Bytes(bytes.clone()));
        let response = self.inner.send_expect(call, &[201, 202]).await?;
        let pushed = |warnings| PushedBlob {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            outcome: PushOutcome::Uploaded,
            warnings,
        };
        if response.status.as_u16() == 201 {
            return Ok(pushed(response.warnings));
        }
        let session = session_from(&response)?;
        drop(response);
        let call = Call::new(
            Method::PUT,
            session.with_digest(&descriptor.digest),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .body(Body::Bytes(bytes));
        let response = self.inner.send_expect(call, &[201]).await?;
        Ok(pushed(response.warnings))
    }

    /// Push a blob read from `reader`, never holding more than one chunk in memory.
    ///
    /// With `expected`, the bytes are checked against its digest and size as they are read
    /// (the upload is aborted on a mismatch); without it, the digest (sha256) is computed
    /// and the chunked method is used.
    ///
    /// # Limitations
    /// A streamed `PUT` cannot be repeated (the reader is consumed): a failure mid-stream
    /// is returned to the caller. Chunked uploads recover from failed `PATCH`es (416,
    /// connection errors, 5xx) by asking the registry how much it has.
    pub async fn push_blob_reader<R>(
        &self,
        repository: &Reference,
        expected: Option<&Descriptor>,
        reader: R,
        options: &PushOptions,
    ) -> Result<PushedBlob, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let _permit = self.permit().await?;
        let mut session = match expected {
            Some(d) => match self.prepare(repository, &d.digest, options).await? {
                Prepared::Done(outcome) => {
                    return Ok(PushedBlob {
                        digest: d.digest.clone(),
                        size: d.size,
                        outcome,
                        warnings: Vec::new(),
                    });
                }
                Prepared::Session(s) => s,
            },
            None => self.start_upload(repository).await?,
        };
        match (options.method, expected) {
            (UploadMethod::Auto | UploadMethod::Streamed, Some(d)) => {
                self.put_streamed(repository, &session, d, reader, options.verify_source)
                    .await
            }
            (UploadMethod::Streamed, None) => Err(Error::config(
                "a streamed upload needs the blob's descriptor (digest and size)",
            )),
            (_, expected) => {
                self.put_chunked(repository, &mut session, expected, reader)
                    .await
            }
        }
    }

    /// Push a blob from a stream of byte pieces (see [`Client::push_blob_reader`], which this
    /// wraps).
    pub async fn push_blob_stream<S>(
        &self,
        repository: &Reference,
        expected: Option<&Descriptor>,
        stream: S,
        options: &PushOptions,
    ) -> Result<PushedBlob, Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
    {
        let reader = tokio_util::io::StreamReader::new(stream);
        self.push_blob_reader(repository, expected, reader, options)
            .await
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.inner
            .transfers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::config("the client's transfer limit was closed"))
    }

    /// Existence check and mount, then a session.
    async fn prepare(
        &self,
        repository: &Reference,
        digest: &Digest,
        options: &PushOptions,
    ) -> Result<Prepared, Error> {
        if options.skip_existing && self.blob_exists(repository, digest).await?.is_some() {
            return Ok(Prepared::Done(PushOutcome::AlreadyExists));
        }
        if let Some(from) = &options.mount_from {
            return match self.mount_blob(repository, from, digest).await? {
                MountOutcome::Mounted => Ok(Prepared::Done(PushOutcome::Mounted)),
                MountOutcome::NotMounted(session) => Ok(Prepared::Session(session)),
            };
        }
        Ok(Prepared::Session(self.start_upload(repository).await?))
    }

    async fn put_streamed<R>(
        &self,
        repository: &Reference,
        session: &UploadSession,
        expected: &Descriptor,
        reader: R,
        verify_source: bool,
    ) -> Result<PushedBlob, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let pipe =
            if verify_source {
                let verifier = Verifier::new(expected.digest.clone(), Some(expected.size))
                    .map_err(|e| Error::Config {
                        message: format!("cannot verify {}", expected.digest),
                        source: Some(Box::new(e)),
                    })?;
                Some(HashPipe::start(verifier))
            } else {
                None
            };
        let failure: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let url = session.with_digest(&expected.digest);
        let state = StreamState {
            reader,
            pipe,
            done: false,
            buf: BytesMut::new(),
            seen: 0,
            failure: failure.clone(),
            url: url.clone(),
            size: expected.size,
        };
        let stream = futures_util::stream::unfold(state, |mut s| async move {
            let item = s.next_frame().await?;
            Some((item, s))
        });
        let body = BodyExt::boxed_unsync(StreamBody::new(stream));
        let call = Call::new(
            Method::PUT,
            url,
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .header(header::CONTENT_LENGTH, &expected.size.to_string())?
        .body(Body::Stream(body));
        let result = self.inner.send_expect(call, &[201]).await;
        let local = failure.lock().map_or(None, |mut f| f.take());
        if let Some(e) = local {
            return Err(e);
        }
        let response = result?;
        Ok(PushedBlob {
            digest: expected.digest.clone(),
            size: expected.size,
            outcome: PushOutcome::Uploaded,
            warnings: response.warnings,
        })
    }

    async fn put_chunked<R>(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        expected: Option<&Descriptor>,
        mut reader: R,
    ) -> Result<PushedBlob, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let algorithm = expected.map_or(Algorithm::Sha256, |d| d.digest.algorithm());
        let mut hasher = Hasher::new(&algorithm).map_err(|e| Error::Config {
            message: "cannot hash the blob".into(),
            source: Some(Box::new(e)),
        })?;
        let min = session
            .min_chunk
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(0);
        let chunk = self.inner.config.chunk_size.max(min);
        let mut offset: u64 = 0;
        loop {
            let mut buf = BytesMut::with_capacity(chunk);
            while buf.len() < chunk {
                let n = (&mut reader)
                    .take((chunk - buf.len()) as u64)
                    .read_buf(&mut buf)
                    .await
                    .map_err(Error::Io)?;
                if n == 0 {
                    break;
                }
            }
            let data = buf.freeze();
            if data.is_empty() {
                break;
            }
            if let Some(d) = expected
                && offset + data.len() as u64 > d.size
            {
                self.cancel_upload(repository, session).await;
                return Err(Error::SizeExceeded {
                    url: String::new(),
                    limit: d.size,
                });
            }
            hasher.update(&data);
            let len = data.len();
            self.patch_chunk(repository, session, offset, data).await?;
            offset += len as u64;
            if len < chunk {
                break;
            }
        }
        let digest = hasher.finish();
        if let Some(d) = expected {
            if offset != d.size {
                self.cancel_upload(repository, session).await;
                return Err(Error::SizeMismatch {
                    url: String::new(),
                    expected: d.size,
                    actual: offset,
                });
            }
            if digest != d.digest {
                self.cancel_upload(repository, session).await;
                return Err(Error::DigestMismatch {
                    url: String::new(),
                    expected: d.digest.clone(),
                    actual: digest,
                });
            }
        }
        let call = Call::new(
            Method::PUT,
            session.with_digest(&digest),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_LENGTH, "0")?;
        let response = self.inner.send(call).await?;
        let warnings = match response.status.as_u16() {
            201 => response.warnings,
            s if status_is_retryable(s) || s == 404 => {
                // The PUT may have landed before the failure was reported.
                let e = status_error(response).await;
                if self.blob_exists(repository, &digest).await?.is_none() {
                    return Err(e);
                }
                Vec::new()
            }
            _ => return Err(status_error(response).await),
        };
        Ok(PushedBlob {
            digest,
            size: offset,
            outcome: PushOutcome::Uploaded,
            warnings,
        })
    }

    /// Send one chunk; on 416, a connection error or a retryable status, ask the session
    /// for its state and send what is missing.
    async fn patch_chunk(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        offset: u64,
        data: Bytes,
    ) -> Result<(), Error> {
        let end = offset + data.len() as u64;
        let mut start = offset;
        let mut attempt = 0;
        loop {
            let piece = data.slice(usize::try_from(start - offset).unwrap_or(0)..);
            let call = Call::new(
                Method::PATCH,
                session.location.to_string(),
                repository.registry(),
                push_scope(repository.repository()),
            )
            .header(header::CONTENT_TYPE, OCTET_STREAM)?
            .header(header::CONTENT_RANGE, &format!("{start}-{}", end - 1))?
            .header(header::CONTENT_LENGTH, &piece.len().to_string())?
            .body(Body::Bytes(piece));
            let failure = match self.inner.send(call).await {
                Ok(r) if r.status.as_u16() == 202 => {
                    session.update_location(&r)?;
                    let acknowledged = r.header_str(&header::RANGE).and_then(parse_upload_range);
                    match acknowledged {
                        Some(next) if next == end => return Ok(()),
                        None => return Ok(()),
                        Some(_) => None,
                    }
                }
                Ok(r) if r.status.as_u16() == 416 => None,
                Ok(r) if status_is_retryable(r.status.as_u16()) => Some(status_error(r).await),
                Ok(r) => return Err(status_error(r).await),
                Err(e) if e.is_retryable() => Some(e),
                Err(e) => return Err(e),
            };
            attempt += 1;
            if attempt > self.inner.config.retry.max_retries.max(1) {
                return Err(failure.unwrap_or_else(|| {
                    Error::protocol(
                        &Method::PATCH,
                        session.location.as_str(),
                        "the registry keeps refusing the chunk range",
                    )
                }));
            }
            if let Some(e) = &failure {
                tracing::debug!(error = %e, "chunk upload failed; checking the upload state");
                tokio::time::sleep(self.inner.config.retry.delay(attempt, None)).await;
            }
            let next = self.upload_status(repository, session, offset).await?;
            if next < offset || next > end {
                return Err(Error::protocol(
                    &Method::PATCH,
                    session.location.as_str(),
                    format!(
                        "the registry has {next} bytes of this upload; this chunk covers {offset}..{end}, and earlier bytes are no longer at hand"
                    ),
                ));
            }
            if next == end {
                return Ok(());
            }
            start = next;
        }
    }

    /// `GET` the session: the offset of the next byte the registry expects.
    async fn upload_status(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        offset_hint: u64,
    ) -> Result<u64, Error> {
        let call = Call::new(
            Method::GET,
            session.location.to_string(),
            repository.registry(),
            push_scope(repository.repository()),
        );
        let response = self.inner.send_expect(call, &[204, 200]).await?;
        session.update_location(&response)?;
        let range = response.header_str(&header::RANGE).map(str::to_owned);
        Ok(match range.as_deref().and_then(parse_upload_range) {
            // "0-0" is what registries send for an empty session as well as for one byte.
            Some(1) if offset_hint == 0 => 0,
            Some(next) => next,
            None => 0,
        })
    }

    async fn cancel_upload(&self, repository: &Reference, session: &UploadSession) {
        let call = Call::new(
            Method::DELETE,
            session.location.to_string(),
            repository.registry(),
            push_scope(repository.repository()),
        );
        if let Err(e) = self.inner.send(call).await {
            tracing::debug!(error = %e, "cancelling the upload failed");
        }
    }
}

enum Prepared {
    Done(PushOutcome),
    Session(UploadSession),
}

fn session_from(response: &Response) -> Result<UploadSession, Error> {
    let location = response.header_str(&header::LOCATION).ok_or_else(|| {
        Error::protocol(
            &response.method,
            &response.url,
            "upload response without a Location header",
        )
    })?;
    let location = resolve_location(&response.method, &response.url, location)?;
    let min_chunk = response
        .header_str(&OCI_CHUNK_MIN_LENGTH)
        .and_then(|v| v.trim().parse().ok());
    Ok(UploadSession {
        location,
        min_chunk,
    })
}

/// Hashes on a blocking thread, so that reading and sending the next piece overlap with
/// hashing the previous one (a streamed push is otherwise bound by one core doing both).
struct HashPipe {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    worker: Option<tokio::task::JoinHandle<Verifier>>,
}

impl HashPipe {
    fn start(mut verifier: Verifier) -> HashPipe {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let worker = tokio::task::spawn_blocking(move || {
            while let Some(piece) = rx.blocking_recv() {
                verifier.update(&piece);
            }
            verifier
        });
        HashPipe {
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    /// Queue a piece; false if the hashing thread is gone.
    async fn feed(&self, piece: Bytes) -> bool {
        match &self.tx {
            Some(tx) => tx.send(piece).await.is_ok(),
            None => false,
        }
    }

    /// Wait for every queued piece to be hashed.
    async fn finish(mut self) -> Option<Verifier> {
        drop(self.tx.take());
        self.worker.take()?.await.ok()
    }
}

struct StreamState<R> {
    reader: R,
    /// Hashes what is sent, when the caller asked for the source to be verified here.
    pipe: Option<HashPipe>,
    /// The body ended or failed: no more frames.
    done: bool,
    /// Read into, and split into frames; reused once hyper has sent the earlier frames,
    /// so a long upload does not touch fresh memory for every piece.
    buf: BytesMut,
    seen: u64,
    failure: Arc<Mutex<Option<Error>>>,
    url: String,
    size: u64,
}

impl<R: AsyncRead + Unpin> StreamState<R> {
    fn fail(&mut self, e: Error, message: &'static str) -> Result<Frame<Bytes>, BoxError> {
        self.done = true;
        self.pipe = None;
        self.record(e);
        Err(message.into())
    }

    async fn next_frame(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        if self.done {
            return None;
        }
        self.buf.reserve(STREAM_READ);
        match self.reader.read_buf(&mut self.buf).await {
            Err(e) => Some(self.fail(Error::Io(e), "reading the upload source failed")),
            Ok(0) => self.verify(None).await,
            Ok(n) => {
                self.seen += n as u64;
                if self.seen > self.size {
                    let e = Error::SizeExceeded {
                        url: redact_url(&self.url),
                        limit: self.size,
                    };
                    return Some(self.fail(e, "the upload source is larger than its descriptor"));
                }
                let piece = self.buf.split().freeze();
                let fed = match &self.pipe {
                    Some(pipe) => pipe.feed(piece.clone()).await,
                    None => true,
                };
                if !fed {
                    let e = Error::config("the upload's hashing thread stopped");
                    return Some(self.fail(e, "the upload's hashing thread stopped"));
                }
                if self.seen == self.size {
                    // hyper stops polling once `Content-Length` bytes are out, so the
                    // last piece is held back until the content is known to be right.
                    return self.finish_early(piece).await;
                }
                Some(Ok(Frame::data(piece)))
            }
        }
    }

    /// All expected bytes were read: check that the source ends here and that the digest
    /// matches, then release the last piece (or fail the body so the upload is aborted).
    async fn finish_early(&mut self, last: Bytes) -> Option<Result<Frame<Bytes>, BoxError>> {
        let mut probe = [0u8; 1];
        match self.reader.read(&mut probe).await {
            Ok(0) => self.verify(Some(last)).await,
            Ok(_) => {
                let e = Error::SizeExceeded {
                    url: redact_url(&self.url),
                    limit: self.size,
                };
                Some(self.fail(e, "the upload source is larger than its descriptor"))
            }
            Err(e) => Some(self.fail(Error::Io(e), "reading the upload source failed")),
        }
    }

    /// The source ended: check its size and (when hashing here) wait for the hash of
    /// everything read, then release `last` (or end the stream), or fail the body.
    async fn verify(&mut self, last: Option<Bytes>) -> Option<Result<Frame<Bytes>, BoxError>> {
        self.done = true;
        let Some(pipe) = self.pipe.take() else {
            if self.seen != self.size {
                let e = Error::SizeMismatch {
                    url: redact_url(&self.url),
                    expected: self.size,
                    actual: self.seen,
                };
                return Some(self.fail(e, "the upload source is shorter than its descriptor"));
            }
            return last.map(|piece| Ok(Frame::data(piece)));
        };
        let Some(verifier) = pipe.finish().await else {
            let e = Error::config("the upload's hashing thread failed");
            return Some(self.fail(e, "the upload's hashing thread failed"));
        };
        match verifier.finish() {
            Ok(()) => last.map(|piece| Ok(Frame::data(piece))),
            Err(e) => {
                let e = verification_error(&self.url, e, |other| Error::Config {
                    message: "verification failed".into(),
                    source: Some(Box::new(other)),
                });
                Some(self.fail(e, "the upload source does not match its descriptor"))
            }
        }
    }

    fn record(&self, e: Error) {
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn upload_ranges_round_trip(end in 0u64..u64::MAX - 1) {
            proptest::prop_assert_eq!(parse_upload_range(&format!("0-{end}")), Some(end + 1));
            proptest::prop_assert_eq!(parse_content_range_start(&format!("bytes {end}-{end}/{}", end + 1)), Some(end));
        }
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(parse_content_range_start("bytes=5-"), Some(5));
        assert_eq!(parse_upload_range("0-99"), Some(100));
        assert_eq!(parse_upload_range("bytes=0-0"), Some(1));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("junk"), None);
    }
}
