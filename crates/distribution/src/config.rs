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

/// The least a body (download or upload) must move: a transfer fails when fewer than
/// `bytes` passed in a `window` (windows follow each other; each is judged on its own).
///
/// This is what ends a registry that sends 1 byte per second, which a timeout between
/// two reads never would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinThroughput {
    /// The bytes each window must see.
    pub bytes: u64,
    /// The window's length.
    pub window: Duration,
}

impl MinThroughput {
    /// At least `bytes` in every `window`.
    pub fn new(bytes: u64, window: Duration) -> MinThroughput {
        MinThroughput { bytes, window }
    }
}

impl Default for MinThroughput {
    /// 8 KiB in every 30 s: far below any working link, far above a trickle.
    fn default() -> Self {
        MinThroughput {
            bytes: 8 * 1024,
            window: Duration::from_secs(30),
        }
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
    /// How long to wait for a response's head once the request (and its body) was sent.
    /// With [`ClientConfig::connect_timeout`], the longest one request can go unanswered.
    pub read_timeout: Duration,
    /// The least a body must move in each window, in either direction (see
    /// [`MinThroughput`]).
    pub min_throughput: MinThroughput,
    /// How long one operation (a manifest fetch, a blob download with its resumes, a
    /// request with its retries) may go without progress: once this long has passed
    /// since a body last met [`ClientConfig::min_throughput`] (or since the start), no
    /// further retry or resume starts and a pending wait ends.
    ///
    /// With the defaults, a body sent at 1 byte/s, a stall after the response head and
    /// a request never answered each end within this time (100 s).
    pub max_stall: Duration,
    /// The longest one operation may take in total, progress or not (`None`: no bound
    /// beyond [`ClientConfig::max_stall`]).
    pub operation_timeout: Option<Duration>,
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
            read_timeout: Duration::from_secs(30),
            min_throughput: MinThroughput::default(),
            max_stall: Duration::from_secs(100),
            operation_timeout: None,
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

    /// Require `min` of every body (builder style).
    #[must_use]
    pub fn with_min_throughput(mut self, min: MinThroughput) -> Self {
        self.min_throughput = min;
        self
    }

    /// End an operation after `max_stall` without progress, and after `total` in any
    /// case when given (builder style).
    #[must_use]
    pub fn with_stall_limits(mut self, max_stall: Duration, total: Option<Duration>) -> Self {
        self.max_stall = max_stall;
        self.operation_timeout = total;
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

    #[test]
    fn default_limits_end_each_stall_within_two_minutes() {
        // Every wait of an operation (a response head, a body window, a retry's back-off)
        // is cut at its deadline, `max_stall` after its last progress; what can follow
        // the deadline is one error body read (10 s at most) before the error returns.
        let c = ClientConfig::default();
        let two_minutes = Duration::from_secs(120);
        assert!(c.max_stall + Duration::from_secs(10) < two_minutes);
        // A trickle of 1 byte/s fails the first window already.
        let per_window = c.min_throughput.window.as_secs();
        assert!(per_window < c.min_throughput.bytes);
        assert!(c.min_throughput.window < c.max_stall);
        // A single never-answered request ends on its own before the stall deadline.
        assert!(c.connect_timeout + c.read_timeout < c.max_stall);
    }
}
