//! The front's figures, written as Prometheus text at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counters by name and label set, and one latency histogram.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
    upstream_bytes: AtomicU64,
}

/// Help text of each counter, in the order they are written.
const COUNTERS: [(&str, &str); 8] = [
    (
        "orca_pull_through_hits_total",
        "Requests served from storage without asking upstream.",
    ),
    (
        "orca_pull_through_misses_total",
        "Requests that had to fetch from upstream.",
    ),
    (
        "orca_pull_through_revalidations_total",
        "Tags checked upstream, by outcome (unchanged, changed, failed).",
    ),
    (
        "orca_pull_through_stale_total",
        "Requests served from storage because upstream could not be asked.",
    ),
    (
        "orca_pull_through_upstream_downloads_total",
        "Blob downloads started upstream (one per digest however many clients miss).",
    ),
    (
        "orca_pull_through_upstream_failures_total",
        "Upstream requests that failed, by kind.",
    ),
    (
        "orca_pull_through_errors_total",
        "Error answers, by distribution error code.",
    ),
    (
        "orca_pull_through_requests_total",
        "Requests answered, by route kind.",
    ),
];

impl Metrics {
    /// Add one to `name{label}` (`label` is `key="value"`, already escaped, or empty).
    pub(crate) fn inc(&self, name: &'static str, label: impl Into<String>) {
        *self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((name, label.into()))
            .or_default() += 1;
    }

    /// One upstream request took `elapsed` (until its answer's headers, or its whole body
    /// for a manifest).
    pub(crate) fn upstream_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// `n` more bytes arrived from upstream.
    pub(crate) fn upstream_bytes(&self, n: u64) {
        self.upstream_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's value (0 when never counted).
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str, label: &str) -> u64 {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|((n, l), _)| *n == name && l == label)
            .map_or(0, |(_, v)| *v)
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut out = String::new();
        for (name, help) in COUNTERS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut any = false;
            for ((n, label), value) in &counters {
                if *n == name {
                    any = true;
                    if label.is_empty() {
                        let _ = writeln!(out, "{name} {value}");
                    } else {
                        let _ = writeln!(out, "{name}{{{label}}} {value}");
                    }
                }
            }
            if !any {
                let _ = writeln!(out, "{name} 0");
            }
        }
        let name = "orca_pull_through_upstream_bytes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Bytes received from upstream (blobs).\n# TYPE {name} counter\n{name} {}",
            self.upstream_bytes.load(Ordering::Relaxed)
        );
        let name = "orca_pull_through_upstream_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to an upstream answer.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // a sum of latencies needs no exactness
        let sum = self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

/// `key="value"` with the value escaped as the text format requires.
pub(crate) fn label(key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{key}=\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.inc("orca_pull_through_hits_total", label("kind", "blob"));
        m.inc("orca_pull_through_hits_total", label("kind", "blob"));
        m.inc("orca_pull_through_errors_total", label("code", "a\"b"));
        m.upstream_latency(Duration::from_millis(20));
        m.upstream_bytes(10);
        let text = m.render();
        assert!(text.contains("orca_pull_through_hits_total{kind=\"blob\"} 2\n"));
        assert!(text.contains("orca_pull_through_misses_total 0\n"));
        assert!(text.contains("orca_pull_through_errors_total{code=\"a\\\"b\"} 1\n"));
        assert!(
            text.contains("orca_pull_through_upstream_latency_seconds_bucket{le=\"0.01\"} 0\n")
        );
        assert!(
            text.contains("orca_pull_through_upstream_latency_seconds_bucket{le=\"0.025\"} 1\n")
        );
        assert!(text.contains("orca_pull_through_upstream_latency_seconds_count 1\n"));
        assert!(text.contains("orca_pull_through_upstream_bytes_total 10\n"));
        assert_eq!(m.get("orca_pull_through_hits_total", "kind=\"blob\""), 2);
    }
}
