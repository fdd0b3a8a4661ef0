//! The figures the facade reports, read back from a debugging recorder.

use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use orca::{CacheOptions, PushOptions};

use crate::support::{env_with, sample_folder};

pub(crate) type Snapshot = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The counter of `name` with every label in `labels` (summed over the other labels), and
/// the histogram samples of that name and those labels.
pub(crate) fn figure(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> (u64, Vec<f64>) {
    let mut count = 0;
    let mut samples = Vec::new();
    for (key, _, _, value) in snapshot {
        let key = key.key();
        if key.name() != name {
            continue;
        }
        let matches = labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
        if !matches {
            continue;
        }
        match value {
            DebugValue::Counter(n) => count += *n,
            DebugValue::Histogram(values) => samples.extend(values.iter().map(|v| v.into_inner())),
            DebugValue::Gauge(_) => {}
        }
    }
    (count, samples)
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, then every figure it produced
async fn fetches_pushes_failures_bytes_and_cache_use_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let env = env_with(
        orca_mock_registry::Config::default(),
        |s| s.with_limit("tiny", 10),
        Some(CacheOptions::default()),
    )
    .await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference("configs/anonymization:default");
    let pushed = env
        .store
        .push_dir(
            &reference,
            &folder,
            &PushOptions::default().operation("anonymization"),
        )
        .await
        .unwrap();
    let layer_bytes = pushed.layers[0].size;
    let pinned = format!(
        "{}/configs/anonymization@{}",
        env.mock.host(),
        pushed.digest
    );
    env.store
        .fetch(&pinned, "anonymization", &env.dir.path().join("a"))
        .await
        .unwrap();
    env.store
        .fetch(&pinned, "anonymization", &env.dir.path().join("b"))
        .await
        .unwrap();
    let too_large = env
        .store
        .fetch(&pinned, "tiny", &env.dir.path().join("c"))
        .await;
    assert_eq!(too_large.unwrap_err().code(), "TooLargeArtifacts");
    let unregistered = env
        .store
        .fetch("configs/app:1", "anonymization", &env.dir.path().join("d"))
        .await;
    assert_eq!(
        unregistered.unwrap_err().code(),
        "ArtifactStoreIsNotRegistered"
    );

    // A snapshot drains the recorder: take one and read every figure from it.
    let snapshot = snapshotter.snapshot().into_vec();
    let calls = "orca_calls_total";
    assert_eq!(
        figure(
            &snapshot,
            calls,
            &[("call", "fetch"), ("outcome", "success")]
        )
        .0,
        2
    );
    assert_eq!(
        figure(
            &snapshot,
            calls,
            &[
                ("call", "fetch"),
                ("code", "TooLargeArtifacts"),
                ("operation", "tiny")
            ]
        )
        .0,
        1
    );
    assert_eq!(
        figure(
            &snapshot,
            calls,
            &[
                ("call", "fetch"),
                ("outcome", "failure"),
                ("code", "ArtifactStoreIsNotRegistered")
            ]
        )
        .0,
        1
    );
    assert_eq!(
        figure(
            &snapshot,
            calls,
            &[("call", "push"), ("outcome", "success")]
        )
        .0,
        1
    );
    assert_eq!(
        figure(
            &snapshot,
            "orca_pulls_total",
            &[("operation", "anonymization")]
        )
        .0,
        2
    );
    assert_eq!(
        figure(
            &snapshot,
            "orca_pushes_total",
            &[("operation", "anonymization")]
        )
        .0,
        1
    );

    let (_, durations) = figure(
        &snapshot,
        "orca_call_duration_seconds",
        &[("call", "fetch")],
    );
    assert_eq!(durations.len(), 4);
    assert!(durations.iter().all(|d| *d >= 0.0));
    #[allow(clippy::cast_precision_loss)]
    let expected_size = layer_bytes as f64;
    let (_, sizes) = figure(
        &snapshot,
        "orca_artifact_size_bytes",
        &[("call", "fetch"), ("operation", "anonymization")],
    );
    assert_eq!(sizes, [expected_size, expected_size]);

    // The layer came down once (with the manifest): the second fetch came from the cache.
    let (downloaded, _) = figure(
        &snapshot,
        "orca_transferred_bytes_total",
        &[("direction", "download")],
    );
    assert!(
        downloaded >= layer_bytes && downloaded < 2 * layer_bytes + 4096,
        "{downloaded}"
    );
    let (requests, _) = figure(&snapshot, "orca_requests_total", &[("method", "GET")]);
    assert!(requests >= 2, "{requests}");
    let (uploaded, _) = figure(
        &snapshot,
        "orca_transferred_bytes_total",
        &[("direction", "upload")],
    );
    assert!(uploaded >= layer_bytes, "{uploaded} < {layer_bytes}");
    assert_eq!(
        figure(&snapshot, "orca_cache_hits_total", &[("kind", "manifest")]).0,
        2
    );
    assert_eq!(
        figure(
            &snapshot,
            "orca_cache_misses_total",
            &[("kind", "manifest")]
        )
        .0,
        1
    );
    assert_eq!(
        figure(&snapshot, "orca_cache_hits_total", &[("kind", "blob")]).0,
        1
    );
    assert_eq!(
        figure(&snapshot, "orca_cache_misses_total", &[("kind", "blob")]).0,
        1
    );
}
