//! Chunked upload: a `PATCH` per chunk with `Content-Range`, recovering from refused
//! or lost chunks by asking the session how much it has, then `PUT ?digest=`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Method;
use http::header::{self};
use orca_manifest::{Algorithm, Descriptor, Hasher};
use orca_reference::Reference;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{OCTET_STREAM, PushOutcome, PushedBlob, UploadSession};
use crate::client::{Client, push_scope};
use crate::error::{Error, redact_url, status_is_retryable};
use crate::observe::{Event, RetryReason};
use crate::transport::{Body, Call, status_error};

/// Read up to `chunk` bytes (fewer only at the end of `reader`).
pub(super) async fn read_chunk<R: AsyncRead + Unpin>(
    reader: &mut R,
    chunk: usize,
) -> Result<Bytes, Error> {
    let mut buf = BytesMut::with_capacity(chunk);
    while buf.len() < chunk {
        let n = reader
            .take((chunk - buf.len()) as u64)
            .read_buf(&mut buf)
            .await
            .map_err(Error::Io)?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
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

impl Client {
    pub(super) async fn put_chunked<R>(
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
        let cap = self.inner.policy(repository.registry()).max_blob_bytes;
        loop {
            let data = read_chunk(&mut reader, chunk).await?;
            if data.is_empty() {
                break;
            }
            if let Some(d) = expected
                && offset + data.len() as u64 > d.size
            {
                self.cancel_upload(repository, session).await;
                return Err(Error::SizeExceeded {
                    url: redact_url(session.location.as_str()),
                    limit: d.size,
                });
            }
            if let Some(limit) = cap
                && offset + data.len() as u64 > limit
            {
                self.cancel_upload(repository, session).await;
                return Err(Error::SizeExceeded {
                    url: String::new(),
                    limit,
                });
            }
            hasher.update(&data);
            let len = data.len();
            self.patch_chunk(repository, session, offset, data).await?;
            offset += len as u64;
            self.observe_upload(
                repository,
                expected.map(|d| &d.digest),
                (offset, len as u64),
                expected.map(|d| d.size),
            );
            if len < chunk {
                break;
            }
        }
        let digest = hasher.finish();
        if let Some(d) = expected {
            if offset != d.size {
                self.cancel_upload(repository, session).await;
                return Err(Error::SizeMismatch {
                    url: redact_url(session.location.as_str()),
                    expected: d.size,
                    actual: offset,
                });
            }
            if digest != d.digest {
                self.cancel_upload(repository, session).await;
                return Err(Error::DigestMismatch {
                    url: redact_url(session.location.as_str()),
                    expected: d.digest.clone(),
                    actual: digest,
                });
            }
            self.observe_verified(repository, &d.digest, d.size);
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
            if attempt
                > self
                    .inner
                    .policy(repository.registry())
                    .retry
                    .max_retries
                    .max(1)
            {
                return Err(failure.unwrap_or_else(|| {
                    Error::protocol(
                        &Method::PATCH,
                        session.location.as_str(),
                        "the registry keeps refusing the chunk range",
                    )
                }));
            }
            let delay = match &failure {
                Some(e) => {
                    tracing::debug!(error = %e, "chunk upload failed; checking the upload state");
                    self.inner
                        .policy(repository.registry())
                        .retry
                        .delay(attempt, None)
                }
                None => Duration::ZERO,
            };
            self.inner.observe(|| Event::Retry {
                method: &Method::PATCH,
                registry: repository.registry(),
                repository: Some(repository.repository()),
                attempt,
                reason: RetryReason::Chunk,
                delay,
            });
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
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

    pub(super) async fn cancel_upload(&self, repository: &Reference, session: &UploadSession) {
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

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn upload_ranges_round_trip(end in 0u64..u64::MAX - 1) {
            proptest::prop_assert_eq!(parse_upload_range(&format!("0-{end}")), Some(end + 1));
        }
    }

    #[test]
    fn upload_ranges_parse() {
        assert_eq!(parse_upload_range("0-99"), Some(100));
        assert_eq!(parse_upload_range("bytes=0-0"), Some(1));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("junk"), None);
    }
}
