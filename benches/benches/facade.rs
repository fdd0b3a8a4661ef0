#![allow(missing_docs)]
// criterion macros generate undocumented items
// Byte counts become f64 only to print rates; 52 bits of mantissa are plenty for them.
#![allow(clippy::cast_precision_loss)]
//! The facade (`orca::ArtifactStore`) against `orca-mock-registry` over loopback.
//!
//! Prints, before criterion's own figure, the two targets measured in this run:
//! - 1,000 distinct 4 KiB digest-pinned artifacts fetched from the mock, 16 in flight:
//!   artifacts per second on the first pass (into an empty content cache) and on the
//!   second (from the cache), their ratio (target ≥ 20×) and the requests the second pass
//!   made (counted in the mock's log; target 0), beside the file system's floor for the
//!   same placements; three rounds, each into a fresh cache, medians reported (the disk's
//!   speed drifts by several times within minutes here, so the passes and the floor
//!   alternate). Then two more passes over the first round's cache with
//!   `CacheOptions::hard_links`, verified (the default) and with `verify_reads` off. Each
//!   fetch is a task of its own, as a server runs its requests.
//!   `ORCA_BENCH_ARTIFACTS` changes the count (50 in test mode).
//! - One folder artifact fetched into place (`fetch`: download, verification, extraction
//!   and the atomic swap, no cache) against the client's verified pull of the same layer
//!   alone (`fetch_blob`, drained): the ratio (target ≥ 0.8) and the peak resident memory
//!   during the fetches (target < 64 MiB). The folder is `ORCA_BENCH_BLOB_BYTES` bytes of
//!   pseudo-random files if set, else 256 MiB (the figure is 1 GiB), 1 MiB in test
//!   mode; it is packed as ORAS does but with gzip level 0 (stored blocks), so that the
//!   set-up does not take minutes and the figure measures the pipeline rather than inflate.
//!   Medians of 3 runs after a warm-up.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use orca::distribution::{Client, ClientConfig, PushOptions as ClientPushOptions};
use orca::manifest::{Descriptor, ImageManifest, media_types};
use orca::{ArtifactStore, BlobOptions, CacheOptions, Store, StoreRegistry};
use orca_benches::{
    blob_bytes, fresh_push_mock, mib_per_s, process_cpu, pseudo_random_bytes, runtime,
};
use orca_mock_registry::{Config, MockRegistry};

fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--test")
}

fn artifact_count() -> usize {
    if let Some(n) = std::env::var("ORCA_BENCH_ARTIFACTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if test_mode() { 50 } else { 1000 }
}

fn vm_hwm_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system CPU time of the whole process so far; zero where that is not readable.
fn cpu_time() -> Duration {
    process_cpu(None).unwrap_or_default()
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn store(host: &str, cache: Option<&Path>) -> ArtifactStore {
    store_with(host, cache, CacheOptions::default())
}

fn store_with(host: &str, cache: Option<&Path>, options: CacheOptions) -> ArtifactStore {
    let stores = StoreRegistry::new().with(Store::new(host).expect("host").with_plain_http(true));
    let mut builder = ArtifactStore::builder(stores).concurrency(4);
    if let Some(dir) = cache {
        builder = builder.cache(dir, options.with_max_bytes(None));
    }
    builder.build().expect("store")
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Fetches every reference, 16 in flight, into `out/<i>`; returns the time taken.
///
/// Each fetch is a task of its own, as a service runs its requests: a fetch does its
/// small file work on the task that runs it, so fetches polled together by one task
/// (`buffer_unordered` inside it) would share one thread. Dirty pages are written back
/// first (`sync`), so that a pass does not pay for the writes of the one before it.
async fn fetch_all(artifacts: &ArtifactStore, references: &[String], out: &Path) -> Duration {
    let _ = std::process::Command::new("sync").status();
    let started = Instant::now();
    let results: Vec<_> =
        futures_util::stream::iter(references.iter().enumerate().map(|(i, r)| {
            let (artifacts, reference) = (artifacts.clone(), r.clone());
            let dest = out.join(i.to_string());
            tokio::spawn(async move { artifacts.fetch(&reference, "bench", &dest).await })
        }))
        .buffer_unordered(16)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for r in results {
        r.expect("task").expect("fetch");
    }
    elapsed
}

/// One round of the 1,000-artifact passes: their times, and the first pass's requests.
struct Round {
    first: Duration,
    cached: Duration,
    floor: Duration,
    first_requests: usize,
}

fn many_small_artifacts() {
    let rt = runtime();
    rt.block_on(async {
        let count = artifact_count();
        let mock = MockRegistry::start(Config::default()).await.expect("mock");
        let work = tempfile::tempdir().expect("tempdir");
        let publisher = store(mock.host(), None);
        let mut references = Vec::with_capacity(count);
        for i in 0..count {
            let mut content = pseudo_random_bytes(4096, 1000 + i as u64);
            content[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let pushed = publisher
                .push_blob(
                    &format!("{}/bench/small:{i}", mock.host()),
                    Bytes::from(content),
                    &BlobOptions::new("application/vnd.orca.bench").title("config.json"),
                )
                .await
                .expect("push");
            references.push(format!("{}/bench/small@{}", mock.host(), pushed.digest));
        }
        // Three rounds, each into a fresh cache: the first pass, the cached pass, then the
        // file system's floor, so that the disk's slow and fast spells (they swing 4x
        // here) fall on all three alike; medians are reported, and each round's figures.
        let mut rounds = Vec::new();
        for round in 0..3 {
            let cache = work.path().join(format!("cache{round}"));
            let artifacts = store(mock.host(), Some(&cache));
            mock.clear_requests();
            let out = |name: &str| work.path().join(format!("{name}{round}"));
            let first = fetch_all(&artifacts, &references, &out("first")).await;
            let first_requests = mock.requests().len();
            mock.clear_requests();
            let second = fetch_all(&artifacts, &references, &out("second")).await;
            assert_eq!(mock.requests().len(), 0, "the cached pass made requests");
            let floor = file_system_floor(&cache, count, &out("floor"));
            rounds.push(Round {
                first,
                cached: second,
                floor,
                first_requests,
            });
        }
        // The first round's cache opened with hard links (CacheOptions::hard_links),
        // verified and not.
        let cache = work.path().join("cache0");
        let linking = store_with(
            mock.host(),
            Some(&cache),
            CacheOptions::default().with_hard_links(true),
        );
        let linked = fetch_all(&linking, &references, &work.path().join("linked")).await;
        let trusting = store_with(
            mock.host(),
            Some(&cache),
            CacheOptions::default().with_hard_links(true).with_verify_reads(false),
        );
        let trusted = fetch_all(&trusting, &references, &work.path().join("trusted")).await;
        assert_eq!(mock.requests().len(), 0, "the cached passes made requests");
        let rate = |d: Duration| count as f64 / d.as_secs_f64();
        let middle = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let each = |digits: usize, f: &dyn Fn(&Round) -> f64| {
            let v: Vec<f64> = rounds.iter().map(f).collect();
            let listed: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
            (middle(v), listed.join(", "))
        };
        let (first, first_runs) = each(0, &|r| rate(r.first));
        let (second, second_runs) = each(0, &|r| rate(r.cached));
        let (floor, floor_runs) = each(0, &|r| rate(r.floor));
        let (ratio, ratio_runs) = each(1, &|r| r.first.as_secs_f64() / r.cached.as_secs_f64());
        let (of_floor, of_floor_runs) =
            each(2, &|r| r.floor.as_secs_f64() / r.cached.as_secs_f64());
        let (floor_ratio, floor_ratio_runs) =
            each(1, &|r| r.first.as_secs_f64() / r.floor.as_secs_f64());
        println!(
            "facade: {count} distinct 4 KiB pinned artifacts, 16 in flight, medians of 3 rounds (each round's in brackets): \
             first pass {first:.0} artifacts/s [{first_runs}] ({} requests); from the cache, 0 requests (target 0): \
             {second:.0} artifacts/s [{second_runs}], ratio {ratio:.1}x [{ratio_runs}] (target >= 20x); \
             the file system's floor for the same placements (16 threads: read the blob, make a directory, write the file, rename) \
             {floor:.0}/s [{floor_runs}], {floor_ratio:.1}x the first pass [{floor_ratio_runs}], and the cached pass runs at {of_floor:.2}x of it [{of_floor_runs}]; \
             hard links {:.0} artifacts/s, hard links without re-hashing {:.0} artifacts/s (one pass each)",
            rounds[0].first_requests,
            rate(linked),
            rate(trusted),
        );
    });
}

/// What a cached pass cannot go below on this file system: for `count` blobs of the
/// cache, 16 threads each read one, make a directory beside its destination, write the
/// blob into it and rename the directory into place — the least a fetch that places a
/// cached file atomically does, with no hashing, manifest or bookkeeping.
fn file_system_floor(cache: &Path, count: usize, out: &Path) -> Duration {
    std::fs::create_dir_all(out).expect("mkdir");
    let mut blobs: Vec<_> = std::fs::read_dir(cache.join("blobs/sha256"))
        .expect("blobs")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == 4096))
        .collect();
    blobs.truncate(count);
    let _ = std::process::Command::new("sync").status();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(blob) = blobs.get(i) else { break };
                    let bytes = std::fs::read(blob).expect("read");
                    let staging = out.join(format!(".{i}.tmp"));
                    std::fs::create_dir(&staging).expect("mkdir");
                    std::fs::write(staging.join("config.json"), &bytes).expect("write");
                    std::fs::rename(&staging, out.join(i.to_string())).expect("rename");
                }
            });
        }
    });
    let elapsed = started.elapsed();
    // Scaled to the full count, should the cache hold fewer 4 KiB blobs.
    elapsed.mul_f64(count as f64 / blobs.len().max(1) as f64)
}

fn sample_tree(root: &Path, total: u64) {
    let folder = root.join("data");
    std::fs::create_dir_all(folder.join("part")).expect("mkdir");
    let files = 16u64;
    let each = (total / files).max(1);
    for i in 0..files {
        let dir = if i % 2 == 0 {
            folder.clone()
        } else {
            folder.join("part")
        };
        let mut content =
            pseudo_random_bytes(usize::try_from(each.min(64 << 20)).expect("size"), i + 1);
        let mut file = std::fs::File::create(dir.join(format!("f{i:02}.bin"))).expect("file");
        let mut written = 0u64;
        while written < each {
            let n = (each - written).min(content.len() as u64);
            std::io::Write::write_all(&mut file, &content[..usize::try_from(n).expect("n")])
                .expect("write");
            content[0] = content[0].wrapping_add(1);
            written += n;
        }
    }
}

fn one_large_folder() {
    let rt = runtime();
    rt.block_on(async {
        let total = blob_bytes();
        let work = tempfile::tempdir().expect("tempdir");
        sample_tree(work.path(), total);
        let layer_file = work.path().join("layer.tar.gz");
        let mut options = orca::unpack::PackOptions::default();
        options.compression_level = 0;
        let layer = orca::unpack::pack_dir(
            &work.path().join("data"),
            std::io::BufWriter::new(std::fs::File::create(&layer_file).expect("layer")),
            &options,
        )
        .expect("pack");
        std::fs::remove_dir_all(work.path().join("data")).expect("rm");
        let (_dir, mock) = fresh_push_mock().await;
        let client = Client::new(ClientConfig::default().with_plain_http(mock.host())).expect("client");
        let reference: orca::Reference = format!("{}/bench/folder:1", mock.host()).parse().expect("ref");
        let file = tokio::fs::File::open(&layer_file).await.expect("open");
        client
            .push_blob_reader(&reference, Some(&layer), file, &ClientPushOptions::default())
            .await
            .expect("push layer");
        client
            .push_blob(&reference, &Descriptor::empty(), Bytes::from_static(b"{}"), &ClientPushOptions::default())
            .await
            .expect("push config");
        let manifest = ImageManifest::artifact("application/vnd.orca.bench", vec![layer.clone()]).expect("manifest");
        let pushed = client
            .push_manifest(&reference, Bytes::from(manifest.to_bytes()), media_types::OCI_IMAGE_MANIFEST)
            .await
            .expect("push manifest");
        std::fs::remove_file(&layer_file).expect("rm layer");
        let pinned = format!("{}/bench/folder@{}", mock.host(), pushed.digest);
        let artifacts = store(mock.host(), None);

        let pull = || async {
            let (started, cpu) = (Instant::now(), cpu_time());
            let mut stream = client.fetch_blob(&reference, &layer).await.expect("fetch");
            let mut n = 0u64;
            while let Some(piece) = stream.next().await {
                n += piece.expect("piece").len() as u64;
            }
            assert_eq!(n, layer.size);
            (started.elapsed(), cpu_time().saturating_sub(cpu))
        };
        let dest = work.path().join("out");
        let fetch = || async {
            let (started, cpu) = (Instant::now(), cpu_time());
            artifacts.fetch(&pinned, "bench", &dest).await.expect("fetch");
            let spent = (started.elapsed(), cpu_time().saturating_sub(cpu));
            std::fs::remove_dir_all(&dest).expect("rm out");
            spent
        };
        pull().await;
        fetch().await;
        let mut pulls = Vec::new();
        let mut fetches = Vec::new();
        let (mut peak_kib, mut before_kib) = (None, None);
        for _ in 0..3 {
            pulls.push(pull().await);
            let reset = reset_peak_rss();
            let resident = status_kib("VmRSS:");
            fetches.push(fetch().await);
            if reset && vm_hwm_kib() > peak_kib {
                peak_kib = vm_hwm_kib();
                before_kib = resident;
            }
        }
        let cpu_of = |runs: &[(Duration, Duration)]| median(runs.iter().map(|r| r.1).collect());
        let (pull_cpu, fetch_cpu) = (cpu_of(&pulls), cpu_of(&fetches));
        let (pull, fetch) = (
            median(pulls.iter().map(|r| r.0).collect()),
            median(fetches.iter().map(|r| r.0).collect()),
        );
        let rate = |d: Duration| mib_per_s(layer.size as f64 / d.as_secs_f64());
        println!(
            "facade: one {} MiB folder artifact: verified pull alone {:.0} MiB/s, fetch into place {:.0} MiB/s, ratio {:.2} (target >= 0.8); peak RSS during the fetches {} (target < 64 MiB; the in-process registry and the bench included, {} MiB resident before the fetch began)",
            layer.size >> 20,
            rate(pull),
            rate(fetch),
            pull.as_secs_f64() / fetch.as_secs_f64(),
            peak_kib.map_or_else(|| "not measurable here".to_owned(), |k| format!("{} MiB", k / 1024)),
            before_kib.unwrap_or(0) / 1024,
        );
        print_cpu(pull, pull_cpu, fetch, fetch_cpu);
    });
}

/// The CPU each pass costs the whole process (registry included), and so the best ratio
/// this machine's cores allow for that much work: the fetch hashes twice (the layer, and
/// the tar against `io.deis.oras.content.digest`) and writes every byte into files, where
/// the pull hashes once and writes nothing.
fn print_cpu(pull: Duration, pull_cpu: Duration, fetch: Duration, fetch_cpu: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if fetch_cpu < Duration::from_millis(100) {
        println!(
            "facade: CPU per pass not measurable here (no /proc, or too little CPU for its 10 ms ticks)"
        );
        return;
    }
    println!(
        "facade: CPU per pass (process, registry included): pull {:.2} s ({:.2} cores busy), fetch {:.2} s ({:.2} cores busy); \
         with that work on {cores} cores the ratio cannot pass {:.2}",
        pull_cpu.as_secs_f64(),
        pull_cpu.as_secs_f64() / pull.as_secs_f64(),
        fetch_cpu.as_secs_f64(),
        fetch_cpu.as_secs_f64() / fetch.as_secs_f64(),
        pull.as_secs_f64() / (fetch_cpu.as_secs_f64() / cores as f64),
    );
}

fn facade(c: &mut Criterion) {
    // The folder first: its peak-memory figure must not include what the 1,000-artifact
    // pass left in the allocator.
    one_large_folder();
    many_small_artifacts();
    // Criterion's own figure: one small artifact fetched by digest from the cache.
    let rt = runtime();
    let (mock, work, reference, artifacts) = rt.block_on(async {
        let mock = MockRegistry::start(Config::default()).await.expect("mock");
        let work = tempfile::tempdir().expect("tempdir");
        let artifacts = store(mock.host(), Some(&work.path().join("cache")));
        let pushed = artifacts
            .push_blob(
                &format!("{}/bench/one:1", mock.host()),
                Bytes::from(pseudo_random_bytes(4096, 3)),
                &BlobOptions::new("application/vnd.orca.bench").title("config.json"),
            )
            .await
            .expect("push");
        let reference = format!("{}/bench/one@{}", mock.host(), pushed.digest);
        artifacts
            .fetch(&reference, "bench", &work.path().join("warm"))
            .await
            .expect("warm");
        (mock, work, reference, artifacts)
    });
    let dest = work.path().join("out");
    c.bench_function("facade/fetch_4KiB_from_cache", |b| {
        b.iter(|| {
            rt.block_on(artifacts.fetch(&reference, "bench", &dest))
                .expect("fetch");
        });
    });
    drop(mock);
}

criterion_group!(benches, facade);
criterion_main!(benches);
