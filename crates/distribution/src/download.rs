//! Blob downloads: [`BlobStream`], verified as bytes arrive and resumed with `Range`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::Method;
use http::header::{self};
use http_body_util::BodyExt;
use orca_manifest::{Descriptor, Digest, Verifier};
use orca_reference::Reference;
use tokio::sync::OwnedSemaphorePermit;

use crate::client::{Client, pull_scope};
use crate::error::{Error, redact_url};
use crate::transport::{Call, status_error};

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

/// `bytes <start>-<end>/<total>` → start.
fn parse_content_range_start(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes").map_or(value, str::trim_start);
    let value = value.strip_prefix('=').unwrap_or(value).trim();
    value.split('-').next()?.trim().parse().ok()
}

impl Client {
    fn blob_url(&self, repository: &Reference, digest: &Digest) -> String {
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
}
