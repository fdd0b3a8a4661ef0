#![allow(missing_docs)]
// criterion macros generate undocumented items
// Byte counts become f64 only to print rates; 52 bits of mantissa are plenty for them.
#![allow(clippy::cast_precision_loss)]
//! `orca-distribution` against the `oci-client` crate, each pushing to and pulling from
//! `orca-mock-registry` over loopback (plain HTTP, no auth), as DESIGN.md's "How it is
//! proven" asks.
//!
//! Prints, before criterion's own figures, rates measured in this run, each the median of
//! three runs after one warm-up (the three are printed too; contenders take turns, so a
//! slow spell of the machine does not fall on one of them alone):
//! - pull of one blob: orca's `fetch_blob` stream read to its end (it checks size and
//!   digest) against `oci-client`'s `pull_blob` into a discarding writer and its
//!   `pull_blob_stream` read to its end (both check the digest);
//! - streamed push: orca's `push_blob_reader` (one streamed `PUT`) against `oci-client`'s
//!   `push_blob_stream`, in its default chunked mode and with `use_monolithic_push`;
//! - push from memory: `oci-client`'s `push_blob`, which needs the whole blob in memory
//!   (and does not hash it), against orca's `push_blob` given the same `Bytes` and orca's
//!   `push_blob_stream` of them (neither hashes them unless `verify_source` is set).
//!
//! Every push goes into a fresh directory-backed mock that does not fsync (as the
//! distribution bench's push figures do); the pulls share one mock holding the blob. The
//! blob is `ORCA_BENCH_BLOB_BYTES` bytes if set, else 256 MiB, or 1 MiB when criterion runs
//! in test mode (`cargo test`, `--test`).
//!
//! When Debian's `docker-registry` is installed (`$ORCA_DOCKER_REGISTRY` or
//! `/usr/bin/docker-registry`), the same blob is then pulled from and pushed to it, started
//! on 127.0.0.1 as the behaviour suite starts it, and every figure is printed with its ratio
//! to limits measured in the same run: sha256 on one core; a raw loopback `GET` of the blob
//! (plain hyper, no hash) into a discarding sink and, each frame written as it comes, into
//! a file; a raw `POST` + `PUT ?digest=` of the bytes in memory; and the matching
//! `oci-client` figure. Its pushes include orca's one-pass push of a source whose digest
//! is not known (`push_blob_reader` without a descriptor), which `oci-client` cannot do
//! (it is compared with its streamed push of a known digest), and four verified pulls of
//! the blob at once (a 4-layer artifact's worth of hashing, against sha256 on one core). Each push goes to a repository of its own. Otherwise it prints
//! `skipped: …`. It then prints what the machine's cores allow: the CPU seconds each pull
//! cost the client (this process) and the registry (its process, under `/proc`), and for
//! each target of the pull-at-the-hash-limit issue three ceilings: receiving free (the
//! hash, which cannot finish sooner than one core does it, and the registry's serving,
//! which no client avoids), receiving as cheaply as the raw `GET`, and with orca's own work.
//!
//! Then criterion measures each client's pull from the mock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig as OciConfig, ClientProtocol};
use orca_benches::{Generator, blob_bytes, mib_per_s, process_cpu, sha256_rate};
use orca_distribution::{Client, ClientConfig, PushOptions, UploadMethod};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{Config, MockRegistry, Storage};
use orca_reference::Reference;
use tokio::io::{AsyncReadExt, AsyncWrite};

/// `oci-client`'s largest `PATCH` (its `PUSH_CHUNK_MAX_SIZE`): it sends each item of a
/// pushed stream as `PATCH`es of at most this, so the stream it is given yields pieces of
/// this size, its best case.
const OCI_CHUNK: usize = 4 * 1024 * 1024;

/// The repository every blob goes to.
const REPOSITORY: &str = "bench/blob";

/// The generator's bytes as a stream of `OCI_CHUNK`-sized pieces, for `oci-client`'s
/// `push_blob_stream` (one copy per byte, as the generator costs orca's push).
fn generator_stream(
    len: u64,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(Generator::new(len), |mut g| async move {
        let mut piece = BytesMut::with_capacity(OCI_CHUNK);
        while piece.len() < OCI_CHUNK {
            match g.read_buf(&mut piece).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Some((Err(e.into()), g)),
            }
        }
        (!piece.is_empty()).then(|| (Ok(piece.freeze()), g))
    })
}

/// The whole blob in memory, for the pushes that need it there.
fn generator_bytes(rt: &tokio::runtime::Runtime, len: u64) -> Bytes {
    rt.block_on(async {
        let mut out = Vec::with_capacity(usize::try_from(len).expect("blob fits in memory"));
        Generator::new(len)
            .read_to_end(&mut out)
            .await
            .expect("generator");
        Bytes::from(out)
    })
}

/// An `oci-client` client speaking plain HTTP; `use_monolithic_push` as given.
fn oci_client(use_monolithic_push: bool) -> oci_client::Client {
    // reqwest builds a rustls configuration even for plain HTTP, and the crate is built
    // without a bundled crypto provider; install ring's (already in the tree) once.
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    oci_client::Client::new(OciConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push,
        ..OciConfig::default()
    })
}

fn oci_reference(host: &str) -> oci_client::Reference {
    oci_client::Reference::with_tag(host.to_owned(), REPOSITORY.to_owned(), "latest".to_owned())
}

fn orca_client(host: &str) -> (Client, Reference) {
    let client =
        Client::new(ClientConfig::default().with_plain_http(host.to_owned())).expect("client");
    let repo = Reference::new(host, REPOSITORY).expect("reference");
    (client, repo)
}

fn streamed() -> PushOptions {
    PushOptions::builder()
        .method(UploadMethod::Streamed)
        .build()
}

/// A writer that counts what it is given and keeps none of it.
#[derive(Default)]
struct CountingSink(u64);

impl AsyncWrite for CountingSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0 += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The mock the pulls read from, holding the blob (pushed by orca).
struct PullSetup {
    _dir: tempfile::TempDir,
    _reg: MockRegistry,
    orca: Client,
    repo: Reference,
    oci: oci_client::Client,
    oci_repo: oci_client::Reference,
    descriptor: Descriptor,
}

async fn pull_setup(len: u64, descriptor: &Descriptor) -> PullSetup {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = MockRegistry::start(
        // fsync (the default), so that no writeback of the blob runs during the pulls.
        Config::default().with_storage(Storage::Directory(dir.path().to_owned())),
    )
    .await
    .expect("mock");
    let (orca, repo) = orca_client(reg.host());
    orca.push_blob_reader(&repo, Some(descriptor), Generator::new(len), &streamed())
        .await
        .expect("push");
    PullSetup {
        oci: oci_client(false),
        oci_repo: oci_reference(reg.host()),
        _dir: dir,
        _reg: reg,
        orca,
        repo,
        descriptor: descriptor.clone(),
    }
}

/// One way of pulling the blob; each reads it to its end and checks its digest.
#[derive(Clone, Copy)]
enum Pull {
    /// orca `fetch_blob`, its stream read to its end (checks size and digest).
    Orca,
    /// oci-client `pull_blob` into a writer that discards.
    Oci,
    /// oci-client `pull_blob_stream`, read to its end.
    OciStream,
}

impl Pull {
    const ALL: [Pull; 3] = [Pull::Orca, Pull::Oci, Pull::OciStream];

    fn label(self) -> &'static str {
        match self {
            Pull::Orca => "orca fetch_blob, stream read to its end (checks size and digest)",
            Pull::Oci => {
                "oci-client pull_blob into a discarding writer (hashes the blob TWICE: for the descriptor's digest and for Docker-Content-Digest, though they are equal)"
            }
            Pull::OciStream => {
                "oci-client pull_blob_stream, read to its end (hashes once when Docker-Content-Digest equals the descriptor's digest)"
            }
        }
    }

    /// Bytes pulled.
    async fn run(self, s: &PullSetup) -> u64 {
        match self {
            Pull::Orca => {
                let stream = s.orca.fetch_blob(&s.repo, &s.descriptor).await;
                count(stream.expect("orca fetch_blob")).await
            }
            Pull::Oci => {
                let mut sink = CountingSink::default();
                s.oci
                    .pull_blob(&s.oci_repo, s.descriptor.digest.as_str(), &mut sink)
                    .await
                    .expect("oci-client pull_blob");
                sink.0
            }
            Pull::OciStream => {
                let stream = s
                    .oci
                    .pull_blob_stream(&s.oci_repo, s.descriptor.digest.as_str())
                    .await;
                count(stream.expect("oci-client pull_blob_stream")).await
            }
        }
    }
}

/// Reads a verifying stream to its end; its length.
async fn count<S, E>(mut stream: S) -> u64
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Debug,
{
    let mut n = 0;
    while let Some(piece) = stream.next().await {
        n += piece.expect("verified piece").len() as u64;
    }
    n
}

/// One way of pushing the blob. None hashes it in the client but orca's `push_blob`; the
/// registry checks every upload's digest.
#[derive(Clone, Copy)]
enum Push {
    /// orca `push_blob_reader` from the generator, `UploadMethod::Streamed`.
    OrcaStreamed,
    /// oci-client `push_blob_stream` from the generator, default configuration.
    OciStream,
    /// oci-client `push_blob_stream` from the generator, `use_monolithic_push`.
    OciStreamMonolithic,
    /// oci-client `push_blob` from memory, default configuration.
    OciMemory,
    /// orca `push_blob` from memory.
    OrcaMemory,
    /// orca `push_blob_stream` of the in-memory bytes, `UploadMethod::Streamed`.
    OrcaMemoryStreamed,
}

impl Push {
    const STREAMED: [Push; 3] = [
        Push::OrcaStreamed,
        Push::OciStream,
        Push::OciStreamMonolithic,
    ];
    const FROM_MEMORY: [Push; 3] = [Push::OciMemory, Push::OrcaMemory, Push::OrcaMemoryStreamed];

    fn label(self) -> &'static str {
        match self {
            Push::OrcaStreamed => "orca push_blob_reader, Streamed (one PUT)",
            Push::OciStream => "oci-client push_blob_stream, default (a PATCH per 4 MiB piece)",
            Push::OciStreamMonolithic => {
                "oci-client push_blob_stream, use_monolithic_push (one PUT)"
            }
            Push::OciMemory => {
                "oci-client push_blob, default (a PATCH per 4 MiB; no client hash; needs the whole blob in memory)"
            }
            Push::OrcaMemory => "orca push_blob (size checked, no client hash; one PUT)",
            Push::OrcaMemoryStreamed => {
                "orca push_blob_stream of the same Bytes, Streamed (no client hash; one PUT)"
            }
        }
    }

    /// One push into a fresh directory-backed mock that does not fsync; bytes per second.
    async fn run(self, descriptor: &Descriptor, blob: &Bytes) -> f64 {
        let len = descriptor.size;
        let (_dir, reg) = orca_benches::fresh_push_mock().await;
        let (orca, repo) = orca_client(reg.host());
        let oci = oci_client(matches!(self, Push::OciStreamMonolithic));
        let oci_repo = oci_reference(reg.host());
        let digest = descriptor.digest.as_str();
        let started = Instant::now();
        match self {
            Push::OrcaStreamed => {
                let source = Generator::new(len);
                let options = streamed();
                let pushed = orca.push_blob_reader(&repo, Some(descriptor), source, &options);
                pushed.await.expect("orca push_blob_reader");
            }
            Push::OciStream | Push::OciStreamMonolithic => {
                let source = generator_stream(len);
                let pushed = oci.push_blob_stream(&oci_repo, source, digest, Some(len));
                pushed.await.expect("oci-client push_blob_stream");
            }
            Push::OciMemory => {
                let pushed = oci.push_blob(&oci_repo, blob.clone(), digest);
                pushed.await.expect("oci-client push_blob");
            }
            Push::OrcaMemory => {
                let options = PushOptions::default();
                let pushed = orca.push_blob(&repo, descriptor, blob.clone(), &options);
                pushed.await.expect("orca push_blob");
            }
            Push::OrcaMemoryStreamed => {
                let source = futures_util::stream::iter([Ok(blob.clone())]);
                let options = streamed();
                let pushed = orca.push_blob_stream(&repo, Some(descriptor), source, &options);
                pushed.await.expect("orca push_blob_stream");
            }
        }
        let rate = len as f64 / started.elapsed().as_secs_f64();
        // Every push is checked the same way: the registry (which verified it) has the blob.
        let stored = orca.blob_exists(&repo, &descriptor.digest).await;
        assert!(stored.expect("HEAD").is_some(), "the push left no blob");
        rate
    }
}

/// Runs every contender once to warm up, then three rounds in which each runs once in
/// turn (so that a slow spell of the machine does not fall on one alone); each
/// contender's three rates, in run order.
fn rounds(contenders: &mut [&mut dyn FnMut() -> f64]) -> Vec<[f64; 3]> {
    for run in contenders.iter_mut() {
        run();
    }
    let mut out = vec![[0.0; 3]; contenders.len()];
    for round in 0..3 {
        for (rates, run) in out.iter_mut().zip(contenders.iter_mut()) {
            rates[round] = run();
        }
    }
    out
}

fn median(rates: [f64; 3]) -> f64 {
    let mut sorted = rates;
    sorted.sort_by(f64::total_cmp);
    sorted[1]
}

/// Prints each contender's median and runs, and after each but the first its ratio to
/// the first, as orca / oci-client (`orca_first` tells which side the first is on).
fn print_group(title: &str, labels: &[&str], rates: &[[f64; 3]], orca_first: bool) {
    println!("{title}");
    for (i, (label, r)) in labels.iter().zip(rates).enumerate() {
        println!(
            "  {label}: {:.0} MiB/s (runs {:.0}, {:.0}, {:.0})",
            mib_per_s(median(*r)),
            mib_per_s(r[0]),
            mib_per_s(r[1]),
            mib_per_s(r[2])
        );
        if i > 0 {
            let (orca, oci) = if orca_first {
                (rates[0], *r)
            } else {
                (*r, rates[0])
            };
            println!(
                "    ratio orca / oci-client: {:.2}",
                median(orca) / median(oci)
            );
        }
    }
}

fn figures(rt: &tokio::runtime::Runtime, len: u64, blob: &Bytes, descriptor: &Descriptor) {
    let sha = sha256_rate(len);
    let setup = rt.block_on(pull_setup(len, descriptor));
    let pull = |how: Pull| {
        let setup = &setup;
        move || {
            let started = Instant::now();
            let n = rt.block_on(how.run(setup));
            assert_eq!(n, len, "pulled a different length");
            n as f64 / started.elapsed().as_secs_f64()
        }
    };
    let pulls = rounds(&mut Pull::ALL.map(pull).each_mut().map(|f| f as _));
    drop(setup);
    let push = |how: Push| move || rt.block_on(how.run(descriptor, blob));
    let streamed = rounds(&mut Push::STREAMED.map(push).each_mut().map(|f| f as _));
    let from_memory = rounds(&mut Push::FROM_MEMORY.map(push).each_mut().map(|f| f as _));

    println!(
        "orca versus oci-client ({} MiB blob, loopback mock, plain HTTP; median of 3 runs after a warm-up):",
        len / (1024 * 1024)
    );
    println!("  sha256 single core: {:.0} MiB/s", mib_per_s(sha));
    print_group(
        "pull (every client checks the digest):",
        &Pull::ALL.map(Pull::label),
        &pulls,
        true,
    );
    print_group(
        "push streamed from a generator (neither client hashes; the registry checks the digest):",
        &Push::STREAMED.map(Push::label),
        &streamed,
        true,
    );
    print_group(
        "push from memory (oci-client's push_blob takes the whole blob in memory; orca gets the same Bytes):",
        &Push::FROM_MEMORY.map(Push::label),
        &from_memory,
        false,
    );
}

/// The plain hyper client of the raw limits: no hashing, no copying.
type RawClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;

fn raw_client() -> RawClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Where a pulled blob goes.
#[derive(Clone, Copy)]
enum Sink {
    /// Counted and dropped.
    Discard,
    /// Written to a fresh file in the bench's temporary directory (removed after the run).
    File,
}

/// Debian's `docker-registry` on loopback holding the blob, and a directory for pulled files.
struct ReferenceSetup {
    files: tempfile::TempDir,
    reg: orca_mock_registry::reference_registry::ReferenceRegistry,
    orca: Client,
    repo: Reference,
    oci: oci_client::Client,
    oci_repo: oci_client::Reference,
    raw: RawClient,
    descriptor: Descriptor,
    /// Numbers the pushes, each into a repository of its own (so no client skips a blob
    /// the repository already has).
    pushes: std::sync::atomic::AtomicU32,
}

/// Starts `docker-registry` and pushes the blob into it with orca; `None` (after a line
/// saying why) when it is not installed.
async fn reference_setup(len: u64, descriptor: &Descriptor) -> Option<ReferenceSetup> {
    use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
    let reg = ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .expect("docker-registry")?;
    let (orca, repo) = orca_client(reg.host());
    orca.push_blob_reader(&repo, Some(descriptor), Generator::new(len), &streamed())
        .await
        .expect("push");
    Some(ReferenceSetup {
        files: tempfile::tempdir().expect("tempdir"),
        oci: oci_client(false),
        oci_repo: oci_reference(reg.host()),
        raw: raw_client(),
        reg,
        orca,
        repo,
        descriptor: descriptor.clone(),
        pushes: std::sync::atomic::AtomicU32::new(0),
    })
}

impl ReferenceSetup {
    fn file(&self) -> std::path::PathBuf {
        self.files.path().join("pulled")
    }

    fn next_repository(&self) -> String {
        let n = self
            .pushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("bench/push{n}")
    }
}

/// Writes everything `body` yields to `sink`; the bytes written.
async fn drain_into<W: AsyncWrite + Unpin>(body: hyper::body::Incoming, sink: &mut W) -> u64 {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let mut body = body;
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            n += data.len() as u64;
            sink.write_all(&data).await.expect("write");
        }
    }
    sink.flush().await.expect("flush");
    n
}

/// One way of pulling the blob from `docker-registry`.
#[derive(Clone, Copy)]
enum RefPull {
    /// Plain HTTP `GET`, no hashing: the limit.
    Raw(Sink),
    /// orca `fetch_blob`, read to its end (checks size and digest).
    Orca(Sink),
    /// oci-client `pull_blob` (checks the digest, twice).
    Oci(Sink),
}

impl RefPull {
    const DISCARD: [RefPull; 3] = [
        RefPull::Raw(Sink::Discard),
        RefPull::Orca(Sink::Discard),
        RefPull::Oci(Sink::Discard),
    ];
    const FILE: [RefPull; 3] = [
        RefPull::Raw(Sink::File),
        RefPull::Orca(Sink::File),
        RefPull::Oci(Sink::File),
    ];

    fn label(self) -> &'static str {
        match self {
            RefPull::Raw(Sink::Discard) => "raw GET, no hash, into a discarding sink",
            RefPull::Raw(Sink::File) => "raw GET, no hash, into a file",
            RefPull::Orca(Sink::Discard) => "orca fetch_blob, read to its end",
            RefPull::Orca(Sink::File) => "orca fetch_blob, saved to a file (BlobStream::save)",
            RefPull::Oci(Sink::Discard) => "oci-client pull_blob into a discarding writer",
            RefPull::Oci(Sink::File) => "oci-client pull_blob into a file",
        }
    }

    /// Bytes pulled.
    async fn run(self, s: &ReferenceSetup) -> u64 {
        let path = s.file();
        let n = match self {
            RefPull::Raw(sink) => {
                let url = format!(
                    "{}/v2/{REPOSITORY}/blobs/{}",
                    s.reg.base_url(),
                    s.descriptor.digest
                );
                let req = http::Request::get(url)
                    .body(http_body_util::Full::new(Bytes::new()))
                    .expect("request");
                let resp = s.raw.request(req).await.expect("raw GET");
                assert_eq!(resp.status(), 200, "raw GET");
                match sink {
                    Sink::Discard => {
                        drain_into(resp.into_body(), &mut CountingSink::default()).await
                    }
                    Sink::File => {
                        let mut file = tokio::fs::File::create(&path).await.expect("file");
                        drain_into(resp.into_body(), &mut file).await
                    }
                }
            }
            RefPull::Orca(Sink::Discard) => {
                let stream = s.orca.fetch_blob(&s.repo, &s.descriptor).await;
                count(stream.expect("orca fetch_blob")).await
            }
            RefPull::Orca(Sink::File) => {
                // BlobStream::save: written on a thread of its own as the pieces come,
                // renamed into place once verified.
                let stream = s.orca.fetch_blob(&s.repo, &s.descriptor).await;
                let stream = stream.expect("orca fetch_blob");
                stream.save(&path).await.expect("orca save")
            }
            RefPull::Oci(sink) => {
                let digest = s.descriptor.digest.as_str();
                match sink {
                    Sink::Discard => {
                        let mut out = CountingSink::default();
                        let pulled = s.oci.pull_blob(&s.oci_repo, digest, &mut out);
                        pulled.await.expect("oci-client pull_blob");
                        out.0
                    }
                    Sink::File => {
                        let mut file = tokio::fs::File::create(&path).await.expect("file");
                        let pulled = s.oci.pull_blob(&s.oci_repo, digest, &mut file);
                        pulled.await.expect("oci-client pull_blob");
                        tokio::io::AsyncWriteExt::flush(&mut file)
                            .await
                            .expect("flush");
                        file.metadata().await.expect("metadata").len()
                    }
                }
            }
        };
        if matches!(
            self,
            RefPull::Raw(Sink::File) | RefPull::Orca(Sink::File) | RefPull::Oci(Sink::File)
        ) {
            tokio::fs::remove_file(&path).await.expect("remove");
        }
        n
    }
}

/// One way of pushing the blob into `docker-registry`, which checks every digest.
#[derive(Clone, Copy)]
enum RefPush {
    /// Plain `POST`, then one `PUT ?digest=` of the in-memory bytes: the limit.
    Raw,
    /// orca `push_blob_reader` from the generator, `UploadMethod::Streamed` (one `PUT`).
    OrcaStreamed,
    /// orca `push_blob` from memory (one `PUT`).
    OrcaMemory,
    /// orca `push_blob_reader` from the generator with no descriptor (digest unknown):
    /// the one-pass push, hashed as it is sent.
    OrcaUnknownDigest,
    /// The same with `UploadMethod::Chunked` (a `PATCH` per 8 MiB, hashed on the task):
    /// what a push of an unknown digest did before the one-pass push.
    OrcaUnknownDigestChunked,
    /// oci-client `push_blob_stream` from the generator, `use_monolithic_push`.
    OciStreamMonolithic,
    /// oci-client `push_blob` from memory, default (a `PATCH` per 4 MiB).
    OciMemory,
}

impl RefPush {
    const ALL: [RefPush; 7] = [
        RefPush::Raw,
        RefPush::OrcaStreamed,
        RefPush::OrcaMemory,
        RefPush::OrcaUnknownDigest,
        RefPush::OrcaUnknownDigestChunked,
        RefPush::OciStreamMonolithic,
        RefPush::OciMemory,
    ];

    fn label(self) -> &'static str {
        match self {
            RefPush::Raw => "raw POST + PUT ?digest= of the bytes in memory",
            RefPush::OrcaStreamed => "orca push_blob_reader from a generator, Streamed (one PUT)",
            RefPush::OrcaMemory => "orca push_blob from memory (one PUT)",
            RefPush::OrcaUnknownDigest => {
                "orca push_blob_reader from a generator, digest unknown (one pass: PATCH, PATCH, PUT)"
            }
            RefPush::OrcaUnknownDigestChunked => {
                "orca push_blob_reader from a generator, digest unknown, Chunked (a PATCH per 8 MiB)"
            }
            RefPush::OciStreamMonolithic => {
                "oci-client push_blob_stream from a generator, use_monolithic_push (one PUT)"
            }
            RefPush::OciMemory => "oci-client push_blob from memory (a PATCH per 4 MiB)",
        }
    }

    /// One push into a repository of its own; bytes per second.
    async fn run(self, s: &ReferenceSetup, blob: &Bytes) -> f64 {
        let descriptor = &s.descriptor;
        let len = descriptor.size;
        let name = s.next_repository();
        let host = s.reg.host();
        let repo = Reference::new(host, &name).expect("reference");
        let oci = oci_client(matches!(self, RefPush::OciStreamMonolithic));
        let oci_repo =
            oci_client::Reference::with_tag(host.to_owned(), name.clone(), "latest".to_owned());
        let digest = descriptor.digest.as_str();
        let started = Instant::now();
        match self {
            RefPush::Raw => {
                let url = format!("{}/v2/{name}/blobs/uploads/", s.reg.base_url());
                let req = http::Request::post(url)
                    .body(http_body_util::Full::new(Bytes::new()))
                    .expect("request");
                let resp = s.raw.request(req).await.expect("raw POST");
                assert_eq!(resp.status(), 202, "raw POST");
                let location = resp.headers()[http::header::LOCATION]
                    .to_str()
                    .expect("Location")
                    .to_owned();
                let location = if location.starts_with('/') {
                    format!("{}{location}", s.reg.base_url())
                } else {
                    location
                };
                let sep = if location.contains('?') { '&' } else { '?' };
                let req = http::Request::put(format!("{location}{sep}digest={digest}"))
                    .header(http::header::CONTENT_TYPE, "application/octet-stream")
                    .body(http_body_util::Full::new(blob.clone()))
                    .expect("request");
                let resp = s.raw.request(req).await.expect("raw PUT");
                assert_eq!(resp.status(), 201, "raw PUT");
            }
            RefPush::OrcaStreamed => {
                let source = Generator::new(len);
                let options = streamed();
                let pushed = s
                    .orca
                    .push_blob_reader(&repo, Some(descriptor), source, &options);
                pushed.await.expect("orca push_blob_reader");
            }
            RefPush::OrcaMemory => {
                let options = PushOptions::default();
                let pushed = s.orca.push_blob(&repo, descriptor, blob.clone(), &options);
                pushed.await.expect("orca push_blob");
            }
            RefPush::OrcaUnknownDigest | RefPush::OrcaUnknownDigestChunked => {
                let source = Generator::new(len);
                let options = if matches!(self, RefPush::OrcaUnknownDigestChunked) {
                    PushOptions::builder().method(UploadMethod::Chunked).build()
                } else {
                    PushOptions::default()
                };
                let pushed = s.orca.push_blob_reader(&repo, None, source, &options);
                let pushed = pushed.await.expect("orca push_blob_reader, digest unknown");
                assert_eq!(pushed.digest, descriptor.digest, "the digest computed");
            }
            RefPush::OciStreamMonolithic => {
                let source = generator_stream(len);
                let pushed = oci.push_blob_stream(&oci_repo, source, digest, Some(len));
                pushed.await.expect("oci-client push_blob_stream");
            }
            RefPush::OciMemory => {
                let pushed = oci.push_blob(&oci_repo, blob.clone(), digest);
                pushed.await.expect("oci-client push_blob");
            }
        }
        let rate = len as f64 / started.elapsed().as_secs_f64();
        let stored = s.orca.blob_exists(&repo, &descriptor.digest).await;
        assert!(stored.expect("HEAD").is_some(), "the push left no blob");
        rate
    }
}

/// Prints each contender's median, its runs and its ratios to `limits` (label, rate) and,
/// where `oci` names one (an index into `rates`), to that `oci-client` contender's median.
fn print_against(
    labels: &[&str],
    rates: &[[f64; 3]],
    limits: &[(&str, f64)],
    oci: &[Option<usize>],
) {
    for ((label, r), oci) in labels.iter().zip(rates).zip(oci) {
        let m = median(*r);
        println!(
            "  {label}: {:.0} MiB/s (runs {:.0}, {:.0}, {:.0})",
            mib_per_s(m),
            mib_per_s(r[0]),
            mib_per_s(r[1]),
            mib_per_s(r[2])
        );
        let mut ratios: Vec<String> = limits
            .iter()
            .map(|(name, limit)| format!("{:.2}x {name}", m / limit))
            .collect();
        if let Some(oci) = oci {
            ratios.push(format!("{:.2}x oci-client", m / median(rates[*oci])));
        }
        println!("    {}", ratios.join(", "));
    }
}

/// The label of four verified pulls at once.
const FOUR: &str = "orca fetch_blob x4 concurrently, each read to its end";

/// CPU seconds of the client (this process: nothing else runs while a figure is taken) and
/// of the registry (its process).
#[derive(Clone, Copy, Default)]
struct Spent {
    client: f64,
    registry: f64,
}

impl Spent {
    fn now(registry_pid: u32) -> Spent {
        let secs = |pid| process_cpu(pid).unwrap_or_default().as_secs_f64();
        Spent {
            client: secs(None),
            registry: secs(Some(registry_pid)),
        }
    }

    fn minus(self, before: Spent) -> Spent {
        Spent {
            client: self.client - before.client,
            registry: self.registry - before.registry,
        }
    }

    fn total(self) -> f64 {
        self.client + self.registry
    }
}

/// What each contender's runs cost the client and the registry.
struct Costs {
    registry_pid: u32,
    runs: RefCell<HashMap<&'static str, Vec<Spent>>>,
}

impl Costs {
    fn new(registry_pid: u32) -> Costs {
        Costs {
            registry_pid,
            runs: RefCell::default(),
        }
    }

    /// Runs `pull` (which returns the bytes pulled) once, recording its cost under
    /// `label`: the bytes and the rate.
    fn run(&self, label: &'static str, pull: impl FnOnce() -> u64) -> (u64, f64) {
        let before = Spent::now(self.registry_pid);
        let started = Instant::now();
        let n = pull();
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let cost = Spent::now(self.registry_pid).minus(before);
        self.runs.borrow_mut().entry(label).or_default().push(cost);
        (n, rate)
    }
}

/// Four verified pulls of the blob at once (as a 4-layer artifact's layers go): more than
/// one core hashing, each stream on a thread of its own. The bytes pulled.
async fn four_pulls(setup: &ReferenceSetup) -> u64 {
    let pulls = (0..4).map(|_| async {
        let stream = setup.orca.fetch_blob(&setup.repo, &setup.descriptor).await;
        count(stream.expect("orca fetch_blob")).await
    });
    futures_util::future::join_all(pulls)
        .await
        .into_iter()
        .sum()
}

/// The median of each side over a contender's measured runs (its warm-up left out).
fn median_spent(runs: &[Spent]) -> Spent {
    let measured = if runs.len() > 1 { &runs[1..] } else { runs };
    let middle = |side: fn(&Spent) -> f64| {
        let mut v: Vec<f64> = measured.iter().map(side).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Spent {
        client: middle(|s| s.client),
        registry: middle(|s| s.registry),
    }
}

/// The median rates the bounds are set against.
struct Medians {
    orca: f64,
    oci: f64,
    raw_file: f64,
    orca_file: f64,
    four: f64,
}

/// Prints the CPU each pull cost and what that allows on this machine's cores. One blob's
/// hash cannot finish sooner than one core hashes it, and all the work (hash, registry,
/// receiving) shares the cores, so a pull takes at least `max(hash, work / cores)`. Each
/// target is printed against two such ceilings: with receiving free (only the hash and the
/// registry's serving, which no client avoids), and with the work orca's runs cost.
fn print_bounds(len: u64, sha: f64, spent: &HashMap<&'static str, Vec<Spent>>, m: &Medians) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    let cost = |label: &str| spent.get(label).map(|runs| median_spent(runs));
    let (Some(orca), Some(orca_file), Some(four)) = (
        cost(RefPull::Orca(Sink::Discard).label()),
        cost(RefPull::Orca(Sink::File).label()),
        cost(FOUR),
    ) else {
        return;
    };
    if orca.total() < 0.1 {
        // No `/proc`, or pulls too short for its 10 ms ticks.
        println!(
            "what the cores allow: not measurable here (no /proc, or a pull costs too little CPU for its 10 ms ticks; use a blob of 64 MiB or more)"
        );
        return;
    }
    let hash = len as f64 / sha;
    println!(
        "what {cores} cores allow (CPU seconds per pull, client + registry, medians of the runs above; sha256 of the blob takes {hash:.2} s on one core):"
    );
    for pull in RefPull::DISCARD.iter().chain(&RefPull::FILE) {
        if let Some(c) = cost(pull.label()) {
            println!("  {}: {:.2} + {:.2} s", pull.label(), c.client, c.registry);
        }
    }
    println!("  {FOUR}: {:.2} + {:.2} s", four.client, four.registry);
    // The registry's least cost of serving the blob once, whoever asked.
    let serving = RefPull::DISCARD
        .iter()
        .chain(&RefPull::FILE)
        .filter_map(|pull| cost(pull.label()))
        .map(|c| c.registry)
        .fold(f64::INFINITY, f64::min);
    // The best rate for `streams` blobs at once costing `work` CPU seconds in all.
    let best = |streams: f64, work: f64| {
        let wall = (hash * (streams / cores).max(1.0)).max(work / cores);
        streams * len as f64 / wall
    };
    // Receiving as cheaply as the raw GET did (into the same sink), hashing added.
    let raw = |sink: Sink| cost(RefPull::Raw(sink).label()).map_or(0.0, |c| c.client);
    let line = |what: &str, ceilings: [f64; 3], measured: f64, limit: (&str, f64), target: f64| {
        println!(
            "  {what} (target {target}x {}): orca {:.2}x; at most {:.2}x receiving free, {:.2}x receiving as the raw GET did, {:.2}x with orca's work",
            limit.0,
            measured / limit.1,
            ceilings[0] / limit.1,
            ceilings[1] / limit.1,
            ceilings[2] / limit.1,
        );
    };
    let free = best(1.0, hash + serving);
    let single = [
        free,
        best(1.0, hash + serving + raw(Sink::Discard)),
        best(1.0, orca.total()),
    ];
    line("verified pull", single, m.orca, ("sha256", sha), 0.8);
    line("verified pull", single, m.orca, ("oci-client", m.oci), 2.0);
    let to_file = [
        free,
        best(1.0, hash + serving + raw(Sink::File)),
        best(1.0, orca_file.total()),
    ];
    let raw_file = ("raw GET to a file", m.raw_file);
    line(
        "verified pull to a file",
        to_file,
        m.orca_file,
        raw_file,
        0.9,
    );
    let four_at_once = [
        best(4.0, 4.0 * (hash + serving)),
        best(4.0, 4.0 * (hash + serving + raw(Sink::Discard))),
        best(4.0, four.total()),
    ];
    line("four at once", four_at_once, m.four, ("sha256", sha), 1.2);
}

/// The same blob against Debian's `docker-registry` on loopback, each figure with its ratio
/// to the limits measured in this run: sha256 on one core, a raw `GET` of the blob (into a
/// discarding sink and into a file), a raw `POST` + `PUT` of it, and `oci-client`.
fn reference_figures(rt: &tokio::runtime::Runtime, blob: &Bytes, descriptor: &Descriptor) {
    let len = descriptor.size;
    let Some(setup) = rt.block_on(reference_setup(len, descriptor)) else {
        return;
    };
    let sha = sha256_rate(len);
    let costs = Costs::new(setup.reg.pid());
    let pull = |how: RefPull| {
        let (setup, costs) = (&setup, &costs);
        move || {
            let (n, rate) = costs.run(how.label(), || rt.block_on(how.run(setup)));
            assert_eq!(n, len, "pulled a different length");
            rate
        }
    };
    let discard = rounds(&mut RefPull::DISCARD.map(pull).each_mut().map(|f| f as _));
    let file = rounds(&mut RefPull::FILE.map(pull).each_mut().map(|f| f as _));
    let push = |how: RefPush| {
        let setup = &setup;
        move || rt.block_on(how.run(setup, blob))
    };
    let pushes = rounds(&mut RefPush::ALL.map(push).each_mut().map(|f| f as _));
    let mut four = || {
        let (n, rate) = costs.run(FOUR, || rt.block_on(four_pulls(&setup)));
        assert_eq!(n, 4 * len, "pulled a different length");
        rate
    };
    let concurrent = rounds(&mut [&mut four as &mut dyn FnMut() -> f64]);

    println!(
        "against Debian's docker-registry ({} MiB blob, loopback, plain HTTP; median of 3 runs after a warm-up):",
        len / (1024 * 1024)
    );
    println!("  sha256 single core: {:.0} MiB/s", mib_per_s(sha));
    println!("pull into a discarding sink:");
    print_against(
        &RefPull::DISCARD.map(RefPull::label),
        &discard,
        &[("sha256", sha), ("raw GET", median(discard[0]))],
        &[None, Some(2), None],
    );
    println!("pull into a file:");
    print_against(
        &RefPull::FILE.map(RefPull::label),
        &file,
        &[("sha256", sha), ("raw GET to a file", median(file[0]))],
        &[None, Some(2), None],
    );
    println!(
        "four verified pulls of the blob at once (a 4-layer artifact's worth; target >= 1.2x sha256):"
    );
    print_against(
        &[FOUR],
        &concurrent,
        &[("sha256", sha), ("raw GET", median(discard[0]))],
        &[None],
    );
    print_bounds(
        len,
        sha,
        &costs.runs.borrow(),
        &Medians {
            orca: median(discard[1]),
            oci: median(discard[2]),
            raw_file: median(file[0]),
            orca_file: median(file[1]),
            four: median(concurrent[0]),
        },
    );
    println!(
        "push (the registry checks the digest; orca's streamed push is compared with oci-client's, its push from memory with oci-client's from memory):"
    );
    print_against(
        &RefPush::ALL.map(RefPush::label),
        &pushes,
        &[("sha256", sha), ("raw PUT", median(pushes[0]))],
        &[None, Some(5), Some(6), Some(5), Some(5), None, None],
    );
}

fn versus_oci_client(c: &mut Criterion) {
    let rt = orca_benches::runtime();
    let len = blob_bytes();
    let blob = generator_bytes(&rt, len);
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, Digest::sha256(&blob), len);
    figures(&rt, len, &blob, &descriptor);
    reference_figures(&rt, &blob, &descriptor);
    drop(blob);

    let setup = rt.block_on(pull_setup(len, &descriptor));
    let mut group = c.benchmark_group("versus_oci_client");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    for (name, how) in [
        ("pull_orca", Pull::Orca),
        ("pull_oci_client", Pull::Oci),
        ("pull_oci_client_stream", Pull::OciStream),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(rt.block_on(how.run(&setup)), len));
        });
    }
    group.finish();
}

criterion_group!(benches, versus_oci_client);
criterion_main!(benches);
