//! One-pass upload of a blob whose digest is not known: the source in streamed `PATCH`es
//! without `Content-Range` (the first chunk, then all the rest in one), hashed on a thread
//! of its own as it is sent, then `PUT ?digest=`; chunks where the registry refuses.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::Method;
use http::header::{self};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use orca_manifest::{Algorithm, Digest, Hasher};
use orca_reference::Reference;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::hash_pipe::HashPipe;

use super::{OCTET_STREAM, PushOutcome, PushedBlob, UploadSession};
use crate::client::{Client, push_scope};
use crate::error::{BoxError, Error, redact_url, status_is_retryable};
use crate::transport::{Body, Call, status_error};

/// Read size of the streamed `PATCH`.
const STREAM_READ: usize = 256 * 1024;

/// Statuses with which a registry refuses a `PATCH` without `Content-Range` (rather than
/// failing for another reason): bad request, method not allowed, length required, range
/// not satisfiable, not implemented.
const REFUSED: [u16; 5] = [400, 405, 411, 416, 501];

impl Client {
    /// Push what `reader` yields, digest unknown, in one pass over it.
    ///
    /// A source that ends within the first chunk goes in one `PUT ?digest=`. Otherwise
    /// the first chunk (in memory, so that it can be sent again) goes in a `PATCH`
    /// without `Content-Range`; a registry that refuses that gets the upload in chunks,
    /// from the first one. One that takes it gets the rest of the source in one streamed
    /// `PATCH`, hashed on a thread of its own as it is sent, then `PUT ?digest=` with no
    /// body.
    ///
    /// # Deviation
    ///
    /// Two `PATCH`es rather than one: a streamed body cannot be sent again, and registries
    /// that refuse a `PATCH` without `Content-Range` may read some or all of it first.
    pub(super) async fn put_one_pass<R>(
        &self,
        repository: &Reference,
        mut session: UploadSession,
        reader: R,
    ) -> Result<PushedBlob, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        match self.send_one_pass(repository, &mut session, reader).await? {
            OnePass::Done(pushed) => Ok(pushed),
            OnePass::Sent { digest, size } => {
                self.close_upload(repository, &session, &digest, size).await
            }
        }
    }

    /// Everything [`Client::put_one_pass`] does but the closing `PUT ?digest=` of a
    /// session that holds the whole blob. On failure the session is cancelled.
    pub(super) async fn send_one_pass<R>(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        reader: R,
    ) -> Result<OnePass, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let mut reader = reader;
        let chunk = self.inner.config.chunk_size.max(
            session
                .min_chunk
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(0),
        );
        let first = super::chunked::read_chunk(&mut reader, chunk).await?;
        let cap = self.inner.policy(repository.registry()).max_blob_bytes;
        if first.len() < chunk {
            // The whole blob is in memory: one `PUT ?digest=` carries it.
            return self
                .put_whole(repository, session, first, cap)
                .await
                .map(OnePass::Done);
        }
        if let Some(limit) = cap
            && first.len() as u64 > limit
        {
            self.cancel_upload(repository, session).await;
            return Err(Error::SizeExceeded {
                url: String::new(),
                limit,
            });
        }
        let call = Call::new(
            Method::PATCH,
            session.location.to_string(),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .header(header::CONTENT_LENGTH, &first.len().to_string())?
        .body(Body::Bytes(first.clone()));
        let response = self.inner.send(call).await?;
        match response.status.as_u16() {
            202 => session.update_location(&response)?,
            status if REFUSED.contains(&status) => {
                let error = status_error(response).await;
                tracing::debug!(error = %error, "the registry refuses a PATCH without Content-Range; uploading in chunks");
                self.cancel_upload(repository, session).await;
                *session = self.start_upload(repository).await?;
                let source = std::io::Cursor::new(first).chain(reader);
                return self
                    .put_chunked(repository, session, None, source)
                    .await
                    .map(OnePass::Done);
            }
            _ => {
                let error = status_error(response).await;
                self.cancel_upload(repository, session).await;
                return Err(error);
            }
        }
        let sent = first.len() as u64;
        self.observe_upload(repository, None, (sent, sent), None);
        let hasher = Hasher::new(&Algorithm::Sha256).map_err(|e| Error::Config {
            message: "cannot hash the blob".into(),
            source: Some(Box::new(e)),
        })?;
        let pipe = HashPipe::start(hasher);
        // Moved, not cloned: the first chunk is freed once hashed, not held through the
        // rest of the upload.
        if !pipe.feed(first).await {
            return Err(Error::config("the upload's hashing thread stopped"));
        }
        let failure: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let digest_slot: Arc<Mutex<Option<(Digest, u64)>>> = Arc::new(Mutex::new(None));
        let state = PatchState {
            reader: Some(reader),
            pipe: Some(pipe),
            buf: BytesMut::new(),
            sent,
            cap,
            url: session.location.to_string(),
            failure: failure.clone(),
            digest: digest_slot.clone(),
            client: self.clone(),
            repository: repository.clone(),
        };
        // The rest, if there is any, in one streamed PATCH.
        if let Err(e) = self.send_rest(repository, session, state, &failure).await {
            self.cancel_upload(repository, session).await;
            return Err(e);
        }
        let Some((digest, size)) = digest_slot.lock().map_or(None, |mut d| d.take()) else {
            self.cancel_upload(repository, session).await;
            return Err(Error::protocol(
                &Method::PATCH,
                session.location.as_str(),
                "the registry answered the upload before receiving all of it",
            ));
        };
        Ok(OnePass::Sent { digest, size })
    }

    /// Sends what `state` reads in one streamed `PATCH`, when it reads anything.
    async fn send_rest<R>(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        mut state: PatchState<R>,
        failure: &Arc<Mutex<Option<Error>>>,
    ) -> Result<(), Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let taken = || failure.lock().map_or(None, |mut f| f.take());
        match state.next_frame().await {
            Some(Ok(frame)) => {
                let stream = futures_util::StreamExt::chain(
                    futures_util::stream::once(async move { Ok(frame) }),
                    futures_util::stream::unfold(state, |mut s| async move {
                        let item = s.next_frame().await?;
                        Some((item, s))
                    }),
                );
                let body = BodyExt::boxed_unsync(StreamBody::new(stream));
                let call = Call::new(
                    Method::PATCH,
                    session.location.to_string(),
                    repository.registry(),
                    push_scope(repository.repository()),
                )
                .header(header::CONTENT_TYPE, OCTET_STREAM)?
                .body(Body::Stream(body));
                let result = self.inner.send(call).await;
                if let Some(e) = taken() {
                    return Err(e);
                }
                let response = result?;
                if response.status.as_u16() != 202 {
                    return Err(status_error(response).await);
                }
                session.update_location(&response)
            }
            Some(Err(_)) => {
                Err(taken().unwrap_or_else(|| Error::config("the upload source failed")))
            }
            // The source ended with the first chunk.
            None => Ok(()),
        }
    }

    /// The blob is `first` (the source ended within it): one `PUT ?digest=` with it.
    async fn put_whole(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        data: Bytes,
        cap: Option<u64>,
    ) -> Result<PushedBlob, Error> {
        if let Some(limit) = cap
            && data.len() as u64 > limit
        {
            self.cancel_upload(repository, session).await;
            return Err(Error::SizeExceeded {
                url: String::new(),
                limit,
            });
        }
        let digest = Digest::sha256(&data);
        let size = data.len() as u64;
        let call = Call::new(
            Method::PUT,
            session.with_digest(&digest),
            repository.registry(),
            push_scope(repository.repository()),
        )
        .header(header::CONTENT_TYPE, OCTET_STREAM)?
        .body(Body::Bytes(data));
        let response = self.inner.send_expect(call, &[201]).await?;
        self.observe_upload(repository, Some(&digest), (size, size), Some(size));
        Ok(PushedBlob {
            digest,
            size,
            outcome: PushOutcome::Uploaded,
            warnings: response.warnings,
        })
    }

    /// `PUT ?digest=` with no body, closing a session that holds the whole blob.
    pub(super) async fn close_upload(
        &self,
        repository: &Reference,
        session: &UploadSession,
        digest: &Digest,
        size: u64,
    ) -> Result<PushedBlob, Error> {
        let call = Call::new(
            Method::PUT,
            session.with_digest(digest),
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
                if self.blob_exists(repository, digest).await?.is_none() {
                    return Err(e);
                }
                Vec::new()
            }
            _ => return Err(status_error(response).await),
        };
        Ok(PushedBlob {
            digest: digest.clone(),
            size,
            outcome: PushOutcome::Uploaded,
            warnings,
        })
    }
}

/// Where [`Client::send_one_pass`] left the upload.
pub(super) enum OnePass {
    /// Uploaded and closed (a small blob in one `PUT`, or in chunks where the registry
    /// refused the streamed `PATCH`).
    Done(PushedBlob),
    /// The session holds the whole blob, which hashes to `digest`; the closing
    /// `PUT ?digest=` is still to be sent.
    Sent {
        /// The blob's digest, computed as it was sent.
        digest: Digest,
        /// Its size.
        size: u64,
    },
}

struct PatchState<R> {
    /// `None` once the source ended or failed.
    reader: Option<R>,
    /// Hashes on a thread of its own what the body sends.
    pipe: Option<HashPipe<Hasher>>,
    buf: BytesMut,
    sent: u64,
    cap: Option<u64>,
    url: String,
    failure: Arc<Mutex<Option<Error>>>,
    /// The digest and size, once the source ended and every byte was hashed.
    digest: Arc<Mutex<Option<(Digest, u64)>>>,
    client: Client,
    repository: Reference,
}

impl<R: AsyncRead + Unpin> PatchState<R> {
    fn fail(&mut self, e: Error, message: &'static str) -> Result<Frame<Bytes>, BoxError> {
        self.reader = None;
        self.pipe = None;
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(e);
        }
        Err(message.into())
    }

    async fn next_frame(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        let reader = self.reader.as_mut()?;
        self.buf.reserve(STREAM_READ);
        let piece = match reader.read_buf(&mut self.buf).await {
            Err(e) => return Some(self.fail(Error::Io(e), "reading the upload source failed")),
            Ok(0) => {
                self.reader = None;
                let pipe = self.pipe.take()?;
                let Some(digest) = pipe.finish().await.map(Hasher::finish) else {
                    let e = Error::config("the upload's hashing thread failed");
                    return Some(self.fail(e, "the upload's hashing thread failed"));
                };
                if let Ok(mut slot) = self.digest.lock() {
                    *slot = Some((digest, self.sent));
                }
                return None;
            }
            Ok(_) => self.buf.split().freeze(),
        };
        self.sent += piece.len() as u64;
        if let Some(limit) = self.cap
            && self.sent > limit
        {
            let e = Error::SizeExceeded {
                url: redact_url(&self.url),
                limit,
            };
            return Some(self.fail(
                e,
                "the upload source is larger than the registry's blob cap",
            ));
        }
        self.client.observe_upload(
            &self.repository,
            None,
            (self.sent, piece.len() as u64),
            None,
        );
        let fed = match &self.pipe {
            Some(pipe) => pipe.feed(piece.clone()).await,
            None => false,
        };
        if !fed {
            let e = Error::config("the upload's hashing thread stopped");
            return Some(self.fail(e, "the upload's hashing thread stopped"));
        }
        Some(Ok(Frame::data(piece)))
    }
}
