//! Misbehaviour on purpose: failing requests, broken and slow bodies, early token expiry and
//! blob redirects.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;

/// A set of [`Fault`]s plus an optional early token expiry, given in
/// [`Config::faults`](crate::Config::faults) or installed at run time with
/// [`Faults::set`].
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    faults: Vec<Fault>,
    token_expiry: Option<Duration>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// This plan with `fault` added (faults are evaluated in the order added).
    #[must_use]
    pub fn with(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// This plan with tokens treated as expired `after` their issue, whatever lifetime they
    /// were issued with (the token responses still announce the configured lifetime, so a
    /// client's cached token fails early).
    #[must_use]
    pub fn expire_tokens_after(mut self, after: Duration) -> Self {
        self.token_expiry = Some(after);
        self
    }

    /// The faults, in evaluation order.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

/// What a fault does to a request it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer with this status and an error body instead of handling the request
    /// (`TOOMANYREQUESTS` for 429, `UNAVAILABLE` for 503, `UNKNOWN` otherwise), with
    /// `Retry-After: <seconds>` when given.
    Status {
        /// The status code, for example 500, 502, 503 or 429.
        status: u16,
        /// Seconds for `Retry-After`.
        retry_after: Option<u64>,
    },
    /// Wait this long before handling the request.
    Delay(Duration),
    /// Blob bodies only: send this many bytes of the body, then abort the connection.
    CloseAfter {
        /// Bytes sent before the connection is closed.
        bytes: u64,
    },
    /// Blob bodies only: flip the bits of the body's first byte, so the digest no longer
    /// matches (length and headers are unchanged).
    Corrupt,
    /// Blob bodies only: send at most this many bytes per second.
    Throttle {
        /// The rate.
        bytes_per_second: u64,
    },
    /// Blob `GET`s only: answer `307 Temporary Redirect` to the second listener ("blob
    /// storage"), which serves the blob (with `Range`) and rejects any request carrying
    /// `Authorization` with 401, as cloud blob stores do for registry credentials.
    RedirectBlobs,
}

impl FaultAction {
    /// Whether the action concerns a blob body rather than the request as a whole.
    pub(crate) fn is_blob_action(&self) -> bool {
        matches!(
            self,
            FaultAction::CloseAfter { .. }
                | FaultAction::Corrupt
                | FaultAction::Throttle { .. }
                | FaultAction::RedirectBlobs
        )
    }
}

/// One fault: which requests it applies to (method, path pattern, from the Nth match, at
/// most K times) and what it does.
///
/// Request-level actions ([`FaultAction::Status`], [`FaultAction::Delay`]) are matched
/// against every request; blob actions only against blob `GET`s (and `HEAD`s, which have
/// no body to spoil), so `Fault::close_after(10)` does not fire on `GET /v2/`.
///
/// ```
/// use orca_mock_registry::Fault;
/// // The 3rd request gets a 503 with Retry-After: 1, once.
/// let f = Fault::fail_nth(3, 503).retry_after(1);
/// // Every PUT of a manifest fails with 500, twice.
/// let g = Fault::status(500).on("PUT").path("/v2/*/manifests/*").times(2);
/// # let _ = (f, g);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Upper-case method name.
    method: Option<String>,
    path: Option<String>,
    nth: Option<u64>,
    times: Option<u64>,
    action: FaultAction,
}

impl Fault {
    /// A fault doing `action` to every request it matches (narrow it with the builder
    /// methods).
    pub fn new(action: FaultAction) -> Fault {
        Fault {
            method: None,
            path: None,
            nth: None,
            times: None,
            action,
        }
    }

    /// Answer every matching request with `status`.
    pub fn status(status: u16) -> Fault {
        Fault::new(FaultAction::Status {
            status,
            retry_after: None,
        })
    }

    /// Answer the `n`th request (1-based, counted from when the fault is installed) with
    /// `status`, once.
    pub fn fail_nth(n: u64, status: u16) -> Fault {
        Fault::status(status).nth(n).times(1)
    }

    /// Delay every matching request.
    pub fn delay(delay: Duration) -> Fault {
        Fault::new(FaultAction::Delay(delay))
    }

    /// Abort the connection after `bytes` bytes of a blob body.
    pub fn close_after(bytes: u64) -> Fault {
        Fault::new(FaultAction::CloseAfter { bytes })
    }

    /// Corrupt blob bodies.
    pub fn corrupt_blobs() -> Fault {
        Fault::new(FaultAction::Corrupt)
    }

    /// Throttle blob bodies to `bytes_per_second`.
    pub fn throttle(bytes_per_second: u64) -> Fault {
        Fault::new(FaultAction::Throttle { bytes_per_second })
    }

    /// Redirect blob `GET`s to the blob-storage listener.
    pub fn redirect_blobs() -> Fault {
        Fault::new(FaultAction::RedirectBlobs)
    }

    /// Only requests with this method (`"GET"`, `"put"`, …; compared case-insensitively).
    #[must_use]
    pub fn on(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path (without the query) matches `pattern`, where `*` stands
    /// for any run of characters, `/` included: `/v2/*/blobs/sha256:*`. Requests to the
    /// blob-storage listener have paths `/storage/blobs/<digest>`.
    #[must_use]
    pub fn path(mut self, pattern: &str) -> Self {
        self.path = Some(pattern.to_owned());
        self
    }

    /// Skip the first `n - 1` matching requests.
    #[must_use]
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n.max(1));
        self
    }

    /// Apply at most `k` times, then never again.
    #[must_use]
    pub fn times(mut self, k: u64) -> Self {
        self.times = Some(k);
        self
    }

    /// Add `Retry-After: <seconds>` (for a [`FaultAction::Status`]; ignored otherwise).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(seconds);
        }
        self
    }

    /// The action.
    pub fn action(&self) -> &FaultAction {
        &self.action
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method.as_str())
            && self.path.as_deref().is_none_or(|p| glob_match(p, path))
    }
}

/// `*`-only glob matching, iterative with one backtrack point (linear enough for paths).
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[derive(Debug)]
struct Entry {
    fault: Fault,
    matched: u64,
    fired: u64,
}

#[derive(Debug, Default)]
struct Active {
    entries: Vec<Entry>,
    token_expiry: Option<Duration>,
}

/// The run-time handle on a registry's faults, from
/// [`MockRegistry::faults`](crate::MockRegistry::faults). Cheap to clone; changes apply to
/// the next request.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Active>>,
}

/// What the request-level faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct RequestFaults {
    pub(crate) status: Option<(u16, Option<u64>)>,
    pub(crate) delay: Option<Duration>,
}

/// What the blob faults decided for one blob body.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyFaults {
    pub(crate) close_after: Option<u64>,
    pub(crate) corrupt: bool,
    pub(crate) throttle: Option<u64>,
    pub(crate) redirect: bool,
}

impl Faults {
    pub(crate) fn from_plan(plan: FaultPlan) -> Faults {
        let faults = Faults::default();
        faults.set(plan);
        faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Active> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add a fault (after those already installed).
    pub fn add(&self, fault: Fault) {
        self.lock().entries.push(Entry {
            fault,
            matched: 0,
            fired: 0,
        });
    }

    /// Replace every fault and the token expiry with `plan`'s.
    pub fn set(&self, plan: FaultPlan) {
        let mut active = self.lock();
        active.entries = plan
            .faults
            .into_iter()
            .map(|fault| Entry {
                fault,
                matched: 0,
                fired: 0,
            })
            .collect();
        active.token_expiry = plan.token_expiry;
    }

    /// Remove every fault and the token expiry.
    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }

    /// Treat tokens as expired `after` their issue (`None`: honour their lifetime).
    pub fn expire_tokens_after(&self, after: Option<Duration>) {
        self.lock().token_expiry = after;
    }

    /// How many times the faults fired so far, in installation order.
    pub fn fired(&self) -> Vec<u64> {
        self.lock().entries.iter().map(|e| e.fired).collect()
    }

    pub(crate) fn token_expiry(&self) -> Option<Duration> {
        self.lock().token_expiry
    }

    /// Evaluate faults of one phase, calling `apply` for each that fires.
    fn evaluate(
        &self,
        method: &Method,
        path: &str,
        blob_phase: bool,
        mut apply: impl FnMut(&FaultAction),
    ) {
        let mut active = self.lock();
        for entry in &mut active.entries {
            if entry.fault.action.is_blob_action() != blob_phase
                || !entry.fault.matches(method, path)
            {
                continue;
            }
            entry.matched += 1;
            if entry.fault.nth.is_some_and(|n| entry.matched < n)
                || entry.fault.times.is_some_and(|k| entry.fired >= k)
            {
                continue;
            }
            entry.fired += 1;
            apply(&entry.fault.action);
        }
    }

    pub(crate) fn for_request(&self, method: &Method, path: &str) -> RequestFaults {
        let mut out = RequestFaults::default();
        self.evaluate(method, path, false, |action| match action {
            FaultAction::Status {
                status,
                retry_after,
            } => {
                out.status.get_or_insert((*status, *retry_after));
            }
            FaultAction::Delay(d) => out.delay = Some(out.delay.unwrap_or_default() + *d),
            _ => {}
        });
        out
    }

    pub(crate) fn for_blob(&self, method: &Method, path: &str) -> BodyFaults {
        let mut out = BodyFaults::default();
        self.evaluate(method, path, true, |action| match action {
            FaultAction::CloseAfter { bytes } => {
                out.close_after = Some(out.close_after.map_or(*bytes, |b| b.min(*bytes)));
            }
            FaultAction::Corrupt => out.corrupt = true,
            FaultAction::Throttle { bytes_per_second } => {
                out.throttle = Some((*bytes_per_second).max(1));
            }
            FaultAction::RedirectBlobs => out.redirect = true,
            _ => {}
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        let cases = [
            ("/v2/", "/v2/", true),
            ("/v2/*", "/v2/a/b/blobs/x", true),
            ("/v2/*/blobs/*", "/v2/a/b/blobs/sha256:1", true),
            ("/v2/*/blobs/*", "/v2/a/manifests/x", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("abc", "abcd", false),
        ];
        assert_eq!(cases.len(), 8);
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn nth_and_times() {
        let faults = Faults::from_plan(FaultPlan::new().with(Fault::fail_nth(2, 503)));
        let get = Method::GET;
        let statuses: Vec<_> = (0..4)
            .map(|_| faults.for_request(&get, "/v2/").status.map(|s| s.0))
            .collect();
        assert_eq!(statuses, [None, Some(503), None, None]);
        assert_eq!(faults.fired(), [1]);
    }

    #[test]
    fn method_filter_and_blob_phase() {
        let faults = Faults::default();
        faults.add(Fault::status(500).on("put"));
        faults.add(Fault::close_after(5).path("/v2/*/blobs/*"));
        assert!(
            faults
                .for_request(&Method::GET, "/v2/x/blobs/a")
                .status
                .is_none()
        );
        assert_eq!(
            faults.for_request(&Method::PUT, "/v2/x/blobs/a").status,
            Some((500, None))
        );
        assert_eq!(
            faults.for_blob(&Method::GET, "/v2/x/blobs/a").close_after,
            Some(5)
        );
        assert_eq!(
            faults.for_blob(&Method::GET, "/v2/x/tags/list").close_after,
            None
        );
        faults.clear();
        assert!(faults.for_request(&Method::PUT, "/").status.is_none());
    }
}
