//! [`ArtifactStore`]: the facade's one entry point.

// The skeleton's bodies are not written yet.
#![allow(clippy::unused_async)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use orca_distribution::ClientConfig;
use orca_manifest::Descriptor;
use orca_store::{CacheOptions, ContentCache, CredentialSource, StoreRegistry};

use crate::Error;
use crate::observer::Observer;
use crate::options::{BlobOptions, CopyOptions, FetchOptions, FileSpec, PushOptions};
use crate::results::{Copied, Fetched, ManifestContent, Pushed, Referrers};

/// Fetches, pushes, copies and discovers artifacts in registered stores.
///
/// Cheap to clone (clones share one HTTP client, token cache and content cache); build one
/// per process with [`ArtifactStore::builder`]. Every call first checks that the
/// reference's registry is registered ([`Error::ArtifactStoreIsNotRegistered`] otherwise,
/// before any network IO), records metrics (see the crate's README) and runs in a
/// `tracing` span named after the call with the reference and, once known, the digest.
#[derive(Clone)]
pub struct ArtifactStore {
    inner: Arc<Inner>,
}

struct Inner {
    stores: StoreRegistry,
    cache: Option<ContentCache>,
    observer: Option<Arc<dyn Observer>>,
    concurrency: usize,
    unregistered: Option<CredentialSource>,
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

    /// Build the store: one HTTP client, the credential sources, the cache directory.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when a credential source is unusable (a missing environment
    /// variable, an unreadable docker config), the TLS configuration is invalid or the
    /// cache directory cannot be created.
    pub fn build(self) -> Result<ArtifactStore, Error> {
        let _ = self.client;
        todo!()
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
        self.fetch_with(reference, operation, dest, &FetchOptions::default())
            .await
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
        let _ = (
            reference,
            operation,
            dest,
            options,
            &self.inner.observer,
            self.inner.concurrency,
            &self.inner.unregistered,
        );
        todo!()
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
        self.push_files(reference, &[FileSpec::new(dir)], options)
            .await
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
        let _ = (reference, files, options);
        todo!()
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
        let _ = (reference, content, options);
        todo!()
    }

    /// Resolve `reference` to its manifest's descriptor (one `HEAD`, or none when it is
    /// pinned by digest and cached).
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`] and the registry's errors.
    pub async fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        let _ = reference;
        todo!()
    }

    /// Fetch the manifest or index `reference` names, digest verified.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`], [`Error::InvalidArtifact`] for bytes that are not a
    /// manifest, and the registry's errors.
    pub async fn fetch_manifest(&self, reference: &str) -> Result<ManifestContent, Error> {
        let _ = reference;
        todo!()
    }

    /// The tags of `repository` (`registry/name`, any tag or digest ignored), every page.
    ///
    /// # Errors
    ///
    /// The registry's errors.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, Error> {
        let _ = repository;
        todo!()
    }

    /// The repositories of `registry` (`host[:port]`), every page.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactStoreIsNotRegistered`], and the registry's errors (many
    /// registries refuse the catalog: [`Error::Unauthorized`]).
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>, Error> {
        let _ = registry;
        todo!()
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
        let _ = (reference, artifact_type);
        todo!()
    }

    /// Copy the manifest or index `src` names, with every manifest and blob it reaches, to
    /// `dst` (tagged with `dst`'s tag, else `src`'s). Blobs the destination has are
    /// skipped; on the same registry they are mounted. With
    /// [`CopyOptions::referrers`], the referrers follow.
    ///
    /// # Errors
    ///
    /// The registries' errors; both must be registered.
    pub async fn copy(&self, src: &str, dst: &str, options: &CopyOptions) -> Result<Copied, Error> {
        let _ = (src, dst, options);
        todo!()
    }

    /// Tag the manifest `reference` names with each of `tags` (its bytes pushed again
    /// under each tag). Returns its descriptor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidReference`] for an invalid tag, and the registry's errors.
    pub async fn tag(&self, reference: &str, tags: &[&str]) -> Result<Descriptor, Error> {
        let _ = (reference, tags);
        todo!()
    }

    /// Delete the manifest `reference` names (a tag is resolved to its digest first, as
    /// registries delete manifests by digest). Returns the digest deleted.
    ///
    /// # Errors
    ///
    /// [`Error::ArtifactNotFound`], [`Error::Unauthorized`] (deletion is often disabled:
    /// 405 becomes [`Error::InvalidArgument`]), and the registry's errors.
    pub async fn delete(&self, reference: &str) -> Result<orca_manifest::Digest, Error> {
        let _ = reference;
        todo!()
    }
}
