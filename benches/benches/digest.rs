//! SHA-256 digesting throughput: the ceiling for every verified transfer.
//!
//! Criterion prints the throughput in MB/s (`Throughput::Bytes`). Other benchmarks compare
//! their transfer rates against this figure measured in the same run.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orca_benches::pseudo_random_bytes;
use orca_manifest::{Algorithm, Digest, Hasher};

fn digest(c: &mut Criterion) {
    let data = pseudo_random_bytes(16 * 1024 * 1024, 42);
    let mut group = c.benchmark_group("digest");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("sha256_16MiB", |b| b.iter(|| Digest::sha256(&data)));
    group.bench_function("sha512_16MiB", |b| {
        b.iter(|| Digest::compute(&Algorithm::Sha512, &data).expect("sha512 is supported"));
    });
    group.bench_function("sha256_streamed_64KiB_pieces", |b| {
        b.iter(|| {
            let mut hasher = Hasher::sha256();
            for piece in data.chunks(64 * 1024) {
                hasher.update(piece);
            }
            hasher.finish()
        });
    });
    group.finish();
}

criterion_group!(benches, digest);
criterion_main!(benches);
