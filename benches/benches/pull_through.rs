#![allow(missing_docs)]
// criterion macros generate undocumented items
// Byte counts become f64 only to print rates; 52 bits of mantissa are plenty for them.
#![allow(clippy::cast_precision_loss)]
//! The caching front (`orca-pull-through`) between orca's client and an upstream mock.
//!
//! Prints, before criterion's own figure, the two targets measured in this run:
//! - a cache hit of one blob through the front against reading it directly from the mock,
//!   both with orca's client verifying every byte: the ratio of throughputs (target ≥ 0.8).
//!   The blob is `ORCA_BENCH_BLOB_BYTES` bytes if set, else 256 MiB, 1 MiB in test mode;
//!   mock and front both read it from a directory (page cache). 5 runs after a warm-up,
//!   direct and front interleaved; the figure is the median of the per-pair ratios.
//! - 50 concurrent clients missing on one blob (16 MiB, 1 MiB in test mode, upstream
//!   throttled to 64 MiB/s so that the clients overlap the download): upstream blob
//!   downloads counted in the upstream's request log (target exactly 1) and clients that
//!   received verified bytes (target 50). The bench panics when either target is missed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use http::Method;
use orca_benches::{Generator, blob_bytes, mib_per_s, runtime};
use orca_distribution::{Client, ClientConfig, PushOptions, UploadMethod};
use orca_manifest::{Descriptor, Hasher, media_types};
use orca_mock_registry::{Config, Fault, MockRegistry, Storage};
use orca_pull_through::{DirStorage, Front, Options, StaticUpstreams};
use orca_reference::Reference;

/// Clients of the single-flight figure.
const CLIENTS: usize = 50;
/// Timed runs per throughput figure, after one untimed warm-up.
const RUNS: usize = 5;

async fn descriptor_of(len: u64) -> Descriptor {
    use tokio::io::AsyncReadExt;
    let mut g = Generator::new(len);
    let mut hasher = Hasher::sha256();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = g.read(&mut buf).await.expect("generator");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Descriptor::new(media_types::OCI_LAYER_TAR, hasher.finish(), len)
}

async fn pull(client: &Client, repo: &Reference, descriptor: &Descriptor) -> u64 {
    let mut stream = client.fetch_blob(repo, descriptor).await.expect("fetch");
    let mut n = 0;
    while let Some(piece) = stream.next().await {
        n += piece.expect("verified piece").len() as u64;
    }
    n
}

struct Setup {
    upstream: MockRegistry,
    front: Front,
    front_dir: tempfile::TempDir,
    _upstream_dir: tempfile::TempDir,
    upstream_client: Client,
    front_client: Client,
}

impl Setup {
    async fn start() -> Setup {
        let upstream_dir = tempfile::tempdir().expect("tempdir");
        let upstream = MockRegistry::start(
            Config::default().with_storage(Storage::Directory(upstream_dir.path().to_owned())),
        )
        .await
        .expect("mock");
        let upstream_client =
            Client::new(ClientConfig::default().with_plain_http(upstream.host().to_owned()))
                .expect("client");
        let rules = StaticUpstreams::new()
            .with(
                "bench/*",
                upstream_client.clone(),
                &format!("{}/bench/*", upstream.host()),
            )
            .expect("rule");
        let front_dir = tempfile::tempdir().expect("tempdir");
        let front = Front::start(
            Arc::new(DirStorage::open(front_dir.path()).expect("storage")),
            Arc::new(rules),
            Options::default(),
        )
        .await
        .expect("front");
        let front_client =
            Client::new(ClientConfig::default().with_plain_http(front.host())).expect("client");
        Setup {
            upstream,
            front,
            front_dir,
            _upstream_dir: upstream_dir,
            upstream_client,
            front_client,
        }
    }

    async fn push(&self, repository: &str, descriptor: &Descriptor) {
        let repo = Reference::new(self.upstream.host(), repository).expect("reference");
        let options = PushOptions::builder()
            .method(UploadMethod::Streamed)
            .build();
        self.upstream_client
            .push_blob_reader(
                &repo,
                Some(descriptor),
                Generator::new(descriptor.size),
                &options,
            )
            .await
            .expect("push");
    }

    fn upstream_repo(&self, repository: &str) -> Reference {
        Reference::new(self.upstream.host(), repository).expect("reference")
    }

    fn front_repo(&self, repository: &str) -> Reference {
        Reference::new(&self.front.host(), repository).expect("reference")
    }

    /// Wait (bounded) for a fetched blob to land in the front's storage.
    async fn landed(&self, descriptor: &Descriptor) {
        let path = self
            .front_dir
            .path()
            .join("blobs/sha256")
            .join(descriptor.digest.encoded());
        for _ in 0..1000 {
            if path.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the blob never landed in the front's storage");
    }
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Throughput of a hit through the front and of a direct read from the mock.
fn hit_figures(rt: &tokio::runtime::Runtime, setup: &Setup, descriptor: &Descriptor) {
    let direct_repo = setup.upstream_repo("bench/hit");
    let front_repo = setup.front_repo("bench/hit");
    let timed = |client: &Client, repo: &Reference| {
        let started = Instant::now();
        let n = rt.block_on(pull(client, repo, descriptor));
        n as f64 / started.elapsed().as_secs_f64()
    };
    // Warm-up: the miss that fills the front, then one read each way.
    rt.block_on(pull(&setup.front_client, &front_repo, descriptor));
    rt.block_on(setup.landed(descriptor));
    timed(&setup.upstream_client, &direct_repo);
    timed(&setup.front_client, &front_repo);
    let mut direct = Vec::new();
    let mut front = Vec::new();
    for _ in 0..RUNS {
        direct.push(timed(&setup.upstream_client, &direct_repo));
        front.push(timed(&setup.front_client, &front_repo));
    }
    // Each front run against the direct run just before it, so that a busy moment of the
    // machine weighs on both sides of a ratio.
    let ratios: Vec<f64> = direct.iter().zip(&front).map(|(d, f)| f / d).collect();
    let runs: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let (direct, front, ratio) = (median(direct), median(front), median(ratios));
    println!(
        "pull-through figures ({} MiB blob; medians of {RUNS} interleaved runs after a warm-up):",
        descriptor.size / (1024 * 1024)
    );
    println!(
        "  direct from the mock (verified): {:.0} MiB/s",
        mib_per_s(direct)
    );
    println!(
        "  hit through the front (verified): {:.0} MiB/s; median ratio {:.2}x direct (runs: {}) (target >= 0.80x)",
        mib_per_s(front),
        ratio,
        runs.join(", ")
    );
}

/// 50 clients missing on one blob at once.
fn single_flight(rt: &tokio::runtime::Runtime, test_mode: bool) {
    let len: u64 = if test_mode { 1 << 20 } else { 16 << 20 };
    let setup = rt.block_on(Setup::start());
    let descriptor = rt.block_on(descriptor_of(len + 1));
    rt.block_on(setup.push("bench/flight", &descriptor));
    setup
        .upstream
        .faults()
        .add(Fault::throttle(64 * 1024 * 1024).path("/v2/*/blobs/*"));
    setup.upstream.clear_requests();
    let repo = setup.front_repo("bench/flight");
    let started = Instant::now();
    let verified = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let (client, repo, descriptor) =
                (setup.front_client.clone(), repo.clone(), descriptor.clone());
            tasks.spawn(async move { pull(&client, &repo, &descriptor).await == descriptor.size });
        }
        let mut verified = 0;
        while let Some(ok) = tasks.join_next().await {
            if ok.expect("client task") {
                verified += 1;
            }
        }
        verified
    });
    let elapsed = started.elapsed();
    let path = format!("/blobs/{}", descriptor.digest);
    let downloads = setup
        .upstream
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET && r.path.contains(&path))
        .count();
    println!(
        "  {CLIENTS} concurrent misses on one {} MiB blob: {downloads} upstream download(s) (target 1), {verified}/{CLIENTS} clients verified, {:.2} s",
        len / (1024 * 1024),
        elapsed.as_secs_f64()
    );
    assert_eq!(downloads, 1, "single flight: one upstream download");
    assert_eq!(verified, CLIENTS, "every client receives verified bytes");
}

fn pull_through(c: &mut Criterion) {
    let rt = runtime();
    let len = blob_bytes();
    let test_mode = len <= 1024 * 1024 && std::env::var("ORCA_BENCH_BLOB_BYTES").is_err();
    let setup = rt.block_on(Setup::start());
    let descriptor = rt.block_on(descriptor_of(len));
    rt.block_on(setup.push("bench/hit", &descriptor));
    hit_figures(&rt, &setup, &descriptor);
    single_flight(&rt, test_mode);

    let front_repo = setup.front_repo("bench/hit");
    let mut group = c.benchmark_group("pull_through");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.bench_function("hit_verified", |b| {
        b.iter(|| rt.block_on(pull(&setup.front_client, &front_repo, &descriptor)));
    });
    group.finish();
}

criterion_group!(benches, pull_through);
criterion_main!(benches);
