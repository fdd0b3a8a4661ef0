//! Blob uploads: the options and outcomes shared by every method, the upload session,
//! and the steps each method starts with (existence check, mount, session).
//!
//! One file per method: [`monolithic`] (`POST` + one `PUT`), [`single_post`] (one
//! `POST ?digest=`), [`streamed`] (a reader or stream, sent as one streamed `PUT` or in
//! chunks), [`one_pass`] (digest unknown: one streamed `PATCH`, then `PUT ?digest=`),
//! [`overlapped`] (one pass raced against the caller hashing the source, skipped when the
//! registry has the blob), [`chunked`] (`PATCH` per chunk), [`mount`] (cross-repository
//! mount).

mod chunked;
mod monolithic;
mod mount;
mod one_pass;
mod overlapped;
mod single_post;
mod streamed;

pub use mount::MountOutcome;

use http::Method;
use http::header::{self, HeaderName};
use orca_manifest::Digest;
use orca_reference::Reference;
use tokio::sync::OwnedSemaphorePermit;

use crate::client::{Client, push_scope};
use crate::error::{Error, redact_url};
use crate::observe::{Direction, Event};
use crate::transport::{Call, Response};

/// `OCI-Chunk-Min-Length`: the smallest PATCH a registry accepts (except the last).
const OCI_CHUNK_MIN_LENGTH: HeaderName = HeaderName::from_static("oci-chunk-min-length");
const OCTET_STREAM: &str = "application/octet-stream";

/// How [`Client::push_blob_reader`] uploads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadMethod {
    /// Streamed monolithic `PUT` when the digest is known; otherwise one pass over the
    /// source: one streamed `PATCH` without `Content-Range`, hashed as it is sent, then
    /// `PUT ?digest=` (a source that ends within the first chunk goes in one `PUT`), in
    /// chunks where the registry refuses the streamed `PATCH`.
    #[default]
    Auto,
    /// `POST` then one `PUT ?digest=` carrying the whole blob, streamed as it is read
    /// (needs the digest up front).
    Streamed,
    /// `POST`, a `PATCH` per chunk with `Content-Range`, then `PUT ?digest=`.
    Chunked,
}

/// Options for blob pushes.
///
/// ```
/// use orca_distribution::{PushOptions, UploadMethod};
///
/// let options = PushOptions::builder().method(UploadMethod::Chunked).skip_existing(true).build();
/// assert!(options.skip_existing);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
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

impl PushOptions {
    /// A builder starting from [`PushOptions::default`].
    pub fn builder() -> PushOptionsBuilder {
        PushOptionsBuilder(PushOptions::default())
    }
}

/// Builds [`PushOptions`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PushOptionsBuilder(PushOptions);

impl PushOptionsBuilder {
    /// [`PushOptions::method`].
    pub fn method(mut self, method: UploadMethod) -> Self {
        self.0.method = method;
        self
    }

    /// [`PushOptions::mount_from`].
    pub fn mount_from(mut self, repository: impl Into<String>) -> Self {
        self.0.mount_from = Some(repository.into());
        self
    }

    /// [`PushOptions::skip_existing`].
    pub fn skip_existing(mut self, yes: bool) -> Self {
        self.0.skip_existing = yes;
        self
    }

    /// [`PushOptions::verify_source`].
    pub fn verify_source(mut self, yes: bool) -> Self {
        self.0.verify_source = yes;
        self
    }

    /// The options.
    pub fn build(self) -> PushOptions {
        self.0
    }
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
    fn uploads_url(&self, repository: &Reference) -> String {
        self.repo_url(
            repository.registry(),
            repository.repository(),
            "blobs/uploads/",
        )
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

    /// A transfer slot of the repository's registry, after checking a known `size`
    /// against its blob cap.
    async fn permit(
        &self,
        repository: &Reference,
        size: Option<u64>,
    ) -> Result<OwnedSemaphorePermit, Error> {
        if let Some(size) = size {
            self.check_blob_cap(repository, size, &self.uploads_url(repository))?;
        }
        self.inner.transfer_permit(repository.registry()).await
    }

    /// Report `bytes` of `total` sent for `digest`, `moved` of them since the last report.
    fn observe_upload(
        &self,
        repository: &Reference,
        digest: Option<&Digest>,
        (bytes, moved): (u64, u64),
        total: Option<u64>,
    ) {
        self.inner.observe(|| Event::Bytes {
            registry: repository.registry(),
            repository: repository.repository(),
            digest,
            direction: Direction::Upload,
            bytes,
            moved,
            total,
        });
    }

    /// Report that the blob sent was hashed here and matched `digest`.
    fn observe_verified(&self, repository: &Reference, digest: &Digest, size: u64) {
        self.inner.observe(|| Event::Verified {
            registry: repository.registry(),
            repository: repository.repository(),
            digest,
            size,
            direction: Direction::Upload,
        });
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
