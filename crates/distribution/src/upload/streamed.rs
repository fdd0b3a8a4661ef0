//! Uploads from a reader or a stream: one streamed `PUT` when the digest is known
//! (optionally hashed here on a blocking thread), chunked otherwise.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::stream::Stream;
use http::Method;
use http::header::{self};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use orca_manifest::{Descriptor, Verifier};
use orca_reference::Reference;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{
    OCTET_STREAM, Prepared, PushOptions, PushOutcome, PushedBlob, UploadMethod, UploadSession,
};
use crate::client::{Client, push_scope};
use crate::download::verification_error;
use crate::error::{BoxError, Error, redact_url};
use crate::hash_pipe::HashPipe;
use crate::transport::{Body, Call};

/// Read size of streamed uploads.
const STREAM_READ: usize = 256 * 1024;

impl Client {
    /// Push a blob read from `reader`, never holding more than one chunk in memory.
    ///
    /// With `expected`, the bytes are checked against its digest and size as they are read
    /// (the upload is aborted on a mismatch); without it, the digest (sha256) is computed
    /// as the bytes are sent: with [`UploadMethod::Auto`] in one streamed `PATCH` (no
    /// pre-pass over the source), with [`UploadMethod::Chunked`] chunk by chunk.
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
        let _permit = self.permit(repository, expected.map(|d| d.size)).await?;
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
            (UploadMethod::Auto, None) => self.put_one_pass(repository, session, reader).await,
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
            progress: self.inner.observed().then(|| Progress {
                client: self.clone(),
                repository: repository.clone(),
                digest: expected.digest.clone(),
            }),
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
}

struct StreamState<R> {
    reader: R,
    /// Hashes what is sent, when the caller asked for the source to be verified here.
    pipe: Option<HashPipe<Verifier>>,
    /// The body ended or failed: no more frames.
    done: bool,
    /// Read into, and split into frames; reused once hyper has sent the earlier frames,
    /// so a long upload does not touch fresh memory for every piece.
    buf: BytesMut,
    seen: u64,
    failure: Arc<Mutex<Option<Error>>>,
    url: String,
    size: u64,
    /// Where to report progress, when an observer listens.
    progress: Option<Progress>,
}

/// What a streamed upload needs to report its progress.
struct Progress {
    client: Client,
    repository: Reference,
    digest: orca_manifest::Digest,
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
                if let Some(p) = &self.progress {
                    let total = Some(self.size);
                    p.client.observe_upload(
                        &p.repository,
                        Some(&p.digest),
                        (self.seen, n as u64),
                        total,
                    );
                }
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
            Ok(()) => {
                if let Some(p) = &self.progress {
                    p.client
                        .observe_verified(&p.repository, &p.digest, self.size);
                }
                last.map(|piece| Ok(Frame::data(piece)))
            }
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
