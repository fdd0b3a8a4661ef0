//! orca-unpack against GNU tar on the same archive in the same run: extraction of a
//! tar+gzip (`tar -xzf`) and packing of the folder (`tar -czf`), with the ratios and the
//! process's peak memory (`VmHWM`) printed.
//!
//! The default is 64 MiB in 1,000 files; `ORCA_BENCH_UNPACK_BYTES=1073741824` runs the
//! issue's target (1 GiB, 10,000 files; `ORCA_BENCH_UNPACK_FILES` overrides the count).
//! Half the files are incompressible, half text-like.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orca_benches::pseudo_random_bytes;
use orca_unpack::{ExtractOptions, Limits, PackOptions, extract, pack_dir};

struct Setup {
    work: tempfile::TempDir,
    folder: PathBuf,
    archive: PathBuf,
    bytes: u64,
    files: u64,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn setup() -> Setup {
    let bytes = env_u64("ORCA_BENCH_UNPACK_BYTES").unwrap_or(64 * 1024 * 1024);
    let files = env_u64("ORCA_BENCH_UNPACK_FILES")
        .unwrap_or((bytes / 104_857).clamp(1000, 10_000))
        .max(1);
    // Beside the build output rather than in /tmp, which may be a small tmpfs.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    fs::create_dir_all(&base).expect("target/tmp");
    let work = tempfile::tempdir_in(&base).expect("a work directory");
    let folder = work.path().join("artifact");
    let per_file = usize::try_from(bytes / files).expect("file size fits");
    for i in 0..files {
        let dir = folder.join(format!("d{:02}", i % 50));
        fs::create_dir_all(&dir).expect("a directory");
        let mut content = pseudo_random_bytes(per_file, i + 1);
        if i % 2 == 1 {
            for b in &mut content {
                *b = b"etaoin shrdlu\n"[usize::from(*b) % 14];
            }
        }
        fs::write(dir.join(format!("f{i:06}.dat")), content).expect("a file");
    }
    let archive = work.path().join("artifact.tar.gz");
    let out = BufWriter::new(fs::File::create(&archive).expect("the archive"));
    pack_dir(&folder, out, &PackOptions::default()).expect("packing");
    Setup {
        work,
        folder,
        archive,
        bytes: per_file as u64 * files,
        files,
    }
}

fn limits() -> ExtractOptions {
    ExtractOptions::with_limits(Limits::large())
}

fn orca_extract(s: &Setup, dest: &Path) {
    let input = fs::File::open(&s.archive).expect("the archive");
    extract(input, dest, &limits()).expect("extraction");
}

fn gnu_extract(s: &Setup, dest: &Path) {
    fs::create_dir(dest).expect("tar's destination");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&s.archive)
        .arg("-C")
        .arg(dest)
        .status()
        .expect("GNU tar runs");
    assert!(status.success());
}

fn orca_pack(s: &Setup, out: &Path) {
    let out = BufWriter::new(fs::File::create(out).expect("output"));
    pack_dir(&s.folder, out, &PackOptions::default()).expect("packing");
}

fn gnu_pack(s: &Setup, out: &Path) {
    let status = Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(s.work.path())
        .arg("artifact")
        .status()
        .expect("GNU tar runs");
    assert!(status.success());
}

/// Times `run` on a fresh output path each time, cleaning up outside the timing.
fn timed(s: &Setup, iters: u64, run: fn(&Setup, &Path)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let out = s.work.path().join(format!("out-{i}"));
        let start = Instant::now();
        run(s, &out);
        total += start.elapsed();
        if out.is_dir() {
            fs::remove_dir_all(&out).expect("cleanup");
        } else {
            fs::remove_file(&out).expect("cleanup");
        }
    }
    total
}

fn peak_memory_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_ratios(s: &Setup) {
    let quick = std::env::args().any(|a| a == "--test");
    let runs = if quick { 1 } else { 3 };
    let ratio = |name: &str, ours: Duration, theirs: Duration| {
        let kb = f64::from(u32::try_from(s.bytes / 1000).unwrap_or(u32::MAX));
        let mbps = |d: Duration| kb / 1e3 / d.as_secs_f64();
        println!(
            "unpack/{name}: orca {:.0} MB/s, GNU tar {:.0} MB/s, orca is {:.2}x tar's speed",
            mbps(ours),
            mbps(theirs),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    };
    ratio(
        "extract",
        timed(s, runs, orca_extract),
        timed(s, runs, gnu_extract),
    );
    ratio("pack", timed(s, runs, orca_pack), timed(s, runs, gnu_pack));
    match peak_memory_kib() {
        Some(kib) => println!(
            "unpack: peak memory (VmHWM) of the bench process {} MiB",
            kib / 1024
        ),
        None => println!("unpack: peak memory unavailable (no /proc/self/status)"),
    }
}

fn unpack(c: &mut Criterion) {
    let s = setup();
    let compressed = fs::metadata(&s.archive).expect("archive").len();
    println!(
        "unpack: {} files, {} MiB, archive {} MiB",
        s.files,
        s.bytes / (1024 * 1024),
        compressed / (1024 * 1024)
    );
    print_ratios(&s);
    let mut group = c.benchmark_group("unpack");
    group.throughput(Throughput::Bytes(s.bytes));
    group.sample_size(10);
    group.bench_function("orca_extract", |b| {
        b.iter_custom(|n| timed(&s, n, orca_extract));
    });
    group.bench_function("gnu_tar_xzf", |b| {
        b.iter_custom(|n| timed(&s, n, gnu_extract));
    });
    group.bench_function("orca_pack", |b| b.iter_custom(|n| timed(&s, n, orca_pack)));
    group.bench_function("gnu_tar_czf", |b| b.iter_custom(|n| timed(&s, n, gnu_pack)));
    group.finish();
}

criterion_group!(benches, unpack);
criterion_main!(benches);
