#![allow(missing_docs)]
// criterion macros generate undocumented items
// Byte counts become f64 only to print rates; 52 bits of mantissa are plenty for them.
#![allow(clippy::cast_precision_loss)]
//! `orca-distribution` against `orca-mock-registry` over loopback.
//!
//! Prints, before criterion's own figures, the targets measured in this run (each
//! throughput is the median of 3 runs after a warm-up, with every run's ratio shown):
//! - verified pull throughput as a ratio of single-core sha256 speed (target ≥ 80 %), and
//!   peak resident memory during the pull (`VmHWM` after resetting it; target < 64 MiB);
//! - streamed push throughput as a ratio of sha256 speed (target ≥ 70 %), with the
//!   registry verifying the digest (the default), and for comparison with the client
//!   hashing too (`verify_source`), into the mock and into a sink that discards;
//! - TCP connects (`reg.connections()`) and token requests (`reg.requests()`) for 1,000
//!   sequential manifest `HEAD`s on one registry (targets ≤ 2 and 1).
//!
//! The blob is `ORCA_BENCH_BLOB_BYTES` bytes if set, else 256 MiB (the figure is
//! 1 GiB), or 1 MiB when criterion runs in test mode (`cargo test`, `--test`). The mock stores it in a
//! temporary directory (without fsync) and the client streams it from a generator, so
//! neither side holds the blob in memory.

use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_benches::{Generator, blob_bytes, mib_per_s, sha256_rate};
use orca_distribution::{Client, ClientConfig, PushOptions, UploadMethod};
use orca_manifest::{Descriptor, Hasher, media_types};
use orca_mock_registry::{AuthMode, Config, MockRegistry, Storage};
use orca_reference::Reference;

/// The generator's digest, computed by reading it once.
fn generator_descriptor(len: u64) -> Descriptor {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
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
    })
}

/// How fast the generator alone produces bytes (part of every push figure's cost).
fn generator_rate(len: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use tokio::io::AsyncReadExt;
        let mut g = Generator::new(len);
        let mut buf = vec![0u8; 256 * 1024];
        let started = Instant::now();
        while g.read(&mut buf).await.expect("generator") > 0 {}
        len as f64 / started.elapsed().as_secs_f64()
    })
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Setup {
    _dir: tempfile::TempDir,
    reg: MockRegistry,
    client: Client,
    repo: Reference,
    descriptor: Descriptor,
}

async fn setup(len: u64, descriptor: Descriptor) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = MockRegistry::start(
        // fsync (the default), so that no writeback of the blob runs during the pull.
        Config::default().with_storage(Storage::Directory(dir.path().to_owned())),
    )
    .await
    .expect("mock");
    let client = Client::new(ClientConfig::default().with_plain_http(reg.host().to_owned()))
        .expect("client");
    let repo = Reference::new(reg.host(), "bench/blob").expect("reference");
    push(&client, &repo, &descriptor, len).await;
    Setup {
        _dir: dir,
        reg,
        client,
        repo,
        descriptor,
    }
}

async fn push(client: &Client, repo: &Reference, descriptor: &Descriptor, len: u64) {
    push_with(client, repo, descriptor, len, false).await;
}

/// A streamed push; `verify_source` also hashes it in the client.
async fn push_with(
    client: &Client,
    repo: &Reference,
    descriptor: &Descriptor,
    len: u64,
    verify_source: bool,
) {
    let options = PushOptions::builder()
        .method(UploadMethod::Streamed)
        .verify_source(verify_source)
        .build();
    client
        .push_blob_reader(repo, Some(descriptor), Generator::new(len), &options)
        .await
        .expect("push");
}

async fn pull(client: &Client, repo: &Reference, descriptor: &Descriptor) -> u64 {
    let mut stream = client.fetch_blob(repo, descriptor).await.expect("fetch");
    let mut n = 0;
    while let Some(piece) = stream.next().await {
        n += piece.expect("verified piece").len() as u64;
    }
    n
}

/// 1,000 sequential manifest HEADs through a bearer-token mock.
async fn heads() -> (u64, usize) {
    let reg =
        MockRegistry::start(Config::default().with_auth(AuthMode::bearer("bench", "bench-pw")))
            .await
            .expect("mock");
    let credentials =
        StaticCredentials::new().with(reg.host(), Credential::basic("bench", "bench-pw"));
    let config = ClientConfig::default().with_plain_http(reg.host().to_owned());
    let client = Client::with_authenticator(
        config.clone(),
        Authenticator::new(credentials.clone(), AuthOptions::default()),
    )
    .expect("client");
    let tagged = Reference::new(reg.host(), "bench/heads")
        .and_then(|r| r.with_tag("v1"))
        .expect("reference");
    client
        .push_blob(
            &tagged,
            &Descriptor::empty(),
            Bytes::from_static(orca_manifest::EMPTY_JSON),
            &PushOptions::default(),
        )
        .await
        .expect("config");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "config": Descriptor::empty(),
        "layers": [],
    }))
    .expect("json");
    client
        .push_manifest(
            &tagged,
            Bytes::from(manifest),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await
        .expect("manifest");
    // A fresh client: its connects and token requests are what is counted.
    let client = Client::with_authenticator(
        config,
        Authenticator::new(credentials, AuthOptions::default()),
    )
    .expect("client");
    let connections = reg.connections();
    reg.clear_requests();
    for _ in 0..1000 {
        client.resolve(&tagged).await.expect("HEAD");
    }
    let tokens = reg
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/token"))
        .count();
    (reg.connections() - connections, tokens)
}

/// A loopback server that accepts any upload and discards it: `POST` answers 202 with a
/// session, `PUT` drains the body and answers 201. Measures the client alone.
async fn start_sink() -> String {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let method = req.method().clone();
                        let mut body = req.into_body();
                        while let Some(frame) = body.frame().await {
                            frame?;
                        }
                        let status = if method == http::Method::POST {
                            202
                        } else {
                            201
                        };
                        let response = http::Response::builder()
                            .status(status)
                            .header("Location", "/v2/bench/sink/blobs/uploads/1")
                            .body(http_body_util::Empty::<Bytes>::new())
                            .expect("response");
                        Ok::<_, hyper::Error>(response)
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    host
}

/// A streamed push into a fresh mock ([`orca_benches::fresh_push_mock`]); bytes per second.
async fn push_into_fresh_mock(descriptor: &Descriptor, len: u64, verify_source: bool) -> f64 {
    let (_dir, reg) = orca_benches::fresh_push_mock().await;
    let client = Client::new(ClientConfig::default().with_plain_http(reg.host().to_owned()))
        .expect("client");
    let repo = Reference::new(reg.host(), "bench/push-figure").expect("reference");
    let started = Instant::now();
    push_with(&client, &repo, descriptor, len, verify_source).await;
    len as f64 / started.elapsed().as_secs_f64()
}

/// Timed runs per throughput figure, after one untimed warm-up; the figure is their median.
/// One run alone swings by a third on a shared 2-core VM (the threads of client and mock
/// take uneven turns on the cores, and the first write of a GiB into memory the VM has not
/// touched yet is slow), so a single run says more about the machine than about the code.
const RUNS: usize = 3;

/// Rates of [`RUNS`] timed runs of `run` after one warm-up: (median, every run in order).
fn median_rate(mut run: impl FnMut() -> f64) -> (f64, Vec<f64>) {
    run();
    let rates: Vec<f64> = (0..RUNS).map(|_| run()).collect();
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    (sorted[RUNS / 2], rates)
}

/// `median MiB/s = ratio % of sha256 (runs: a, b, c %)`.
fn describe(sha: f64, (median, runs): &(f64, Vec<f64>)) -> String {
    let each: Vec<String> = runs
        .iter()
        .map(|r| format!("{:.0}", 100.0 * r / sha))
        .collect();
    format!(
        "{:.0} MiB/s = {:.0} % of sha256 (runs: {} %)",
        mib_per_s(*median),
        100.0 * median / sha,
        each.join(", ")
    )
}

fn figures(rt: &tokio::runtime::Runtime, len: u64, descriptor: &Descriptor) {
    let sha = sha256_rate(len);
    let generated = generator_rate(len);
    let setup = rt.block_on(setup(len, descriptor.clone()));
    let timed_pull = || {
        let started = Instant::now();
        let pulled = rt.block_on(pull(&setup.client, &setup.repo, &setup.descriptor));
        pulled as f64 / started.elapsed().as_secs_f64()
    };
    // The warm-up pull comes before the reset, so the peak is that of steady pulls.
    timed_pull();
    let reset = reset_peak_rss();
    let pull = median_rate(timed_pull);
    let peak = vm_hwm_kib();
    // Pull first: memory freed by the pushes' mocks may stay resident and count in VmHWM.
    let push = median_rate(|| rt.block_on(push_into_fresh_mock(descriptor, len, false)));
    let push_hashing = median_rate(|| rt.block_on(push_into_fresh_mock(descriptor, len, true)));
    let sink = rt.block_on(start_sink());
    let sink_client =
        Client::new(ClientConfig::default().with_plain_http(sink.clone())).expect("client");
    let sink_repo = Reference::new(&sink, "bench/sink").expect("reference");
    let into_sink = median_rate(|| {
        rt.block_on(async {
            let started = Instant::now();
            push_with(&sink_client, &sink_repo, descriptor, len, true).await;
            len as f64 / started.elapsed().as_secs_f64()
        })
    });
    let (connects, tokens) = rt.block_on(heads());
    println!(
        "distribution figures ({} MiB blob; throughput is the median of {RUNS} runs after a warm-up):",
        len / (1024 * 1024)
    );
    println!("  sha256 single core: {:.0} MiB/s", mib_per_s(sha));
    println!(
        "  push source (a repeated 1 MiB block) alone: {:.0} MiB/s",
        mib_per_s(generated)
    );
    println!(
        "  pull (verified): {} (target >= 80 %)",
        describe(sha, &pull)
    );
    println!(
        "  push (streamed, the registry verifies): {} (target >= 70 %)",
        describe(sha, &push)
    );
    println!(
        "  push (streamed, verify_source: the client hashes too): {}",
        describe(sha, &push_hashing)
    );
    println!(
        "  push (streamed, verify_source) into a discarding sink, the client alone: {}",
        describe(sha, &into_sink)
    );
    match (reset, peak) {
        (true, Some(kib)) => println!(
            "  peak RSS during the timed pulls (VmHWM, client and mock): {} MiB (target < 64 MiB)",
            kib / 1024
        ),
        _ => println!("  peak RSS: unavailable (no /proc/self/clear_refs or VmHWM)"),
    }
    println!(
        "  1000 sequential HEADs: {connects} TCP connects (target <= 2), {tokens} token requests (target 1)"
    );
}

fn distribution(c: &mut Criterion) {
    let rt = orca_benches::runtime();
    let len = blob_bytes();
    let descriptor = generator_descriptor(len);
    figures(&rt, len, &descriptor);

    let setup = rt.block_on(setup(len, descriptor.clone()));
    let mut group = c.benchmark_group("distribution");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.bench_function("pull_verified", |b| {
        b.iter(|| {
            assert_eq!(
                rt.block_on(pull(&setup.client, &setup.repo, &setup.descriptor)),
                len
            );
        });
    });
    group.bench_function("push_streamed", |b| {
        let repo = Reference::new(setup.reg.host(), "bench/push").expect("reference");
        b.iter(|| rt.block_on(push(&setup.client, &repo, &setup.descriptor, len)));
    });
    group.finish();
}

criterion_group!(benches, distribution);
criterion_main!(benches);
