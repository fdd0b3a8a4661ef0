//! Pushing folders, files and blobs as artifacts.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use orca_distribution::PushOutcome;
use orca_manifest::{Descriptor, Digest, ImageManifest, Manifest, annotations, media_types};
use orca_reference::Reference;
use orca_store::Limits;
use orca_unpack::PackOptions;
use tokio::io::{AsyncRead, ReadBuf};

use crate::Error;
use crate::artifact_store::{ArtifactStore, pinned_digest, remote, repository_of, with_digest};
use crate::error::{from_unpack, io as io_error};
use crate::fetch::join_error;
use crate::observer::{Direction, Event, TransferOutcome};
use crate::options::{BlobOptions, ConfigStyle, FileSpec, PushOptions};
use crate::results::Pushed;
use crate::telemetry::Reporter;

/// ORAS's default artifact type.
pub(crate) const DEFAULT_ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";

/// A layer ready to upload: its descriptor (or how to compute it) and where its bytes are.
struct Prepared {
    layer: Layer,
    file: std::fs::File,
}

/// What is known of a layer before its upload.
enum Layer {
    /// Hashed (a small file) or packed (a folder): the descriptor is known.
    Known(Descriptor),
    /// A large file, hashed while it is uploaded.
    Pending(Pending),
}

/// A large file whose digest is computed while it is uploaded.
struct Pending {
    path: PathBuf,
    pack: PackOptions,
    annotations: BTreeMap<String, String>,
    /// The size `stat` gave (the hash pass tells the size read).
    size: u64,
    /// The title the layer will have (checked again by the hash pass).
    title: String,
}

impl Prepared {
    fn title(&self) -> Option<&str> {
        match &self.layer {
            Layer::Known(d) => d.title(),
            Layer::Pending(p) => Some(&p.title),
        }
    }

    fn size(&self) -> u64 {
        match &self.layer {
            Layer::Known(d) => d.size,
            Layer::Pending(p) => p.size,
        }
    }
}

/// What uploading the blobs did.
#[derive(Default)]
struct Uploaded {
    bytes: u64,
    /// Blobs the registry already had.
    existing: Vec<Digest>,
}

impl ArtifactStore {
    #[allow(clippy::too_many_lines)] // prepare, check, describe, upload, tag: one after the other
    pub(crate) async fn push_files_inner(
        &self,
        input: &str,
        files: &[FileSpec],
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        let (reference, limits) = self.locate(input)?;
        if files.is_empty() && options.annotations.is_empty() {
            return Err(Error::InvalidArgument {
                message: format!("{input}: nothing to push (no files, and no annotations)"),
                source: None,
            });
        }
        if options.untagged
            && (reference.tag().is_some()
                || pinned_digest(&reference).is_some()
                || !options.extra_tags.is_empty())
        {
            return Err(Error::InvalidArgument {
                message: format!(
                    "{input}: an untagged push (by digest) takes a repository without a tag or digest, and no extra tags"
                ),
                source: None,
            });
        }
        let text = reference.to_string();
        let overlap_from = options
            .overlap_from
            .unwrap_or(PushOptions::DEFAULT_OVERLAP_FROM);
        let mut prepared = Vec::with_capacity(files.len());
        for spec in files {
            let spec = spec.clone();
            let text = text.clone();
            let one = tokio::task::spawn_blocking(move || prepare(&text, &spec, overlap_from))
                .await
                .map_err(join_error)??;
            prepared.push(one);
        }
        let mut titles = HashSet::new();
        for p in &prepared {
            if let Some(title) = p.title()
                && !titles.insert(title.to_owned())
            {
                return Err(Error::InvalidArgument {
                    message: format!("{input}: two files have the title {title:?}"),
                    source: None,
                });
            }
        }
        let total = prepared.iter().map(Prepared::size).sum();
        check_limit(&text, &limits, options.operation.as_deref(), total)?;

        let artifact_type = options
            .artifact_type
            .clone()
            .unwrap_or_else(|| DEFAULT_ARTIFACT_TYPE.to_owned());
        let (config, config_bytes) = match &options.config {
            ConfigStyle::File(spec) => {
                let bytes = tokio::fs::read(&spec.path)
                    .await
                    .map_err(|e| invalid_file(&spec.path, e))?;
                let media_type = spec
                    .media_type
                    .clone()
                    .unwrap_or_else(|| media_types::ORAS_UNKNOWN_CONFIG.to_owned());
                (
                    Descriptor::for_bytes(media_type, &bytes),
                    Bytes::from(bytes),
                )
            }
            ConfigStyle::Legacy => (
                Descriptor::for_bytes(
                    options
                        .artifact_type
                        .clone()
                        .unwrap_or_else(|| media_types::ORAS_UNKNOWN_CONFIG.to_owned()),
                    b"",
                ),
                Bytes::new(),
            ),
            ConfigStyle::ImageSpecV1_0 => (
                Descriptor::for_bytes(
                    options
                        .artifact_type
                        .clone()
                        .unwrap_or_else(|| media_types::ORAS_UNKNOWN_CONFIG.to_owned()),
                    orca_manifest::EMPTY_JSON,
                ),
                Bytes::from_static(orca_manifest::EMPTY_JSON),
            ),
            _ => (
                Descriptor::empty(),
                Bytes::from_static(orca_manifest::EMPTY_JSON),
            ),
        };
        // Layers are filled in once uploaded: a large file's digest is known only then.
        let mut manifest = if matches!(
            options.config,
            ConfigStyle::Legacy | ConfigStyle::ImageSpecV1_0
        ) {
            ImageManifest::new(config.clone(), Vec::new())
        } else {
            let mut m = ImageManifest::artifact(&artifact_type, Vec::new()).map_err(|e| {
                Error::InvalidArgument {
                    message: format!("invalid artifact type {artifact_type:?}"),
                    source: Some(Box::new(e)),
                }
            })?;
            m.config = config.clone();
            m
        };
        manifest.annotations = options.annotations.clone();
        if let Some(subject) = &options.subject {
            manifest.subject = Some(self.subject_descriptor(&reference, subject).await?);
        }

        let reporter = self.reporter();
        let (layers, mut uploaded) = self.upload_files(&reference, prepared, &reporter).await?;
        // A large file's size was taken from `stat`: the limit again, with the sizes read.
        let read = layers.iter().map(|d| d.size).sum();
        check_limit(&text, &limits, options.operation.as_deref(), read)?;
        manifest.layers.clone_from(&layers);
        let config_result = self
            .upload_bytes(&reference, &config, config_bytes, &reporter)
            .await?;
        uploaded.bytes += config_result.bytes;
        uploaded.existing.extend(config_result.existing);
        if manifest.layers.is_empty() {
            // Annotations alone (a referrer saying something of its subject): the empty
            // descriptor as the one layer, as ORAS packs it, for registries that want one.
            let empty = Descriptor::empty();
            if config.digest != empty.digest {
                let result = self
                    .upload_bytes(
                        &reference,
                        &empty,
                        Bytes::from_static(orca_manifest::EMPTY_JSON),
                        &reporter,
                    )
                    .await?;
                uploaded.bytes += result.bytes;
                uploaded.existing.extend(result.existing);
            }
            manifest.layers.push(empty);
        }
        let (pinned, descriptor) = self
            .put_manifest(&reference, &manifest, &options.extra_tags, options.untagged)
            .await?;
        Ok(Pushed {
            reference: pinned,
            digest: descriptor.digest.clone(),
            manifest: descriptor,
            layers,
            uploaded_bytes: uploaded.bytes,
            skipped_blobs: uploaded.existing.len(),
            existing: uploaded.existing,
        })
    }

    pub(crate) async fn push_blob_inner(
        &self,
        input: &str,
        content: Bytes,
        options: &BlobOptions,
    ) -> Result<Pushed, Error> {
        let (reference, _) = self.locate(input)?;
        let mut layer = Descriptor::for_bytes(&options.media_type, &content);
        layer.annotations = options.layer_annotations.clone();
        if let Some(title) = &options.title {
            layer
                .annotations
                .insert(annotations::TITLE.to_owned(), title.clone());
        }
        let mut manifest = ImageManifest::artifact(&options.artifact_type, vec![layer.clone()])
            .map_err(|e| Error::InvalidArgument {
                message: format!("invalid artifact type {:?}", options.artifact_type),
                source: Some(Box::new(e)),
            })?;
        manifest.annotations = options.annotations.clone();
        if let Some(subject) = &options.subject {
            manifest.subject = Some(self.subject_descriptor(&reference, subject).await?);
        }
        let reporter = self.reporter();
        let mut uploaded = self
            .upload_bytes(&reference, &layer, content, &reporter)
            .await?;
        let config = self
            .upload_bytes(
                &reference,
                &Descriptor::empty(),
                Bytes::from_static(orca_manifest::EMPTY_JSON),
                &reporter,
            )
            .await?;
        uploaded.bytes += config.bytes;
        uploaded.existing.extend(config.existing);
        let (pinned, descriptor) = self.put_manifest(&reference, &manifest, &[], false).await?;
        Ok(Pushed {
            reference: pinned,
            digest: descriptor.digest.clone(),
            manifest: descriptor,
            layers: vec![layer],
            uploaded_bytes: uploaded.bytes,
            skipped_blobs: uploaded.existing.len(),
            existing: uploaded.existing,
        })
    }

    /// The descriptor of the manifest `subject` names: a digest in `reference`'s
    /// repository, or a reference.
    async fn subject_descriptor(
        &self,
        reference: &Reference,
        subject: &str,
    ) -> Result<Descriptor, Error> {
        let target = match Digest::parse(subject) {
            Ok(digest) => with_digest(&repository_of(reference), &digest),
            Err(_) => match subject.strip_prefix('@') {
                Some(digest) => {
                    let digest = Digest::parse(digest).map_err(|e| Error::InvalidArgument {
                        message: format!("invalid subject {subject:?}"),
                        source: Some(Box::new(e)),
                    })?;
                    with_digest(&repository_of(reference), &digest)
                }
                None => self.locate(subject)?.0,
            },
        };
        let descriptor = self
            .inner
            .client
            .resolve(&target)
            .await
            .map_err(|e| remote(&target, e))?;
        Ok(Descriptor::new(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
        ))
    }

    /// Uploads prepared files concurrently, skipping blobs the registry has: their
    /// descriptors, in order, and what was uploaded.
    async fn upload_files(
        &self,
        reference: &Reference,
        prepared: Vec<Prepared>,
        reporter: &Reporter,
    ) -> Result<(Vec<Descriptor>, Uploaded), Error> {
        // Built in a loop: a closure over references fails the `Send` check (rust#102211).
        let mut jobs = Vec::with_capacity(prepared.len());
        for p in prepared {
            jobs.push(self.upload_one(reference, p, reporter));
        }
        let results: Vec<(Descriptor, bool)> = futures_util::stream::iter(jobs)
            .buffered(self.inner.concurrency)
            .try_collect()
            .await?;
        let uploaded = Uploaded {
            bytes: results
                .iter()
                .filter(|(_, skipped)| !skipped)
                .map(|(d, _)| d.size)
                .sum(),
            existing: results
                .iter()
                .filter(|(_, s)| *s)
                .map(|(d, _)| d.digest.clone())
                .collect(),
        };
        Ok((results.into_iter().map(|(d, _)| d).collect(), uploaded))
    }

    /// Uploads one prepared file unless the registry has it: (its descriptor, skipped).
    async fn upload_one(
        &self,
        reference: &Reference,
        p: Prepared,
        reporter: &Reporter,
    ) -> Result<(Descriptor, bool), Error> {
        let descriptor = match p.layer {
            Layer::Known(d) => d,
            Layer::Pending(pending) => {
                return self
                    .upload_overlapped(reference, pending, p.file, reporter)
                    .await;
            }
        };
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
        });
        let reader = Progress {
            inner: tokio::fs::File::from_std(p.file),
            reporter: reporter.clone(),
            digest: Counted::Known(descriptor.digest.clone()),
        };
        let push_options = orca_distribution::PushOptions::builder()
            .skip_existing(true)
            .build();
        let pushed = self
            .inner
            .client
            .push_blob_reader(reference, Some(&descriptor), reader, &push_options)
            .await
            .map_err(|e| remote(reference, e))?;
        let skipped = pushed.outcome != PushOutcome::Uploaded;
        reporter.event(|| Event::TransferFinished {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
            outcome: outcome(pushed.outcome),
        });
        Ok((descriptor, skipped))
    }

    /// Uploads a large file while a blocking thread hashes it (a second reader): once its
    /// digest is known, the upload is abandoned if the registry has the blob; otherwise
    /// what was sent must hash to it (a file changed meanwhile fails the push).
    async fn upload_overlapped(
        &self,
        reference: &Reference,
        pending: Pending,
        file: std::fs::File,
        reporter: &Reporter,
    ) -> Result<(Descriptor, bool), Error> {
        tracing::debug!(
            file = %pending.path.display(),
            "uploading while a second reader hashes (at least the overlap threshold)"
        );
        let shared = Arc::new(Mutex::new(Announce::default()));
        let reader = Progress {
            inner: tokio::fs::File::from_std(file),
            reporter: reporter.clone(),
            digest: Counted::Pending {
                shared: shared.clone(),
                tamper: changes_while_read(&pending.path),
            },
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let path = pending.path.clone();
        let text = reference.to_string();
        let hash = tokio::task::spawn_blocking(move || {
            let hashed = orca_unpack::pack_file(&pending.path, &pending.pack).map(|mut d| {
                d.annotations.extend(pending.annotations);
                d
            });
            let _ = tx.send(hashed.as_ref().ok().cloned());
            hashed
        });
        let announce = shared.clone();
        let expected = async move {
            let descriptor = rx.await.ok().flatten()?;
            if let Ok(mut a) = announce.lock() {
                a.descriptor = Some(descriptor.clone());
            }
            Some(descriptor)
        };
        let push_options = orca_distribution::PushOptions::builder()
            .skip_existing(true)
            .build();
        let push = self.inner.client.push_blob_reader_overlapped(
            reference,
            reader,
            expected,
            &push_options,
        );
        let (pushed, hashed) = tokio::join!(push, hash);
        // A file that cannot be read is the error, whatever the upload made of it.
        let descriptor = hashed
            .map_err(join_error)?
            .map_err(|e| from_unpack(&text, e))?;
        let pushed = pushed.map_err(|e| match e.kind() {
            orca_distribution::ErrorKind::DigestMismatch
            | orca_distribution::ErrorKind::SizeMismatch => Error::InvalidArgument {
                message: format!(
                    "{} changed while it was being pushed; nothing was pushed",
                    path.display()
                ),
                source: Some(Box::new(e)),
            },
            _ => remote(reference, e),
        })?;
        let skipped = pushed.outcome != PushOutcome::Uploaded;
        if let Ok(mut a) = shared.lock() {
            // Not announced yet when the upload read nothing after the digest was known.
            a.announce(reporter, &descriptor, !skipped);
        }
        reporter.event(|| Event::TransferFinished {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
            outcome: outcome(pushed.outcome),
        });
        Ok((descriptor, skipped))
    }

    /// Uploads one blob held in memory, unless the registry has it.
    async fn upload_bytes(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        bytes: Bytes,
        reporter: &Reporter,
    ) -> Result<Uploaded, Error> {
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
        });
        let push_options = orca_distribution::PushOptions::builder()
            .skip_existing(true)
            .build();
        let pushed = self
            .inner
            .client
            .push_blob(reference, descriptor, bytes, &push_options)
            .await
            .map_err(|e| remote(reference, e))?;
        let skipped = pushed.outcome != PushOutcome::Uploaded;
        if !skipped {
            reporter.progress(Direction::Upload, &descriptor.digest, descriptor.size);
        }
        reporter.event(|| Event::TransferFinished {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
            outcome: outcome(pushed.outcome),
        });
        Ok(Uploaded {
            bytes: if skipped { 0 } else { descriptor.size },
            existing: if skipped {
                vec![descriptor.digest.clone()]
            } else {
                Vec::new()
            },
        })
    }

    /// The file at `path` as one blob of `input`'s repository (`orca blob push`): hashed
    /// first, or uploaded while a second reader hashes it when large; with a digest in the
    /// reference, sent as that digest (the registry refuses bytes that do not hash to it).
    /// Skipped when the registry has the blob. Returns its descriptor
    /// (`application/octet-stream`) and whether the registry had it.
    pub(crate) async fn push_blob_file_inner(
        &self,
        input: &str,
        path: &Path,
    ) -> Result<(Descriptor, bool), Error> {
        let (reference, _) = self.locate(input)?;
        let meta = std::fs::metadata(path).map_err(|e| invalid_file(path, e))?;
        if !meta.is_file() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "{} is not a file; a blob is pushed from one file",
                    path.display()
                ),
                source: None,
            });
        }
        let prepared = if let Some(digest) = pinned_digest(&reference) {
            Prepared {
                layer: Layer::Known(Descriptor::new(
                    crate::cli_support::OCTET_STREAM,
                    digest,
                    meta.len(),
                )),
                file: std::fs::File::open(path).map_err(|e| invalid_file(path, e))?,
            }
        } else {
            let spec = FileSpec::new(path);
            let text = reference.to_string();
            tokio::task::spawn_blocking(move || {
                prepare(&text, &spec, PushOptions::DEFAULT_OVERLAP_FROM)
            })
            .await
            .map_err(join_error)??
        };
        let given = pinned_digest(&reference);
        let reporter = self.reporter();
        let (mut descriptor, existed) = self
            .upload_one(&repository_of(&reference), prepared, &reporter)
            .await
            .map_err(|e| match (e, given) {
                // The caller's digest, not the registry's content, is wrong.
                (e @ Error::DigestMismatch { .. }, Some(digest)) => Error::InvalidArgument {
                    message: format!(
                        "{} does not hash to {digest} (the registry refused it)",
                        path.display()
                    ),
                    source: Some(Box::new(e)),
                },
                (e, _) => e,
            })?;
        crate::cli_support::OCTET_STREAM.clone_into(&mut descriptor.media_type);
        descriptor.annotations.clear();
        Ok((descriptor, existed))
    }

    /// Pushes the manifest to the reference's tag (`latest` when it has neither tag nor
    /// digest, by digest when it has only a digest, or when `untagged`) and to each extra
    /// tag.
    async fn put_manifest(
        &self,
        reference: &Reference,
        manifest: &ImageManifest,
        extra_tags: &[String],
        untagged: bool,
    ) -> Result<(Reference, Descriptor), Error> {
        let parsed: Manifest = manifest.to_manifest().map_err(|e| Error::Internal {
            message: "the manifest built cannot be read back".to_owned(),
            source: Some(Box::new(e)),
        })?;
        let mut descriptor = parsed.descriptor();
        descriptor.artifact_type = parsed.artifact_type().map(ToOwned::to_owned);
        let target = if untagged {
            with_digest(&repository_of(reference), &descriptor.digest)
        } else if reference.tag().is_none() && pinned_digest(reference).is_none() {
            reference
                .clone()
                .with_tag(orca_reference::DEFAULT_TAG)
                .map_err(|source| Error::InvalidReference {
                    reference: reference.to_string(),
                    source,
                })?
        } else {
            reference.clone()
        };
        let bytes = parsed.bytes().clone();
        self.inner
            .client
            .push_manifest(&target, bytes.clone(), media_types::OCI_IMAGE_MANIFEST)
            .await
            .map_err(|e| remote(&target, e))?;
        for tag in extra_tags {
            let tagged = repository_of(reference).with_tag(tag).map_err(|source| {
                Error::InvalidReference {
                    reference: tag.clone(),
                    source,
                }
            })?;
            self.inner
                .client
                .push_manifest(&tagged, bytes.clone(), media_types::OCI_IMAGE_MANIFEST)
                .await
                .map_err(|e| remote(&tagged, e))?;
        }
        tracing::Span::current().record("digest", descriptor.digest.as_str());
        let pinned = with_digest(&target, &descriptor.digest);
        Ok((pinned, descriptor))
    }
}

fn outcome(outcome: PushOutcome) -> TransferOutcome {
    match outcome {
        PushOutcome::Uploaded => TransferOutcome::Transferred,
        PushOutcome::Mounted => TransferOutcome::Mounted,
        _ => TransferOutcome::Skipped,
    }
}

pub(crate) fn check_limit(
    reference: &str,
    limits: &Limits,
    operation: Option<&str>,
    size: u64,
) -> Result<(), Error> {
    let limit = match operation {
        Some(op) => limits.limit_for(op),
        None => limits.default,
    };
    if let Some(limit) = limit
        && size > limit
    {
        return Err(Error::TooLargeArtifacts {
            reference: reference.to_owned(),
            operation: operation.unwrap_or("default").to_owned(),
            size,
            limit,
        });
    }
    Ok(())
}

fn invalid_file(path: &Path, e: io::Error) -> Error {
    Error::InvalidArgument {
        message: format!("cannot read {}", path.display()),
        source: Some(Box::new(e)),
    }
}

/// Packs a folder into a temporary file, or describes a file (hashing it when it is
/// smaller than `overlap_from`); blocking.
fn prepare(reference: &str, spec: &FileSpec, overlap_from: u64) -> Result<Prepared, Error> {
    let meta = std::fs::metadata(&spec.path).map_err(|e| invalid_file(&spec.path, e))?;
    let mut pack = PackOptions::default();
    pack.media_type.clone_from(&spec.media_type);
    pack.title.clone_from(&spec.title);
    if meta.is_file() && meta.len() >= overlap_from {
        let file = std::fs::File::open(&spec.path).map_err(|e| invalid_file(&spec.path, e))?;
        let title = spec.title.clone().unwrap_or_else(|| {
            spec.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        return Ok(Prepared {
            layer: Layer::Pending(Pending {
                path: spec.path.clone(),
                pack,
                annotations: spec.annotations.clone(),
                size: meta.len(),
                title,
            }),
            file,
        });
    }
    let (mut descriptor, file) = if meta.is_dir() {
        let mut file = tempfile::tempfile()
            .map_err(|e| io_error("create a temporary file for", &spec.path, e))?;
        let descriptor = orca_unpack::pack_dir(&spec.path, io::BufWriter::new(&mut file), &pack)
            .map_err(|e| from_unpack(reference, e))?;
        file.rewind()
            .map_err(|e| io_error("rewind the packed", &spec.path, e))?;
        (descriptor, file)
    } else {
        let descriptor =
            orca_unpack::pack_file(&spec.path, &pack).map_err(|e| from_unpack(reference, e))?;
        let file = std::fs::File::open(&spec.path).map_err(|e| invalid_file(&spec.path, e))?;
        (descriptor, file)
    };
    for (key, value) in &spec.annotations {
        descriptor.annotations.insert(key.clone(), value.clone());
    }
    Ok(Prepared {
        layer: Layer::Known(descriptor),
        file,
    })
}

/// Counts bytes read for progress events and metrics.
struct Progress<R> {
    inner: R,
    reporter: Reporter,
    digest: Counted,
}

/// Whose bytes a [`Progress`] counts.
enum Counted {
    /// A blob whose digest is known.
    Known(Digest),
    /// A blob hashed while it is uploaded: bytes are held back until its digest is known.
    Pending {
        shared: Arc<Mutex<Announce>>,
        /// Tests: change a byte of what is read, as if the file changed after it was
        /// hashed.
        tamper: bool,
    },
}

impl<R: AsyncRead + Unpin> AsyncRead for Progress<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n == 0 {
            return result;
        }
        match &mut this.digest {
            Counted::Known(digest) => this.reporter.progress(Direction::Upload, digest, n),
            Counted::Pending { shared, tamper } => {
                if std::mem::take(tamper)
                    && let Some(byte) = buf.filled_mut().last_mut()
                {
                    *byte ^= 0xff;
                }
                if let Ok(mut a) = shared.lock() {
                    a.counted(&this.reporter, n);
                }
            }
        }
        result
    }
}

/// The progress of a blob whose digest is not known yet: bytes read are held back until
/// it is, then announced with the descriptor.
#[derive(Default)]
struct Announce {
    /// Set once the digest is known.
    descriptor: Option<Descriptor>,
    /// `TransferStarted` was sent.
    started: bool,
    /// Bytes read before it was.
    held: u64,
}

impl Announce {
    /// `n` more bytes read: reported once the digest is known, held back until then.
    fn counted(&mut self, reporter: &Reporter, n: u64) {
        self.held += n;
        if let Some(d) = &self.descriptor {
            if self.started {
                let held = std::mem::take(&mut self.held);
                reporter.progress(Direction::Upload, &d.digest, held);
            } else {
                let d = d.clone();
                self.announce(reporter, &d, true);
            }
        }
    }

    /// Sends `TransferStarted` and the bytes held back (when `with_held`), once.
    fn announce(&mut self, reporter: &Reporter, descriptor: &Descriptor, with_held: bool) {
        if self.started {
            return;
        }
        self.started = true;
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Upload,
            descriptor: descriptor.clone(),
        });
        let held = std::mem::take(&mut self.held);
        if with_held && held > 0 {
            reporter.progress(Direction::Upload, &descriptor.digest, held);
        }
    }
}

/// Whether a test asked for `path` to change while it is read.
#[cfg(not(test))]
fn changes_while_read(_path: &Path) -> bool {
    false
}

#[cfg(test)]
fn changes_while_read(path: &Path) -> bool {
    tests::CHANGING
        .lock()
        .is_ok_and(|paths| paths.iter().any(|p| p == path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::{FileSpec, Store, StoreRegistry};

    /// Files whose upload reader sees a changed byte (see [`changes_while_read`]).
    pub(super) static CHANGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// Above the client's first chunk (8 MiB), so the upload takes the streamed `PATCH`.
    const SIZE: usize = 9 * 1024 * 1024;

    #[tokio::test]
    async fn a_file_changed_while_pushed_fails_and_pushes_no_manifest() {
        let mock = orca_mock_registry::MockRegistry::start(orca_mock_registry::Config::default())
            .await
            .unwrap();
        let store = ArtifactStore::builder(
            StoreRegistry::new().with(Store::new(mock.host()).unwrap().with_plain_http(true)),
        )
        .build()
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("moving.bin");
        std::fs::write(&file, vec![7u8; SIZE]).unwrap();
        CHANGING.lock().unwrap().push(file.clone());
        let err = store
            .push_files(
                &format!("{}/big/moving:1", mock.host()),
                &[FileSpec::new(&file)],
                &PushOptions::default().overlap_from(1024),
            )
            .await
            .unwrap_err();
        CHANGING.lock().unwrap().retain(|p| *p != file);
        let text = err.to_string();
        assert!(text.contains("moving.bin"), "{text}");
        assert!(text.contains("changed while it was being pushed"), "{text}");
        let requests = mock.requests();
        assert!(
            requests.iter().all(|r| !r.path.contains("/manifests/")),
            "no manifest pushed: {requests:?}"
        );
        assert!(
            requests
                .iter()
                .all(|r| !(r.method.as_str() == "PUT" && r.path.contains("digest="))),
            "the upload was never completed: {requests:?}"
        );
        assert!(
            requests.iter().any(|r| r.method.as_str() == "DELETE"),
            "the upload session was cancelled: {requests:?}"
        );
    }
}
