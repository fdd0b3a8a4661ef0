//! A one-pass upload that starts before the blob's digest is known, raced against the
//! caller computing that digest (for example by hashing the same file on another
//! thread): the registry is asked for the blob as soon as the digest is known, and the
//! upload is abandoned when it has it.

use std::future::Future;

use orca_manifest::Descriptor;
use orca_reference::Reference;
use tokio::io::AsyncRead;

use super::one_pass::OnePass;
use super::{PushOptions, PushOutcome, PushedBlob, UploadSession};
use crate::client::Client;
use crate::error::{Error, redact_url};

/// What racing the upload against the expected descriptor came to.
enum Step {
    /// The registry has the blob: the upload was abandoned.
    Skip(Descriptor),
    /// The upload went as far as it could; `Descriptor` is what it must match.
    Finish(OnePass, Descriptor),
    /// Abandoned with this error.
    Abandon(Error),
}

impl Client {
    /// Push what `reader` yields in one pass (as [`Client::push_blob_reader`] does without
    /// a descriptor), while `expected` — the blob's descriptor, computed elsewhere, for
    /// example by hashing the same file on a thread of its own — resolves.
    ///
    /// The upload starts at once. When `expected` resolves and `options.skip_existing`
    /// is set, the registry is asked for the blob (`HEAD`) while the upload goes on (and
    /// before its session is closed, whichever ends first); if it has it, the upload is
    /// abandoned (its session cancelled with `DELETE`, best effort) and the outcome is
    /// [`PushOutcome::AlreadyExists`]. Otherwise the upload runs to
    /// its end, and the digest and size computed as it was sent must equal `expected`'s
    /// before the closing `PUT ?digest=` is sent: a source that changed between the two
    /// reads fails with [`Error::DigestMismatch`] or [`Error::SizeMismatch`] and the
    /// session is cancelled, so the registry never commits it. (Where the registry refused
    /// the streamed `PATCH` and the blob went in chunks, or the source ended within the
    /// first chunk, the upload is committed before the comparison, which then fails the
    /// same way.)
    ///
    /// `expected` resolving to `None` means the caller could not compute it: the upload
    /// is abandoned with an [`Error::Config`], which the caller replaces with its own.
    /// `options.method` and `options.mount_from` are not used; the source is always
    /// hashed here, whatever `options.verify_source` says.
    pub async fn push_blob_reader_overlapped<R, K>(
        &self,
        repository: &Reference,
        reader: R,
        expected: K,
        options: &PushOptions,
    ) -> Result<PushedBlob, Error>
    where
        R: AsyncRead + Send + Unpin + 'static,
        K: Future<Output = Option<Descriptor>> + Send,
    {
        let _permit = self.permit(repository, None).await?;
        let mut session = self.start_upload(repository).await?;
        let step = self
            .race(repository, &mut session, reader, expected, options)
            .await;
        match step {
            Step::Skip(descriptor) => {
                self.cancel_upload(repository, &session).await;
                Ok(PushedBlob {
                    digest: descriptor.digest,
                    size: descriptor.size,
                    outcome: PushOutcome::AlreadyExists,
                    warnings: Vec::new(),
                })
            }
            Step::Abandon(e) => {
                self.cancel_upload(repository, &session).await;
                Err(e)
            }
            Step::Finish(OnePass::Done(pushed), expected) => {
                let url = self.uploads_url(repository);
                mismatch(&url, &expected, &pushed.digest, pushed.size).map_or(Ok(pushed), Err)
            }
            Step::Finish(OnePass::Sent { digest, size }, expected) => {
                let url = session.location.to_string();
                if let Some(e) = mismatch(&url, &expected, &digest, size) {
                    self.cancel_upload(repository, &session).await;
                    return Err(e);
                }
                self.close_upload(repository, &session, &digest, size).await
            }
        }
    }

    /// Runs the upload against `expected` and the existence check that follows it, up to
    /// the closing `PUT`.
    async fn race<R, K>(
        &self,
        repository: &Reference,
        session: &mut UploadSession,
        reader: R,
        expected: K,
        options: &PushOptions,
    ) -> Step
    where
        R: AsyncRead + Send + Unpin + 'static,
        K: Future<Output = Option<Descriptor>> + Send,
    {
        let upload = self.send_one_pass(repository, session, reader);
        tokio::pin!(upload);
        tokio::pin!(expected);
        // Whichever ends first; `sent` is set once the upload went as far as it can.
        let mut sent = None;
        let descriptor = tokio::select! {
            done = &mut upload => match done {
                // Its failures already cancelled the session.
                Err(e) => return Step::Abandon(e),
                Ok(done) => {
                    sent = Some(done);
                    match expected.await {
                        Some(d) => d,
                        None => return Step::Abandon(unknown()),
                    }
                }
            },
            known = &mut expected => match known {
                Some(d) => d,
                None => return Step::Abandon(unknown()),
            },
        };
        if let Err(e) = self.check_blob_cap(repository, descriptor.size, "") {
            return Step::Abandon(e);
        }
        if options.skip_existing {
            // Asked before the session is closed, even when the upload ended first, so
            // that a blob the registry has is never uploaded again.
            let digest = descriptor.digest.clone();
            let head = self.blob_exists(repository, &digest);
            tokio::pin!(head);
            let found = if sent.is_some() {
                head.await
            } else {
                tokio::select! {
                    found = &mut head => found,
                    done = &mut upload => match done {
                        Err(e) => return Step::Abandon(e),
                        Ok(done) => {
                            sent = Some(done);
                            head.await
                        }
                    },
                }
            };
            match found {
                Ok(Some(_)) => {
                    return match sent {
                        // Already committed (a small blob, or chunks): nothing to skip.
                        Some(done @ OnePass::Done(_)) => Step::Finish(done, descriptor),
                        _ => Step::Skip(descriptor),
                    };
                }
                Ok(None) => {}
                Err(e) => return Step::Abandon(e),
            }
        }
        match sent {
            Some(done) => Step::Finish(done, descriptor),
            None => match upload.await {
                Ok(done) => Step::Finish(done, descriptor),
                Err(e) => Step::Abandon(e),
            },
        }
    }
}

fn unknown() -> Error {
    Error::config("the blob's expected digest could not be computed")
}

/// The error when what was sent (`digest`, `size`) is not the `expected` blob.
fn mismatch(
    url: &str,
    expected: &Descriptor,
    digest: &orca_manifest::Digest,
    size: u64,
) -> Option<Error> {
    if size != expected.size {
        return Some(Error::SizeMismatch {
            url: redact_url(url),
            expected: expected.size,
            actual: size,
        });
    }
    (*digest != expected.digest).then(|| Error::DigestMismatch {
        url: redact_url(url),
        expected: expected.digest.clone(),
        actual: digest.clone(),
    })
}
