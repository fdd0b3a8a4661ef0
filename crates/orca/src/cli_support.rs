//! What the `orca` command line needs beyond the service calls: blobs addressed by digest
//! (`orca blob fetch|push|delete`), a login check (`orca login`) and the refresh token a login
//! with Azure AD obtains (`orca login --azure`).
//!
//! Added by the CLI (crates/cli) in its own file, so the facade's own modules stay as
//! their author wrote them.

use futures_util::StreamExt;
use orca_auth::Secret;
use orca_manifest::{Descriptor, Digest};
use orca_reference::Reference;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::artifact_store::{pinned_digest, remote};
use crate::error::from_distribution;
use crate::observer::{Direction, Event, TransferOutcome};
use crate::{ArtifactStore, Error};

/// The media type reported for a blob whose manifest is not known.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

impl ArtifactStore {
    /// The reference and digest of a blob argument `registry/repository@digest`.
    fn blob_reference(&self, reference: &str) -> Result<(Reference, Digest), Error> {
        let (parsed, _) = self.locate(reference)?;
        let digest = pinned_digest(&parsed).ok_or_else(|| Error::InvalidArgument {
            message: format!("{reference}: a blob is named by REGISTRY/REPOSITORY@DIGEST"),
            source: None,
        })?;
        Ok((parsed, digest))
    }

    /// The descriptor of the blob `reference` names (`registry/repository@digest`): one
    /// `HEAD`; the media type is `application/octet-stream` (a blob has none of its own).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the reference has no digest,
    /// [`Error::ArtifactNotFound`] when the registry has no such blob, and the registry's
    /// errors.
    pub async fn blob_descriptor(&self, reference: &str) -> Result<Descriptor, Error> {
        let (parsed, digest) = self.blob_reference(reference)?;
        let size = self
            .inner
            .client
            .blob_exists(&parsed, &digest)
            .await
            .map_err(|e| remote(&parsed, e))?
            .ok_or_else(|| Error::ArtifactNotFound {
                reference: reference.to_owned(),
                source: None,
            })?;
        Ok(Descriptor::new(OCTET_STREAM, digest, size))
    }

    /// Stream the blob `reference` names (`registry/repository@digest`) into `writer`,
    /// its size and digest verified as the bytes arrive; progress goes to the observer.
    /// Returns its descriptor.
    ///
    /// # Errors
    ///
    /// As [`ArtifactStore::blob_descriptor`]; [`Error::DigestMismatch`] when the bytes do
    /// not match (what was written before the check failed stays written: write to a
    /// temporary file and rename it on success, or use
    /// [`ArtifactStore::fetch_blob_to_file`]); [`Error::Internal`] when `writer` fails.
    pub async fn fetch_blob_to<W: AsyncWrite + Unpin>(
        &self,
        reference: &str,
        writer: &mut W,
    ) -> Result<Descriptor, Error> {
        let (parsed, descriptor, mut stream) = self.observed_blob(reference).await?;
        let written = |e| Error::Internal {
            message: format!("{reference}: writing the blob"),
            source: Some(Box::new(e)),
        };
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| remote(&parsed, e))?;
            writer.write_all(&piece).await.map_err(written)?;
        }
        writer.flush().await.map_err(written)?;
        self.finished_blob(&descriptor);
        Ok(descriptor)
    }

    /// Download the blob `reference` names (`registry/repository@digest`) to the file
    /// `path`, placed (mode 0644, replacing a file there) only once every byte is
    /// verified: until then it is a temporary file beside `path`, removed on failure, so
    /// `path` is left as it was. Writing overlaps receiving. Returns its descriptor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `path` is a directory (before any request); as
    /// [`ArtifactStore::blob_descriptor`]; [`Error::DigestMismatch`] when the bytes do
    /// not match; [`Error::Internal`] when the file cannot be written.
    pub async fn fetch_blob_to_file(
        &self,
        reference: &str,
        path: &std::path::Path,
    ) -> Result<Descriptor, Error> {
        if path.is_dir() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "{} is a directory; name the file to write the blob to",
                    path.display()
                ),
                source: None,
            });
        }
        let (parsed, descriptor, stream) = self.observed_blob(reference).await?;
        stream.save(path).await.map_err(|e| remote(&parsed, e))?;
        self.finished_blob(&descriptor);
        Ok(descriptor)
    }

    /// The verified stream of the blob `reference` names, started and its progress
    /// reported to the observer (the caller reports its end).
    async fn observed_blob(
        &self,
        reference: &str,
    ) -> Result<(Reference, Descriptor, orca_distribution::BlobStream), Error> {
        let descriptor = self.blob_descriptor(reference).await?;
        let (parsed, _) = self.blob_reference(reference)?;
        if let Some(observer) = &self.inner.observer {
            observer.on_event(&Event::TransferStarted {
                direction: Direction::Download,
                descriptor: descriptor.clone(),
            });
        }
        let stream = self
            .inner
            .client
            .fetch_blob(&parsed, &descriptor)
            .await
            .map_err(|e| remote(&parsed, e))?;
        let stream = match self.inner.observer.clone() {
            Some(observer) => {
                let digest = descriptor.digest.clone();
                stream.on_piece(move |piece| {
                    observer.on_event(&Event::Progress {
                        direction: Direction::Download,
                        digest: digest.clone(),
                        bytes: piece.len() as u64,
                    });
                })
            }
            None => stream,
        };
        Ok((parsed, descriptor, stream))
    }

    fn finished_blob(&self, descriptor: &Descriptor) {
        if let Some(observer) = &self.inner.observer {
            observer.on_event(&Event::TransferFinished {
                direction: Direction::Download,
                descriptor: descriptor.clone(),
                outcome: TransferOutcome::Transferred,
            });
        }
    }

    /// Push the file at `path` as one blob of `reference`'s repository, as `oras blob push`
    /// does: `registry/repository`, or `registry/repository@digest` when the digest is
    /// known (the file is then sent without hashing it first, and the registry refuses to
    /// commit bytes that do not hash to it, as for every push). A blob the registry has is
    /// not sent again (nor, with a digest given, read). Returns its descriptor (media type
    /// `application/octet-stream`) and whether the registry already had it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `path` is not a readable file (before any request);
    /// [`Error::InvalidArgument`] too when the registry finds the file does not hash to
    /// the digest given; the registry's errors.
    pub async fn push_blob_file(
        &self,
        reference: &str,
        path: &std::path::Path,
    ) -> Result<(Descriptor, bool), Error> {
        self.push_blob_file_inner(reference, path).await
    }

    /// Delete the blob `reference` names (`registry/repository@digest`). Returns its
    /// digest.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the reference has no digest or the registry does not
    /// allow deletes, [`Error::ArtifactNotFound`], and the registry's errors.
    pub async fn delete_blob(&self, reference: &str) -> Result<Digest, Error> {
        let (parsed, digest) = self.blob_reference(reference)?;
        self.inner
            .client
            .delete_blob(&parsed, &digest)
            .await
            .map_err(|e| remote(&parsed, e))?;
        Ok(digest)
    }

    /// Check that `registry` (`host[:port]`) answers the distribution API and accepts this
    /// store's credentials for it (`GET /v2/`, authenticating when asked).
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`] when the credentials are refused,
    /// [`Error::FailedToConnectToArtifactStore`], and the registry's errors.
    pub async fn check_registry(&self, registry: &str) -> Result<(), Error> {
        let (parsed, _) = self.locate(&format!("{registry}/orca-login-check"))?;
        self.inner
            .client
            .ping(registry)
            .await
            // Named by the registry alone: the placeholder repository used to find the
            // store is not something the user asked for.
            .map_err(|e| from_distribution(registry, parsed.registry(), e))
    }

    /// Authenticate to `registry` (`host[:port]`) with this store's credentials, as
    /// [`check_registry`](Self::check_registry) does, and return the refresh token its token
    /// service handed out: for an Azure AD credential, the ACR refresh token from
    /// `/oauth2/exchange` — what `az acr login` stores in docker's `config.json` as the
    /// `identitytoken` of the user `00000000-0000-0000-0000-000000000000`.
    ///
    /// # Errors
    ///
    /// As [`check_registry`](Self::check_registry); [`Error::InvalidArgument`] when the
    /// registry accepted the credentials without handing out a refresh token (it is not an
    /// Azure Container Registry, or its token service has no exchange).
    ///
    /// # Security
    ///
    /// The token grants what the credential grants until it expires (hours for ACR).
    pub async fn login_refresh_token(&self, registry: &str) -> Result<Secret, Error> {
        self.check_registry(registry).await?;
        self.inner
            .client
            .refresh_token(registry)
            .ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "{registry} accepted the credentials but handed out no refresh token: \
                     it does not exchange Azure AD tokens (/oauth2/exchange) as Azure Container \
                     Registry does"
                ),
                source: None,
            })
    }
}
