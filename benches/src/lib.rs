//! Helpers shared by orca's criterion benchmarks (see `benches/`).

// Byte counts become f64 only to print rates; 52 bits of mantissa are plenty for them.
#![allow(clippy::cast_precision_loss)]

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use orca_manifest::Digest;
use tokio::io::{AsyncRead, ReadBuf};

/// Deterministic pseudo-random bytes, so that every run hashes the same input.
///
/// A xorshift generator: fast enough that generating input never dominates a benchmark,
/// and not compressible, unlike zeros.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Length of the block a [`Generator`] repeats.
pub const GENERATOR_BLOCK: usize = 1024 * 1024;

/// A blob produced as it is read, so that neither a client nor a registry under test
/// holds it in memory: one pseudo-random 1 MiB block over and over, each copy stamped with
/// its index in its first 8 bytes. Reading it costs one copy, about what reading a file
/// from the page cache costs (a generator that computed every byte would charge the reader
/// for work no real source does).
pub struct Generator {
    block: Arc<Vec<u8>>,
    position: u64,
    len: u64,
}

impl Generator {
    /// A generator of `len` bytes; every generator of the same length yields the same.
    pub fn new(len: u64) -> Generator {
        static BLOCK_BYTES: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
        let block = BLOCK_BYTES
            .get_or_init(|| Arc::new(pseudo_random_bytes(GENERATOR_BLOCK, 11)))
            .clone();
        Generator {
            block,
            position: 0,
            len,
        }
    }
}

impl AsyncRead for Generator {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.position < self.len && buf.remaining() > 0 {
            let offset = usize::try_from(self.position % GENERATOR_BLOCK as u64)
                .expect("below the block length");
            let n = (GENERATOR_BLOCK - offset)
                .min(buf.remaining())
                .min(usize::try_from(self.len - self.position).unwrap_or(usize::MAX));
            let start = buf.filled().len();
            buf.put_slice(&self.block[offset..offset + n]);
            if offset < 8 {
                let stamp = (self.position / GENERATOR_BLOCK as u64).to_le_bytes();
                let k = (8 - offset).min(n);
                buf.filled_mut()[start..start + k].copy_from_slice(&stamp[offset..offset + k]);
            }
            self.position += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

/// The blob length for the throughput benches: `ORCA_BENCH_BLOB_BYTES` if set, else
/// 256 MiB (the figure is 1 GiB), or 1 MiB when criterion runs in test mode
/// (`cargo test`, `--test`).
pub fn blob_bytes() -> u64 {
    if let Some(len) = std::env::var("ORCA_BENCH_BLOB_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return len;
    }
    let test_mode =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--test");
    if test_mode {
        1024 * 1024
    } else {
        256 * 1024 * 1024
    }
}

/// Single-core sha256 speed in bytes per second: the best of 3 over 64 MiB (less for
/// blobs smaller than that).
pub fn sha256_rate(len: u64) -> f64 {
    let size =
        usize::try_from(len.clamp(1024 * 1024, 64 * 1024 * 1024)).unwrap_or(64 * 1024 * 1024);
    let data = pseudo_random_bytes(size, 7);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        std::hint::black_box(Digest::sha256(&data));
        best = best.min(started.elapsed());
    }
    data.len() as f64 / best.as_secs_f64()
}

/// A mock registry storing into a fresh temporary directory without fsync, for a push
/// figure: its write to the page cache costs a copy, where a memory-backed mock pays a
/// page fault for every 4 KiB (as much as hashing), and an fsync would measure the disk.
/// Bind it as `let (_dir, reg) = …` so that the mock stops before its directory goes.
///
/// # Panics
///
/// When the directory or the mock cannot be made (a benchmark cannot go on then).
pub async fn fresh_push_mock() -> (tempfile::TempDir, orca_mock_registry::MockRegistry) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = orca_mock_registry::MockRegistry::start(
        orca_mock_registry::Config::default()
            .with_storage(orca_mock_registry::Storage::Directory(
                dir.path().to_owned(),
            ))
            .with_fsync(false),
    )
    .await
    .expect("mock");
    (dir, reg)
}

/// The runtime the throughput benches run client and mock on: two workers, like the
/// 2-core machine the figures are reported for.
///
/// # Panics
///
/// When the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// User and system CPU time a process has used so far (all its threads, finished ones
/// too), from `/proc/PID/stat` (`None`: this process); `None` where that is not readable.
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces, so split after its ')').
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux platform orca is built for.
    Some(Duration::from_millis(ticks * 10))
}

/// Bytes per second as MiB per second.
pub fn mib_per_s(rate: f64) -> f64 {
    rate / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_deterministic_and_sized() {
        let a = super::pseudo_random_bytes(1001, 7);
        assert_eq!(a.len(), 1001);
        assert_eq!(a, super::pseudo_random_bytes(1001, 7));
        assert_ne!(a, super::pseudo_random_bytes(1001, 8));
    }

    fn generated(len: u64, read_size: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut g = super::Generator::new(len);
            let mut out = Vec::new();
            let mut buf = vec![0u8; read_size];
            loop {
                let n = g.read(&mut buf).await.expect("read");
                if n == 0 {
                    return out;
                }
                out.extend_from_slice(&buf[..n]);
            }
        })
    }

    #[test]
    fn the_generator_yields_stamped_blocks_whatever_the_read_size() {
        let block = super::GENERATOR_BLOCK;
        let len = 2 * block as u64 + 5;
        let a = generated(len, 4096);
        assert_eq!(a.len() as u64, len);
        // Reads that split the 8-byte stamps give the same bytes.
        assert_eq!(a, generated(len, 3));
        assert_eq!(&a[..8], &0u64.to_le_bytes());
        assert_eq!(&a[block..block + 8], &1u64.to_le_bytes());
        assert_eq!(&a[2 * block..2 * block + 5], &2u64.to_le_bytes()[..5]);
        // Apart from the stamps, every block repeats the first.
        assert_eq!(&a[8..block], &a[block + 8..2 * block]);
        assert_ne!(a[..block], a[block..2 * block]);
    }
}
