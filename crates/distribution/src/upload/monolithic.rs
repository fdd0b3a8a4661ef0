//! Monolithic upload of a blob held in memory: `POST`, then one `PUT ?digest=`.

use bytes::Bytes;
use http::Method;
use http::header::{self};
use orca_manifest::Descriptor;
use orca_reference::Reference;

use super::{OCTET_STREAM, Prepared, PushOptions, PushOutcome, PushedBlob};
use crate::client::{Client, push_scope};
use crate::error::{Error, redact_url};
use crate::observe::{Event, RetryReason};
use crate::transport::{Body, Call, status_error};

impl Client {
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
                        url: redact_url(&self.blob_url(repository, &descriptor.digest)),
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
        let _permit = self.permit(repository, Some(descriptor.size)).await?;
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
                    self.observe_upload(
                        repository,
                        Some(&descriptor.digest),
                        (descriptor.size, descriptor.size),
                        Some(descriptor.size),
                    );
                    if options.verify_source {
                        self.observe_verified(repository, &descriptor.digest, descriptor.size);
                    }
                    return Ok(pushed(PushOutcome::Uploaded, r.warnings));
                }
                Ok(r) => status_error(r).await,
                Err(e) => e,
            };
            let retry = &self.inner.policy(repository.registry()).retry;
            if !e.is_retryable() || attempt >= retry.max_retries {
                return Err(e);
            }
            attempt += 1;
            let delay = retry.delay(attempt, None);
            self.inner.observe(|| Event::Retry {
                method: &Method::PUT,
                registry: repository.registry(),
                repository: Some(repository.repository()),
                attempt,
                reason: match &e {
                    Error::Status { status, .. } => RetryReason::Status(*status),
                    _ => RetryReason::Transport,
                },
                delay,
            });
            tokio::time::sleep(delay).await;
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
}
