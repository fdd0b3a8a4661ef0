//! [`ArtifactStore::fetch_with`]: manifest, limit, verified concurrent download, ORAS
//! layout, atomic placement.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::{StreamExt, TryStreamExt};
use orca_manifest::{Descriptor, Digest, Manifest, annotations};
use orca_reference::Reference;
use orca_store::{BlobWriter, ContentCache};
use orca_unpack::{ExtractOptions, LayerOptions, Limits, Staging, Written, check_path};

use crate::Error;
use crate::artifact_store::{ArtifactStore, pinned_digest, remote, repository_of, with_digest};
use crate::error::{from_unpack, io as io_error};
use crate::observer::{Direction, Event, TransferOutcome};
use crate::options::FetchOptions;
use crate::results::{Fetched, FetchedFile, FileKind, ManifestContent};
use crate::telemetry::{self, Reporter};

/// How one layer was obtained.
struct LayerDone {
    written: Written,
    layer: Descriptor,
    downloaded: u64,
    cached: u64,
}

/// The sha256 of zero bytes: older ORAS versions' config (`application/vnd.unknown.config.v1+json`, size 0).
const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl ArtifactStore {
    #[allow(clippy::too_many_lines)] // the steps in the order the docs of `fetch_with` list them
    pub(crate) async fn fetch_inner(
        &self,
        input: &str,
        operation: &str,
        dest: &Path,
        options: &FetchOptions,
    ) -> Result<Fetched, Error> {
        let (mut reference, limits) = self.locate(input)?;
        if reference.tag().is_none() && pinned_digest(&reference).is_none() {
            reference = reference
                .with_tag(orca_reference::DEFAULT_TAG)
                .map_err(|source| Error::InvalidReference {
                    reference: input.to_owned(),
                    source,
                })?;
        }
        let reference_text = reference.to_string();
        Box::pin(self.pull_through(&reference, operation, &limits)).await?;
        let (mut named, named_from_cache) = self.manifest_for_fetch(&reference).await?;
        let (index, content, manifest_from_cache) = if named.manifest.is_index() {
            let entry = crate::platform::choose_from_index(
                &reference_text,
                &named,
                options.platform.as_ref(),
            )?;
            let (mut child, child_from_cache) = self
                .manifest_for_fetch(&with_digest(&reference, &entry.digest))
                .await?;
            if child.manifest.is_index() {
                return Err(Error::InvalidArtifact {
                    reference: reference_text,
                    message: format!(
                        "the manifest chosen for platform {} ({}) is an index again; fetch one of its manifests by digest",
                        options
                            .platform
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        entry.digest
                    ),
                    source: None,
                });
            }
            child.descriptor.platform.clone_from(&entry.platform);
            (Some(named), child, named_from_cache && child_from_cache)
        } else {
            if let Some(platform) = &options.platform {
                self.check_platform(&reference, &reference_text, &mut named, platform)
                    .await?;
            }
            (None, named, named_from_cache)
        };
        tracing::Span::current().record("digest", content.descriptor.digest.as_str());
        let reporter = self.reporter();
        reporter.event(|| Event::Resolved {
            descriptor: content.descriptor.clone(),
        });
        let manifest = &content.manifest;
        let layers = manifest.layers().to_vec();
        let artifact_bytes = layers
            .iter()
            .try_fold(0u64, |sum, l| sum.checked_add(l.size))
            .unwrap_or(u64::MAX);
        if let Some(limit) = limits.limit_for(operation)
            && artifact_bytes > limit
        {
            return Err(Error::TooLargeArtifacts {
                reference: reference_text,
                operation: operation.to_owned(),
                size: artifact_bytes,
                limit,
            });
        }
        let mut layer_options = LayerOptions::default();
        layer_options.write_untitled = options.write_untitled;
        layer_options.unpack_all_tar_gzip = options.unpack_all;
        let mut extract =
            ExtractOptions::with_limits(options.extract_limits.unwrap_or_else(Limits::standard));
        extract.allow_symlinks = options.allow_symlinks;
        layer_options.extract = extract;
        let titles = check_titles(&reference_text, &layers, &layer_options)?;

        let (parent, name) = split_destination(dest)?;
        if let Ok(meta) = fs::symlink_metadata(dest)
            && !meta.is_dir()
            && !meta.file_type().is_symlink()
        {
            return Err(Error::InvalidArgument {
                message: format!("the destination {} is not a directory", dest.display()),
                source: None,
            });
        }
        let staging = Arc::new(staging_dir(dest, &parent, &name)?);
        // Parents of nested titles first, so concurrent layers never race to create them.
        for title in titles.iter().flatten() {
            if let Some(dir) = title.parent().filter(|d| !d.as_os_str().is_empty()) {
                let dir = staging.path().join(dir);
                fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
            }
        }
        // The tag names the index, not the manifest chosen from it: no tag then.
        let pinned = if index.is_some() {
            with_digest(&repository_of(&reference), &content.descriptor.digest)
        } else {
            with_digest(&reference, &content.descriptor.digest)
        };
        // The futures are built in a loop, not by a closure over references: a closure
        // here makes the whole future fail the `Send` check (rust-lang/rust#102211).
        let mut jobs = Vec::with_capacity(layers.len());
        for (layer, title) in layers.iter().zip(&titles) {
            if let Some(title) = title {
                jobs.push(self.write_one_layer(
                    &pinned,
                    layer,
                    title,
                    Arc::clone(&staging),
                    &layer_options,
                    &reporter,
                ));
            }
        }
        let done: Vec<LayerDone> = futures_util::stream::iter(jobs)
            .buffered(self.inner.concurrency)
            .try_collect()
            .await?;

        let mut files = Vec::new();
        let (mut downloaded_bytes, mut cached_bytes, mut written_bytes) = (0, 0, 0);
        for one in &done {
            downloaded_bytes += one.downloaded;
            cached_bytes += one.cached;
            written_files(
                &one.written,
                staging.path(),
                &one.layer.digest,
                &mut files,
                &mut written_bytes,
            );
        }
        let staging = Arc::try_unwrap(staging).map_err(|_| Error::Internal {
            message: "a layer writer outlived its fetch".to_owned(),
            source: None,
        })?;
        if options.merge_into_dest {
            merge_into(&staging, dest, &reference_text)?;
        } else {
            install(staging, dest, &reference_text)?;
        }
        // A pinned fetch served from the cache has its entry already (the fetch that
        // cached the manifest named it); anything else names it now.
        if let Some(cache) = &self.inner.cache
            && !(manifest_from_cache && pinned_digest(&reference).is_some())
        {
            self.remember(cache, &reference, &pinned, &content, index.as_ref())
                .await;
        }
        Ok(Fetched {
            reference: pinned,
            digest: content.descriptor.digest.clone(),
            manifest: content.descriptor.clone(),
            index: index.map(|index| index.descriptor),
            artifact_type: manifest.artifact_type().map(ToOwned::to_owned),
            annotations: manifest.annotations().clone(),
            files,
            artifact_bytes,
            written_bytes,
            downloaded_bytes,
            cached_bytes,
            manifest_from_cache,
        })
    }

    /// The manifest for a fetch: from the cache when pinned and cached (no request); with
    /// a cache, a tag is resolved with one `HEAD` and the manifest read from the cache
    /// when there; otherwise one `GET`.
    async fn manifest_for_fetch(
        &self,
        reference: &Reference,
    ) -> Result<(ManifestContent, bool), Error> {
        let Some(cache) = &self.inner.cache else {
            return Ok((self.get_manifest(reference).await?, false));
        };
        let pinned = match pinned_digest(reference) {
            Some(_) => reference.clone(),
            None => self.pin(reference).await?,
        };
        let digest = pinned_digest(&pinned).ok_or_else(|| Error::Internal {
            message: format!("{pinned}: no digest after resolving"),
            source: None,
        })?;
        // Read and verified before by this process, and still in the cache.
        if let Some(content) = self.inner.manifests.get(&digest) {
            if cache.touch(&digest) {
                telemetry::cache_hit("manifest");
                return Ok((content, true));
            }
            self.inner.manifests.remove(&digest);
        }
        match cache.read_blob(&digest) {
            Ok(Some(bytes)) => match Manifest::parse(bytes.clone(), None) {
                Ok(manifest) => {
                    telemetry::cache_hit("manifest");
                    let _ = cache.touch(&digest);
                    let descriptor = manifest.descriptor();
                    let content = ManifestContent {
                        descriptor,
                        bytes: Bytes::from(bytes),
                        manifest,
                    };
                    self.inner.manifests.insert(&content);
                    return Ok((content, true));
                }
                Err(e) => {
                    tracing::warn!(%digest, error = %e, "a cached manifest does not parse; fetching it again");
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%digest, error = %e, "the cached manifest is unusable; fetching it again");
            }
        }
        telemetry::cache_miss("manifest");
        let content = self.get_manifest(&pinned).await?;
        match cache.put_blob(&content.descriptor, &content.bytes) {
            Ok(()) => self.inner.manifests.insert(&content),
            Err(e) => tracing::warn!(error = %e, "cannot cache the manifest"),
        }
        Ok((content, false))
    }

    /// After a successful fetch: the config (for other readers of the layout) and the
    /// `index.json` entries, best effort. When the manifest was chosen from `index`, the
    /// reference names the index (as it does in the registry) and the pinned name the
    /// manifest.
    async fn remember(
        &self,
        cache: &ContentCache,
        reference: &Reference,
        pinned: &Reference,
        content: &ManifestContent,
        index: Option<&ManifestContent>,
    ) {
        if let Some(config) = content.manifest.config()
            && cache.contains(&config.digest).is_none()
        {
            let stored = if config.digest == Descriptor::empty().digest {
                cache.put_blob(config, orca_manifest::EMPTY_JSON)
            } else if config.size == 0 && config.digest.as_str() == EMPTY_SHA256 {
                cache.put_blob(config, b"")
            } else {
                match self.inner.client.fetch_blob(pinned, config).await {
                    Ok(stream) => match stream.bytes().await {
                        Ok(bytes) => cache.put_blob(config, &bytes),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot cache the config");
                            Ok(())
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot cache the config");
                        Ok(())
                    }
                }
            };
            if let Err(e) = stored {
                tracing::warn!(error = %e, "cannot cache the config");
            }
        }
        let cache = cache.clone();
        let mut entries = vec![(
            vec![reference.to_string(), pinned_name(pinned)],
            content.descriptor.clone(),
        )];
        if let Some(index) = index {
            entries[0].0.remove(0);
            entries.push((
                vec![
                    reference.to_string(),
                    pinned_name(&with_digest(reference, &index.descriptor.digest)),
                ],
                index.descriptor.clone(),
            ));
        }
        let added = tokio::task::spawn_blocking(move || {
            entries.iter().try_for_each(|(names, descriptor)| {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                cache.add_entries(&names, descriptor)
            })
        })
        .await;
        match added {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot name the artifact in the cache"),
            Err(e) => tracing::warn!(error = %e, "cannot name the artifact in the cache"),
        }
    }

    /// Downloads (or reads from the cache) one layer and writes it below `staging`.
    #[allow(clippy::too_many_lines)] // the cached path, then the download feeding the writer
    async fn write_one_layer(
        &self,
        reference: &Reference,
        layer: &Descriptor,
        title: &Path,
        staging: Arc<Staging>,
        options: &LayerOptions,
        reporter: &Reporter,
    ) -> Result<LayerDone, Error> {
        let reference_text = reference.to_string();
        let cache = self.inner.cache.clone();
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Download,
            descriptor: layer.clone(),
        });
        if let Some(cache) = &cache {
            let cached = if is_folder(layer, options) {
                self.extract_cached(cache, layer, &staging, options).await
            } else {
                place_cached(cache, layer, title, &staging, options).await
            };
            match cached {
                Ok(Some(written)) => {
                    telemetry::cache_hit("blob");
                    reporter.event(|| Event::TransferFinished {
                        direction: Direction::Download,
                        descriptor: layer.clone(),
                        outcome: TransferOutcome::Cached,
                    });
                    return Ok(LayerDone {
                        written,
                        layer: layer.clone(),
                        downloaded: 0,
                        cached: layer.size,
                    });
                }
                Ok(None) => {}
                // A cached copy damaged on disk (now removed): download the layer again.
                Err(Cached::Damaged(problem)) => {
                    tracing::warn!(digest = %layer.digest, %problem, "a cached layer is damaged; downloading it again");
                }
                Err(Cached::Failed(e)) => return Err(from_unpack(&reference_text, e)),
            }
        }
        if cache.is_some() {
            telemetry::cache_miss("blob");
        }
        let mut stream = self
            .inner
            .client
            .fetch_blob(reference, layer)
            .await
            .map_err(|e| remote(reference, e))?;
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
        let tee = match &cache {
            // The download verifies the bytes and the copy is committed only after it
            // did: the cache need not hash them again.
            Some(cache) => match cache.verified_blob_writer(layer) {
                Ok(writer) => Some(writer),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot cache the layer");
                    None
                }
            },
            None => None,
        };
        let (layer_c, options_c, staging_c, title_c) = (
            layer.clone(),
            options.clone(),
            Arc::clone(&staging),
            title.to_path_buf(),
        );
        let writer = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader {
                receiver,
                current: Bytes::new(),
                tee,
            };
            let written = write_streamed(
                &layer_c,
                &title_c,
                &mut reader,
                staging_c.path(),
                &options_c,
            )?;
            // Drain what the writer did not need (a tar's padding), so the cached copy is whole.
            while let Ok(rest) = reader.fill_buf()
                && !rest.is_empty()
            {
                let n = rest.len();
                reader.consume(n);
            }
            Ok::<_, orca_unpack::Error>((written, reader.tee))
        });
        let mut downloaded = 0u64;
        let mut failure = None;
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(bytes) => {
                    let n = bytes.len() as u64;
                    downloaded += n;
                    reporter.progress(Direction::Download, &layer.digest, n);
                    // When the writer stopped (its error says why), the rest is still read:
                    // content that fails to extract because it is corrupt must be reported
                    // as the digest mismatch it is, which only the stream's end shows.
                    let _ = sender.send(bytes).await;
                }
                Err(e) => {
                    failure = Some(remote(reference, e));
                    break;
                }
            }
        }
        drop(sender);
        let result = writer.await.map_err(join_error)?;
        if let Some(error) = failure {
            return Err(error);
        }
        let (written, tee) = result.map_err(|e| from_unpack(&reference_text, e))?;
        if let Some(tee) = tee {
            // Only now, the download having ended well (its digest checked), is the
            // cached copy committed.
            if let Err(e) = tokio::task::spawn_blocking(move || tee.commit())
                .await
                .map_err(join_error)?
            {
                tracing::warn!(error = %e, "cannot cache the layer");
            }
        }
        reporter.event(|| Event::TransferFinished {
            direction: Direction::Download,
            descriptor: layer.clone(),
            outcome: TransferOutcome::Transferred,
        });
        Ok(LayerDone {
            written,
            layer: layer.clone(),
            downloaded,
            cached: 0,
        })
    }
}

/// Cached layers up to this size are written on the task itself.
const INLINE_BYTES: u64 = 64 * 1024;

/// Why a cached layer was not used.
enum Cached {
    /// The cached blob is damaged (and was removed); download the layer.
    Damaged(String),
    /// Writing the layer failed; the fetch fails.
    Failed(orca_unpack::Error),
}

impl ArtifactStore {
    /// Extracts a cached folder layer into `staging` (the extraction checks the digest);
    /// `None` when it is not cached.
    async fn extract_cached(
        &self,
        cache: &ContentCache,
        layer: &Descriptor,
        staging: &Arc<Staging>,
        options: &LayerOptions,
    ) -> Result<Option<Written>, Cached> {
        let file = match cache.open_blob(&layer.digest) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Cached::Damaged(e.to_string())),
        };
        if file.metadata().map(|m| m.len()).ok() != Some(layer.size) {
            let _ = fs::remove_file(cache.blob_path(&layer.digest));
            return Err(Cached::Damaged("its size is wrong".to_owned()));
        }
        let (layer_c, options_c, staging_c) = (layer.clone(), options.clone(), Arc::clone(staging));
        let result = tokio::task::spawn_blocking(move || {
            orca_unpack::write_layer(&layer_c, file, staging_c.path(), &options_c)
        })
        .await
        .map_err(|e| Cached::Failed(orca_unpack::Error::Read(io::Error::other(e))))?;
        match result {
            Ok(written) => Ok(Some(written)),
            Err(e @ orca_unpack::Error::DigestMismatch { .. }) => {
                // The extraction left nothing behind in the staging directory.
                let _ = fs::remove_file(cache.blob_path(&layer.digest));
                Err(Cached::Damaged(e.to_string()))
            }
            Err(e) => Err(Cached::Failed(e)),
        }
    }
}

/// Places a cached single-file layer at `staging/<title>` ([`ContentCache::place_blob`]:
/// a verified copy, or a hard link); `None` when it is not cached.
async fn place_cached(
    cache: &ContentCache,
    layer: &Descriptor,
    title: &Path,
    staging: &Arc<Staging>,
    options: &LayerOptions,
) -> Result<Option<Written>, Cached> {
    let limit = options
        .extract
        .limits
        .max_entry_bytes
        .min(options.extract.limits.max_total_bytes);
    if layer.size > limit {
        return Err(Cached::Failed(orca_unpack::Error::Limit {
            limit: orca_unpack::LimitKind::EntryBytes,
            value: limit,
            seen: layer.size,
            entry: Some(title.to_string_lossy().into_owned()),
        }));
    }
    // The parents were created in the staging directory before any layer ran; a folder
    // layer extracted since may have put a link where one of them was expected.
    let mut parent = staging.path().to_path_buf();
    for component in title.parent().into_iter().flat_map(Path::components) {
        parent.push(component);
        match fs::symlink_metadata(&parent) {
            Ok(meta) if meta.is_dir() => {}
            _ => {
                return Err(Cached::Failed(orca_unpack::Error::ThroughLink {
                    path: title.to_string_lossy().into_owned(),
                    conflict: component.as_os_str().to_string_lossy().into_owned(),
                }));
            }
        }
    }
    let target = staging.path().join(title);
    let link_only = cache.options().hard_links && !cache.options().verify_reads;
    let placed = if layer.size <= INLINE_BYTES || link_only {
        // A small file, or a link without reading the blob: a few syscalls, cheaper here
        // than a hop to the blocking pool. Anything that reads a large blob goes there.
        cache.place_blob(layer, &target)
    } else {
        let (cache_c, layer_c, target_c) = (cache.clone(), layer.clone(), target.clone());
        tokio::task::spawn_blocking(move || cache_c.place_blob(&layer_c, &target_c))
            .await
            .map_err(|e| Cached::Failed(orca_unpack::Error::Read(io::Error::other(e))))?
    };
    match placed {
        Ok(Some(size)) => Ok(Some(Written::File { path: target, size })),
        Ok(None) => Ok(None),
        Err(e @ orca_store::Error::CacheVerification { .. }) => Err(Cached::Damaged(e.to_string())),
        Err(e) => Err(Cached::Failed(orca_unpack::Error::Read(io::Error::other(
            e,
        )))),
    }
}

/// Whether a layer is a packed folder to extract (as [`orca_unpack::write_layer`] decides).
fn is_folder(layer: &Descriptor, options: &LayerOptions) -> bool {
    let media_type = orca_manifest::media_types::essence(&layer.media_type);
    layer.annotation(annotations::ORAS_CONTENT_UNPACK) == Some("true")
        || (options.unpack_all_tar_gzip
            && matches!(
                media_type,
                orca_manifest::media_types::OCI_LAYER_TAR_GZIP
                    | orca_manifest::media_types::DOCKER_LAYER_GZIP
            ))
}

/// What [`orca_unpack::write_layer`] does for a layer arriving from the client's verified
/// stream, without hashing the layer a second time: the stream checks size and digest as
/// bytes arrive and fails at the end when they are wrong, and the caller looks at that
/// failure before it looks at what was written (a staging directory that is then
/// discarded). Folder layers still have their `io.deis.oras.content.digest` (over the
/// uncompressed tar) checked here; single files go through `write_layer` unchanged.
fn write_streamed(
    layer: &Descriptor,
    title: &Path,
    reader: &mut ChannelReader,
    dest: &Path,
    options: &LayerOptions,
) -> Result<Written, orca_unpack::Error> {
    if !is_folder(layer, options) {
        // The download verifies the digest, and nothing written is installed unless it
        // ended well: a second hash here would only take a core from the download.
        let mut options = options.clone();
        options.source_verified = true;
        // Written straight from the received pieces, with no copy in between.
        return orca_unpack::write_layer_buffered(layer, reader, dest, &options);
    }
    let content_digest = layer
        .annotation(annotations::ORAS_CONTENT_DIGEST)
        .map(|value| {
            Digest::parse(value).map_err(|e| orca_unpack::Error::InvalidAnnotation {
                key: annotations::ORAS_CONTENT_DIGEST.to_owned(),
                value: value.to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let mut extract = options.extract.clone();
    extract.layer_digest = None;
    extract.layer_size = Some(layer.size);
    extract.content_digest = content_digest;
    extract.strip_prefix = Some(title.to_string_lossy().into_owned());
    let target = dest.join(title);
    // Decoded straight from the received pieces, with no copy in between.
    let summary = orca_unpack::extract_buffered(reader, &target, &extract)?;
    Ok(Written::Extracted {
        path: target,
        summary,
    })
}

/// The name a pinned reference gets in the cache's `index.json`: `registry/repo@digest`.
fn pinned_name(pinned: &Reference) -> String {
    match pinned.digest() {
        Some(digest) => format!("{}/{}@{digest}", pinned.registry(), pinned.repository()),
        None => pinned.to_string(),
    }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Internal {
        message: "a blocking task failed".to_owned(),
        source: Some(Box::new(e)),
    }
}

/// Reads the pieces a download task sends, optionally copying them into the cache.
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
    tee: Option<BlobWriter>,
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(bytes) => {
                    if let Some(tee) = &mut self.tee
                        && tee.write_all(&bytes).is_err()
                    {
                        tracing::warn!("cannot cache the layer: writing failed");
                        self.tee = None;
                    }
                    self.current = bytes;
                }
                None => break,
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, amount: usize) {
        self.current.advance(amount);
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = self.fill_buf()?;
        let n = buf.len().min(piece.len());
        buf[..n].copy_from_slice(&piece[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Every layer's title (checked as a safe relative path), `None` for layers not written;
/// duplicate titles are refused as the ORAS CLI refuses them.
fn check_titles(
    reference: &str,
    layers: &[Descriptor],
    options: &LayerOptions,
) -> Result<Vec<Option<PathBuf>>, Error> {
    let mut seen = HashSet::new();
    let mut titles = Vec::with_capacity(layers.len());
    for layer in layers {
        let title = match layer.title() {
            Some(title) => title.to_owned(),
            None if options.write_untitled => {
                format!(
                    "{}-{}",
                    layer.digest.algorithm_str(),
                    layer.digest.encoded()
                )
            }
            None => {
                titles.push(None);
                continue;
            }
        };
        let path = match check_path(title.as_bytes(), &options.extract.limits) {
            Ok(path) if !path.is_root() => path,
            Ok(_) => {
                return Err(unsafe_title(reference, &title, "it names no file"));
            }
            Err(e) => return Err(unsafe_title(reference, &title, &e.to_string())),
        };
        if !seen.insert(path.as_string()) {
            return Err(Error::InvalidArtifact {
                reference: reference.to_owned(),
                message: format!("two layers have the title {title:?}"),
                source: None,
            });
        }
        titles.push(Some(path.to_path_buf()));
    }
    Ok(titles)
}

fn unsafe_title(reference: &str, title: &str, reason: &str) -> Error {
    Error::UnsafeArtifactContent {
        reference: reference.to_owned(),
        source: format!(
            "the layer title {title:?} ({}) is not a safe relative path: {reason}",
            annotations::TITLE
        )
        .into(),
    }
}

/// The entries a layer wrote, relative to the fetch's destination.
fn written_files(
    written: &Written,
    root: &Path,
    layer: &Digest,
    files: &mut Vec<FetchedFile>,
    bytes: &mut u64,
) {
    match written {
        Written::Extracted { path, summary } => {
            let base = path.strip_prefix(root).unwrap_or(path).to_path_buf();
            files.push(FetchedFile {
                path: base.clone(),
                kind: FileKind::Directory,
                size: 0,
                layer: layer.clone(),
            });
            for entry in &summary.entries {
                if entry.path.as_os_str().is_empty() {
                    continue;
                }
                let kind = match entry.kind {
                    orca_unpack::EntryKind::Directory => FileKind::Directory,
                    orca_unpack::EntryKind::Symlink => FileKind::Symlink,
                    orca_unpack::EntryKind::Hardlink => FileKind::Hardlink,
                    _ => FileKind::File,
                };
                files.push(FetchedFile {
                    path: base.join(&entry.path),
                    kind,
                    size: entry.size,
                    layer: layer.clone(),
                });
            }
            *bytes += summary.bytes;
        }
        Written::File { path, size } => {
            files.push(FetchedFile {
                path: path.strip_prefix(root).unwrap_or(path).to_path_buf(),
                kind: FileKind::File,
                size: *size,
                layer: layer.clone(),
            });
            *bytes += size;
        }
        _ => {}
    }
}

/// The parent directory and final name of `dest`.
fn split_destination(dest: &Path) -> Result<(PathBuf, String), Error> {
    let invalid = |reason: &str| Error::InvalidArgument {
        message: format!("the destination {} {reason}", dest.display()),
        source: None,
    };
    let name = dest
        .file_name()
        .ok_or_else(|| invalid("has no final name"))?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Err(invalid("has no parent directory")),
    };
    Ok((parent, name))
}

/// A new staging directory beside `dest` (in `parent`, created when missing); what killed
/// fetches left there for `dest` is removed first ([`Staging`]).
fn staging_dir(dest: &Path, parent: &Path, name: &str) -> Result<Staging, Error> {
    let create = || Staging::new_in(parent, name, "fetch");
    match create() {
        Ok(dir) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
            create().map_err(|e| io_error("create a staging directory in", parent, e))
        }
        Err(e) if parent.exists() && !parent.is_dir() => Err(Error::InvalidArgument {
            message: format!(
                "the destination {} is below something that is not a directory",
                dest.display()
            ),
            source: Some(Box::new(e)),
        }),
        Err(e) => Err(io_error("create a staging directory in", parent, e)),
    }
}

/// Moves `staging` to `dest`, replacing what is there atomically (see
/// [`orca_unpack::replace_with`]); on error `dest` is as it was and `staging` is removed.
fn install(staging: Staging, dest: &Path, reference: &str) -> Result<(), Error> {
    orca_unpack::replace_with(staging.path(), dest).map_err(|e| from_unpack(reference, e))?;
    // Nothing is left at the staging path.
    let _ = staging.keep();
    Ok(())
}

/// Moves each top-level entry of `staging` into `dest` (created when missing), each
/// replacing its namesake atomically; other entries of `dest` stay. Errors name
/// `reference`, the artifact fetched.
fn merge_into(staging: &Staging, dest: &Path, reference: &str) -> Result<(), Error> {
    fs::create_dir_all(dest).map_err(|e| io_error("create", dest, e))?;
    let entries = fs::read_dir(staging.path()).map_err(|e| io_error("read", staging.path(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", staging.path(), e))?;
        let name = entry.file_name();
        let target = dest.join(&name);
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && fs::symlink_metadata(&target).is_ok() {
            let name_text = name.to_string_lossy().into_owned();
            // A working directory beside the target (`.NAME.orca-merge-*`), swept by the
            // next merge of the same name if this process is killed holding it.
            let holder = Staging::new_in(dest, &name_text, "merge")
                .map_err(|e| io_error("create a directory in", dest, e))?;
            let moved = holder.path().join(&name);
            fs::rename(entry.path(), &moved).map_err(|e| io_error("move", &entry.path(), e))?;
            // The holder (and the previous `target`, when it is moved there) goes with it.
            orca_unpack::replace_with(&moved, &target).map_err(|e| from_unpack(reference, e))?;
            drop(holder);
        } else {
            fs::rename(entry.path(), &target).map_err(|e| io_error("rename into", &target, e))?;
        }
    }
    Ok(())
}
