//! Metrics (through the `metrics` facade) and observer events.
//!
//! The names and labels are documented in the crate's README; a test installs a recorder
//! and asserts them.

use std::sync::Arc;
use std::time::Duration;

use crate::observer::{Call, Direction, Event, Observer};

/// Counter: calls finished, labels `call`, `operation`, `outcome` (`success`/`failure`)
/// and `code` (the error code, `Ok` on success).
pub(crate) const CALLS: &str = "orca_calls_total";
/// Histogram (seconds): processing time, labels `call`, `operation`, `outcome`.
pub(crate) const DURATION: &str = "orca_call_duration_seconds";
/// Histogram (bytes): artifact size (sum of layers) of successful fetches and pushes,
/// labels `call`, `operation`.
pub(crate) const ARTIFACT_SIZE: &str = "orca_artifact_size_bytes";
/// Counter: successful pulls (fetches), label `operation`.
pub(crate) const PULLS: &str = "orca_pulls_total";
/// Counter: successful pushes, label `operation`.
pub(crate) const PUSHES: &str = "orca_pushes_total";
/// Counter: body bytes moved over the network (blobs and manifests), label `direction`
/// (`download`/`upload`), from the client's observer.
pub(crate) const BYTES: &str = "orca_transferred_bytes_total";
/// Counter: requests answered, labels `method`, `status` (`none` when no answer came).
pub(crate) const REQUESTS: &str = "orca_requests_total";
/// Counter: requests retried, label `reason` (`status`, `transport`, `resume`, `chunk`).
pub(crate) const RETRIES: &str = "orca_retries_total";
/// Counter: authentication negotiations, label `outcome` (`granted`, `failed`, `other`).
pub(crate) const NEGOTIATIONS: &str = "orca_auth_negotiations_total";
/// Counter: content-cache hits, label `kind` (`manifest`/`blob`).
pub(crate) const CACHE_HITS: &str = "orca_cache_hits_total";
/// Counter: content-cache misses, label `kind` (`manifest`/`blob`).
pub(crate) const CACHE_MISSES: &str = "orca_cache_misses_total";
/// Counter: pull-through lookups in the cache registry, label `outcome` (`hit`, `miss`,
/// `revalidated`, `changed`, `stale`).
pub(crate) const PULL_THROUGH: &str = "orca_pull_through_total";

/// The client's events as metrics; then to the observer the caller configured, if any.
pub(crate) struct ClientMetrics {
    next: Option<Arc<dyn orca_distribution::Observer>>,
}

impl ClientMetrics {
    pub(crate) fn new(next: Option<Arc<dyn orca_distribution::Observer>>) -> ClientMetrics {
        ClientMetrics { next }
    }
}

impl orca_distribution::Observer for ClientMetrics {
    fn event(&self, event: &orca_distribution::Event<'_>) {
        use orca_distribution::{AuthOutcome, Direction as D, Event as E, RetryReason};
        match event {
            E::Bytes {
                direction, moved, ..
            } => {
                let label = match direction {
                    D::Upload => "upload",
                    _ => "download",
                };
                metrics::counter!(BYTES, "direction" => label).increment(*moved);
            }
            E::Answered { method, status, .. } => {
                let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
                metrics::counter!(REQUESTS, "method" => method.as_str().to_owned(), "status" => status)
                    .increment(1);
            }
            E::Retry { reason, .. } => {
                let reason = match reason {
                    RetryReason::Status(_) => "status",
                    RetryReason::Transport => "transport",
                    RetryReason::Resume { .. } => "resume",
                    _ => "chunk",
                };
                metrics::counter!(RETRIES, "reason" => reason).increment(1);
            }
            E::Auth { outcome, .. } => {
                let outcome = match outcome {
                    AuthOutcome::Granted => "granted",
                    AuthOutcome::Failed => "failed",
                    _ => "other",
                };
                metrics::counter!(NEGOTIATIONS, "outcome" => outcome).increment(1);
            }
            _ => {}
        }
        if let Some(next) = &self.next {
            next.event(event);
        }
    }
}

/// Records the end of a call.
pub(crate) fn finished(
    call: Call,
    operation: &str,
    elapsed: Duration,
    error_code: Option<&'static str>,
    artifact_bytes: Option<u64>,
) {
    let outcome = if error_code.is_some() {
        "failure"
    } else {
        "success"
    };
    let call_name = call.as_str();
    metrics::counter!(
        CALLS,
        "call" => call_name,
        "operation" => operation.to_owned(),
        "outcome" => outcome,
        "code" => error_code.unwrap_or("Ok"),
    )
    .increment(1);
    metrics::histogram!(
        DURATION,
        "call" => call_name,
        "operation" => operation.to_owned(),
        "outcome" => outcome,
    )
    .record(elapsed.as_secs_f64());
    if error_code.is_none() {
        if let Some(bytes) = artifact_bytes {
            #[allow(clippy::cast_precision_loss)] // sizes far below 2^52 bytes
            metrics::histogram!(ARTIFACT_SIZE, "call" => call_name, "operation" => operation.to_owned())
                .record(bytes as f64);
        }
        match call {
            Call::Fetch => {
                metrics::counter!(PULLS, "operation" => operation.to_owned()).increment(1);
            }
            Call::Push => {
                metrics::counter!(PUSHES, "operation" => operation.to_owned()).increment(1);
            }
            _ => {}
        }
    }
}

pub(crate) fn cache_hit(kind: &'static str) {
    metrics::counter!(CACHE_HITS, "kind" => kind).increment(1);
}

pub(crate) fn cache_miss(kind: &'static str) {
    metrics::counter!(CACHE_MISSES, "kind" => kind).increment(1);
}

pub(crate) fn pull_through(outcome: &'static str) {
    metrics::counter!(PULL_THROUGH, "outcome" => outcome).increment(1);
}

/// Bytes moved and the observer, for one call.
#[derive(Clone)]
pub(crate) struct Reporter {
    observer: Option<Arc<dyn Observer>>,
}

impl Reporter {
    pub(crate) fn new(observer: Option<Arc<dyn Observer>>) -> Reporter {
        Reporter { observer }
    }

    pub(crate) fn event(&self, event: impl FnOnce() -> Event) {
        if let Some(observer) = &self.observer {
            observer.on_event(&event());
        }
    }

    /// `bytes` of blob `digest` moved (the byte metrics come from the client's observer).
    pub(crate) fn progress(
        &self,
        direction: Direction,
        digest: &orca_manifest::Digest,
        bytes: u64,
    ) {
        self.event(|| Event::Progress {
            direction,
            digest: digest.clone(),
            bytes,
        });
    }
}
