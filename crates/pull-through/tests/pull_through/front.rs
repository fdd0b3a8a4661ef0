//! Misses, hits, revalidation, stale answers, corrupt upstream blobs, single flight,
//! bearer upstreams, metrics, refusals and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Method, StatusCode};
use orca_auth::Credential;
use orca_distribution::{Client, ClientConfig, FetchOptions};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{AuthMode, Config, Fault};
use orca_pull_through::{DirStorage, Front, Options, StaticUpstreams};
use orca_reference::Reference;

use crate::support::{Setup, content, push_image, raw};

/// Log lines written by a `tracing_subscriber::fmt` subscriber, kept for a test to read.
#[derive(Clone, Default)]
struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}

fn long() -> Options {
    Options::default().with_revalidate_after(Duration::from_secs(3600))
}

fn layer_descriptor(digest: &Digest, len: usize) -> Descriptor {
    Descriptor::new(
        "application/vnd.oci.image.layer.v1.tar",
        digest.clone(),
        len as u64,
    )
}

#[tokio::test]
async fn a_miss_then_hits_with_ranges_and_metrics() {
    let s = Setup::start(Config::default(), None, long()).await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(300_000, 1),
    )
    .await;
    let base = s.front.base_url().to_owned();
    let manifest_url = format!("{base}/v2/library/x/manifests/1");
    let blob_url = format!("{base}/v2/library/x/blobs/{}", image.layer);

    let first = raw(Method::GET, &manifest_url, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.cache(), Some("miss"));
    assert_eq!(first.bytes(), &image.manifest_bytes);
    assert_eq!(
        first.header("docker-content-digest"),
        Some(image.manifest.as_str())
    );
    assert_eq!(
        first.header("content-type"),
        Some(media_types::OCI_IMAGE_MANIFEST)
    );
    let again = raw(Method::GET, &manifest_url, &[]).await;
    assert_eq!(again.cache(), Some("hit"));
    assert_eq!(again.bytes(), &image.manifest_bytes);
    let by_digest = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/{}", image.manifest),
        &[],
    )
    .await;
    assert_eq!(
        by_digest.cache(),
        Some("hit"),
        "stored under its digest too"
    );

    let blob = raw(Method::GET, &blob_url, &[]).await;
    assert_eq!(blob.status, StatusCode::OK);
    assert_eq!(blob.cache(), Some("miss"));
    assert_eq!(blob.bytes(), &image.layer_bytes);
    assert!(s.landed(&image.layer).await);
    let hit = raw(Method::GET, &blob_url, &[]).await;
    assert_eq!(hit.cache(), Some("hit"));
    assert_eq!(hit.bytes(), &image.layer_bytes);
    let head = raw(Method::HEAD, &blob_url, &[]).await;
    assert_eq!(head.cache(), Some("hit"));
    assert_eq!(head.header("content-length"), Some("300000"));
    let range = raw(Method::GET, &blob_url, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        range.header("content-range"),
        Some("bytes 1000-1999/300000")
    );
    assert_eq!(range.bytes(), &image.layer_bytes.slice(1000..2000));
    let bad_range = raw(Method::GET, &blob_url, &[("range", "bytes=400000-")]).await;
    assert_eq!(bad_range.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad_range.header("content-range"), Some("bytes */300000"));

    // Through orca's client, which verifies every byte.
    let front_client = s.front_client();
    let repo = Reference::new(&s.front.host(), "library/x").unwrap();
    let fetched = front_client
        .fetch_blob(&repo, &layer_descriptor(&image.layer, 300_000))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(fetched, image.layer_bytes);

    // Upstream saw one blob GET and one manifest GET by tag.
    assert_eq!(
        s.upstream_requests(&Method::GET, &format!("/blobs/{}", image.layer)),
        1
    );
    assert_eq!(
        s.upstream_requests(&Method::GET, "/v2/mirror/x/manifests/1"),
        1
    );

    let metrics = raw(Method::GET, &format!("{base}/metrics"), &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8_lossy(metrics.bytes()).into_owned();
    for line in [
        "orca_pull_through_misses_total{kind=\"manifest\"} 1\n",
        "orca_pull_through_misses_total{kind=\"blob\"} 1\n",
        "orca_pull_through_hits_total{kind=\"manifest\"} 2\n",
        "orca_pull_through_upstream_downloads_total 1\n",
        "orca_pull_through_upstream_bytes_total 300000\n",
        "orca_pull_through_errors_total{code=\"RANGE_INVALID\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(text.contains("orca_pull_through_upstream_latency_seconds_count "));
    assert!(text.contains("# TYPE orca_pull_through_upstream_latency_seconds histogram"));
}

#[tokio::test]
async fn a_front_without_rules_serves_what_is_stored_and_nothing_else() {
    let s = Setup::start(Config::default(), None, long()).await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(1000, 2),
    )
    .await;
    let base = s.front.base_url().to_owned();
    let warm = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/1"),
        &[],
    )
    .await;
    assert_eq!(warm.cache(), Some("miss"));
    let warm = raw(
        Method::GET,
        &format!("{base}/v2/library/x/blobs/{}", image.layer),
        &[],
    )
    .await;
    assert_eq!(warm.cache(), Some("miss"));
    assert!(s.landed(&image.layer).await);
    let storage = s.dir.path().join("storage");
    let rule_less = Front::start(
        Arc::new(DirStorage::open(&storage).unwrap()),
        Arc::new(StaticUpstreams::new()),
        Options::default(),
    )
    .await
    .unwrap();
    let stored = raw(
        Method::GET,
        &format!(
            "{}/v2/library/x/blobs/{}",
            rule_less.base_url(),
            image.layer
        ),
        &[],
    )
    .await;
    assert_eq!(stored.cache(), Some("hit"));
    assert_eq!(stored.bytes(), &image.layer_bytes);
    let tag = raw(
        Method::GET,
        &format!("{}/v2/library/x/manifests/1", rule_less.base_url()),
        &[],
    )
    .await;
    assert_eq!(tag.cache(), Some("hit"));
    let config_blob = raw(
        Method::GET,
        &format!(
            "{}/v2/library/x/blobs/{}",
            rule_less.base_url(),
            image.config
        ),
        &[],
    )
    .await;
    assert_eq!(config_blob.status, StatusCode::NOT_FOUND, "never fetched");
}

#[tokio::test]
async fn tags_are_revalidated_after_the_interval_and_digests_never() {
    let s = Setup::start(
        Config::default(),
        None,
        Options::default().with_revalidate_after(Duration::ZERO),
    )
    .await;
    let one = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(10, 1),
    )
    .await;
    let url = format!("{}/v2/library/x/manifests/1", s.front.base_url());
    assert_eq!(raw(Method::GET, &url, &[]).await.cache(), Some("miss"));
    let heads_before = s.upstream_requests(&Method::HEAD, "/manifests/1");
    let second = raw(Method::GET, &url, &[]).await;
    assert_eq!(second.cache(), Some("revalidated"));
    assert_eq!(second.bytes(), &one.manifest_bytes);
    assert_eq!(
        s.upstream_requests(&Method::HEAD, "/manifests/1"),
        heads_before + 1,
        "one HEAD upstream"
    );
    // The tag moves upstream: the next request fetches the new manifest.
    let two = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(20, 2),
    )
    .await;
    let third = raw(Method::GET, &url, &[]).await;
    assert_eq!(third.cache(), Some("miss"));
    assert_eq!(third.bytes(), &two.manifest_bytes);
    // A digest is never revalidated.
    s.upstream.clear_requests();
    let by_digest = format!(
        "{}/v2/library/x/manifests/{}",
        s.front.base_url(),
        one.manifest
    );
    assert_eq!(raw(Method::GET, &by_digest, &[]).await.cache(), Some("hit"));
    assert!(s.upstream.requests().is_empty(), "upstream not asked");
    let metrics = s.front.metrics();
    assert!(metrics.contains("orca_pull_through_revalidations_total{outcome=\"unchanged\"} 1\n"));
    assert!(metrics.contains("orca_pull_through_revalidations_total{outcome=\"changed\"} 1\n"));

    // Within the interval, upstream is not asked at all.
    let quiet = Setup::start(Config::default(), None, long()).await;
    push_image(
        &quiet.upstream_client,
        quiet.upstream.host(),
        "mirror/x",
        "1",
        content(10, 1),
    )
    .await;
    let url = format!("{}/v2/library/x/manifests/1", quiet.front.base_url());
    assert_eq!(raw(Method::GET, &url, &[]).await.cache(), Some("miss"));
    quiet.upstream.clear_requests();
    assert_eq!(raw(Method::GET, &url, &[]).await.cache(), Some("hit"));
    assert_eq!(raw(Method::HEAD, &url, &[]).await.cache(), Some("hit"));
    assert!(quiet.upstream.requests().is_empty());
}

#[tokio::test]
async fn upstream_down_after_warm_up_serves_stale_and_says_so() {
    let s = Setup::start(
        Config::default(),
        None,
        Options::default().with_revalidate_after(Duration::ZERO),
    )
    .await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(5000, 3),
    )
    .await;
    let other = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/y",
        "1",
        content(10, 4),
    )
    .await;
    let base = s.front.base_url().to_owned();
    let manifest_url = format!("{base}/v2/library/x/manifests/1");
    let blob_url = format!("{base}/v2/library/x/blobs/{}", image.layer);
    assert_eq!(
        raw(Method::GET, &manifest_url, &[]).await.cache(),
        Some("miss")
    );
    assert_eq!(raw(Method::GET, &blob_url, &[]).await.cache(), Some("miss"));

    let Setup {
        upstream,
        front,
        dir,
        ..
    } = s;
    drop(upstream);

    // The log says so too. A current-thread test runtime: the front's tasks log here.
    let log = LogCapture::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(log.clone())
            .finish(),
    );
    let stale = raw(Method::GET, &manifest_url, &[]).await;
    let logged = log.text();
    assert!(
        logged.contains("WARN") && logged.contains("stale") && logged.contains("mirror/x"),
        "{logged}"
    );
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.cache(), Some("stale"));
    assert_eq!(stale.header("warning"), Some("110 - \"Response is stale\""));
    assert_eq!(stale.bytes(), &image.manifest_bytes);
    let blob = raw(Method::GET, &blob_url, &[]).await;
    assert_eq!(
        blob.cache(),
        Some("hit"),
        "a blob never needs upstream once stored"
    );
    assert_eq!(blob.bytes(), &image.layer_bytes);
    // What was never fetched cannot be served.
    let cold = raw(
        Method::GET,
        &format!("{base}/v2/library/y/manifests/1"),
        &[],
    )
    .await;
    assert_eq!(cold.status, StatusCode::BAD_GATEWAY);
    assert!(String::from_utf8_lossy(cold.bytes()).contains("UNAVAILABLE"));
    let cold_blob = raw(
        Method::GET,
        &format!("{base}/v2/library/y/blobs/{}", other.layer),
        &[],
    )
    .await;
    assert_eq!(cold_blob.status, StatusCode::BAD_GATEWAY);
    let metrics = front.metrics();
    assert!(metrics.contains("orca_pull_through_stale_total{kind=\"manifest\"} 1\n"));
    assert!(metrics.contains("orca_pull_through_upstream_failures_total{kind=\"connect\"}"));
    drop(dir);
}

#[tokio::test]
async fn a_corrupted_upstream_blob_is_cut_off_and_never_stored() {
    let s = Setup::start(Config::default(), None, long()).await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(200_000, 5),
    )
    .await;
    s.upstream.faults().add(Fault::corrupt_blobs());
    let blob_url = format!("{}/v2/library/x/blobs/{}", s.front.base_url(), image.layer);
    let cut = raw(Method::GET, &blob_url, &[]).await;
    assert_eq!(
        cut.status,
        StatusCode::OK,
        "headers go out before the verdict"
    );
    match &cut.body {
        Err(_) => {}
        Ok(bytes) => panic!("the body ended cleanly with {} bytes", bytes.len()),
    }
    assert!(!s.stored_blob_path(&image.layer).exists(), "never stored");
    // The spool is cleaned up (the flight ends right after the verdict).
    let spool = s.dir.path().join("storage/tmp");
    for _ in 0..100 {
        if std::fs::read_dir(&spool).unwrap().next().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
    assert!(
        s.front
            .metrics()
            .contains("orca_pull_through_upstream_failures_total{kind=\"corrupt\"} 1\n")
    );
    // Once upstream is healthy again, the blob is fetched afresh and served.
    s.upstream.faults().clear();
    let good = raw(Method::GET, &blob_url, &[]).await;
    assert_eq!(good.cache(), Some("miss"));
    assert_eq!(good.bytes(), &image.layer_bytes);
    assert!(s.landed(&image.layer).await);
}

#[tokio::test]
async fn concurrent_misses_fetch_upstream_once() {
    let s = Setup::start(Config::default(), None, long()).await;
    let size = 4 * 1024 * 1024;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(size, 6),
    )
    .await;
    // Slow enough upstream that the clients overlap with the download.
    s.upstream
        .faults()
        .add(Fault::throttle(16 * 1024 * 1024).path("/v2/*/blobs/*"));
    s.upstream.clear_requests();
    let client = s.front_client();
    let repo = Reference::new(&s.front.host(), "library/x").unwrap();
    let descriptor = layer_descriptor(&image.layer, size);
    let clients = 50;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, repo, descriptor) = (client.clone(), repo.clone(), descriptor.clone());
        tasks.spawn(async move {
            let mut stream = client.fetch_blob(&repo, &descriptor).await?;
            let mut n = 0usize;
            while let Some(piece) = stream.next().await {
                n += piece?.len();
            }
            Ok::<usize, orca_distribution::Error>(n)
        });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        assert_eq!(
            result.unwrap().unwrap(),
            size,
            "every client verified the blob"
        );
        done += 1;
    }
    assert_eq!(done, clients);
    assert_eq!(
        s.upstream_requests(&Method::GET, &format!("/blobs/{}", image.layer)),
        1,
        "one upstream download"
    );
    let metrics = s.front.metrics();
    assert!(
        metrics.contains("orca_pull_through_upstream_downloads_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_upstream_in_bearer_mode_is_pulled_with_the_rules_credentials() {
    let s = Setup::start(
        Config::default().with_auth(AuthMode::bearer("puller", "secret-pw")),
        Some(Credential::basic("puller", "secret-pw")),
        long(),
    )
    .await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(1000, 7),
    )
    .await;
    let base = s.front.base_url().to_owned();
    let manifest = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/1"),
        &[],
    )
    .await;
    assert_eq!(manifest.cache(), Some("miss"));
    assert_eq!(manifest.bytes(), &image.manifest_bytes);
    let blob = raw(
        Method::GET,
        &format!("{base}/v2/library/x/blobs/{}", image.layer),
        &[],
    )
    .await;
    assert_eq!(blob.bytes(), &image.layer_bytes);
    assert!(
        s.upstream
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/token")),
        "the front negotiated a token"
    );

    // Without credentials, or with a wrong password, the upstream refuses and the front
    // says so with 403 DENIED (not retried by clients), naming the rule, not a secret.
    let upstream_host = s.upstream.host().to_owned();
    for credential in [None, Some(Credential::basic("puller", "wrong-pw"))] {
        let client = crate::support::client(
            &[&upstream_host],
            credential.map(|c| (upstream_host.as_str(), c)),
        );
        let rules = StaticUpstreams::new()
            .with("library/*", client, &format!("{upstream_host}/mirror/*"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let front = Front::start(
            Arc::new(DirStorage::open(dir.path()).unwrap()),
            Arc::new(rules),
            Options::default(),
        )
        .await
        .unwrap();
        for path in ["manifests/1".to_owned(), format!("blobs/{}", image.layer)] {
            let url = format!("{}/v2/library/x/{path}", front.base_url());
            let refused = raw(Method::GET, &url, &[]).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
            let body = String::from_utf8_lossy(refused.bytes()).into_owned();
            assert!(
                body.contains("DENIED") && body.contains("cache rule"),
                "{body}"
            );
            // Neither a secret nor the rule's user: a front without users answers anyone.
            assert!(!body.contains("pw") && !body.contains("puller"), "{body}");
            let head = raw(Method::HEAD, &url, &[]).await;
            assert_eq!(head.status, StatusCode::FORBIDDEN, "{path}");
        }
        // The orca client does not retry it, and its error carries the front's reason.
        let e = client_for_front(&front)
            .fetch_manifest(
                &Reference::parse(&format!("{}/library/x:1", front.host())).unwrap(),
                &FetchOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), orca_distribution::ErrorKind::Denied, "{e}");
        assert!(e.to_string().contains("cache rule"), "{e}");
    }
}

fn client_for_front(front: &Front) -> Client {
    crate::support::client(&[&front.host()], None)
}

#[tokio::test]
async fn writes_listings_and_bad_names_are_refused() {
    let s = Setup::start(Config::default(), None, long()).await;
    let base = s.front.base_url().to_owned();
    let cases = [
        (
            Method::PUT,
            "/v2/library/x/manifests/1",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::DELETE,
            "/v2/library/x/manifests/1",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::POST,
            "/v2/library/x/blobs/uploads/",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/library/x/tags/list",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/_catalog",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/Library/x/manifests/1",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/library/x/blobs/sha256:nothex",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/library/x/manifests/-bad",
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
    ];
    assert_eq!(cases.len(), 8);
    for (method, path, status, code) in cases {
        let answer = raw(method.clone(), &format!("{base}{path}"), &[]).await;
        assert_eq!(answer.status, status, "{method} {path}");
        assert!(
            String::from_utf8_lossy(answer.bytes()).contains(code),
            "{method} {path}"
        );
    }
    // Unknown things upstream are unknown here.
    let missing = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/nope"),
        &[],
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(missing.bytes()).contains("MANIFEST_UNKNOWN"));
    let missing_blob = raw(
        Method::GET,
        &format!("{base}/v2/library/x/blobs/{}", Digest::sha256(b"nothing")),
        &[],
    )
    .await;
    assert_eq!(missing_blob.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(missing_blob.bytes()).contains("BLOB_UNKNOWN"));
    // No rule: 404, whatever upstream has.
    let no_rule = raw(Method::GET, &format!("{base}/v2/mirror/x/manifests/1"), &[]).await;
    assert_eq!(no_rule.status, StatusCode::NOT_FOUND);

    let ping = raw(Method::GET, &format!("{base}/v2/"), &[]).await;
    assert_eq!(ping.status, StatusCode::OK);
    assert_eq!(
        ping.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(
        s.upstream.requests().len(),
        2,
        "only the lookups of unknown things reached upstream"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_transfers() {
    let s = Setup::start(Config::default(), None, long()).await;
    let size = 2 * 1024 * 1024;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(size, 8),
    )
    .await;
    s.upstream
        .faults()
        .add(Fault::throttle(4 * 1024 * 1024).path("/v2/*/blobs/*"));
    let client = s.front_client();
    let repo = Reference::new(&s.front.host(), "library/x").unwrap();
    let descriptor = layer_descriptor(&image.layer, size);
    let mut stream = client.fetch_blob(&repo, &descriptor).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    let base = s.front.base_url().to_owned();
    let Setup {
        front,
        upstream,
        dir,
        ..
    } = s;
    let shutdown = tokio::spawn(front.shutdown());
    let mut received = first.len();
    while let Some(piece) = stream.next().await {
        received += piece.unwrap().len();
    }
    assert_eq!(received, size, "the transfer finished and verified");
    shutdown.await.unwrap();
    // No longer listening.
    let refused = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>()
        .get(format!("{base}/v2/").parse().unwrap())
        .await;
    assert!(refused.is_err());
    drop((upstream, dir));
}

#[tokio::test]
async fn concurrent_misses_on_a_tag_ask_upstream_once() {
    let s = Setup::start(Config::default(), None, long()).await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(10, 10),
    )
    .await;
    s.upstream
        .faults()
        .add(Fault::delay(Duration::from_millis(50)).path("/v2/*/manifests/*"));
    s.upstream.clear_requests();
    let url = format!("{}/v2/library/x/manifests/1", s.front.base_url());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = url.clone();
        tasks.spawn(async move { raw(Method::GET, &url, &[]).await });
    }
    let mut caches = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.bytes(), &image.manifest_bytes);
        caches.push(answer.cache().unwrap().to_owned());
    }
    assert_eq!(caches.len(), 20);
    assert_eq!(
        caches.iter().filter(|c| *c == "miss").count(),
        1,
        "{caches:?}"
    );
    assert_eq!(s.upstream_requests(&Method::GET, "/manifests/1"), 1);
}

/// Debian's `docker-registry` as the upstream (skipped when it is not installed): the
/// front's misses, hits and revalidation against a real registry.
#[tokio::test]
async fn docker_registry_as_the_upstream() {
    use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
    let Some(upstream) = ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .unwrap()
    else {
        return;
    };
    let host = upstream.host().to_owned();
    let upstream_client = crate::support::client(&[&host], None);
    let image = push_image(
        &upstream_client,
        &host,
        "mirror/x",
        "1",
        content(500_000, 11),
    )
    .await;
    let rules = StaticUpstreams::new()
        .with(
            "library/*",
            crate::support::client(&[&host], None),
            &format!("{host}/mirror/*"),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let front = Front::start(
        Arc::new(DirStorage::open(dir.path()).unwrap()),
        Arc::new(rules),
        Options::default().with_revalidate_after(Duration::ZERO),
    )
    .await
    .unwrap();
    let base = front.base_url().to_owned();
    let tag = format!("{base}/v2/library/x/manifests/1");
    let first = raw(Method::GET, &tag, &[]).await;
    assert_eq!(first.cache(), Some("miss"));
    assert_eq!(first.bytes(), &image.manifest_bytes);
    assert_eq!(
        raw(Method::GET, &tag, &[]).await.cache(),
        Some("revalidated")
    );
    let client = crate::support::client(&[&front.host()], None);
    let repo = Reference::new(&front.host(), "library/x").unwrap();
    for _ in 0..2 {
        let bytes = client
            .fetch_blob(&repo, &layer_descriptor(&image.layer, 500_000))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes, image.layer_bytes);
    }
    let metrics = front.metrics();
    assert!(
        metrics.contains("orca_pull_through_upstream_downloads_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_first_client_gets_bytes_before_the_blob_lands() {
    let s = Setup::start(Config::default(), None, long()).await;
    let size = 1024 * 1024;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(size, 12),
    )
    .await;
    // About a second for the whole blob.
    s.upstream
        .faults()
        .add(Fault::throttle(1024 * 1024).path("/v2/*/blobs/*"));
    let client = s.front_client();
    let repo = Reference::new(&s.front.host(), "library/x").unwrap();
    let mut stream = client
        .fetch_blob(&repo, &layer_descriptor(&image.layer, size))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert!(
        !s.stored_blob_path(&image.layer).exists(),
        "bytes flow while the download is under way"
    );
    let mut received = first.len();
    while let Some(piece) = stream.next().await {
        received += piece.unwrap().len();
    }
    assert_eq!(received, size);
    assert!(s.landed(&image.layer).await);
}

/// A front given a certificate serves HTTPS: a client trusting it pulls through it, a
/// plain-HTTP client and one that does not trust it are refused, and a certificate that
/// is not one stops the front from starting.
#[tokio::test]
async fn a_front_with_a_certificate_serves_https() {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let identity = orca_pull_through::TlsIdentity {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: orca_pull_through::Secret::new(cert.signing_key.serialize_pem()),
    };
    let s = Setup::start(Config::default(), None, long().with_tls(identity.clone())).await;
    assert!(
        s.front.base_url().starts_with("https://"),
        "{}",
        s.front.base_url()
    );
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(100_000, 3),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).expect("write");
    let reference: Reference = format!("{}/library/x:1", s.front.host())
        .parse()
        .expect("reference");

    let trusting = Client::new(ClientConfig::default().with_root_certificate(&ca)).expect("client");
    let fetched = trusting
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
        .expect("manifest over https");
    assert_eq!(fetched.descriptor.digest, image.manifest);
    let layer = trusting
        .fetch_blob(&reference, &layer_descriptor(&image.layer, 100_000))
        .await
        .expect("blob")
        .bytes()
        .await
        .expect("verified");
    assert_eq!(layer, image.layer_bytes);

    let untrusting = Client::new(ClientConfig::default()).expect("client");
    let e = untrusting
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
        .expect_err("self-signed");
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        chain = format!("{chain}: {cause}");
        source = cause.source();
    }
    assert!(chain.contains("certificate"), "{chain}");
    let e = s
        .front_client()
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
        .expect_err("plain HTTP to an HTTPS port");
    assert_eq!(e.kind(), orca_distribution::ErrorKind::Protocol, "{e}");

    let broken = orca_pull_through::TlsIdentity {
        cert_pem: b"not a certificate".to_vec(),
        key_pem: identity.key_pem,
    };
    let storage = DirStorage::open(dir.path().join("storage")).expect("storage");
    let e = Front::start(
        Arc::new(storage),
        Arc::new(StaticUpstreams::new()),
        Options::default().with_tls(broken),
    )
    .await
    .expect_err("no certificate");
    assert!(matches!(e, orca_pull_through::Error::Tls { .. }), "{e:?}");
}

/// A client that opens a connection and trickles its headers is cut off after
/// `header_read_timeout`, so such connections cannot pile up.
#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = long().with_header_read_timeout(Duration::from_millis(200));
    let s = Setup::start(Config::default(), None, options).await;
    let mut socket = tokio::net::TcpStream::connect(s.front.addr())
        .await
        .expect("connect");
    socket
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: front\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("the front closed the connection");
    // Closed (possibly after a 408), never answered as a request.
    assert!(
        read.is_err() || !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{answer:?}"
    );

    // A client that sends its headers in time is served as before.
    let ok = raw(Method::GET, &format!("{}/v2/", s.front.base_url()), &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
}

/// With `max_connections` open, the next client waits (in the backlog) until one ends,
/// then is served: a flood of connections cannot exhaust the front's file descriptors.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_end() {
    let s = Setup::start(Config::default(), None, long().with_max_connections(1)).await;
    // An idle connection holds the only place (its header timeout is 30 s).
    let idle = tokio::net::TcpStream::connect(s.front.addr())
        .await
        .expect("connect");
    // Give the front a moment to accept it, so that it is the one holding the place.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("{}/v2/", s.front.base_url());
    let mut waiting = tokio::spawn(async move { raw(Method::GET, &url, &[]).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut waiting)
            .await
            .is_err(),
        "served while the only place was taken"
    );
    drop(idle);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the idle connection ended")
        .expect("the request task");
    assert_eq!(answer.status, StatusCode::OK);
}

/// With users, every request needs one's Basic credentials: 401 with a Basic challenge
/// otherwise (metrics included), and a client logged in pulls as before.
#[tokio::test]
async fn a_front_with_users_asks_for_basic_credentials() {
    let s = Setup::start(
        Config::default(),
        None,
        long().with_user(orca_pull_through::User::new("puller", "front-pw")),
    )
    .await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(1000, 3),
    )
    .await;
    let base = s.front.base_url().to_owned();
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    for path in ["/v2/", "/v2/library/x/manifests/1", "/metrics"] {
        for authorization in [
            None,
            Some(basic("puller", "wrong")),
            Some(basic("x", "front-pw")),
        ] {
            let headers: Vec<(&str, &str)> = authorization
                .as_deref()
                .map(|a| ("authorization", a))
                .into_iter()
                .collect();
            let refused = raw(Method::GET, &format!("{base}{path}"), &headers).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                refused.headers.get("www-authenticate").unwrap(),
                r#"Basic realm="orca pull-through cache""#
            );
            assert!(String::from_utf8_lossy(refused.bytes()).contains("UNAUTHORIZED"));
        }
    }
    assert_eq!(
        s.upstream
            .requests()
            .iter()
            .filter(|r| r.path.contains("/manifests/"))
            .count(),
        1,
        "only the push asked upstream"
    );

    // Logged in, as `orca login` or `docker login` would be.
    let front = crate::support::client(
        &[&s.front.host()],
        Some((&s.front.host(), Credential::basic("puller", "front-pw"))),
    );
    let reference = Reference::parse(&format!("{}/library/x:1", s.front.host())).unwrap();
    let fetched = front
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
        .unwrap();
    assert_eq!(fetched.bytes, image.manifest_bytes);
    let metrics = raw(
        Method::GET,
        &format!("{base}/metrics"),
        &[("authorization", &basic("puller", "front-pw"))],
    )
    .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8_lossy(metrics.bytes()).into_owned();
    // The nine refusals above, and the client's first, anonymous, request.
    assert!(
        text.contains(r#"orca_pull_through_errors_total{code="UNAUTHORIZED"} 10"#),
        "{text}"
    );
}

/// An upstream that refused the rule's credentials is not asked again for
/// `refusal_hold`: a burst of clients is one failed login upstream, not one each; a
/// stored tag is served stale meanwhile; after the hold it is asked again.
#[tokio::test]
async fn an_upstream_refusal_is_held_before_asking_again() {
    let hold = Duration::from_millis(400);
    let s = Setup::start(
        Config::default().with_auth(AuthMode::basic("puller", "secret-pw")),
        Some(Credential::basic("puller", "wrong-pw")),
        long().with_refusal_hold(hold),
    )
    .await;
    let host = s.upstream.host().to_owned();
    let publisher = crate::support::client(
        &[&host],
        Some((host.as_str(), Credential::basic("puller", "secret-pw"))),
    );
    let image = push_image(&publisher, &host, "mirror/x", "1", content(500, 5)).await;
    let base = s.front.base_url().to_owned();
    let upstream_calls = || {
        s.upstream
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v2/mirror/"))
            .count()
    };
    let before = upstream_calls();
    let first = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/1"),
        &[],
    )
    .await;
    assert_eq!(first.status, StatusCode::FORBIDDEN);
    let asked = upstream_calls();
    assert!(asked > before, "the first request asks upstream");
    for path in [
        "manifests/1".to_owned(),
        format!("blobs/{}", image.layer),
        "manifests/2".to_owned(),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let answer = raw(method, &format!("{base}/v2/library/x/{path}"), &[]).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert_eq!(upstream_calls(), asked, "held: upstream not asked again");
    let metrics = raw(Method::GET, &format!("{base}/metrics"), &[]).await;
    let text = String::from_utf8_lossy(metrics.bytes()).into_owned();
    assert!(
        text.contains(r#"orca_pull_through_upstream_failures_total{kind="held"} 6"#),
        "{text}"
    );

    // After the hold, upstream is asked again.
    tokio::time::sleep(hold + Duration::from_millis(100)).await;
    let again = raw(
        Method::GET,
        &format!("{base}/v2/library/x/manifests/1"),
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(upstream_calls() > asked, "asked again after the hold");
}

/// While a refusal is held, a stored tag is served stale without asking upstream.
#[tokio::test]
async fn a_stored_tag_is_served_stale_while_a_refusal_is_held() {
    let s = Setup::start(
        Config::default(),
        None,
        Options::default()
            .with_revalidate_after(Duration::ZERO)
            .with_refusal_hold(Duration::from_secs(60)),
    )
    .await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(500, 6),
    )
    .await;
    let url = format!("{}/v2/library/x/manifests/1", s.front.base_url());
    let miss = raw(Method::GET, &url, &[]).await;
    assert_eq!(miss.cache(), Some("miss"));
    s.upstream
        .faults()
        .add(Fault::status(403).path("/v2/mirror/x/manifests/*"));
    let manifests_asked = || s.upstream_requests(&Method::HEAD, "/manifests/");
    let stale = raw(Method::GET, &url, &[]).await;
    assert_eq!(stale.cache(), Some("stale"));
    assert_eq!(stale.bytes(), &image.manifest_bytes);
    let asked = manifests_asked();
    assert!(asked >= 1);
    let held = raw(Method::GET, &url, &[]).await;
    assert_eq!(held.cache(), Some("stale"));
    assert_eq!(held.bytes(), &image.manifest_bytes);
    assert_eq!(manifests_asked(), asked, "held: upstream not asked");
}

/// A user from an htpasswd line (bcrypt): the right password pulls, a wrong one is 401,
/// and so is the hash itself; plain and hashed users work side by side.
#[tokio::test]
async fn a_user_with_an_htpasswd_bcrypt_hash_logs_in() {
    // `htpasswd -nbB -C 4 puller front-s3cret`.
    let hashed = orca_pull_through::User::parse(
        "puller:$2y$04$DC4NA9An6SMu/uJXAid93eQs5U5WvBfujMdzVQLczOlGyQ0Dq940O",
    )
    .unwrap();
    let s = Setup::start(
        Config::default(),
        None,
        long()
            .with_user(hashed)
            .with_user(orca_pull_through::User::new("plain", "plain-pw")),
    )
    .await;
    let url = format!("{}/v2/", s.front.base_url());
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    for (user, password, status) in [
        ("puller", "front-s3cret", StatusCode::OK),
        // Again: the remembered login.
        ("puller", "front-s3cret", StatusCode::OK),
        ("puller", "wrong", StatusCode::UNAUTHORIZED),
        (
            "puller",
            "$2y$04$DC4NA9An6SMu/uJXAid93eQs5U5WvBfujMdzVQLczOlGyQ0Dq940O",
            StatusCode::UNAUTHORIZED,
        ),
        ("plain", "plain-pw", StatusCode::OK),
        ("plain", "front-s3cret", StatusCode::UNAUTHORIZED),
        ("nobody", "front-s3cret", StatusCode::UNAUTHORIZED),
    ] {
        let answer = raw(
            Method::GET,
            &url,
            &[("authorization", &basic(user, password))],
        )
        .await;
        assert_eq!(answer.status, status, "{user}");
    }
}
