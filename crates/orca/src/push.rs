//! Pushing folders, files and blobs as artifacts.

use std::collections::HashSet;
use std::io::{self, Seek};
use std::path::Path;
use std::pin::Pin;
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

/// A layer ready to upload: its descriptor and where its bytes are.
struct Prepared {
    descriptor: Descriptor,
    file: std::fs::File,
}

/// What uploading the blobs did.
#[derive(Default)]
struct Uploaded {
    bytes: u64,
    skipped: usize,
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
        if files.is_empty() {
            return Err(Error::InvalidArgument {
                message: format!("{input}: nothing to push"),
                source: None,
            });
        }
        let text = reference.to_string();
        let mut prepared = Vec::with_capacity(files.len());
        for spec in files {
            let spec = spec.clone();
            let text = text.clone();
            let one = tokio::task::spawn_blocking(move || prepare(&text, &spec))
                .await
                .map_err(join_error)??;
            prepared.push(one);
        }
        let mut titles = HashSet::new();
        for p in &prepared {
            if let Some(title) = p.descriptor.title()
                && !titles.insert(title.to_owned())
            {
                return Err(Error::InvalidArgument {
                    message: format!("{input}: two files have the title {title:?}"),
                    source: None,
                });
            }
        }
        let total = prepared.iter().map(|p| p.descriptor.size).sum();
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
            _ => (
                Descriptor::empty(),
                Bytes::from_static(orca_manifest::EMPTY_JSON),
            ),
        };
        let layers: Vec<Descriptor> = prepared.iter().map(|p| p.descriptor.clone()).collect();
        let mut manifest = if matches!(options.config, ConfigStyle::Legacy) {
            ImageManifest::new(config.clone(), layers.clone())
        } else {
            let mut m = ImageManifest::artifact(&artifact_type, layers.clone()).map_err(|e| {
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
        let mut uploaded = self.upload_files(&reference, prepared, &reporter).await?;
        let config_result = self
            .upload_bytes(&reference, &config, config_bytes, &reporter)
            .await?;
        uploaded.bytes += config_result.bytes;
        uploaded.skipped += config_result.skipped;
        let (pinned, descriptor) = self
            .put_manifest(&reference, &manifest, &options.extra_tags)
            .await?;
        Ok(Pushed {
            reference: pinned,
            digest: descriptor.digest.clone(),
            manifest: descriptor,
            layers,
            uploaded_bytes: uploaded.bytes,
            skipped_blobs: uploaded.skipped,
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
        uploaded.skipped += config.skipped;
        let (pinned, descriptor) = self.put_manifest(&reference, &manifest, &[]).await?;
        Ok(Pushed {
            reference: pinned,
            digest: descriptor.digest.clone(),
            manifest: descriptor,
            layers: vec![layer],
            uploaded_bytes: uploaded.bytes,
            skipped_blobs: uploaded.skipped,
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

    /// Uploads prepared files concurrently, skipping blobs the registry has.
    async fn upload_files(
        &self,
        reference: &Reference,
        prepared: Vec<Prepared>,
        reporter: &Reporter,
    ) -> Result<Uploaded, Error> {
        // Built in a loop: a closure over references fails the `Send` check (rust#102211).
        let mut jobs = Vec::with_capacity(prepared.len());
        for p in prepared {
            jobs.push(self.upload_one(reference, p, reporter));
        }
        let results: Vec<(u64, bool)> = futures_util::stream::iter(jobs)
            .buffer_unordered(self.inner.concurrency)
            .try_collect()
            .await?;
        Ok(Uploaded {
            bytes: results.iter().map(|(b, _)| b).sum(),
            skipped: results.iter().filter(|(_, s)| *s).count(),
        })
    }

    /// Uploads one prepared file unless the registry has it: (bytes uploaded, skipped).
    async fn upload_one(
        &self,
        reference: &Reference,
        p: Prepared,
        reporter: &Reporter,
    ) -> Result<(u64, bool), Error> {
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Upload,
            descriptor: p.descriptor.clone(),
        });
        let reader = Progress {
            inner: tokio::fs::File::from_std(p.file),
            reporter: reporter.clone(),
            digest: p.descriptor.digest.clone(),
        };
        let push_options = orca_distribution::PushOptions::builder()
            .skip_existing(true)
            .build();
        let pushed = self
            .inner
            .client
            .push_blob_reader(reference, Some(&p.descriptor), reader, &push_options)
            .await
            .map_err(|e| remote(reference, e))?;
        let skipped = pushed.outcome != PushOutcome::Uploaded;
        reporter.event(|| Event::TransferFinished {
            direction: Direction::Upload,
            descriptor: p.descriptor.clone(),
            outcome: outcome(pushed.outcome),
        });
        Ok((if skipped { 0 } else { p.descriptor.size }, skipped))
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
            skipped: usize::from(skipped),
        })
    }

    /// Pushes the manifest to the reference's tag (`latest` when it has neither tag nor
    /// digest, by digest when it has only a digest) and to each extra tag.
    async fn put_manifest(
        &self,
        reference: &Reference,
        manifest: &ImageManifest,
        extra_tags: &[String],
    ) -> Result<(Reference, Descriptor), Error> {
        let parsed: Manifest = manifest.to_manifest().map_err(|e| Error::Internal {
            message: "the manifest built cannot be read back".to_owned(),
            source: Some(Box::new(e)),
        })?;
        let mut descriptor = parsed.descriptor();
        descriptor.artifact_type = parsed.artifact_type().map(ToOwned::to_owned);
        let target = if reference.tag().is_none() && pinned_digest(reference).is_none() {
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

/// Packs a folder into a temporary file, or describes a file; blocking.
fn prepare(reference: &str, spec: &FileSpec) -> Result<Prepared, Error> {
    let meta = std::fs::metadata(&spec.path).map_err(|e| invalid_file(&spec.path, e))?;
    let mut pack = PackOptions::default();
    pack.media_type.clone_from(&spec.media_type);
    pack.title.clone_from(&spec.title);
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
    Ok(Prepared { descriptor, file })
}

/// Counts bytes read for progress events and metrics.
struct Progress<R> {
    inner: R,
    reporter: Reporter,
    digest: Digest,
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
        if n > 0 {
            this.reporter.progress(Direction::Upload, &this.digest, n);
        }
        result
    }
}
