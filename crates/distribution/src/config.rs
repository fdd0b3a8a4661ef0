//! Client configuration: TLS, plain HTTP, timeouts, retries, chunk sizes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// How requests are retried.
///
/// Only idempotent requests (GET, HEAD, DELETE, and PUT/PATCH whose upload state has been
/// re-checked) are retried, on connection errors, timeouts, 408, 429 and 5xx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one (0 disables retries).
    pub max_retries: u32,
    /// The first back-off delay; each further retry doubles it.
    pub initial_backoff: Duration,
    /// The longest single delay, including one asked for by `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `attempt` (1-based): exponential with full jitter
    /// in its upper half, or `retry_after` when the registry asked; always at most
    /// `max_backoff`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_backoff);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        half + jitter
    }
}

/// Configuration for a [`crate::Client`].
///
/// Plain HTTP is off for every registry unless named in [`ClientConfig::plain_http`];
/// TLS verification is on for every registry unless named in
/// [`ClientConfig::insecure_skip_verify`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Registries (`host[:port]` as in references) reached over plain HTTP.
    ///
    /// # Security
    /// Credentials sent to these registries travel unencrypted.
    pub plain_http: BTreeSet<String>,
    /// Registries whose TLS certificate is not verified.
    ///
    /// # Security
    /// Anyone on the path can impersonate these registries. Meant for test set-ups only.
    pub insecure_skip_verify: BTreeSet<String>,
    /// PEM files with extra root certificates to trust, besides the built-in roots.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Trust the platform's certificate store too (in addition to the webpki roots).
    pub use_native_roots: bool,
    /// How long a TCP connect (and TLS handshake) may take.
    pub connect_timeout: Duration,
    /// How long to wait for a response's head, and between two pieces of a body.
    pub read_timeout: Duration,
    /// How requests are retried.
    pub retry: RetryPolicy,
    /// The size of each PATCH in a chunked upload (raised to the registry's
    /// `OCI-Chunk-Min-Length` when that is larger).
    pub chunk_size: usize,
    /// How many blob transfers one client runs at once; more wait.
    pub max_concurrent_transfers: usize,
    /// The largest manifest fetched (a manifest is held in memory).
    pub max_manifest_bytes: u64,
    /// How many times an interrupted blob download is resumed with `Range`.
    pub max_resumes: u32,
    /// How many redirects a read follows.
    pub max_redirects: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: concat!("orca/", env!("CARGO_PKG_VERSION")).to_owned(),
            plain_http: BTreeSet::new(),
            insecure_skip_verify: BTreeSet::new(),
            extra_root_certificates: Vec::new(),
            use_native_roots: false,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            chunk_size: 8 * 1024 * 1024,
            max_concurrent_transfers: 8,
            max_manifest_bytes: 4 * 1024 * 1024,
            max_resumes: 5,
            max_redirects: 10,
        }
    }
}

impl ClientConfig {
    /// Allow plain HTTP to `registry` (builder style).
    #[must_use]
    pub fn with_plain_http(mut self, registry: impl Into<String>) -> Self {
        self.plain_http.insert(registry.into());
        self
    }

    /// Trust the root certificates in the PEM file at `path` (builder style).
    #[must_use]
    pub fn with_root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_root_certificates.push(path.into());
        self
    }

    /// Use `policy` for retries (builder style).
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for attempt in 1..=20 {
            let d = p.delay(attempt, None);
            assert!(d <= Duration::from_secs(1), "{attempt}: {d:?}");
        }
        let first = p.delay(1, None);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
    }
}
