//! Client configuration: a default [`RegistryPolicy`] and one per registry that differs
//! (TLS, plain HTTP, concurrency, retries, size caps), plus client-wide settings (user
//! agent, chunk size, redirects, the observer).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::observe::Observer;
use crate::registry::Registry;

/// How requests are retried.
///
/// Only idempotent requests (GET, HEAD, DELETE, and PUT/PATCH whose upload state has been
/// re-checked) are retried, on connection errors, timeouts, 408, 429 and 5xx.
///
/// ```
/// use std::time::Duration;
/// use orca_distribution::RetryPolicy;
///
/// let retry = RetryPolicy::builder().max_retries(2).initial_backoff(Duration::from_millis(50)).build();
/// assert_eq!(retry.max_retries, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

    /// A builder starting from [`RetryPolicy::default`].
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder(RetryPolicy::default())
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

/// Builds a [`RetryPolicy`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RetryPolicyBuilder(RetryPolicy);

impl RetryPolicyBuilder {
    /// [`RetryPolicy::max_retries`].
    pub fn max_retries(mut self, n: u32) -> Self {
        self.0.max_retries = n;
        self
    }

    /// [`RetryPolicy::initial_backoff`].
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.0.initial_backoff = d;
        self
    }

    /// [`RetryPolicy::max_backoff`].
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.0.max_backoff = d;
        self
    }

    /// The policy.
    pub fn build(self) -> RetryPolicy {
        self.0
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

/// What the client does with one registry: TLS, plain HTTP, concurrency, retries and size
/// caps. [`ClientConfig::default_policy`] applies to every registry without its own.
///
/// ```
/// use orca_distribution::{RegistryPolicy, RetryPolicy};
///
/// let policy = RegistryPolicy::builder()
///     .root_certificate("/etc/orca/internal-ca.pem")
///     .max_concurrent_transfers(2)
///     .max_blob_bytes(Some(1 << 30))
///     .retry(RetryPolicy::none())
///     .build();
/// assert!(!policy.plain_http);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryPolicy {
    /// Speak plain HTTP to this registry.
    ///
    /// # Security
    /// Credentials sent to it travel unencrypted.
    pub plain_http: bool,
    /// Do not verify this registry's TLS certificate.
    ///
    /// # Security
    /// Anyone on the path can impersonate the registry. Meant for test set-ups only.
    pub insecure_skip_verify: bool,
    /// PEM files with root certificates trusted for this registry only (besides the
    /// built-in roots and [`ClientConfig::extra_root_certificates`]).
    ///
    /// # Limitations
    /// TLS knows a server by host name, not port: two registries on one host share the
    /// union of their roots.
    pub root_certificates: Vec<PathBuf>,
    /// How many blob transfers run at once against this registry; more wait.
    pub max_concurrent_transfers: usize,
    /// How requests to this registry are retried.
    pub retry: RetryPolicy,
    /// The largest manifest fetched (a manifest is held in memory).
    pub max_manifest_bytes: u64,
    /// The largest blob fetched or pushed; `None` for no cap. A blob whose descriptor
    /// is larger is refused before any byte moves
    /// ([`Error::SizeExceeded`](crate::Error::SizeExceeded)).
    pub max_blob_bytes: Option<u64>,
    /// The least a body must move in each window, in either direction (see
    /// [`MinThroughput`]).
    pub min_throughput: MinThroughput,
    /// How long one operation (a manifest fetch, a blob download with its resumes, a
    /// request with its retries) may go without progress: once this long has passed
    /// since a body last met [`RegistryPolicy::min_throughput`] (or since the start), no
    /// further retry or resume starts and a pending wait ends.
    ///
    /// With the defaults, a body sent at 1 byte/s, a stall after the response head and
    /// a request never answered each end within this time (100 s).
    pub max_stall: Duration,
    /// The longest one operation may take in total, progress or not (`None`: no bound
    /// beyond [`RegistryPolicy::max_stall`]).
    pub operation_timeout: Option<Duration>,
}

impl Default for RegistryPolicy {
    fn default() -> Self {
        RegistryPolicy {
            plain_http: false,
            insecure_skip_verify: false,
            root_certificates: Vec::new(),
            max_concurrent_transfers: 8,
            retry: RetryPolicy::default(),
            max_manifest_bytes: 4 * 1024 * 1024,
            max_blob_bytes: None,
            min_throughput: MinThroughput::default(),
            max_stall: Duration::from_secs(100),
            operation_timeout: None,
        }
    }
}

impl RegistryPolicy {
    /// A builder starting from [`RegistryPolicy::default`].
    pub fn builder() -> RegistryPolicyBuilder {
        RegistryPolicyBuilder(RegistryPolicy::default())
    }

    /// A builder starting from this policy.
    pub fn to_builder(&self) -> RegistryPolicyBuilder {
        RegistryPolicyBuilder(self.clone())
    }
}

/// Builds a [`RegistryPolicy`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RegistryPolicyBuilder(RegistryPolicy);

impl RegistryPolicyBuilder {
    /// [`RegistryPolicy::plain_http`].
    pub fn plain_http(mut self, yes: bool) -> Self {
        self.0.plain_http = yes;
        self
    }

    /// [`RegistryPolicy::insecure_skip_verify`].
    pub fn insecure_skip_verify(mut self, yes: bool) -> Self {
        self.0.insecure_skip_verify = yes;
        self
    }

    /// Add a PEM file to [`RegistryPolicy::root_certificates`].
    pub fn root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.root_certificates.push(path.into());
        self
    }

    /// [`RegistryPolicy::max_concurrent_transfers`].
    pub fn max_concurrent_transfers(mut self, n: usize) -> Self {
        self.0.max_concurrent_transfers = n;
        self
    }

    /// [`RegistryPolicy::retry`].
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.0.retry = retry;
        self
    }

    /// [`RegistryPolicy::max_manifest_bytes`].
    pub fn max_manifest_bytes(mut self, n: u64) -> Self {
        self.0.max_manifest_bytes = n;
        self
    }

    /// [`RegistryPolicy::max_blob_bytes`].
    pub fn max_blob_bytes(mut self, n: Option<u64>) -> Self {
        self.0.max_blob_bytes = n;
        self
    }

    /// [`RegistryPolicy::min_throughput`].
    pub fn min_throughput(mut self, min: MinThroughput) -> Self {
        self.0.min_throughput = min;
        self
    }

    /// [`RegistryPolicy::max_stall`].
    pub fn max_stall(mut self, d: Duration) -> Self {
        self.0.max_stall = d;
        self
    }

    /// [`RegistryPolicy::operation_timeout`].
    pub fn operation_timeout(mut self, d: Option<Duration>) -> Self {
        self.0.operation_timeout = d;
        self
    }

    /// The policy.
    pub fn build(self) -> RegistryPolicy {
        self.0
    }
}

/// Configuration for a [`crate::Client`].
///
/// Per-registry settings live in a [`RegistryPolicy`]: [`ClientConfig::default_policy`]
/// for every registry, [`ClientConfig::registries`] for those that differ. Plain HTTP is
/// off and TLS verification on unless a registry's policy says otherwise.
///
/// ```
/// use orca_distribution::{Client, ClientConfig, Registry};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let local: Registry = "localhost:5000".parse()?;
/// let config = ClientConfig::builder().plain_http(local.clone()).build();
/// assert!(config.policy(&local).plain_http);
/// assert!(!config.policy("ghcr.io").plain_http);
/// let client = Client::new(config)?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The policy of every registry not in [`ClientConfig::registries`].
    pub default_policy: RegistryPolicy,
    /// Registries with a policy of their own.
    pub registries: BTreeMap<Registry, RegistryPolicy>,
    /// PEM files with extra root certificates trusted for every registry.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Trust the platform's certificate store too (in addition to the webpki roots).
    pub use_native_roots: bool,
    /// How long a TCP connect (and TLS handshake) may take.
    pub connect_timeout: Duration,
    /// How long to wait for a response's head once the request (and its body) was sent.
    /// With [`ClientConfig::connect_timeout`], the longest one request can go unanswered.
    /// Bodies are held to [`RegistryPolicy::min_throughput`] instead.
    pub read_timeout: Duration,
    /// The size of each PATCH in a chunked upload (raised to the registry's
    /// `OCI-Chunk-Min-Length` when that is larger).
    pub chunk_size: usize,
    /// How many times an interrupted blob download is resumed with `Range`.
    pub max_resumes: u32,
    /// How many redirects a read follows.
    pub max_redirects: u32,
    /// Receives the client's events (requests, retries, negotiations, bytes,
    /// verifications); `None` reports nothing.
    pub observer: Option<Arc<dyn Observer>>,
    /// A registry name given to a string-taking setter that did not parse; the client
    /// refuses the configuration with it.
    invalid: Option<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("user_agent", &self.user_agent)
            .field("default_policy", &self.default_policy)
            .field("registries", &self.registries)
            .field("extra_root_certificates", &self.extra_root_certificates)
            .field("use_native_roots", &self.use_native_roots)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("chunk_size", &self.chunk_size)
            .field("max_resumes", &self.max_resumes)
            .field("max_redirects", &self.max_redirects)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: concat!("orca/", env!("CARGO_PKG_VERSION")).to_owned(),
            default_policy: RegistryPolicy::default(),
            registries: BTreeMap::new(),
            extra_root_certificates: Vec::new(),
            use_native_roots: false,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            chunk_size: 8 * 1024 * 1024,
            max_resumes: 5,
            max_redirects: 10,
            observer: None,
            invalid: None,
        }
    }
}

impl ClientConfig {
    /// A builder starting from [`ClientConfig::default`].
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder {
            config: ClientConfig::default(),
            edits: Vec::new(),
        }
    }

    /// The policy for `registry` (`host[:port]`, normalised as [`Registry`] does): its
    /// own, else [`ClientConfig::default_policy`].
    pub fn policy(&self, registry: &str) -> &RegistryPolicy {
        if self.registries.is_empty() {
            return &self.default_policy;
        }
        if let Some(policy) = self.registries.get(registry) {
            return policy;
        }
        match Registry::parse(registry) {
            Ok(r) if r.as_str() != registry => {
                self.registries.get(&r).unwrap_or(&self.default_policy)
            }
            _ => &self.default_policy,
        }
    }

    /// The policy of `registry`, created from the default one when it has none yet.
    pub fn policy_mut(&mut self, registry: Registry) -> &mut RegistryPolicy {
        let default = &self.default_policy;
        self.registries
            .entry(registry)
            .or_insert_with(|| default.clone())
    }

    /// Whether plain HTTP is allowed to `registry`.
    pub fn is_plain_http(&self, registry: &str) -> bool {
        self.policy(registry).plain_http
    }

    /// Allow plain HTTP to `registry` (`host[:port]`).
    ///
    /// A name that is not a registry makes [`crate::Client::new`] fail with it; prefer
    /// [`ClientConfigBuilder::plain_http`], which takes a parsed [`Registry`].
    #[must_use]
    pub fn with_plain_http(mut self, registry: impl Into<String>) -> Self {
        let registry = registry.into();
        match Registry::parse(&registry) {
            Ok(r) => self.policy_mut(r).plain_http = true,
            Err(e) => self.invalid = Some(e.to_string()),
        }
        self
    }

    /// Trust the root certificates in the PEM file at `path` for every registry.
    #[must_use]
    pub fn with_root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_root_certificates.push(path.into());
        self
    }

    /// Use `policy` for retries, for every registry (the default policy and each one of
    /// its own).
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        for p in self.registries.values_mut() {
            p.retry = policy.clone();
        }
        self.default_policy.retry = policy;
        self
    }

    /// Refuse a configuration the client cannot work with.
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if let Some(invalid) = &self.invalid {
            return Err(crate::Error::config(invalid.clone()));
        }
        if self.chunk_size == 0 {
            return Err(crate::Error::config("chunk_size must be at least 1 byte"));
        }
        for (name, policy) in std::iter::once(("the default policy", &self.default_policy))
            .chain(self.registries.iter().map(|(r, p)| (r.as_str(), p)))
        {
            if policy.max_concurrent_transfers == 0 {
                return Err(crate::Error::config(format!(
                    "max_concurrent_transfers must be at least 1 (in {name})"
                )));
            }
        }
        Ok(())
    }
}

type Edit = Box<dyn FnOnce(&mut RegistryPolicy) + Send>;

/// Builds a [`ClientConfig`].
///
/// Settings of the default policy (`retry`, `max_concurrent_transfers`, …) apply to every
/// registry; per-registry settings (`plain_http`, `insecure_skip_verify`,
/// `registry_root_certificate`, `registry`) are applied on top of the final default policy
/// when [`ClientConfigBuilder::build`] runs, whatever the order of the calls.
#[must_use]
pub struct ClientConfigBuilder {
    config: ClientConfig,
    edits: Vec<(Registry, Edit)>,
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("config", &self.config)
            .field("registry_edits", &self.edits.len())
            .finish()
    }
}

impl ClientConfigBuilder {
    fn edit(
        mut self,
        registry: Registry,
        f: impl FnOnce(&mut RegistryPolicy) + Send + 'static,
    ) -> Self {
        self.edits.push((registry, Box::new(f)));
        self
    }

    /// Speak plain HTTP to `registry`.
    ///
    /// # Security
    /// Credentials sent to it travel unencrypted.
    pub fn plain_http(self, registry: Registry) -> Self {
        self.edit(registry, |p| p.plain_http = true)
    }

    /// Do not verify `registry`'s TLS certificate.
    ///
    /// # Security
    /// Anyone on the path can impersonate the registry. Meant for test set-ups only.
    pub fn insecure_skip_verify(self, registry: Registry) -> Self {
        self.edit(registry, |p| p.insecure_skip_verify = true)
    }

    /// Trust the roots in the PEM file at `path` for `registry`.
    pub fn registry_root_certificate(self, registry: Registry, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.edit(registry, move |p| p.root_certificates.push(path))
    }

    /// Give `registry` a policy of its own (the per-registry settings above still apply on
    /// top of it).
    pub fn registry(mut self, registry: Registry, policy: RegistryPolicy) -> Self {
        self.config.registries.insert(registry, policy);
        self
    }

    /// [`ClientConfig::default_policy`].
    pub fn default_policy(mut self, policy: RegistryPolicy) -> Self {
        self.config.default_policy = policy;
        self
    }

    /// The default policy's retries.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config.default_policy.retry = retry;
        self
    }

    /// The default policy's concurrent transfers per registry.
    pub fn max_concurrent_transfers(mut self, n: usize) -> Self {
        self.config.default_policy.max_concurrent_transfers = n;
        self
    }

    /// The default policy's manifest size cap.
    pub fn max_manifest_bytes(mut self, n: u64) -> Self {
        self.config.default_policy.max_manifest_bytes = n;
        self
    }

    /// The default policy's blob size cap.
    pub fn max_blob_bytes(mut self, n: Option<u64>) -> Self {
        self.config.default_policy.max_blob_bytes = n;
        self
    }

    /// The default policy's minimum throughput.
    pub fn min_throughput(mut self, min: MinThroughput) -> Self {
        self.config.default_policy.min_throughput = min;
        self
    }

    /// The default policy's longest time without progress.
    pub fn max_stall(mut self, d: Duration) -> Self {
        self.config.default_policy.max_stall = d;
        self
    }

    /// The default policy's total time per operation.
    pub fn operation_timeout(mut self, d: Option<Duration>) -> Self {
        self.config.default_policy.operation_timeout = d;
        self
    }

    /// Trust the roots in the PEM file at `path` for every registry.
    pub fn root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.extra_root_certificates.push(path.into());
        self
    }

    /// [`ClientConfig::use_native_roots`].
    pub fn use_native_roots(mut self, yes: bool) -> Self {
        self.config.use_native_roots = yes;
        self
    }

    /// [`ClientConfig::user_agent`].
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.config.user_agent = agent.into();
        self
    }

    /// [`ClientConfig::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// [`ClientConfig::read_timeout`].
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.config.read_timeout = d;
        self
    }

    /// [`ClientConfig::chunk_size`].
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.config.chunk_size = n;
        self
    }

    /// [`ClientConfig::max_resumes`].
    pub fn max_resumes(mut self, n: u32) -> Self {
        self.config.max_resumes = n;
        self
    }

    /// [`ClientConfig::max_redirects`].
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.config.max_redirects = n;
        self
    }

    /// [`ClientConfig::observer`].
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.config.observer = Some(observer);
        self
    }

    /// The configuration.
    pub fn build(self) -> ClientConfig {
        let mut config = self.config;
        for (registry, edit) in self.edits {
            edit(config.policy_mut(registry));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy::builder()
            .max_retries(10)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_secs(1))
            .build();
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
    fn per_registry_settings_apply_over_the_final_default() {
        let local = Registry::parse("localhost:5000").unwrap();
        let config = ClientConfig::builder()
            .plain_http(local.clone())
            .retry(RetryPolicy::none())
            .max_blob_bytes(Some(10))
            .build();
        let p = config.policy("localhost:5000");
        assert!(p.plain_http);
        assert_eq!(p.retry, RetryPolicy::none());
        assert_eq!(p.max_blob_bytes, Some(10));
        // Unnormalised spellings find the same policy; other registries get the default.
        assert!(config.policy("LOCALHOST:5000").plain_http);
        assert!(!config.policy("localhost:5001").plain_http);
        assert!(config.is_plain_http("localhost:5000"));
        assert!(!config.is_plain_http("ghcr.io"));
    }

    #[test]
    fn string_setters_normalise_and_report_bad_names() {
        let config = ClientConfig::default().with_plain_http("R.Example:443");
        assert!(config.is_plain_http("r.example"));
        assert!(config.validate().is_ok());
        let config = ClientConfig::default().with_plain_http("http://r.example");
        let e = config.validate().unwrap_err();
        assert!(e.to_string().contains("scheme"), "{e}");
        let mut config = ClientConfig::default();
        config.default_policy.max_concurrent_transfers = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn default_limits_end_each_stall_within_two_minutes() {
        // Every wait of an operation (a response head, a body window, a retry's back-off)
        // is cut at its deadline, `max_stall` after its last progress; what can follow
        // the deadline is one error body read (10 s at most) before the error returns.
        let c = ClientConfig::default();
        let p = &c.default_policy;
        let two_minutes = Duration::from_secs(120);
        assert!(p.max_stall + Duration::from_secs(10) < two_minutes);
        // A trickle of 1 byte/s fails the first window already.
        assert!(p.min_throughput.window.as_secs() < p.min_throughput.bytes);
        assert!(p.min_throughput.window < p.max_stall);
        // A single never-answered request ends on its own before the stall deadline.
        assert!(c.connect_timeout + c.read_timeout < p.max_stall);
    }
}
