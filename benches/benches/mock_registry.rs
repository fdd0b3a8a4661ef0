#![allow(missing_docs)] // criterion macros generate undocumented items
//! Blob `GET` and monolithic upload throughput of `orca-mock-registry` over loopback, with
//! a plain hyper client that neither hashes nor copies, from memory and from directory
//! storage. Client benchmarks compare against these figures to know whether the server is
//! their bottleneck (an upload is hashed by the registry as it arrives).

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use orca_manifest::Digest;
use orca_mock_registry::{Config, MockRegistry, Storage};

const LEN: usize = 16 * 1024 * 1024;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Upload `data` (whose digest is `digest`) in one `POST ?digest=`; returns the blob's URL.
async fn push(client: &HttpClient, reg: &MockRegistry, data: Bytes, digest: &Digest) -> String {
    let url = format!(
        "{}/v2/bench/blob/blobs/uploads/?digest={digest}",
        reg.base_url()
    );
    let req = http::Request::post(url)
        .body(Full::new(data))
        .expect("request");
    let resp = client.request(req).await.expect("push");
    assert_eq!(resp.status(), 201);
    format!("{}/v2/bench/blob/blobs/{digest}", reg.base_url())
}

/// GET the blob and drain it without copying; returns the bytes received.
async fn pull(client: &HttpClient, url: &str) -> usize {
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let mut body = client.request(req).await.expect("get").into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            n += data.len();
        }
    }
    n
}

fn blob_get(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = Bytes::from(orca_benches::pseudo_random_bytes(LEN, 42));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("mock_registry_blob_get");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    for (name, storage) in [
        ("memory", Storage::Memory),
        ("directory", Storage::Directory(dir.path().to_owned())),
    ] {
        let (reg, client, url) = rt.block_on(async {
            let reg =
                MockRegistry::start(Config::default().with_storage(storage).with_fsync(false))
                    .await
                    .expect("start");
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            let url = push(&client, &reg, data.clone(), &Digest::sha256(&data)).await;
            (reg, client, url)
        });
        group.bench_function(name, |b| {
            b.iter(|| {
                let n = rt.block_on(pull(&client, &url));
                assert_eq!(n, LEN);
            });
        });
        drop(reg);
    }
    group.finish();
}

fn blob_put(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = Bytes::from(orca_benches::pseudo_random_bytes(LEN, 43));
    // Hashed once here: only the registry's hashing is measured.
    let digest = Digest::sha256(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("mock_registry_blob_put");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    for (name, storage) in [
        ("memory", Storage::Memory),
        ("directory", Storage::Directory(dir.path().to_owned())),
    ] {
        let (reg, client) = rt.block_on(async {
            let reg =
                MockRegistry::start(Config::default().with_storage(storage).with_fsync(false))
                    .await
                    .expect("start");
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            (reg, client)
        });
        group.bench_function(name, |b| {
            // The same blob again each time: the registry hashes and stores every upload.
            b.iter(|| rt.block_on(push(&client, &reg, data.clone(), &digest)));
        });
        drop(reg);
    }
    group.finish();
}

criterion_group!(benches, blob_get, blob_put);
criterion_main!(benches);
