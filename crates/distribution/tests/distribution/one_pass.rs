//! One-pass push of a blob whose digest is not known: streamed `PATCH`es without
//! `Content-Range` (the first chunk, then the rest in one), then `PUT ?digest=`; chunks where the registry refuses; against
//! wiremock (exact shapes), the mock registry and Debian's `docker-registry`.

use bytes::Bytes;
use futures_util::StreamExt;
use orca_distribution::{Client, ClientConfig, ErrorKind, PushOptions, UploadMethod};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{Config, Fault, FaultPlan, MockRegistry};
use orca_reference::Reference;
use wiremock::matchers::{header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{assert_stored, client_for, config_for, docker_registry, reference, small_chunks};

/// `n` bytes that do not repeat in any short period.
fn blob(n: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn an_unknown_digest_goes_in_one_patch_without_content_range_then_put() {
    let server = MockServer::start().await;
    let data = blob(300_000);
    let digest = Digest::sha256(&data);
    Mock::given(method("POST"))
        .and(path("/v2/team/app/blobs/uploads/"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/up/1"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/2"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/up/2"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/3"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/up/3"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config_for(&server);
    config.chunk_size = 64 * 1024;
    let client = Client::new(config).expect("client");
    let pushed = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            None,
            std::io::Cursor::new(data.clone()),
            &PushOptions::default(),
        )
        .await
        .expect("one-pass push");
    assert_eq!(pushed.digest, digest);
    assert_eq!(pushed.size, data.len() as u64);
    let requests = server.received_requests().await.expect("recorded");
    let shapes: Vec<_> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("POST".to_owned(), "/v2/team/app/blobs/uploads/".to_owned()),
            ("PATCH".to_owned(), "/up/1".to_owned()),
            ("PATCH".to_owned(), "/up/2".to_owned()),
            ("PUT".to_owned(), "/up/3".to_owned()),
        ]
    );
    for patch in &requests[1..3] {
        assert!(patch.headers.get("content-range").is_none(), "{patch:?}");
    }
    // The first chunk (64 KiB), then all the rest in one streamed PATCH.
    assert_eq!(requests[1].body.len(), 64 * 1024);
    assert_eq!(
        [&requests[1].body[..], &requests[2].body[..]].concat(),
        data
    );
    assert!(requests[3].body.is_empty());
}

#[tokio::test]
async fn a_source_shorter_than_a_chunk_goes_in_one_put() {
    let server = MockServer::start().await;
    let data = blob(1000);
    let digest = Digest::sha256(&data);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/up/1"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let pushed = client_for(&server)
        .push_blob_reader(
            &reference(&server, "team/app"),
            None,
            std::io::Cursor::new(data.clone()),
            &PushOptions::default(),
        )
        .await
        .expect("push");
    assert_eq!(pushed.digest, digest);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, data);
}

#[tokio::test]
async fn a_registry_refusing_the_streamed_patch_gets_chunks() {
    let server = MockServer::start().await;
    let data = blob(200_000);
    let digest = Digest::sha256(&data);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/1"))
        .mount(&server)
        .await;
    // Chunks (with Content-Range) are taken; a PATCH without one is refused.
    Mock::given(method("PATCH"))
        .and(header_exists("content-range"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/1"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"Content-Range required"}]}"#,
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config_for(&server);
    config.chunk_size = 64 * 1024;
    let client = Client::new(config).expect("client");
    let pushed = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            None,
            std::io::Cursor::new(data.clone()),
            &PushOptions::default(),
        )
        .await
        .expect("pushed in chunks after the refusal");
    assert_eq!(pushed.digest, digest);
    let requests = server.received_requests().await.expect("recorded");
    let chunks: Vec<u8> = requests
        .iter()
        .filter(|r| r.method.as_str() == "PATCH" && r.headers.get("content-range").is_some())
        .flat_map(|r| r.body.clone())
        .collect();
    assert_eq!(chunks, data, "every byte went again, in chunks");
}

/// Pushes `data` with no descriptor to `host`, checks the digest, fetches it back.
async fn round_trip(client: &Client, repo: &Reference, data: &[u8]) {
    let pushed = client
        .push_blob_reader(
            repo,
            None,
            std::io::Cursor::new(data.to_vec()),
            &PushOptions::default(),
        )
        .await
        .expect("one-pass push");
    let expected = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, data);
    assert_eq!(pushed.digest, expected.digest);
    assert_eq!(pushed.size, expected.size);
    assert_stored(client, repo, &expected, data).await;
}

#[tokio::test]
async fn the_mock_registry_takes_a_one_pass_push_and_a_fallback() {
    let mock = MockRegistry::start(Config::default()).await.expect("mock");
    let client = small_chunks(mock.host());
    let repo: Reference = format!("{}/team/app", mock.host()).parse().expect("ref");
    let data = blob(1 << 20);
    round_trip(&client, &repo, &data).await;
    let methods: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/blobs/uploads/"))
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH", "PUT"]);

    // Refused once (as a registry without streamed PATCH would): chunks.
    mock.faults()
        .set(FaultPlan::new().with(Fault::status(400).on("PATCH").times(1)));
    mock.clear_requests();
    let other = blob(300_000);
    round_trip(&client, &repo, &other).await;
    let patches = mock
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .count();
    assert!(patches >= 2, "{:?}", mock.requests());
}

#[tokio::test]
async fn a_one_pass_push_over_the_blob_cap_fails_and_commits_nothing() {
    let mock = MockRegistry::start(Config::default()).await.expect("mock");
    let mut config = ClientConfig::builder()
        .max_blob_bytes(Some(200_000))
        .build()
        .with_plain_http(mock.host());
    config.chunk_size = 64 * 1024;
    let client = Client::new(config).expect("client");
    let repo: Reference = format!("{}/team/app", mock.host()).parse().expect("ref");
    let data = blob(300_000);
    let e = client
        .push_blob_reader(
            &repo,
            None,
            std::io::Cursor::new(data.clone()),
            &PushOptions::default(),
        )
        .await
        .expect_err("over the cap");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
    let digest = Digest::sha256(&data);
    assert!(
        client
            .blob_exists(&repo, &digest)
            .await
            .expect("head")
            .is_none()
    );

    // A source that fails mid-way: an error, and nothing committed either.
    let pieces = futures_util::stream::iter(vec![
        Ok(Bytes::from(blob(100_000))),
        Err(std::io::Error::other("disk went away")),
    ])
    .boxed();
    let e = client
        .push_blob_stream(&repo, None, pieces, &PushOptions::default())
        .await
        .expect_err("the source failed");
    assert!(
        e.to_string().contains("disk went away") || matches!(e.kind(), ErrorKind::Io),
        "{e}"
    );
    let uploads: Vec<_> = mock
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.path.clone())
        .collect();
    assert!(uploads.is_empty(), "no upload was closed: {uploads:?}");
}

#[tokio::test]
async fn docker_registry_takes_a_one_pass_push() {
    let Some(real) = docker_registry().await else {
        return;
    };
    let client = small_chunks(real.host());
    let repo: Reference = format!("{}/team/app", real.host()).parse().expect("ref");
    round_trip(&client, &repo, &blob(1 << 20)).await;
    round_trip(&client, &repo, &blob(1000)).await;
    // Chunked on request, for comparison: the same registry takes both.
    let data = blob(200_000);
    let pushed = client
        .push_blob_reader(
            &repo,
            None,
            std::io::Cursor::new(data.clone()),
            &PushOptions::builder().method(UploadMethod::Chunked).build(),
        )
        .await
        .expect("chunked");
    assert_eq!(pushed.digest, Digest::sha256(&data));
}
