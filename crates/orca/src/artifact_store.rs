//! [`ArtifactStore`]: the facade's one entry point.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::TryStreamExt;
use orca_auth::{AuthOptions, Authenticator};
use orca_distribution::{Client, ClientConfig};
use orca_manifest::{Descriptor, Digest, Platform};
use orca_reference::Reference;
use orca_store::{CacheOptions, ContentCache, CredentialSource, Limits, StoreRegistry};
use tracing::Instrument;

use crate::Error;
use crate::error::{from_distribution, from_store};
use crate::observer::{Call, Event, Observer};
use crate::options::{BlobOptions, CopyOptions, FetchOptions, FileSpec, PushOptions};
use crate::pull_through::PullThrough;
use crate::results::{Copied, Fetched, ManifestContent, Pushed, Referrers};
use crate::store_credentials::StoreCredentials;
use crate::telemetry::{self, Reporter};

/// Fetches, pushes, copies and discovers artifacts in registered stores.
///
/// Cheap to clone (clones share one HTTP client, token cache and content cache); build one
/// per process with [`ArtifactStore::builder`]. Every call first checks that the
/// reference's registry is registered ([`Error::ArtifactStoreIsNotRegistered`] otherwise,
/// before any network IO), records metrics (see the crate's README) and runs in a
/// `tracing` span named after the call with the reference and, once known, the digest.
#[derive(Clone)]
pub struct ArtifactStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) stores: StoreRegistry,
    pub(crate) client: Client,
    pub(crate) cache: Option<ContentCache>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) concurrency: usize,
    pub(crate) unregistered: bool,
    pub(crate) pull_through: Option<crate::pull_through::State>,
    /// Manifests read from the cache and verified (see [`crate::memo`]).
    pub(crate) manifests: crate::memo::ManifestMemo,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("stores", &self.inner.stores.len())
            .field("cache", &self.inner.cache.as_ref().map(ContentCache::root))
            .finish_non_exhaustive()
    }
}

/// Builds an [`ArtifactStore`]. Call order: [`ArtifactStore::builder`], any setters,
/// [`ArtifactStoreBuilder::build`].
#[must_use]
pub struct ArtifactStoreBuilder {
    stores: StoreRegistry,
    client: ClientConfig,
    cache: Option<(PathBuf, CacheOptions)>,
    observer: Option<Arc<dyn Observer>>,
    concurrency: usize,
    unregistered: Option<CredentialSource>,
    credential_source: Option<Arc<dyn orca_auth::CredentialSource>>,
    pull_through: Option<PullThrough>,
}

impl std::fmt::Debug for ArtifactStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStoreBuilder")
            .field("stores", &self.stores.len())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl ArtifactStoreBuilder {
    /// Client options (timeouts, retries, user agent, TLS roots). Each store's plain-HTTP
    /// flag and CA file are added to them.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client = config;
        self
    }

    /// Keep a content cache in `dir` (an OCI image layout) with default options.
    pub fn cache_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.cache(dir, CacheOptions::default())
    }

    /// Keep a content cache in `dir` with `options` (size bound).
    pub fn cache(mut self, dir: impl Into<PathBuf>, options: CacheOptions) -> Self {
        self.cache = Some((dir.into(), options));
        self
    }

    /// Report progress and lifecycle [`Event`](crate::Event)s to `observer`.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// How many blobs one call transfers at once (default 4, at least 1).
    pub fn concurrency(mut self, blobs: usize) -> Self {
        self.concurrency = blobs.max(1);
        self
    }

    /// Use registries that are not registered too, over HTTPS, with credentials from
    /// `credentials` (a terminal user's docker config, say) and no size limit.
    ///
    /// # Security
    ///
    /// A service must not set this: it would let a caller make it fetch from any
    /// registry (and send it credentials, with a docker config).
    pub fn allow_unregistered(mut self, credentials: CredentialSource) -> Self {
        self.unregistered = Some(credentials);
        self
    }

    /// Ask `source` for a registry's credential first; when it has none (anonymous), the
    /// store's [`CredentialSource`] answers. For callers that hold credentials of their own
    /// (a CLI's login, a test's static credentials, a custom secret store).
    pub fn credential_source(mut self, source: Arc<dyn orca_auth::CredentialSource>) -> Self {
        self.credential_source = Some(source);
        self
    }

    /// Resolve fetches from the cache registry of `options` through the store registry's
    /// cache rules (see [`crate::pull_through`]): a reference there whose repository a
    /// rule covers is served by the cache registry when it has it (a tag checked upstream
    /// at most every [`PullThrough::revalidate_after`]); else its manifest and blobs are
    /// fetched from the rule's upstream with the rule's credential set, verified, pushed
    /// into the cache registry, and the fetch reads them from there.
    /// [`ArtifactStore::fetch_with`], [`ArtifactStore::resolve`] and
    /// [`ArtifactStore::fetch_manifest`] go through it.
    ///
    /// # Limitations
    ///
    /// A miss moves each blob twice (upstream to the cache registry, then to the caller);
    /// concurrent misses on one tag in several processes each copy it (the copies are
    /// idempotent). The serving front (`orca-pull-through`) streams and deduplicates.
    pub fn pull_through(mut self, options: PullThrough) -> Self {
        self.pull_through = Some(options);
        self
    }

    /// Build the store: one HTTP client, the credential sources, the cache directory.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the credentials for unregistered registries are unusable,
    /// the TLS configuration is invalid or the cache directory cannot be created. A
    /// registered store whose environment variable is unset does not fail the build: its
    /// calls fail with [`Error::Unauthorized`] naming the variable, and the other stores
    /// work.
    pub fn build(self) -> Result<ArtifactStore, Error> {
        let mut config = self.client;
        for store in self.stores.iter() {
            let policy = config.policy_mut(store.registry().clone());
            policy.plain_http = store.tls().plain_http;
            if let Some(ca) = &store.tls().ca_file {
                policy.root_certificates.push(ca.clone());
            }
        }
        // The client's events feed the metrics (and any observer the caller gave the
        // client configuration still gets them).
        config.observer = Some(Arc::new(telemetry::ClientMetrics::new(
            config.observer.take(),
        )));
        let credentials = StoreCredentials::new(
            &self.stores,
            self.unregistered.as_ref(),
            self.credential_source,
        )?;
        let auth = Authenticator::new(credentials, AuthOptions::default());
        let pull_through = self
            .pull_through
            .map(|options| crate::pull_through::State::new(options, &self.stores, config.clone()))
            .transpose()?;
        let client = Client::with_authenticator(config, auth).map_err(|e| Error::Internal {
            message: "the HTTP client cannot be built (TLS settings, CA files)".to_owned(),
            source: Some(Box::new(e)),
        })?;
        let cache = self
            .cache
            .map(|(dir, options)| ContentCache::open(dir, options))
            .transpose()
            .map_err(from_store)?;
        Ok(ArtifactStore {
            inner: Arc::new(Inner {
                stores: self.stores,
                client,
                cache,
                observer: self.observer,
                concurrency: self.concurrency,
                unregistered: self.unregistered.is_some(),
                pull_through,
                manifests: crate::memo::ManifestMemo::default(),
            }),
        })
    }
}

impl ArtifactStore {
    /// Start building a store over `stores`.
    pub fn builder(stores: StoreRegistry) -> ArtifactStoreBuilder {
        ArtifactStoreBuilder {
            stores,
            client: ClientConfig::default(),
            cache: None,
            observer: None,
            concurrency: 4,
            unregistered: None,
            credential_source: None,
            pull_through: None,
        }
    }

    /// The registered stores.
    pub fn stores(&self) -> &StoreRegistry {
        &self.inner.stores
    }

    /// The content cache, when one is configured.
    pub fn cache(&self) -> Option<&ContentCache> {
        self.inner.cache.as_ref()
    }

    /// Fetch the artifact `reference` for `operation` into `dest` with the default
    /// [`FetchOptions`] (see [`ArtifactStore::fetch_with`]).
    ///
    /// # Errors
    ///
    /// See [`ArtifactStore::fetch_with`].
    pub async fn fetch(
        &self,
        reference: &str,
        operation: &str,
        dest: &Path,
    ) -> Result<Fetched, Error> {
        Box::pin(self.fetch_with(reference, operation, dest, &FetchOptions::default())).await
    }

    /// Fetch the artifact `reference` for `operation` into `dest`.
    ///
    /// Steps: parse (no tag and no digest means `latest`) → check the registry is
    /// registered → the manifest (from the cache when pinned by digest and cached; else one
    /// `HEAD` to resolve a tag when a cache is configured, and a `GET` unless cached) →
    /// refuse, before any blob is requested, when the layers' total size exceeds the
    /// operation's limit → download the layers concurrently, every byte verified, cached
    /// layers read from the cache → write them with ORAS pull semantics (folder layers
    /// extracted, other layers written as one file under their title, each title a safe
    /// relative path) → place the result at `dest` atomically.
    ///
    /// Reads what the ORAS CLI, the Python `oras` package (with
    /// [`FetchOptions::unpack_all`]) and older ORAS versions push (config
    /// `application/vnd.unknown.config.v1+json` of size 0, `io.deis.oras.content.*`
    /// annotations).
    ///
    /// Large downloads and extraction run on tokio's blocking pool; the few file
    /// operations of small cached files run on the calling task, where they cost less than
    /// a hop to another thread. Run concurrent fetches as tasks of their own
    /// (`tokio::spawn`, as a server runs its requests) to spread that work over the
    /// runtime's workers: fetches polled together by one task (`buffer_unordered` inside
    /// it) share its thread.
    ///
    /// # Errors
    ///
    /// Every [`Error`] code; a failed or interrupted (dropped) fetch leaves `dest` as it
    /// was and no staging directory behind.
    ///
    /// # Security
    ///
    /// Titles and archive entries that would escape `dest` are refused
    /// ([`Error::UnsafeArtifactContent`]), as are links unless allowed, devices and archives
    /// over the extraction limits.
    pub async fn fetch_with(
        &self,
        reference: &str,
        operation: &str,
        dest: &Path,
        options: &FetchOptions,
    ) -> Result<Fetched, Error> {
        self.instrument(
            Call::Fetch,
            reference,
            operation,
            Box::pin(async {
                let fetched =
                    Box::pin(self.fetch_inner(reference, operation, dest, options)).await?;
                let size = fetched.artifact_bytes;
                Ok((fetched, Some(size)))
            }),
        )
        .await
    }

    /// Push the folder `dir` as a one-layer ORAS folder artifact (tar+gzip, titled with the
    /// folder's name, `io.deis.oras.content.unpack`), with the empty config.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `dir` is not a folder, [`Error::TooLargeArtifacts`]
    /// over the limit of [`PushOptions::operation`], and the registry's errors.
    pub async fn push_dir(
        &self,
        reference: &str,
        dir: &Path,
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        Box::pin(self.push_files(reference, &[FileSpec::new(dir)], options)).await
    }

    /// Push files and folders as one artifact, one layer each (see [`FileSpec`]); blobs
    /// the registry already has are not uploaded; the config blob is written too.
    /// The manifest goes to the reference's tag (`latest` when it has none) and
    /// [`PushOptions::extra_tags`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for missing files, duplicate titles or an empty list,
    /// [`Error::TooLargeArtifacts`] over the limit, and the registry's errors.
    pub async fn push_files(
        &self,
        reference: &str,
        files: &[FileSpec],
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        let operation = options.operation.clone().unwrap_or_default();
        self.instrument(
            Call::Push,
            reference,
            &operation,
            Box::pin(async {
                let pushed = Box::pin(self.push_files_inner(reference, files, options)).await?;
                let size = pushed.layers.iter().map(|l| l.size).sum();
                Ok((pushed, Some(size)))
            }),
        )
        .await
    }

    /// Push `content` as a single-layer artifact of [`BlobOptions::artifact_type`] (the
    /// snapshot a controller publishes): the layer is skipped when the registry already
    /// has its digest, the empty config is written, the manifest is tagged.
    ///
    /// # Errors
    ///
    /// The registry's errors.
    pub async fn push_blob(
        &self,
        reference: &str,
        content: Bytes,
        options: &BlobOptions,
    ) -> Result<Pushed, Error> {
        self.instrument(
            Call::Push,
            reference,
            "",
            Box::pin(async {
                let pushed = Box::pin(self.push_blob_inner(reference, content, options)).await?;
                let size = pushed.layers.iter().map(|l| l.size).sum();
                Ok((pushed, Some(size)))
            }),
        )
        .await
    }

    /// Resolve `reference` to its manifest's descriptor (one `HEAD`, or none when it is
    /// pinned by digest and cached).
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`] and the registry's errors.
    pub async fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        self.instrument(
            Call::Resolve,
            reference,
            "",
            Box::pin(async {
                let (parsed, limits) = self.locate(reference)?;
                Box::pin(self.pull_through(&parsed, "", &limits)).await?;
                if let (Some(cache), Some(pinned)) = (&self.inner.cache, pinned_digest(&parsed))
                    && let Ok(Some(bytes)) = cache.read_blob(&pinned)
                    && let Ok(manifest) = orca_manifest::Manifest::parse(bytes, None)
                {
                    telemetry::cache_hit("manifest");
                    return Ok((manifest.descriptor(), None));
                }
                let descriptor = self
                    .inner
                    .client
                    .resolve(&parsed)
                    .await
                    .map_err(|e| remote(&parsed, e))?;
                Ok((descriptor, None))
            }),
        )
        .await
    }

    /// Fetch the manifest or index `reference` names, digest verified.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`], [`Error::InvalidArtifact`] for bytes that are not a
    /// manifest, and the registry's errors.
    pub async fn fetch_manifest(&self, reference: &str) -> Result<ManifestContent, Error> {
        self.fetch_manifest_choosing(reference, None).await
    }

    /// Like [`ArtifactStore::fetch_manifest`], but when `reference` names an index, the
    /// first manifest it lists for `platform` (fetched by digest, verified), as
    /// `oras manifest fetch --platform` does. A manifest that is not an index is
    /// returned when its image config says it is for `platform` (its descriptor then
    /// carries the platform).
    ///
    /// # Errors
    ///
    /// As [`ArtifactStore::fetch_manifest`]; [`Error::ArtifactNotFound`] when the index
    /// lists nothing for `platform` (the message names what it lists) or the manifest is
    /// for another platform; [`Error::InvalidArtifact`] for a manifest whose config is not
    /// an image config (an artifact names no platform).
    pub async fn fetch_manifest_for(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ManifestContent, Error> {
        self.fetch_manifest_choosing(reference, Some(platform))
            .await
    }

    /// [`ArtifactStore::fetch_manifest`], choosing from an index when `platform` is given.
    async fn fetch_manifest_choosing(
        &self,
        reference: &str,
        platform: Option<&Platform>,
    ) -> Result<ManifestContent, Error> {
        self.instrument(
            Call::FetchManifest,
            reference,
            "",
            Box::pin(async {
                let (parsed, limits) = self.locate(reference)?;
                Box::pin(self.pull_through(&parsed, "", &limits)).await?;
                let mut content = self.get_manifest(&parsed).await?;
                let Some(platform) = platform else {
                    return Ok((content, None));
                };
                if !content.manifest.is_index() {
                    self.check_platform(&parsed, reference, &mut content, platform)
                        .await?;
                    return Ok((content, None));
                }
                let entry =
                    crate::platform::choose_from_index(reference, &content, Some(platform))?;
                let mut child = self
                    .get_manifest(&with_digest(&parsed, &entry.digest))
                    .await?;
                child.descriptor.platform.clone_from(&entry.platform);
                Ok((child, None))
            }),
        )
        .await
    }

    /// Push `bytes` as the manifest or index `reference` names (a tag, a digest the
    /// bytes must hash to, or neither: by digest), as `oras manifest push` does. The
    /// media type is `media_type` when given (it must agree with the body's
    /// `mediaType`), else the body's. What an index lists, or a manifest's config and
    /// layers, must be in the repository already; the registry refuses the push
    /// otherwise. Returns the descriptor pushed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for bytes that are not a manifest or index orca reads,
    /// or that do not hash to the digest the reference pins; the registry's errors (a
    /// child or blob it lacks is its `400 MANIFEST_BLOB_UNKNOWN`, an
    /// [`Error::InvalidArgument`] naming that code).
    pub async fn push_manifest(
        &self,
        reference: &str,
        bytes: impl Into<Bytes>,
        media_type: Option<&str>,
    ) -> Result<Descriptor, Error> {
        let bytes = bytes.into();
        self.instrument(
            Call::PushManifest,
            reference,
            "",
            Box::pin(async {
                let (parsed, _) = self.locate(reference)?;
                let manifest = orca_manifest::Manifest::parse(bytes, media_type).map_err(|e| {
                    Error::InvalidArgument {
                        message: format!("{reference}: what is to be pushed is not a manifest or index orca reads"),
                        source: Some(Box::new(e)),
                    }
                })?;
                if let Some(given) = media_type
                    && given != manifest.media_type()
                {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "{reference}: the media type given, {given}, is not the manifest's own ({})",
                            manifest.media_type()
                        ),
                        source: None,
                    });
                }
                if let Some(pinned) = pinned_digest(&parsed)
                    && let Err(e) = pinned.verify(manifest.bytes())
                {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "{reference}: the manifest's bytes do not hash to the digest the reference names"
                        ),
                        source: Some(Box::new(e)),
                    });
                }
                let target = if parsed.tag().is_none() && pinned_digest(&parsed).is_none() {
                    with_digest(&parsed, manifest.digest())
                } else {
                    parsed
                };
                let pushed = self
                    .inner
                    .client
                    .push_manifest_value(&target, &manifest)
                    .await
                    .map_err(|e| remote(&target, e))?;
                let size = pushed.descriptor.size;
                Ok((pushed.descriptor, Some(size)))
            }),
        )
        .await
    }

    /// The tags of `repository` (`registry/name`, any tag or digest ignored), every page.
    ///
    /// # Errors
    ///
    /// The registry's errors.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, Error> {
        self.instrument(
            Call::Tags,
            repository,
            "",
            Box::pin(async {
                let (parsed, _) = self.locate(repository)?;
                let tags = self
                    .inner
                    .client
                    .tags(&parsed, None)
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(|e| remote(&parsed, e))?;
                Ok((tags, None))
            }),
        )
        .await
    }

    /// The repositories of `registry` (`host[:port]`), every page.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactStoreIsNotRegistered`], and the registry's errors (many
    /// registries refuse the catalog: [`Error::Unauthorized`]).
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>, Error> {
        self.instrument(
            Call::Catalog,
            registry,
            "",
            Box::pin(async {
                if self.inner.stores.get(registry).is_none() && !self.inner.unregistered {
                    return Err(Error::ArtifactStoreIsNotRegistered {
                        reference: registry.to_owned(),
                        registry: Some(registry.to_owned()),
                    });
                }
                let names = self
                    .inner
                    .client
                    .catalog(registry, None)
                    .try_collect::<Vec<String>>()
                    .await
                    .map_err(|e| from_distribution(registry, registry, e))?;
                Ok((names, None))
            }),
        )
        .await
    }

    /// The manifests referring to `reference` (signatures, SBOMs…), optionally only those
    /// of `artifact_type`; through the referrers API or its tag-schema fallback.
    ///
    /// # Errors
    ///
    /// The registry's errors.
    pub async fn referrers(
        &self,
        reference: &str,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        self.instrument(
            Call::Referrers,
            reference,
            "",
            Box::pin(async {
                let (parsed, _) = self.locate(reference)?;
                let pinned = self.pin(&parsed).await?;
                let subject = pinned_digest(&pinned).ok_or_else(|| Error::Internal {
                    message: format!("{pinned}: no digest after resolving"),
                    source: None,
                })?;
                let found = self
                    .inner
                    .client
                    .referrers(&pinned, artifact_type)
                    .await
                    .map_err(|e| remote(&pinned, e))?;
                Ok((
                    Referrers {
                        subject,
                        manifests: found.manifests,
                    },
                    None,
                ))
            }),
        )
        .await
    }

    /// Copy the manifest or index `src` names, with every manifest and blob it reaches, to
    /// `dst` (tagged with `dst`'s tag, else `src`'s). Blobs the destination has are
    /// skipped; on the same registry they are mounted. With
    /// [`CopyOptions::referrers`], the referrers follow; with [`CopyOptions::platform`],
    /// only the manifest for that platform is copied (from an index, its entry for it).
    ///
    /// # Errors
    ///
    /// The registries' errors; both must be registered. With a platform, as
    /// [`ArtifactStore::fetch_manifest_for`]: [`Error::ArtifactNotFound`] when there is no
    /// manifest for it, [`Error::InvalidArtifact`] for an artifact (it names none).
    pub async fn copy(&self, src: &str, dst: &str, options: &CopyOptions) -> Result<Copied, Error> {
        self.instrument(
            Call::Copy,
            src,
            "",
            Box::pin(async {
                let copied = Box::pin(self.copy_inner(src, dst, options)).await?;
                let bytes = copied.bytes;
                Ok((copied, Some(bytes)))
            }),
        )
        .await
    }

    /// Tag the manifest `reference` names with each of `tags` (its bytes pushed again
    /// under each tag). Returns its descriptor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidReference`] for an invalid tag, and the registry's errors.
    pub async fn tag(&self, reference: &str, tags: &[&str]) -> Result<Descriptor, Error> {
        self.instrument(
            Call::Tag,
            reference,
            "",
            Box::pin(async {
                let (parsed, _) = self.locate(reference)?;
                let content = self.get_manifest(&parsed).await?;
                for tag in tags {
                    let target = repository_of(&parsed).with_tag(tag).map_err(|source| {
                        Error::InvalidReference {
                            reference: (*tag).to_owned(),
                            source,
                        }
                    })?;
                    self.inner
                        .client
                        .push_manifest(
                            &target,
                            content.bytes.clone(),
                            &content.descriptor.media_type,
                        )
                        .await
                        .map_err(|e| remote(&target, e))?;
                }
                Ok((content.descriptor, None))
            }),
        )
        .await
    }

    /// Delete the manifest `reference` names (a tag is resolved to its digest first, as
    /// registries delete manifests by digest). Returns the digest deleted.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`], [`Error::Unauthorized`] (deletion is often disabled:
    /// 405 becomes [`Error::InvalidArgument`]), and the registry's errors.
    pub async fn delete(&self, reference: &str) -> Result<Digest, Error> {
        self.instrument(
            Call::Delete,
            reference,
            "",
            Box::pin(async {
                let (parsed, _) = self.locate(reference)?;
                let pinned = self.pin(&parsed).await?;
                let digest = pinned_digest(&pinned).ok_or_else(|| Error::Internal {
                    message: format!("{pinned}: no digest after resolving"),
                    source: None,
                })?;
                let by_digest = repository_of(&pinned).with_digest(digest.clone());
                self.inner
                    .client
                    .delete_manifest(&by_digest)
                    .await
                    .map_err(|e| remote(&by_digest, e))?;
                Ok((digest, None))
            }),
        )
        .await
    }

    /// Parse `input` strictly and find its store (or, with
    /// [`ArtifactStoreBuilder::allow_unregistered`], no limits for an unregistered one).
    /// No network IO.
    pub(crate) fn locate(&self, input: &str) -> Result<(Reference, Limits), Error> {
        match self.inner.stores.resolve(input) {
            Ok((reference, store)) => Ok((reference, store.limits().clone())),
            Err(orca_store::Error::NotRegistered {
                registry: Some(_), ..
            }) if self.inner.unregistered => {
                let reference =
                    Reference::parse(input).map_err(|source| Error::InvalidReference {
                        reference: input.to_owned(),
                        source,
                    })?;
                Ok((reference, Limits::default()))
            }
            Err(e) => Err(from_store(e)),
        }
    }

    /// `reference` pinned to a digest: as it is when it has one, else resolved (`HEAD`).
    pub(crate) async fn pin(&self, reference: &Reference) -> Result<Reference, Error> {
        if pinned_digest(reference).is_some() {
            return Ok(reference.clone());
        }
        let descriptor = self
            .inner
            .client
            .resolve(reference)
            .await
            .map_err(|e| remote(reference, e))?;
        Ok(with_digest(reference, &descriptor.digest))
    }

    /// The manifest `reference` names, digest verified and parsed.
    pub(crate) async fn get_manifest(
        &self,
        reference: &Reference,
    ) -> Result<ManifestContent, Error> {
        let fetched = self
            .inner
            .client
            .fetch_manifest(reference, &orca_distribution::FetchOptions::default())
            .await
            .map_err(|e| remote(reference, e))?;
        if let Some(pinned) = pinned_digest(reference)
            && pinned != fetched.descriptor.digest
        {
            return Err(Error::DigestMismatch {
                reference: reference.to_string(),
                source: format!(
                    "the manifest received hashes to {}, not {pinned}",
                    fetched.descriptor.digest
                )
                .into(),
            });
        }
        let manifest = fetched.manifest().map_err(|e| Error::InvalidArtifact {
            reference: reference.to_string(),
            message: "the manifest cannot be parsed".to_owned(),
            source: Some(Box::new(e)),
        })?;
        Ok(ManifestContent {
            descriptor: fetched.descriptor,
            bytes: fetched.bytes,
            manifest,
        })
    }

    pub(crate) fn reporter(&self) -> Reporter {
        Reporter::new(self.inner.observer.clone())
    }

    /// Runs one call: its `tracing` span, its observer events and its metrics.
    async fn instrument<T, F>(
        &self,
        call: Call,
        reference: &str,
        operation: &str,
        body: F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<(T, Option<u64>), Error>>,
    {
        let reporter = self.reporter();
        reporter.event(|| Event::Started {
            call,
            reference: reference.to_owned(),
        });
        let span = tracing::info_span!(
            "orca",
            call = call.as_str(),
            reference,
            operation,
            digest = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = body.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let _entered = span.enter();
        match result {
            Ok((value, size)) => {
                tracing::debug!(elapsed_ms = elapsed.as_millis(), "done");
                telemetry::finished(call, operation, elapsed, None, size);
                reporter.event(|| Event::Finished {
                    call,
                    error_code: None,
                });
                Ok(value)
            }
            Err(e) => {
                tracing::info!(code = e.code(), error = %e.full_message(), "failed");
                telemetry::finished(call, operation, elapsed, Some(e.code()), None);
                reporter.event(|| Event::Finished {
                    call,
                    error_code: Some(e.code()),
                });
                Err(e)
            }
        }
    }
}

/// A client failure about `reference`, mapped.
pub(crate) fn remote(reference: &Reference, e: orca_distribution::Error) -> Error {
    from_distribution(&reference.to_string(), reference.registry(), e)
}

/// The digest a reference pins, typed.
pub(crate) fn pinned_digest(reference: &Reference) -> Option<Digest> {
    reference.digest().cloned()
}

/// The reference's repository, without tag or digest.
pub(crate) fn repository_of(reference: &Reference) -> Reference {
    Reference::new(reference.registry(), reference.repository())
        .unwrap_or_else(|_| reference.clone())
}

/// `reference` pinned to `digest` (its tag kept).
pub(crate) fn with_digest(reference: &Reference, digest: &Digest) -> Reference {
    reference.clone().with_digest(digest.clone())
}
