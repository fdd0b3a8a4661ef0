//! Copying manifests, indexes, blobs and referrers between repositories and registries.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{StreamExt, TryStreamExt};
use orca_distribution::{MountOutcome, PushOutcome};
use orca_manifest::{Descriptor, Manifest};
use orca_reference::Reference;

use crate::Error;
use crate::artifact_store::{ArtifactStore, pinned_digest, remote, repository_of, with_digest};
use crate::observer::{Direction, Event, TransferOutcome};
use crate::options::CopyOptions;
use crate::results::Copied;
use crate::telemetry::Reporter;

/// How deep indexes may nest, and referrers of referrers may go.
const MAX_DEPTH: u32 = 8;

impl ArtifactStore {
    pub(crate) async fn copy_inner(
        &self,
        src: &str,
        dst: &str,
        options: &CopyOptions,
    ) -> Result<Copied, Error> {
        let (source, _) = self.locate(src)?;
        let (target, _) = self.locate(dst)?;
        let mut root = self.get_manifest(&source).await?;
        let mut index = None;
        if let Some(platform) = &options.platform {
            if root.manifest.is_index() {
                let entry = crate::platform::choose_from_index(src, &root, Some(platform))?;
                let mut child = self
                    .get_manifest(&with_digest(&repository_of(&source), &entry.digest))
                    .await?;
                child.descriptor.platform.clone_from(&entry.platform);
                index = Some(std::mem::replace(&mut root, child).descriptor);
            } else {
                self.check_platform(&source, src, &mut root, platform)
                    .await?;
            }
        }
        tracing::Span::current().record("digest", root.descriptor.digest.as_str());
        let target = if target.tag().is_some() || pinned_digest(&target).is_some() {
            target
        } else if let Some(tag) = source.tag() {
            repository_of(&target)
                .with_tag(tag)
                .map_err(|e| Error::InvalidReference {
                    reference: dst.to_owned(),
                    source: e,
                })?
        } else {
            with_digest(&repository_of(&target), &root.descriptor.digest)
        };
        let mut copied = Copied {
            digest: Some(root.descriptor.digest.clone()),
            platform: root.descriptor.platform.clone(),
            index,
            ..Copied::default()
        };
        let reporter = self.reporter();
        let pinned_source = with_digest(&repository_of(&source), &root.descriptor.digest);
        self.copy_children(
            &pinned_source,
            &target,
            &root.manifest,
            &mut copied,
            &reporter,
            (0, options.referrers),
        )
        .await?;
        self.inner
            .client
            .push_manifest(&target, root.bytes.clone(), &root.descriptor.media_type)
            .await
            .map_err(|e| remote(&target, e))?;
        copied.manifests += 1;
        if options.referrers {
            Box::pin(self.copy_referrers(&pinned_source, &target, &mut copied, &reporter, 0))
                .await?;
        }
        Ok(copied)
    }

    /// Copies what a manifest reaches: the config and layers of an image, the manifests
    /// (with their blobs) of an index, pushed by digest; with `referrers`, each index
    /// entry's referrers too (a multi-platform image's signatures are its entries').
    async fn copy_children(
        &self,
        source: &Reference,
        target: &Reference,
        manifest: &Manifest,
        copied: &mut Copied,
        reporter: &Reporter,
        (depth, referrers): (u32, bool),
    ) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::InvalidArtifact {
                reference: source.to_string(),
                message: "indexes nest too deeply".to_owned(),
                source: None,
            });
        }
        for child in manifest.manifests() {
            let child_source = with_digest(&repository_of(source), &child.digest);
            let content = self.get_manifest(&child_source).await?;
            Box::pin(self.copy_children(
                &child_source,
                target,
                &content.manifest,
                copied,
                reporter,
                (depth + 1, referrers),
            ))
            .await?;
            let child_target = with_digest(&repository_of(target), &child.digest);
            self.inner
                .client
                .push_manifest(
                    &child_target,
                    content.bytes.clone(),
                    &content.descriptor.media_type,
                )
                .await
                .map_err(|e| remote(&child_target, e))?;
            copied.manifests += 1;
            if referrers {
                Box::pin(self.copy_referrers(&child_source, target, copied, reporter, 0)).await?;
            }
        }
        let blobs: Vec<Descriptor> = manifest
            .config()
            .into_iter()
            .chain(manifest.layers())
            .cloned()
            .collect();
        // Built in a loop: a closure over references fails the `Send` check (rust#102211).
        let mut jobs = Vec::with_capacity(blobs.len());
        for blob in &blobs {
            jobs.push(self.copy_blob(source, target, blob, reporter));
        }
        let outcomes: Vec<(TransferOutcome, u64)> = futures_util::stream::iter(jobs)
            .buffer_unordered(self.inner.concurrency)
            .try_collect()
            .await?;
        for (outcome, bytes) in outcomes {
            match outcome {
                TransferOutcome::Transferred => copied.blobs_copied += 1,
                TransferOutcome::Mounted => copied.blobs_mounted += 1,
                _ => copied.blobs_skipped += 1,
            }
            copied.bytes += bytes;
        }
        Ok(())
    }

    /// Copies one blob: skipped when the target has it, mounted on the same registry,
    /// streamed otherwise (verified as it is read).
    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        blob: &Descriptor,
        reporter: &Reporter,
    ) -> Result<(TransferOutcome, u64), Error> {
        let client = &self.inner.client;
        reporter.event(|| Event::TransferStarted {
            direction: Direction::Upload,
            descriptor: blob.clone(),
        });
        let finish = |outcome| {
            reporter.event(|| Event::TransferFinished {
                direction: Direction::Upload,
                descriptor: blob.clone(),
                outcome,
            });
        };
        if client
            .blob_exists(target, &blob.digest)
            .await
            .map_err(|e| remote(target, e))?
            .is_some()
        {
            finish(TransferOutcome::Skipped);
            return Ok((TransferOutcome::Skipped, 0));
        }
        if source.registry().eq_ignore_ascii_case(target.registry())
            && let Ok(MountOutcome::Mounted) = client
                .mount_blob(target, source.repository(), &blob.digest)
                .await
        {
            finish(TransferOutcome::Mounted);
            return Ok((TransferOutcome::Mounted, 0));
        }
        let progress = reporter.clone();
        let digest = blob.digest.clone();
        let pushed = stream_blob(client, source, client, target, blob, move |n| {
            progress.progress(Direction::Download, &digest, n);
        })
        .await?;
        let outcome = if pushed.outcome == PushOutcome::Uploaded {
            TransferOutcome::Transferred
        } else {
            TransferOutcome::Skipped
        };
        finish(outcome);
        Ok((
            outcome,
            if outcome == TransferOutcome::Transferred {
                blob.size
            } else {
                0
            },
        ))
    }

    /// Copies the referrers of `source` (pinned) to `target`'s repository, recursively.
    async fn copy_referrers(
        &self,
        source: &Reference,
        target: &Reference,
        copied: &mut Copied,
        reporter: &Reporter,
        depth: u32,
    ) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let found = self
            .inner
            .client
            .referrers(source, None)
            .await
            .map_err(|e| remote(source, e))?;
        for referrer in found.manifests {
            let referrer_source = with_digest(&repository_of(source), &referrer.digest);
            let content = self.get_manifest(&referrer_source).await?;
            Box::pin(self.copy_children(
                &referrer_source,
                target,
                &content.manifest,
                copied,
                reporter,
                (0, false),
            ))
            .await?;
            let referrer_target = with_digest(&repository_of(target), &referrer.digest);
            self.inner
                .client
                .push_manifest(
                    &referrer_target,
                    content.bytes.clone(),
                    &content.descriptor.media_type,
                )
                .await
                .map_err(|e| remote(&referrer_target, e))?;
            copied.manifests += 1;
            copied.referrers += 1;
            Box::pin(self.copy_referrers(&referrer_source, target, copied, reporter, depth + 1))
                .await?;
        }
        Ok(())
    }
}

/// Streams one blob from `source` (read with `from`, verified as it is read) into
/// `target` (pushed with `to`), calling `on_piece` with each piece's length. A read error
/// is reported as the source's, not as the upload's view of it.
pub(crate) async fn stream_blob(
    from: &orca_distribution::Client,
    source: &Reference,
    to: &orca_distribution::Client,
    target: &Reference,
    blob: &Descriptor,
    on_piece: impl Fn(u64) + Send + Sync + 'static,
) -> Result<orca_distribution::PushedBlob, Error> {
    let stream = from
        .fetch_blob(source, blob)
        .await
        .map_err(|e| remote(source, e))?;
    let failure: Arc<Mutex<Option<orca_distribution::Error>>> = Arc::default();
    let slot = Arc::clone(&failure);
    let pieces = stream.map(move |piece| match piece {
        Ok(bytes) => {
            on_piece(bytes.len() as u64);
            Ok(bytes)
        }
        Err(e) => {
            let text = e.to_string();
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            Err(std::io::Error::other(text))
        }
    });
    let pushed = to
        .push_blob_stream(
            target,
            Some(blob),
            Box::pin(pieces),
            &orca_distribution::PushOptions::default(),
        )
        .await;
    if let Some(e) = failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(remote(source, e));
    }
    pushed.map_err(|e| remote(target, e))
}
