//! The registry client: manifests, blobs, tags, catalog, referrers.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderName};
use orca_auth::{Action, Authenticator, Scope};
use orca_manifest::{Descriptor, Digest, ImageIndex, Manifest, ParseOptions, media_types};
use orca_reference::Reference;

use crate::config::ClientConfig;
use crate::error::{BoxError, Error, ErrorKind, redact_url};
use crate::sanitize::{Secrets, excerpt};
use crate::transport::{Body, Call, Transport, status_error};

/// `Docker-Content-Digest`.
pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");
/// `OCI-Subject`, sent by registries that process a pushed manifest's `subject`.
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Filters-Applied`, sent by registries that filtered referrers server-side.
pub(crate) const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// An OCI distribution-spec client.
///
/// Cheap to clone: clones share one connection pool, one token cache and one transfer
/// limit. Every request asks the [`Authenticator`] for a cached `Authorization` first; on a
/// 401 it negotiates once (token service, ACR exchange) and repeats the request.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Transport>,
}

/// Options for [`Client::fetch_manifest`].
///
/// ```
/// use orca_distribution::FetchOptions;
///
/// let options = FetchOptions::builder().max_bytes(64 * 1024).build();
/// assert_eq!(options.max_bytes, Some(64 * 1024));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Media types for the `Accept` header; empty means
    /// [`media_types::MANIFEST_ACCEPT`] (OCI manifest and index, Docker manifest and list).
    pub accept: Vec<String>,
    /// The largest manifest accepted; `None` means the registry's [`RegistryPolicy::max_manifest_bytes`](crate::RegistryPolicy::max_manifest_bytes).
    pub max_bytes: Option<u64>,
}

impl FetchOptions {
    /// A builder starting from [`FetchOptions::default`].
    pub fn builder() -> FetchOptionsBuilder {
        FetchOptionsBuilder(FetchOptions::default())
    }
}

/// Builds [`FetchOptions`].
#[derive(Clone, Debug)]
#[must_use]
pub struct FetchOptionsBuilder(FetchOptions);

impl FetchOptionsBuilder {
    /// Add a media type to [`FetchOptions::accept`].
    pub fn accept(mut self, media_type: impl Into<String>) -> Self {
        self.0.accept.push(media_type.into());
        self
    }

    /// [`FetchOptions::max_bytes`].
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.0.max_bytes = Some(n);
        self
    }

    /// The options.
    pub fn build(self) -> FetchOptions {
        self.0
    }
}

/// A manifest as received: its exact bytes, parsed, and the descriptor computed over them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedManifest {
    /// Media type (from the body's `mediaType`, else `Content-Type`), digest (verified,
    /// in the algorithm it was asked for: a manifest fetched by a sha512 digest has that
    /// sha512 digest), size and artifact type of the bytes received.
    pub descriptor: Descriptor,
    /// The bytes received; the digest was computed over exactly these.
    pub bytes: Bytes,
    /// The manifest parsed from [`FetchedManifest::bytes`].
    pub manifest: Manifest,
    /// `Warning: 299` texts the registry sent.
    pub warnings: Vec<String>,
    /// The URL the manifest was fetched from, credentials stripped (errors about it
    /// name it).
    pub url: String,
}

impl FetchedManifest {
    /// The parsed manifest, [`FetchedManifest::manifest`] (a field since the fetch parses).
    ///
    /// # Errors
    /// None: kept for callers of the time before [`FetchedManifest::manifest`] was a field: the
    /// fetch already parsed the bytes, so this never fails.
    pub fn manifest(&self) -> Result<Manifest, Error> {
        Ok(self.manifest.clone())
    }
}

/// What a manifest push returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushedManifest {
    /// The manifest's full descriptor: media type, digest, size, artifact type (what an
    /// index or a referrers list names it by).
    pub descriptor: Descriptor,
    /// The digest of the bytes pushed (the descriptor's; sha256 unless the reference
    /// pinned another algorithm).
    pub digest: Digest,
    /// The `OCI-Subject` header: the registry processed the manifest's `subject`.
    pub subject: Option<Digest>,
    /// Whether orca updated the referrers tag-schema index (`<alg>-<hex>`) because the
    /// registry did not acknowledge the `subject`.
    pub updated_referrers_tag: bool,
    /// `Warning: 299` texts the registry sent.
    pub warnings: Vec<String>,
}

/// The referrers of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrers {
    /// The referrer descriptors (already filtered by artifact type when one was given).
    pub manifests: Vec<Descriptor>,
    /// Whether the answer came from the referrers tag schema (`<alg>-<hex>`) because the
    /// registry has no referrers API.
    pub from_tag_schema: bool,
}

pub(crate) fn pull_scope(repository: &str) -> Vec<Scope> {
    vec![Scope::repository(repository, &[Action::Pull])]
}

pub(crate) fn push_scope(repository: &str) -> Vec<Scope> {
    vec![Scope::repository(repository, &[Action::Pull, Action::Push])]
}

fn delete_scope(repository: &str) -> Vec<Scope> {
    vec![Scope::repository(repository, &[Action::Delete])]
}

impl Client {
    /// A client that authenticates anonymously (it still negotiates anonymous tokens
    /// when a registry asks for them).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let auth = Authenticator::new(
            Arc::new(orca_auth::Anonymous),
            orca_auth::AuthOptions::default(),
        );
        Client::with_authenticator(config, auth)
    }

    /// A client that authenticates with `auth` (which may be shared with other clients).
    pub fn with_authenticator(config: ClientConfig, auth: Authenticator) -> Result<Client, Error> {
        Ok(Client {
            inner: Arc::new(Transport::new(config, Some(auth))?),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn repo_url(&self, registry: &str, repository: &str, rest: &str) -> String {
        format!("{}/v2/{repository}/{rest}", self.inner.base_url(registry))
    }

    /// The refresh token `registry`'s token service handed this client while
    /// authenticating (ACR's `/oauth2/exchange` answer, or a token response's `refresh_token`): what
    /// `docker login` stores as an identity token. Ask after a request that authenticated,
    /// such as [`ping`](Self::ping). See [`Authenticator::refresh_token`].
    pub fn refresh_token(&self, registry: &str) -> Option<orca_auth::Secret> {
        self.inner.auth.as_ref()?.refresh_token(registry)
    }

    /// `GET /v2/`: whether the registry speaks the distribution API and accepts our
    /// credentials (a 401 is negotiated like any other).
    pub async fn ping(&self, registry: &str) -> Result<(), Error> {
        let url = format!("{}/v2/", self.inner.base_url(registry));
        let call = Call::new(Method::GET, url, registry, Vec::new());
        self.inner.send_expect(call, &[200]).await.map(drop)
    }

    /// Resolve a reference to its manifest's descriptor: `HEAD` first, falling back to
    /// `GET` when the registry answers `HEAD` without a digest, size or media type, or
    /// does not support it (400, 405, 501). A 403 is asked again as `GET` once, for the
    /// reason only a body can carry (ACR's network rules, a pull-through front whose
    /// upstream refused it). Any other status is the answer: a 401 that negotiation could
    /// not overcome is not sent again as `GET`.
    ///
    /// # Errors
    /// [`Error::DigestMismatch`] when the reference pins a digest and the registry
    /// reports another.
    pub async fn resolve(&self, reference: &Reference) -> Result<Descriptor, Error> {
        let url = self.manifest_url(reference);
        let call = Call::new(
            Method::HEAD,
            url.clone(),
            reference.registry(),
            pull_scope(reference.repository()),
        )
        .header(header::ACCEPT, &media_types::MANIFEST_ACCEPT.join(", "))?;
        let response = self.inner.send(call).await?;
        if response.status.as_u16() == 200 {
            let digest = response
                .header_str(&DOCKER_CONTENT_DIGEST)
                .and_then(|d| Digest::parse(d.trim()).ok());
            let media_type = response
                .header_str(&header::CONTENT_TYPE)
                .map(media_types::essence);
            let size = response
                .header_str(&header::CONTENT_LENGTH)
                .and_then(|l| l.trim().parse::<u64>().ok());
            if let (Some(digest), Some(media_type), Some(size)) = (digest, media_type, size) {
                if let Some(pinned) = pinned_digest(reference)
                    && pinned != digest
                {
                    return Err(Error::DigestMismatch {
                        url: redact_url(&url),
                        expected: pinned,
                        actual: digest,
                    });
                }
                return Ok(Descriptor::new(media_type, digest, size));
            }
        } else if !matches!(response.status.as_u16(), 400 | 403 | 405 | 501) {
            // Only a registry that does not do `HEAD` (405, 501, or 400 for the method) is
            // asked again with `GET`; a 401, 403, 404, 429 or 5xx would be answered the
            // same way, and repeating it would only hide the first answer.
            return Err(status_error(response).await);
        }
        let fetched = self
            .fetch_manifest(reference, &FetchOptions::default())
            .await?;
        Ok(fetched.descriptor)
    }

    fn manifest_url(&self, reference: &Reference) -> String {
        self.repo_url(
            reference.registry(),
            reference.repository(),
            &format!("manifests/{}", reference.manifest_reference()),
        )
    }

    /// Fetch a manifest's bytes.
    ///
    /// The digest is verified when the reference pins one, else against
    /// `Docker-Content-Digest` when the registry sends it; the body's `mediaType` must
    /// match `Content-Type`.
    ///
    /// # Errors
    /// [`Error::SizeExceeded`] above the size cap (checked on `Content-Length` before
    /// reading, and while reading); [`Error::DigestMismatch`]; [`Error::Protocol`] for a
    /// media type mismatch or a body that is not JSON.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
        options: &FetchOptions,
    ) -> Result<FetchedManifest, Error> {
        let url = self.manifest_url(reference);
        let accept = if options.accept.is_empty() {
            media_types::MANIFEST_ACCEPT.join(", ")
        } else {
            options.accept.join(", ")
        };
        let call = Call::new(
            Method::GET,
            url.clone(),
            reference.registry(),
            pull_scope(reference.repository()),
        )
        .header(header::ACCEPT, &accept)?;
        let response = self.inner.send_expect(call, &[200]).await?;
        let limit = options
            .max_bytes
            .unwrap_or(self.inner.policy(reference.registry()).max_manifest_bytes);
        if let Some(length) = response
            .header_str(&header::CONTENT_LENGTH)
            .and_then(|l| l.trim().parse::<u64>().ok())
            && length > limit
        {
            return Err(Error::SizeExceeded {
                url: redact_url(&url),
                limit,
            });
        }
        // A generic Content-Type (`application/json`, `text/plain`, …) says nothing about
        // the manifest: the body's `mediaType` decides, as in `orca_manifest::Manifest`.
        let content_type = response
            .header_str(&header::CONTENT_TYPE)
            .map(|c| media_types::essence(c).to_owned())
            .filter(|c| !media_types::is_generic(c));
        let header_digest = response
            .header_str(&DOCKER_CONTENT_DIGEST)
            .map(|d| d.trim().to_owned());
        let warnings = response.warnings.clone();
        let method = response.method.clone();
        let bytes = self
            .inner
            .collect(response.body, limit, &method, &url)
            .await?;
        // Cap as the fetch did (the parser's own cap is its default 4 MiB).
        let parse = parse_options(limit);
        let manifest = Manifest::parse_with(bytes.clone(), content_type.as_deref(), &parse)
            .map_err(|e| Error::InvalidContent {
                method: method.to_string(),
                url: redact_url(&url),
                message: format!(
                    "the registry's answer is not a manifest orca reads: {}",
                    excerpt(&e.to_string(), &Secrets::default())
                ),
                source: Box::new(e),
            })?;
        let expected = match pinned_digest(reference) {
            Some(d) => Some(d),
            None => match header_digest {
                Some(h) => Some(Digest::parse(&h).map_err(|e| Error::InvalidContent {
                    method: method.to_string(),
                    url: redact_url(&url),
                    message: format!(
                        "invalid Docker-Content-Digest {:?}",
                        excerpt(&h, &Secrets::default())
                    ),
                    source: Box::new(e),
                })?),
                None => None,
            },
        };
        let mut descriptor = manifest.descriptor();
        if let Some(expected) = expected {
            verify_manifest(&manifest, &expected, &method, &url)?;
            descriptor.digest = expected;
        }
        Ok(FetchedManifest {
            descriptor,
            bytes,
            manifest,
            warnings,
            url: redact_url(&url),
        })
    }

    /// Push manifest bytes of `media_type` under the reference's tag (or digest): the
    /// bytes are parsed as a [`Manifest`] first, then pushed as
    /// [`Client::push_manifest_value`] does.
    ///
    /// # Errors
    /// [`Error::Config`] when the bytes are not a manifest of `media_type` orca reads;
    /// otherwise as [`Client::push_manifest_value`].
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<PushedManifest, Error> {
        let parse = parse_options(self.inner.policy(reference.registry()).max_manifest_bytes);
        let manifest =
            Manifest::parse_with(bytes, Some(media_type), &parse).map_err(|e| Error::Config {
                message: format!("the manifest to push is not a {media_type} orca reads"),
                source: Some(Box::new(e)),
            })?;
        self.push_manifest_value(reference, &manifest).await
    }

    /// Push `manifest` (its exact bytes, with its media type as `Content-Type`) under the
    /// reference's tag (or digest); returns its full descriptor.
    ///
    /// The digest is sha256 unless the reference pins one of another algorithm (sha512),
    /// which the bytes must then have. When the manifest has a `subject` and the registry
    /// does not answer with `OCI-Subject`, the referrers tag-schema index (`<alg>-<hex>`)
    /// is updated so that registries without the referrers API still list the referrer.
    ///
    /// # Errors
    /// [`Error::DigestMismatch`] when the reference pins a digest the bytes do not have;
    /// the registry's refusal as [`Error::Status`].
    pub async fn push_manifest_value(
        &self,
        reference: &Reference,
        manifest: &Manifest,
    ) -> Result<PushedManifest, Error> {
        let url = self.manifest_url(reference);
        let mut descriptor = manifest.descriptor();
        if let Some(pinned) = pinned_digest(reference) {
            verify_manifest(manifest, &pinned, &Method::PUT, &url)?;
            descriptor.digest = pinned;
        }
        let (subject_header, warnings) = self
            .put_manifest(reference, manifest.bytes().clone(), manifest.media_type())
            .await?;
        let mut updated_referrers_tag = false;
        if let (Some(subject), None) = (manifest.subject(), &subject_header) {
            let mut referrer = manifest.referrer_descriptor();
            referrer.digest = descriptor.digest.clone();
            // Boxed: a read-modify-write of the index inside a push would make every
            // push's future several kilobytes larger.
            Box::pin(self.index_referrer(reference, &subject.digest, referrer)).await?;
            updated_referrers_tag = true;
        }
        Ok(PushedManifest {
            digest: descriptor.digest.clone(),
            descriptor,
            subject: subject_header,
            updated_referrers_tag,
            warnings,
        })
    }

    async fn put_manifest(
        &self,
        reference: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<(Option<Digest>, Vec<String>), Error> {
        let url = self.manifest_url(reference);
        let mut call = Call::new(
            Method::PUT,
            url,
            reference.registry(),
            push_scope(reference.repository()),
        )
        .header(header::CONTENT_TYPE, media_type)?
        .body(Body::Bytes(bytes));
        // A manifest PUT replaces the same content under the same name: repeating it is
        // harmless.
        call.idempotent = true;
        let response = self.inner.send_expect(call, &[201]).await?;
        let subject = response
            .header_str(&OCI_SUBJECT)
            .and_then(|s| Digest::parse(s.trim()).ok());
        Ok((subject, response.warnings))
    }

    /// Add `referrer` to the referrers tag-schema index of `subject` (the OCI image index
    /// tagged `<alg>-<hex>` in the reference's repository), creating it if needed.
    ///
    /// [`Client::push_manifest`] does this by itself when the registry does not answer
    /// `OCI-Subject`; call it directly when copying referrers, or for a registry that
    /// acknowledges subjects without serving the referrers API.
    ///
    /// # Limitations
    /// Read-modify-write without a lock, as the spec describes: two concurrent updates of
    /// one subject's index can lose an entry.
    pub async fn index_referrer(
        &self,
        reference: &Reference,
        subject: &Digest,
        referrer: Descriptor,
    ) -> Result<(), Error> {
        let descriptor = referrer;
        let tag = referrers_tag(subject);
        let index_ref = Reference::new(reference.registry(), reference.repository())
            .and_then(|r| r.with_tag(&tag))
            .map_err(|e| Error::Config {
                message: format!("cannot name the referrers tag {tag}"),
                source: Some(Box::new(e)),
            })?;
        let options = FetchOptions::builder()
            .accept(media_types::OCI_IMAGE_INDEX)
            .build();
        let mut index = match self.fetch_manifest(&index_ref, &options).await {
            Ok(existing) => match existing.manifest.as_index() {
                Some(index) => index.clone(),
                None => {
                    return Err(Error::protocol(
                        &Method::GET,
                        &self.manifest_url(&index_ref),
                        format!(
                            "the referrers tag {tag} names a {}, not an image index",
                            existing.manifest.media_type()
                        ),
                    ));
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound => ImageIndex::new(Vec::new()),
            Err(e) => return Err(e),
        };
        if index
            .manifests
            .iter()
            .any(|d| d.digest == descriptor.digest)
        {
            return Ok(());
        }
        index.upsert_manifest(descriptor);
        let index = index.to_manifest().map_err(|e| Error::Config {
            message: format!("cannot serialise the referrers index {tag}"),
            source: Some(Box::new(e)),
        })?;
        self.put_manifest(&index_ref, index.bytes().clone(), index.media_type())
            .await?;
        Ok(())
    }

    /// Delete a manifest (the reference should pin a digest; registries usually refuse
    /// deleting by tag).
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<(), Error> {
        let url = self.manifest_url(reference);
        let call = Call::new(
            Method::DELETE,
            url,
            reference.registry(),
            delete_scope(reference.repository()),
        );
        self.inner
            .send_expect(call, &[202, 200, 204])
            .await
            .map(drop)
    }

    /// Delete a blob from the reference's repository.
    pub async fn delete_blob(&self, repository: &Reference, digest: &Digest) -> Result<(), Error> {
        let url = self.repo_url(
            repository.registry(),
            repository.repository(),
            &format!("blobs/{digest}"),
        );
        let call = Call::new(
            Method::DELETE,
            url,
            repository.registry(),
            delete_scope(repository.repository()),
        );
        self.inner
            .send_expect(call, &[202, 200, 204])
            .await
            .map(drop)
    }

    /// `HEAD` a blob: its size when it exists, `None` when the registry answers 404.
    ///
    /// A `200` without a usable `Content-Length` (missing, or 0 for any blob but the
    /// empty one) is not read as a size of 0: a `GET` with `Range: bytes=0-0` asks for it,
    /// and [`Error::Protocol`] says so when that does not tell either.
    pub async fn blob_exists(
        &self,
        repository: &Reference,
        digest: &Digest,
    ) -> Result<Option<u64>, Error> {
        let url = self.repo_url(
            repository.registry(),
            repository.repository(),
            &format!("blobs/{digest}"),
        );
        let call = Call::new(
            Method::HEAD,
            url.clone(),
            repository.registry(),
            pull_scope(repository.repository()),
        );
        let response = self.inner.send(call).await?;
        match response.status.as_u16() {
            200 => {
                let size = response
                    .header_str(&header::CONTENT_LENGTH)
                    .and_then(|l| l.trim().parse::<u64>().ok());
                match size {
                    // Only the empty blob has no bytes: a 0 for another digest is not
                    // its size (a registry or proxy that left the length out).
                    Some(size) if size > 0 || *digest == Digest::sha256(b"") => Ok(Some(size)),
                    _ => self.blob_size_by_range(repository, &url).await.map(Some),
                }
            }
            404 => Ok(None),
            _ => Err(status_error(response).await),
        }
    }

    /// A blob's size from `GET` with `Range: bytes=0-0`, for a registry whose `HEAD`
    /// gave none: the total of `Content-Range` (206), or `Content-Length` when the
    /// range was ignored (200); the body is not read.
    async fn blob_size_by_range(&self, repository: &Reference, url: &str) -> Result<u64, Error> {
        let call = Call::new(
            Method::GET,
            url.to_owned(),
            repository.registry(),
            pull_scope(repository.repository()),
        )
        .header(header::RANGE, "bytes=0-0")?;
        let response = self.inner.send(call).await?;
        let size = match response.status.as_u16() {
            206 => response
                .header_str(&header::CONTENT_RANGE)
                .and_then(|r| r.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse::<u64>().ok()),
            200 => response
                .header_str(&header::CONTENT_LENGTH)
                .and_then(|l| l.trim().parse::<u64>().ok()),
            _ => return Err(status_error(response).await),
        };
        size.ok_or_else(|| {
            Error::protocol(
                &Method::GET,
                url,
                "the registry has the blob but says neither on HEAD nor on a ranged GET how large it is",
            )
        })
    }

    /// The referrers of `subject` (which must pin a digest), optionally only those of
    /// `artifact_type`.
    ///
    /// Uses the referrers API; when the registry answers 404 (no API) it reads the
    /// `<alg>-<hex>` tag-schema index instead. Filtering is done client-side when the
    /// registry did not apply it (no `OCI-Filters-Applied: artifactType`).
    pub async fn referrers(
        &self,
        subject: &Reference,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        let digest = pinned_digest(subject).ok_or_else(|| {
            Error::config(format!(
                "referrers need a reference with a digest, got {subject}"
            ))
        })?;
        let mut url = url::Url::parse(&self.repo_url(
            subject.registry(),
            subject.repository(),
            &format!("referrers/{digest}"),
        ))
        .map_err(|e| Error::Config {
            message: "cannot build the referrers URL".into(),
            source: Some(Box::new(e)),
        })?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut manifests = Vec::new();
        let mut next = Some(url.to_string());
        let mut pages = 0;
        let mut filtered = artifact_type.is_none();
        while let Some(page_url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::protocol(
                    &Method::GET,
                    &page_url,
                    format!("more than {MAX_PAGES} pages"),
                ));
            }
            let call = Call::new(
                Method::GET,
                page_url.clone(),
                subject.registry(),
                pull_scope(subject.repository()),
            )
            .header(header::ACCEPT, media_types::OCI_IMAGE_INDEX)?;
            let response = self.inner.send(call).await?;
            match response.status.as_u16() {
                200 => {}
                404 | 405 if pages == 1 => {
                    drop(response);
                    return self
                        .referrers_from_tag(subject, &digest, artifact_type)
                        .await;
                }
                _ => return Err(status_error(response).await),
            }
            if response
                .header_str(&OCI_FILTERS_APPLIED)
                .is_some_and(|f| f.split(',').any(|x| x.trim() == "artifactType"))
            {
                filtered = true;
            }
            next = next_link(&response.headers, &response.url);
            let method = response.method.clone();
            let bytes = self
                .inner
                .collect(
                    response.body,
                    self.inner.policy(subject.registry()).max_manifest_bytes,
                    &method,
                    &page_url,
                )
                .await?;
            let not_an_index = |source: Option<BoxError>| Error::Protocol {
                method: method.to_string(),
                url: redact_url(&page_url),
                message: "the referrers response is not an image index".into(),
                source,
            };
            // The page was capped as it was read.
            let parse = parse_options(u64::MAX);
            let page = Manifest::parse_with(bytes, Some(media_types::OCI_IMAGE_INDEX), &parse)
                .map_err(|e| not_an_index(Some(Box::new(e))))?;
            let index = page.as_index().ok_or_else(|| not_an_index(None))?;
            manifests.extend(index.manifests.iter().cloned());
            if next.as_deref() == Some(page_url.as_str()) {
                return Err(Error::protocol(
                    &method,
                    &page_url,
                    "the Link header points at the same page",
                ));
            }
        }
        if !filtered && let Some(t) = artifact_type {
            manifests.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(Referrers {
            manifests,
            from_tag_schema: false,
        })
    }

    async fn referrers_from_tag(
        &self,
        subject: &Reference,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        let tag = referrers_tag(digest);
        let index_ref = Reference::new(subject.registry(), subject.repository())
            .and_then(|r| r.with_tag(&tag))
            .map_err(|e| Error::Config {
                message: format!("cannot name the referrers tag {tag}"),
                source: Some(Box::new(e)),
            })?;
        let options = FetchOptions::builder()
            .accept(media_types::OCI_IMAGE_INDEX)
            .build();
        let mut manifests = match self.fetch_manifest(&index_ref, &options).await {
            Ok(fetched) => match fetched.manifest.as_index() {
                Some(index) => index.manifests.clone(),
                None => {
                    return Err(Error::protocol(
                        &Method::GET,
                        &self.manifest_url(&index_ref),
                        format!(
                            "the referrers tag {tag} names a {}, not an image index",
                            fetched.manifest.media_type()
                        ),
                    ));
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        if let Some(t) = artifact_type {
            manifests.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(Referrers {
            manifests,
            from_tag_schema: true,
        })
    }
}

/// The most pages a listing follows before giving up (a registry that links in circles).
pub(crate) const MAX_PAGES: usize = 100_000;

/// The tag-schema tag for referrers of `digest`: `<alg>-<encoded>`, truncated to 128.
pub fn referrers_tag(digest: &Digest) -> String {
    let mut tag = format!("{}-{}", digest.algorithm_str(), digest.encoded());
    tag.truncate(128);
    tag
}

/// Parse options capping a manifest at `limit` bytes.
#[allow(clippy::field_reassign_with_default)] // the type may gain fields: start from its default
fn parse_options(limit: u64) -> ParseOptions {
    let mut options = ParseOptions::default();
    options.max_size = usize::try_from(limit).unwrap_or(usize::MAX);
    options
}

/// Check that `manifest`'s bytes have the digest `expected` (sha256 or sha512).
fn verify_manifest(
    manifest: &Manifest,
    expected: &Digest,
    method: &Method,
    url: &str,
) -> Result<(), Error> {
    manifest.verify(expected).map_err(|e| match e {
        orca_manifest::Error::DigestMismatch { expected, actual } => Error::DigestMismatch {
            url: redact_url(url),
            expected,
            actual,
        },
        other => Error::InvalidContent {
            method: method.to_string(),
            url: redact_url(url),
            message: format!("cannot verify digest {expected}"),
            source: Box::new(other),
        },
    })
}

/// The reference's digest.
pub(crate) fn pinned_digest(reference: &Reference) -> Option<Digest> {
    reference.digest().cloned()
}

/// The `rel="next"` target of a `Link` header, resolved against the page's URL.
pub(crate) fn next_link(headers: &http::HeaderMap, page_url: &str) -> Option<String> {
    for value in headers.get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let link = link.trim();
            let Some(end) = link.find('>') else { continue };
            let Some(target) = link.get(1..end).filter(|_| link.starts_with('<')) else {
                continue;
            };
            let params = &link[end + 1..];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let base = url::Url::parse(page_url).ok()?;
                return base.join(target).ok().map(|u| u.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_resolve_relative_and_absolute() {
        let mut h = http::HeaderMap::new();
        h.insert(
            header::LINK,
            http::HeaderValue::from_static(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
        );
        assert_eq!(
            next_link(&h, "https://r.example/v2/a/tags/list?n=2").as_deref(),
            Some("https://r.example/v2/a/tags/list?n=2&last=b")
        );
        h.insert(
            header::LINK,
            http::HeaderValue::from_static(r"<https://other.example/x?last=c>; rel=next"),
        );
        assert_eq!(
            next_link(&h, "https://r.example/v2/a/tags/list").as_deref(),
            Some("https://other.example/x?last=c")
        );
        h.insert(
            header::LINK,
            http::HeaderValue::from_static(r#"</x>; rel="prev""#),
        );
        assert_eq!(next_link(&h, "https://r.example/"), None);
    }

    proptest::proptest! {
        #[test]
        fn next_links_resolve_against_the_page(
            path in "(/[a-z0-9]{1,8}){1,4}",
            last in "[a-z0-9._-]{1,12}",
            quoted in proptest::bool::ANY,
        ) {
            let rel = if quoted { "rel=\"next\"" } else { "rel=next" };
            let value = format!("<{path}?n=10&last={last}>; {rel}");
            let mut h = http::HeaderMap::new();
            h.insert(header::LINK, http::HeaderValue::from_str(&value).unwrap());
            let next = next_link(&h, "https://r.example:5000/v2/a/tags/list?n=10");
            proptest::prop_assert_eq!(next, Some(format!("https://r.example:5000{path}?n=10&last={last}")));
        }
    }

    #[test]
    fn referrers_tag_is_alg_dash_hex() {
        let d = Digest::sha256(b"x");
        let tag = referrers_tag(&d);
        assert_eq!(tag, format!("sha256-{}", d.encoded()));
        assert_eq!(tag.len(), 71);
    }
}
