//! [`RegistryStorage`]: the front's storage in an existing registry (`docker-registry`,
//! Harbor, ACR), which the front fills by pushing what it fetched, so that several
//! stateless fronts can share one backing registry and its storage drivers.
//!
//! # Order of pushes
//!
//! A registry accepts a manifest only once what it points at is there: an image
//! manifest's config and layers, an index's manifests (`MANIFEST_BLOB_UNKNOWN`
//! otherwise). The front stores a manifest as soon as a client asked for it, before the
//! client asks for its blobs, so a manifest whose children are not all in the backing
//! registry yet is **held in memory** (bounded by [`BackingOptions`]) and served from
//! there by this front; it is pushed as soon as its last child lands (a blob this front
//! pushed or found there, a child manifest pushed in turn). A held manifest is invisible
//! to the other fronts until then: for them it is a miss, fetched upstream. The `{}` blob
//! (the OCI empty descriptor) is known content and pushed by the storage itself; a child
//! no client asks for (another platform of a multi-platform index) keeps its parent held
//! until the bound drops it.
//!
//! # Verification
//!
//! The backing registry is another network peer: a manifest read by digest is checked
//! against that digest (by tag, against the `Docker-Content-Digest` it sends), and a blob
//! read is hashed as it streams, its last piece held back until the digest is verified,
//! so a corrupted blob cuts the response before its end and a client never receives a
//! whole, wrong blob.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use orca_distribution::{BlobStream, Client, ErrorKind, PushOptions};
use orca_manifest::{
    Descriptor, Digest, EMPTY_JSON, EMPTY_JSON_DIGEST, Manifest, ParseOptions, media_types,
};
use orca_mock_registry::wire;
use orca_reference::{Reference, Registry};

use crate::storage::{BlobRead, ManifestRef, Storage, StoredManifest};

/// The media type blobs are announced with (the registry does not keep it).
const OCTET_STREAM: &str = "application/octet-stream";

/// Where in a registry the front's storage lives: `REGISTRY[/PREFIX]`, for example
/// `registry.internal:5000` or `myacr.azurecr.io/cache`.
///
/// A repository `library/alpine` of the front is `PREFIX/library/alpine` in the backing
/// registry (`library/alpine` without a prefix).
///
/// ```
/// use orca_pull_through::BackingLocation;
///
/// let location: BackingLocation = "127.0.0.1:5000/cache/hub".parse().unwrap();
/// assert_eq!(location.registry().as_str(), "127.0.0.1:5000");
/// assert_eq!(location.prefix(), Some("cache/hub"));
/// assert_eq!(location.repository("library/alpine"), "cache/hub/library/alpine");
/// assert!("http://127.0.0.1:5000".parse::<BackingLocation>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackingLocation {
    registry: Registry,
    prefix: Option<String>,
}

/// A `REGISTRY[/PREFIX]` that is not one: the input (bounded) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid backing registry {input:?}: {reason}")]
pub struct InvalidBacking {
    /// The text given (at most 300 characters of it).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidBacking {
    fn new(input: &str, reason: impl Into<String>) -> InvalidBacking {
        InvalidBacking {
            input: input.chars().take(300).collect(),
            reason: reason.into(),
        }
    }
}

impl BackingLocation {
    /// Parse `REGISTRY[/PREFIX]`: a registry as in a reference (`host[:port]`, no scheme;
    /// plain HTTP and TLS are the client's configuration) and an optional repository
    /// prefix by the distribution grammar.
    ///
    /// # Errors
    /// [`InvalidBacking`] naming the part that is wrong.
    pub fn parse(input: &str) -> Result<BackingLocation, InvalidBacking> {
        if input.contains("://") {
            return Err(InvalidBacking::new(
                input,
                "give host[:port][/prefix] without a scheme (plain HTTP is a setting of the backing registry's client)",
            ));
        }
        let (host, prefix) = match input.split_once('/') {
            Some((host, prefix)) => (host, Some(prefix.trim_end_matches('/'))),
            None => (input, None),
        };
        let registry =
            Registry::parse(host).map_err(|e| InvalidBacking::new(input, e.to_string()))?;
        let prefix = match prefix {
            None | Some("") => None,
            Some(p) if wire::valid_name(p) => Some(p.to_owned()),
            Some(p) => {
                return Err(InvalidBacking::new(
                    input,
                    format!(
                        "the prefix {:?} is not a repository name (lowercase path components)",
                        p.chars().take(100).collect::<String>()
                    ),
                ));
            }
        };
        Ok(BackingLocation { registry, prefix })
    }

    /// The backing registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The repository prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The backing registry's name for the front's `repository`.
    pub fn repository(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_owned(),
        }
    }
}

impl FromStr for BackingLocation {
    type Err = InvalidBacking;

    fn from_str(s: &str) -> Result<BackingLocation, InvalidBacking> {
        BackingLocation::parse(s)
    }
}

impl fmt::Display for BackingLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.prefix {
            Some(prefix) => write!(f, "{}/{prefix}", self.registry),
            None => write!(f, "{}", self.registry),
        }
    }
}

/// Knobs of a [`RegistryStorage`]: how many manifests it holds in memory while their
/// children are on their way to the backing registry.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BackingOptions {
    /// The most manifests held (1,024). Past it, the oldest held manifest is dropped
    /// (logged): it is not stored, and the next request for it is a miss.
    pub max_held_manifests: usize,
    /// The most bytes of held manifests (64 MiB), dropped the same way.
    pub max_held_bytes: usize,
    /// How long a held manifest is served before a read of it asks the backing registry
    /// again whether its missing children arrived (10 s): another front may have pushed
    /// them.
    pub recheck_after: Duration,
}

impl Default for BackingOptions {
    fn default() -> BackingOptions {
        BackingOptions {
            max_held_manifests: 1024,
            max_held_bytes: 64 * 1024 * 1024,
            recheck_after: Duration::from_secs(10),
        }
    }
}

impl BackingOptions {
    /// [`BackingOptions::max_held_manifests`].
    #[must_use]
    pub fn with_max_held_manifests(mut self, n: usize) -> BackingOptions {
        self.max_held_manifests = n;
        self
    }

    /// [`BackingOptions::max_held_bytes`].
    #[must_use]
    pub fn with_max_held_bytes(mut self, n: usize) -> BackingOptions {
        self.max_held_bytes = n;
        self
    }

    /// [`BackingOptions::recheck_after`].
    #[must_use]
    pub fn with_recheck_after(mut self, after: Duration) -> BackingOptions {
        self.recheck_after = after;
        self
    }
}

/// [`Storage`] in an existing registry, reached with an `orca-distribution` [`Client`]
/// (whose configuration and authenticator carry the backing registry's TLS settings and
/// credentials).
///
/// - Blobs are pushed (`HEAD` first: a blob already there is not sent again) and read with
///   `GET`, verified as they stream (see the module's notes; a `Range` read fetches the
///   blob from its start to verify it, and sends only the range).
/// - Manifests are pushed under their tag, or their digest when stored without one, once
///   their children are there; until then they are held in memory ([`BackingOptions`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use orca_distribution::{Client, ClientConfig};
/// use orca_pull_through::{BackingOptions, RegistryStorage, Storage};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new(ClientConfig::default())?;
/// let storage = RegistryStorage::new(client, "registry.internal:5000/cache".parse()?, BackingOptions::default());
/// let storage: Arc<dyn Storage> = Arc::new(storage);
/// # Ok(())
/// # }
/// ```
///
/// # Limitations
/// A held manifest lives in this process only: a front that stops loses what it held
/// (the next request for it is a miss). A blob deleted from the backing registry by its
/// garbage collector is simply a miss again.
#[derive(Clone)]
pub struct RegistryStorage {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    location: BackingLocation,
    options: BackingOptions,
    held: Mutex<Held>,
    /// Sizes of blobs just found in the backing registry, so that the read the front
    /// makes after asking for a blob's size does not ask again (a digest fixes the size;
    /// a blob deleted since is a 404 on the read, a miss).
    sizes: Mutex<HashMap<(String, Digest), u64>>,
}

/// Existence checks of one manifest's children in flight at once.
const PRESENCE_CHECKS: usize = 8;

/// The most remembered blob sizes; the memo is cleared when full.
const MAX_REMEMBERED_SIZES: usize = 4096;

impl fmt::Debug for RegistryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryStorage")
            .field("location", &self.inner.location.to_string())
            .field("held", &self.held_manifests())
            .finish_non_exhaustive()
    }
}

/// Manifests waiting for their children, keyed by the front's repository and digest.
#[derive(Default)]
struct Held {
    entries: HashMap<(String, Digest), HeldManifest>,
    bytes: usize,
    next_seq: u64,
}

struct HeldManifest {
    manifest: StoredManifest,
    /// Tags to push it under (none: by digest).
    tags: Vec<String>,
    /// Children not known to be in the backing registry yet.
    missing: HashSet<Digest>,
    /// Children that are manifests (checked with a manifest `HEAD`), not blobs.
    child_manifests: HashSet<Digest>,
    /// Insertion order: the oldest is dropped first, the newest wins a tag.
    seq: u64,
    /// When the backing registry was last asked about `missing`.
    checked: Instant,
    /// Taken by a task that pushes it.
    pushing: bool,
}

/// The children a registry checks before accepting `manifest`: its config and layers, or
/// its manifests; foreign layers (fetched from their `urls`) excepted.
fn required_children(manifest: &Manifest) -> Vec<&Descriptor> {
    manifest
        .children()
        .filter(|d| {
            let foreign = d.media_type == media_types::DOCKER_FOREIGN_LAYER_GZIP
                || d.media_type.contains("nondistributable");
            !foreign || d.urls.is_empty()
        })
        .collect()
}

fn storage_error(context: &str, e: &orca_distribution::Error) -> io::Error {
    let kind = match e.kind() {
        ErrorKind::DigestMismatch | ErrorKind::SizeExceeded | ErrorKind::SizeMismatch => {
            io::ErrorKind::InvalidData
        }
        ErrorKind::Timeout => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("backing registry: {context}: {e}"))
}

impl RegistryStorage {
    /// Storage at `location`, reached with `client`.
    pub fn new(client: Client, location: BackingLocation, options: BackingOptions) -> Self {
        RegistryStorage {
            inner: Arc::new(Inner {
                client,
                location,
                options,
                held: Mutex::new(Held::default()),
                sizes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Where the storage is.
    pub fn location(&self) -> &BackingLocation {
        &self.inner.location
    }

    /// How many manifests are held in memory, waiting for their children.
    pub fn held_manifests(&self) -> usize {
        self.held().entries.len()
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // A panic while holding the lock leaves consistent data (every change is one
        // statement or restores `pushing`); keep serving.
        self.inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The backing registry's reference for the front's `repository`.
    fn reference(&self, repository: &str) -> io::Result<Reference> {
        if !wire::valid_name(repository) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid repository name {repository:?}"),
            ));
        }
        let name = self.inner.location.repository(repository);
        Reference::new(self.inner.location.registry.as_str(), &name).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("repository {repository:?} in the backing registry: {e}"),
            )
        })
    }

    /// A held manifest `reference` names, if any.
    fn held_manifest(&self, repository: &str, reference: &ManifestRef) -> Option<HeldView> {
        let held = self.held();
        let entry = match reference {
            ManifestRef::Digest(d) => held.entries.get(&(repository.to_owned(), d.clone())),
            ManifestRef::Tag(t) => held
                .entries
                .iter()
                .filter(|((r, _), e)| r == repository && e.tags.iter().any(|x| x == t))
                .max_by_key(|(_, e)| e.seq)
                .map(|(_, e)| e),
        }?;
        Some(HeldView {
            manifest: entry.manifest.clone(),
            stale: !entry.pushing && entry.checked.elapsed() >= self.inner.options.recheck_after,
        })
    }

    /// Whether `digest` (a child manifest when `manifest`, else a blob) is in the
    /// backing registry's `repository`.
    async fn present(&self, repo: &Reference, digest: &Digest, manifest: bool) -> io::Result<bool> {
        if manifest {
            match self
                .inner
                .client
                .resolve(&repo.clone().with_digest(digest.clone()))
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(storage_error("checking a child manifest", &e)),
            }
        } else {
            match self.inner.client.blob_exists(repo, digest).await {
                Ok(found) => Ok(found.is_some()),
                Err(e) => Err(storage_error("checking a blob", &e)),
            }
        }
    }

    /// Which of `children` (digest, whether a manifest) the backing registry's `repo` has,
    /// asked a few at a time.
    async fn arrived(
        &self,
        repo: &Reference,
        children: Vec<(Digest, bool)>,
    ) -> io::Result<Vec<Digest>> {
        let checks = futures_util::stream::iter(children)
            .map(|(child, is_manifest)| async move {
                let there = self.present(repo, &child, is_manifest).await?;
                Ok::<_, io::Error>(there.then_some(child))
            })
            .buffer_unordered(PRESENCE_CHECKS);
        let found: Vec<Option<Digest>> = checks.try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Ask the backing registry which of a held manifest's missing children are there
    /// now, and push what that completes.
    async fn recheck(&self, repository: &str, digest: &Digest) -> io::Result<()> {
        let key = (repository.to_owned(), digest.clone());
        let missing: Vec<(Digest, bool)> = {
            let mut held = self.held();
            let Some(entry) = held.entries.get_mut(&key) else {
                return Ok(());
            };
            entry.checked = Instant::now();
            entry
                .missing
                .iter()
                .map(|d| (d.clone(), entry.child_manifests.contains(d)))
                .collect()
        };
        let repo = self.reference(repository)?;
        let arrived = self.arrived(&repo, missing).await?;
        let ready = {
            let mut held = self.held();
            held.entries.get_mut(&key).and_then(|entry| {
                for child in &arrived {
                    entry.missing.remove(child);
                }
                take_if_ready(entry)
            })
        };
        if let Some(ready) = ready {
            self.push_ready(repository, vec![ready]).await?;
        }
        Ok(())
    }

    /// Note that `digest` is in the backing registry's `repository`, and push the held
    /// manifests that completes (and, in turn, the indexes those complete). A failed
    /// manifest push is logged and forgotten (see [`RegistryStorage::push_ready`]): the
    /// blob operation that noted the landing succeeded all the same.
    async fn landed(&self, repository: &str, digest: &Digest) {
        let ready = self.mark_landed(repository, digest);
        if !ready.is_empty() {
            let _logged = self.push_ready(repository, ready).await;
        }
    }

    /// Remove `digest` from the missing children of `repository`'s held manifests; take
    /// those it completes.
    fn mark_landed(&self, repository: &str, digest: &Digest) -> Vec<Ready> {
        let mut held = self.held();
        held.entries
            .iter_mut()
            .filter(|((r, _), _)| r == repository)
            .filter_map(|(_, entry)| {
                if entry.missing.remove(digest) {
                    take_if_ready(entry)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Push complete manifests, then those their landing completes, until none is left.
    /// Bounded: each round removes what it pushes from the held set, which only shrinks.
    async fn push_ready(&self, repository: &str, mut queue: Vec<Ready>) -> io::Result<()> {
        let mut first_error = None;
        while let Some(ready) = queue.pop() {
            let key = (repository.to_owned(), ready.manifest.digest.clone());
            match self.push_manifest(repository, &ready).await {
                Ok(()) => {
                    let removed = {
                        let mut held = self.held();
                        let removed = held.entries.remove(&key);
                        if let Some(e) = &removed {
                            held.bytes = held.bytes.saturating_sub(e.manifest.bytes.len());
                        }
                        removed.is_some()
                    };
                    if removed {
                        tracing::info!(repository, digest = %key.1, "held manifest pushed to the backing registry");
                    }
                    queue.extend(self.mark_landed(repository, &key.1));
                }
                Err(e) => {
                    // Forget it: the next request for it is a miss, fetched and stored
                    // again.
                    let mut held = self.held();
                    if let Some(entry) = held.entries.remove(&key) {
                        held.bytes = held.bytes.saturating_sub(entry.manifest.bytes.len());
                    }
                    drop(held);
                    tracing::warn!(repository, digest = %key.1, error = %crate::chain(&e), "pushing a manifest to the backing registry failed; it is not stored");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Drop a held manifest that nobody is pushing.
    fn forget(&self, key: &(String, Digest)) {
        let mut held = self.held();
        if held.entries.get(key).is_some_and(|e| !e.pushing)
            && let Some(entry) = held.entries.remove(key)
        {
            held.bytes = held.bytes.saturating_sub(entry.manifest.bytes.len());
        }
    }

    /// Push a manifest whose children are in the backing registry: under each tag, or its
    /// digest.
    async fn push_manifest(&self, repository: &str, ready: &Ready) -> io::Result<()> {
        let repo = self.reference(repository)?;
        let targets: Vec<Reference> = if ready.tags.is_empty() {
            vec![repo.with_digest(ready.manifest.digest.clone())]
        } else {
            ready
                .tags
                .iter()
                .map(|t| {
                    repo.clone()
                        .with_tag(t)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
                })
                .collect::<io::Result<_>>()?
        };
        for target in targets {
            self.inner
                .client
                .push_manifest(
                    &target,
                    ready.manifest.bytes.clone(),
                    &ready.manifest.media_type,
                )
                .await
                .map_err(|e| storage_error("pushing a manifest", &e))?;
        }
        Ok(())
    }

    /// Hold `manifest` (merging tags with an entry of the same digest), dropping the
    /// oldest entries past the limits. A tag moves to the newest manifest holding it.
    /// `false` when the same manifest is being pushed already (its children are there).
    fn hold(
        &self,
        repository: &str,
        manifest: &StoredManifest,
        tag: Option<&str>,
        children: &[&Descriptor],
        index: bool,
    ) -> bool {
        let mut held = self.held();
        if let Some(tag) = tag {
            for ((r, _), entry) in &mut held.entries {
                if r == repository {
                    entry.tags.retain(|t| t != tag);
                }
            }
        }
        let seq = held.next_seq;
        held.next_seq += 1;
        let key = (repository.to_owned(), manifest.digest.clone());
        if let Some(entry) = held.entries.get_mut(&key) {
            if entry.pushing {
                return false;
            }
            entry.tags.extend(tag.map(str::to_owned));
            entry.seq = seq;
            return true;
        }
        held.bytes += manifest.bytes.len();
        held.entries.insert(
            key.clone(),
            HeldManifest {
                manifest: manifest.clone(),
                tags: tag.map(str::to_owned).into_iter().collect(),
                missing: children.iter().map(|d| d.digest.clone()).collect(),
                child_manifests: if index {
                    children.iter().map(|d| d.digest.clone()).collect()
                } else {
                    HashSet::new()
                },
                seq,
                checked: Instant::now(),
                pushing: false,
            },
        );
        let limits = &self.inner.options;
        // Bounded: each turn removes one entry other than the new one, or stops.
        while held.entries.len() > limits.max_held_manifests.max(1)
            || held.bytes > limits.max_held_bytes
        {
            let oldest = held
                .entries
                .iter()
                .filter(|(k, e)| **k != key && !e.pushing)
                .min_by_key(|(_, e)| e.seq)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(entry) = held.entries.remove(&oldest) {
                held.bytes = held.bytes.saturating_sub(entry.manifest.bytes.len());
                tracing::info!(repository = %oldest.0, digest = %oldest.1, "too many manifests held for the backing registry; the oldest is dropped, not stored");
            }
        }
        true
    }

    async fn store_manifest(
        &self,
        repository: &str,
        manifest: &StoredManifest,
        tag: Option<&str>,
    ) -> io::Result<()> {
        let repo = self.reference(repository)?;
        let parsed = Manifest::parse_with(
            manifest.bytes.clone(),
            Some(&manifest.media_type),
            &ParseOptions {
                max_size: manifest.bytes.len().max(1),
            },
        )
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the manifest to store is not one orca reads: {e}"),
            )
        })?;
        let children = required_children(&parsed);
        // Held first, then checked: a child that lands meanwhile is noted either way.
        if !self.hold(repository, manifest, tag, &children, parsed.is_index()) {
            let ready = Ready {
                manifest: manifest.clone(),
                tags: tag.map(str::to_owned).into_iter().collect(),
            };
            return self.push_manifest(repository, &ready).await;
        }
        let key = (repository.to_owned(), manifest.digest.clone());
        let index = parsed.is_index();
        let mut arrived = match self
            .arrived(
                &repo,
                children.iter().map(|d| (d.digest.clone(), index)).collect(),
            )
            .await
        {
            Ok(arrived) => arrived,
            Err(e) => {
                // The call fails: nothing is stored, not even in memory.
                self.forget(&key);
                return Err(e);
            }
        };
        // The `{}` blob (the OCI empty descriptor, an artifact's usual config) is known
        // content: clients such as ORAS never ask for it, so push it here.
        if !index
            && let Some(empty) = children
                .iter()
                .find(|d| d.digest.as_str() == EMPTY_JSON_DIGEST && !arrived.contains(&d.digest))
        {
            let descriptor =
                Descriptor::new(OCTET_STREAM, empty.digest.clone(), EMPTY_JSON.len() as u64);
            let options = PushOptions::builder().skip_existing(true).build();
            if let Err(e) = self
                .inner
                .client
                .push_blob(&repo, &descriptor, Bytes::from_static(EMPTY_JSON), &options)
                .await
            {
                self.forget(&key);
                return Err(storage_error("pushing the empty blob", &e));
            }
            arrived.push(empty.digest.clone());
        }
        let ready = {
            let mut held = self.held();
            held.entries.get_mut(&key).and_then(|entry| {
                for child in &arrived {
                    entry.missing.remove(child);
                }
                take_if_ready(entry)
            })
        };
        if let Some(ready) = ready {
            return self.push_ready(repository, vec![ready]).await;
        }
        tracing::debug!(repository, digest = %manifest.digest, "manifest held until its children are in the backing registry");
        Ok(())
    }

    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &ManifestRef,
    ) -> io::Result<Option<StoredManifest>> {
        if let Some(view) = self.held_manifest(repository, reference) {
            if view.stale
                && let Err(e) = self.recheck(repository, &view.manifest.digest).await
            {
                // The held copy is good: serve it; the next read asks again.
                tracing::warn!(repository, digest = %view.manifest.digest, error = %crate::chain(&e), "asking the backing registry about a held manifest's children failed");
            }
            return Ok(Some(view.manifest));
        }
        let repo = self.reference(repository)?;
        let target = match reference {
            ManifestRef::Tag(t) => repo
                .with_tag(t)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
            ManifestRef::Digest(d) => repo.with_digest(d.clone()),
        };
        let options = orca_distribution::FetchOptions::default();
        match self.inner.client.fetch_manifest(&target, &options).await {
            // Verified by the client: against the digest asked for, else against the
            // registry's `Docker-Content-Digest`; the digest is the bytes' own otherwise.
            Ok(fetched) => Ok(Some(StoredManifest {
                digest: fetched.descriptor.digest,
                media_type: fetched.descriptor.media_type,
                bytes: fetched.bytes,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error("reading a manifest", &e)),
        }
    }

    async fn size(&self, repository: &str, digest: &Digest) -> io::Result<Option<u64>> {
        let repo = self.reference(repository)?;
        let size = self
            .inner
            .client
            .blob_exists(&repo, digest)
            .await
            .map_err(|e| storage_error("checking a blob", &e))?;
        if let Some(size) = size {
            self.remember_size(repository, digest, size);
            // Perhaps pushed by another front: it may complete a held manifest here.
            self.landed(repository, digest).await;
        }
        Ok(size)
    }

    fn sizes(&self) -> MutexGuard<'_, HashMap<(String, Digest), u64>> {
        self.inner
            .sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember_size(&self, repository: &str, digest: &Digest, size: u64) {
        let mut sizes = self.sizes();
        if sizes.len() >= MAX_REMEMBERED_SIZES {
            sizes.clear();
        }
        sizes.insert((repository.to_owned(), digest.clone()), size);
    }

    async fn open_blob(
        &self,
        repository: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> io::Result<Option<BlobRead>> {
        let remembered = self
            .sizes()
            .get(&(repository.to_owned(), digest.clone()))
            .copied();
        let size = match remembered {
            Some(size) => size,
            None => match self.size(repository, digest).await? {
                Some(size) => size,
                None => return Ok(None),
            },
        };
        let (start, end) = match range {
            Some((s, e)) if s <= e && e < size => (s, e + 1),
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "range outside the blob",
                ));
            }
            None => (0, size),
        };
        let repo = self.reference(repository)?;
        let descriptor = Descriptor::new(OCTET_STREAM, digest.clone(), size);
        let stream = match self.inner.client.fetch_blob(&repo, &descriptor).await {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.sizes()
                    .remove(&(repository.to_owned(), digest.clone()));
                return Ok(None);
            }
            Err(e) => return Err(storage_error("reading a blob", &e)),
        };
        Ok(Some(BlobRead {
            size,
            body: verified_range(stream, start, end),
        }))
    }

    async fn store_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        file: &Path,
    ) -> io::Result<()> {
        let repo = self.reference(repository)?;
        let path = file.to_owned();
        let file = tokio::task::spawn_blocking(move || std::fs::File::open(path))
            .await
            .map_err(|e| io::Error::other(format!("storage task failed: {e}")))??;
        let descriptor = Descriptor::new(OCTET_STREAM, digest.clone(), size);
        let body = crate::storage::read_file(file, 0, size);
        let options = PushOptions::builder().skip_existing(true).build();
        self.inner
            .client
            .push_blob_stream(&repo, Some(&descriptor), body, &options)
            .await
            .map_err(|e| storage_error("pushing a blob", &e))?;
        self.landed(repository, digest).await;
        Ok(())
    }
}

/// A held manifest as a read sees it.
struct HeldView {
    manifest: StoredManifest,
    /// Time to ask the backing registry about its missing children again.
    stale: bool,
}

/// A held manifest taken for pushing.
struct Ready {
    manifest: StoredManifest,
    tags: Vec<String>,
}

/// Take `entry` for pushing when nothing is missing and nobody took it yet.
fn take_if_ready(entry: &mut HeldManifest) -> Option<Ready> {
    if !entry.missing.is_empty() || entry.pushing {
        return None;
    }
    entry.pushing = true;
    Some(Ready {
        manifest: entry.manifest.clone(),
        tags: entry.tags.clone(),
    })
}

/// The bytes `start..end` of a verified blob stream, the last piece held back until the
/// whole blob verified: a failed check is the stream's last item, before the range's end.
fn verified_range(
    stream: BlobStream,
    start: u64,
    end: u64,
) -> BoxStream<'static, io::Result<Bytes>> {
    struct State {
        stream: BlobStream,
        /// Offset of the next byte the blob stream yields.
        offset: u64,
        start: u64,
        end: u64,
        held: Option<Bytes>,
        done: bool,
    }
    let state = State {
        stream,
        offset: 0,
        start,
        end,
        held: None,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        // Bounded by the blob stream, which ends.
        loop {
            match s.stream.next().await {
                Some(Ok(piece)) => {
                    let piece_start = s.offset;
                    s.offset += piece.len() as u64;
                    let from = s.start.max(piece_start);
                    let to = s.end.min(s.offset);
                    if from >= to {
                        continue;
                    }
                    let part = piece.slice(
                        usize::try_from(from - piece_start).unwrap_or(usize::MAX)
                            ..usize::try_from(to - piece_start).unwrap_or(usize::MAX),
                    );
                    if let Some(previous) = s.held.replace(part) {
                        return Some((Ok(previous), s));
                    }
                }
                Some(Err(e)) => {
                    s.done = true;
                    s.held = None;
                    return Some((Err(storage_error("the blob read failed", &e)), s));
                }
                None => {
                    s.done = true;
                    return s.held.take().map(|last| (Ok(last), s));
                }
            }
        }
    })
    .boxed()
}

impl Storage for RegistryStorage {
    fn manifest<'a>(
        &'a self,
        repository: &'a str,
        reference: &'a ManifestRef,
    ) -> BoxFuture<'a, io::Result<Option<StoredManifest>>> {
        Box::pin(self.fetch_manifest(repository, reference))
    }

    fn put_manifest<'a>(
        &'a self,
        repository: &'a str,
        manifest: &'a StoredManifest,
        tag: Option<&'a str>,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.store_manifest(repository, manifest, tag))
    }

    fn blob_size<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(self.size(repository, digest))
    }

    fn read_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<BlobRead>>> {
        Box::pin(self.open_blob(repository, digest, range))
    }

    fn put_blob<'a>(
        &'a self,
        repository: &'a str,
        digest: &'a Digest,
        size: u64,
        file: &'a Path,
    ) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.store_blob(repository, digest, size, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let plain: BackingLocation = "localhost:5000".parse().unwrap();
        assert_eq!(plain.prefix(), None);
        assert_eq!(plain.repository("a/b"), "a/b");
        assert_eq!(plain.to_string(), "localhost:5000");
        let prefixed: BackingLocation = "myacr.azurecr.io/cache/".parse().unwrap();
        assert_eq!(prefixed.prefix(), Some("cache"));
        assert_eq!(prefixed.to_string(), "myacr.azurecr.io/cache");
        for bad in [
            "",
            "https://x.io",
            "x.io/Upper",
            "x.io/a//b",
            "x.io:99999",
            "x y",
        ] {
            let e = BackingLocation::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid backing registry"), "{e}");
        }
    }

    #[test]
    fn foreign_layers_with_urls_are_not_required() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::DOCKER_MANIFEST_V2,
            "config": {"mediaType": media_types::DOCKER_CONFIG, "digest": Digest::sha256(b"c").as_str(), "size": 1},
            "layers": [
                {"mediaType": media_types::DOCKER_FOREIGN_LAYER_GZIP, "digest": Digest::sha256(b"f").as_str(), "size": 1, "urls": ["https://example.com/f"]},
                {"mediaType": media_types::DOCKER_LAYER_GZIP, "digest": Digest::sha256(b"l").as_str(), "size": 1}
            ]
        });
        let manifest = Manifest::parse_with(
            Bytes::from(serde_json::to_vec(&body).unwrap()),
            None,
            &ParseOptions::default(),
        )
        .unwrap();
        let required: Vec<_> = required_children(&manifest)
            .into_iter()
            .map(|d| d.digest.clone())
            .collect();
        assert_eq!(required, vec![Digest::sha256(b"c"), Digest::sha256(b"l")]);
    }
}
