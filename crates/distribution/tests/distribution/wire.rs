//! Exact request shapes: method, path, query and headers, against wiremock.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{Client, ErrorKind, FetchOptions, PushOptions, UploadMethod};
use orca_manifest::{Descriptor, Digest, media_types};
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::{client_for, config_for, host, reference};

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn manifest_response(bytes: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("Docker-Content-Digest", Digest::sha256(bytes).as_str())
        .set_body_raw(bytes.to_vec(), media_types::OCI_IMAGE_MANIFEST)
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn fetch_manifest_sends_accept_list_and_verifies_digest() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(
            manifest_response(MANIFEST)
                .insert_header("Warning", r#"299 - "repository is deprecated""#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let fetched = client
        .fetch_manifest(
            &reference(&server, "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect("fetch");
    assert_eq!(fetched.descriptor.digest, Digest::sha256(MANIFEST));
    assert_eq!(
        fetched.descriptor.media_type,
        media_types::OCI_IMAGE_MANIFEST
    );
    assert_eq!(fetched.descriptor.size, MANIFEST.len() as u64);
    assert_eq!(fetched.bytes, Bytes::from_static(MANIFEST));
    assert_eq!(fetched.warnings, ["repository is deprecated"]);
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let accept = header_of(&reqs[0], "accept").expect("Accept sent");
    for media_type in [
        media_types::OCI_IMAGE_MANIFEST,
        media_types::OCI_IMAGE_INDEX,
        media_types::DOCKER_MANIFEST_V2,
        media_types::DOCKER_MANIFEST_LIST,
    ] {
        assert!(accept.contains(media_type), "{accept}");
    }
    assert!(
        header_of(&reqs[0], "user-agent")
            .expect("UA")
            .starts_with("orca/")
    );
    assert!(header_of(&reqs[0], "authorization").is_none());
}

#[tokio::test]
async fn manifest_with_wrong_digest_or_media_type_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/bad-digest"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Docker-Content-Digest", Digest::sha256(b"other").as_str())
                .set_body_raw(MANIFEST.to_vec(), media_types::OCI_IMAGE_MANIFEST),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/bad-type"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(MANIFEST.to_vec(), media_types::DOCKER_MANIFEST_V2),
        )
        .mount(&server)
        .await;
    let pinned = format!("team/app@{}", Digest::sha256(b"pinned"));
    Mock::given(method("GET"))
        .and(path(format!(
            "/v2/team/app/manifests/{}",
            Digest::sha256(b"pinned")
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(MANIFEST.to_vec(), media_types::OCI_IMAGE_MANIFEST),
        )
        .mount(&server)
        .await;
    let client = client_for(&server);
    let options = FetchOptions::default();
    let e = client
        .fetch_manifest(&reference(&server, "team/app:bad-digest"), &options)
        .await
        .expect_err("digest mismatch");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    let e = client
        .fetch_manifest(&reference(&server, "team/app:bad-type"), &options)
        .await
        .expect_err("media type mismatch");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("contradicts Content-Type"), "{e}");
    let e = client
        .fetch_manifest(&reference(&server, &pinned), &options)
        .await
        .expect_err("pinned digest mismatch");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    let e = client
        .fetch_manifest(
            &reference(&server, "team/app:bad-type"),
            &FetchOptions::builder().max_bytes(10).build(),
        )
        .await
        .expect_err("size cap");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
}

#[tokio::test]
async fn generic_content_type_defers_to_the_body_media_type() {
    // Some registries and proxies serve manifests as `application/json` or `text/plain`;
    // orca-manifest reads such a Content-Type as no information, and so must the client.
    let server = MockServer::start().await;
    for (tag, content_type) in [
        ("json", "application/json; charset=utf-8"),
        ("text", "text/plain"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v2/team/app/manifests/{tag}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(MANIFEST.to_vec(), content_type))
            .mount(&server)
            .await;
    }
    let client = client_for(&server);
    for tag in ["json", "text"] {
        let fetched = client
            .fetch_manifest(
                &reference(&server, &format!("team/app:{tag}")),
                &FetchOptions::default(),
            )
            .await
            .expect("generic Content-Type accepted");
        assert_eq!(
            fetched.descriptor.media_type,
            media_types::OCI_IMAGE_MANIFEST
        );
        assert_eq!(fetched.descriptor.digest, Digest::sha256(MANIFEST));
        fetched.manifest().expect("parses with the same rule");
    }
}

#[tokio::test]
async fn resolve_uses_head_and_falls_back_to_get() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Docker-Content-Digest", Digest::sha256(MANIFEST).as_str())
                .insert_header("Content-Type", media_types::OCI_IMAGE_MANIFEST)
                .insert_header("Content-Length", MANIFEST.len().to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path("/v2/team/app/manifests/2.0"))
        .respond_with(ResponseTemplate::new(405))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/2.0"))
        .respond_with(manifest_response(MANIFEST))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let d = client
        .resolve(&reference(&server, "team/app:1.0"))
        .await
        .expect("head");
    assert_eq!(
        d,
        Descriptor::new(
            media_types::OCI_IMAGE_MANIFEST,
            Digest::sha256(MANIFEST),
            MANIFEST.len() as u64
        )
    );
    let d = client
        .resolve(&reference(&server, "team/app:2.0"))
        .await
        .expect("get");
    assert_eq!(d.digest, Digest::sha256(MANIFEST));
}

#[tokio::test]
async fn monolithic_upload_keeps_location_query_and_appends_digest() {
    let server = MockServer::start().await;
    let blob = b"hello blob".to_vec();
    let digest = Digest::sha256(&blob);
    Mock::given(method("POST"))
        .and(path("/v2/team/app/blobs/uploads/"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/upload/u1?_state=abc"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/u1"))
        .and(query_param("_state", "abc"))
        .and(query_param("digest", digest.as_str()))
        .and(header("content-type", "application/octet-stream"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let repo = reference(&server, "team/app");
    let descriptor = Descriptor::new(
        media_types::OCI_LAYER_TAR,
        digest.clone(),
        blob.len() as u64,
    );
    let pushed = client
        .push_blob(
            &repo,
            &descriptor,
            Bytes::from(blob.clone()),
            &PushOptions::default(),
        )
        .await
        .expect("push");
    assert_eq!(pushed.digest, digest);
    let reqs = requests(&server).await;
    assert_eq!(reqs[1].body, blob);
    // The same bytes streamed from a reader take the same two requests.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/upload/u2"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/u2"))
        .and(query_param("digest", digest.as_str()))
        .and(header("content-length", blob.len().to_string().as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(2)
        .mount(&server)
        .await;
    let reader = std::io::Cursor::new(blob.clone());
    client
        .push_blob_reader(&repo, Some(&descriptor), reader, &PushOptions::default())
        .await
        .expect("streamed push");
    // And from a stream of pieces.
    let pieces: Vec<Result<Bytes, std::io::Error>> = blob
        .chunks(3)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    client
        .push_blob_stream(
            &repo,
            Some(&descriptor),
            futures_util::stream::iter(pieces),
            &PushOptions::default(),
        )
        .await
        .expect("pushed from a stream");
}

#[tokio::test]
async fn chunked_upload_uses_bare_content_range_and_recovers_from_416() {
    let server = MockServer::start().await;
    let blob = b"0123456789".to_vec();
    let digest = Digest::sha256(&blob);
    Mock::given(method("POST"))
        .and(path("/v2/team/app/blobs/uploads/"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/up/1"))
        .mount(&server)
        .await;
    let patch = |range: &str, acknowledged: &str| {
        Mock::given(method("PATCH"))
            .and(path("/up/1"))
            .and(header("content-range", range))
            .and(header("content-type", "application/octet-stream"))
            .respond_with(
                ResponseTemplate::new(202)
                    .insert_header("Location", "/up/1")
                    .insert_header("Range", acknowledged),
            )
            .expect(1)
    };
    patch("0-3", "0-3").mount(&server).await;
    // The second chunk is refused once; the registry says it holds bytes 0..=5.
    Mock::given(method("PATCH"))
        .and(path("/up/1"))
        .and(header("content-range", "4-7"))
        .respond_with(ResponseTemplate::new(416))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/up/1"))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("Range", "0-5")
                .insert_header("Location", "/up/1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    patch("6-7", "0-7").mount(&server).await;
    patch("8-9", "0-9").mount(&server).await;
    Mock::given(method("PUT"))
        .and(path("/up/1"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config_for(&server);
    config.chunk_size = 4;
    let client = Client::new(config).expect("client");
    let options = PushOptions::builder().method(UploadMethod::Chunked).build();
    let pushed = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            None,
            std::io::Cursor::new(blob.clone()),
            &options,
        )
        .await
        .expect("chunked push");
    assert_eq!(pushed.digest, digest);
    assert_eq!(pushed.size, 10);
    let reqs = requests(&server).await;
    let shape: Vec<String> = reqs
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                header_of(r, "content-range").unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            "POST -",
            "PATCH 0-3",
            "PATCH 4-7",
            "GET -",
            "PATCH 6-7",
            "PATCH 8-9",
            "PUT -"
        ]
    );
    assert_eq!(reqs[4].body, b"67");
}

#[tokio::test]
async fn blob_redirect_drops_authorization_on_another_host() {
    let registry = MockServer::start().await;
    let storage = MockServer::start().await;
    let blob = b"redirected content".to_vec();
    let digest = Digest::sha256(&blob);
    let blob_path = format!("/v2/team/app/blobs/{digest}");
    Mock::given(method("GET"))
        .and(path(blob_path.as_str()))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/storage/object?X-Amz-Signature=abc", storage.uri()).as_str(),
        ))
        .with_priority(1)
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path(blob_path.as_str()))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", r#"Basic realm="registry""#),
        )
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/storage/object"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.clone()))
        .expect(1)
        .mount(&storage)
        .await;
    let credentials =
        StaticCredentials::new().with(&host(&registry), Credential::basic("user", "pw"));
    let auth = Authenticator::new(credentials, AuthOptions::default());
    let client = Client::with_authenticator(config_for(&registry), auth).expect("client");
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, digest, blob.len() as u64);
    let bytes = client
        .fetch_blob(&reference(&registry, "team/app"), &descriptor)
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("verified");
    assert_eq!(bytes, blob);
    let storage_reqs = requests(&storage).await;
    assert_eq!(storage_reqs.len(), 1);
    assert!(
        header_of(&storage_reqs[0], "authorization").is_none(),
        "credentials leaked to storage"
    );
    let registry_reqs = requests(&registry).await;
    assert_eq!(registry_reqs.len(), 2);
    assert!(header_of(&registry_reqs[1], "authorization").is_some_and(|a| a.starts_with("Basic ")));
}

#[tokio::test]
async fn idempotent_requests_retry_on_503_and_429_but_posts_do_not() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/2.0"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(manifest_response(MANIFEST))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let options = FetchOptions::default();
    client
        .fetch_manifest(&reference(&server, "team/app:1.0"), &options)
        .await
        .expect("after one 503");
    client
        .fetch_manifest(&reference(&server, "team/app:2.0"), &options)
        .await
        .expect("after two 429");
    let e = client
        .start_upload(&reference(&server, "team/app"))
        .await
        .expect_err("POST is not retried");
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    let gets = requests(&server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(gets, 5);
}

#[tokio::test]
async fn short_blob_body_is_resumed_with_range_and_corruption_is_caught() {
    let server = MockServer::start().await;
    let blob: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let digest = Digest::sha256(&blob);
    let blob_path = format!("/v2/team/app/blobs/{digest}");
    Mock::given(method("GET"))
        .and(path(blob_path.as_str()))
        .and(header("range", "bytes=6000-"))
        .respond_with(
            ResponseTemplate::new(206)
                .insert_header("Content-Range", "bytes 6000-9999/10000")
                .set_body_bytes(blob[6000..].to_vec()),
        )
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(blob_path.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(blob[..6000].to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let repo = reference(&server, "team/app");
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, digest, blob.len() as u64);
    let bytes = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("resumed and verified");
    assert_eq!(bytes, blob);

    let mut corrupted = blob.clone();
    corrupted[5] ^= 1;
    let bad_digest = Digest::sha256(&blob[..100]);
    Mock::given(method("GET"))
        .and(path(format!("/v2/team/app/blobs/{bad_digest}")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(corrupted[..100].to_vec()))
        .mount(&server)
        .await;
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, bad_digest, 100);
    let mut stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let e = last.expect("an item").expect_err("corruption is an error");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
}

#[tokio::test]
async fn tags_follow_relative_link_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/tags/list"))
        .and(query_param("last", "b"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"name":"team/app","tags":["c"]})),
        )
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/tags/list"))
        .and(query_param("n", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Link", r#"</v2/team/app/tags/list?n=2&last=b>; rel="next""#)
                .set_body_json(serde_json::json!({"name":"team/app","tags":["a","b"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let tags = client
        .tags(&reference(&server, "team/app"), Some(2))
        .collect_all()
        .await
        .expect("tags");
    assert_eq!(tags, ["a", "b", "c"]);
}

fn referrer(artifact_type: &str, seed: &[u8]) -> Descriptor {
    let mut d = Descriptor::for_bytes(media_types::OCI_IMAGE_MANIFEST, seed);
    d.artifact_type = Some(artifact_type.to_owned());
    d
}

#[tokio::test]
async fn referrers_filter_client_side_and_fall_back_to_the_tag_schema() {
    let server = MockServer::start().await;
    let with_api = Digest::sha256(b"subject with api");
    let without_api = Digest::sha256(b"subject without api");
    let index = |ds: Vec<Descriptor>| serde_json::json!({"schemaVersion":2,"mediaType":media_types::OCI_IMAGE_INDEX,"manifests":ds});
    Mock::given(method("GET"))
        .and(path(format!("/v2/team/app/referrers/{with_api}")))
        .and(query_param("artifactType", "application/sbom"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                serde_json::to_vec(&index(vec![
                    referrer("application/sbom", b"1"),
                    referrer("application/sig", b"2"),
                ]))
                .expect("json"),
                media_types::OCI_IMAGE_INDEX,
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/team/app/referrers/{without_api}")))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let tag_index = serde_json::to_vec(&index(vec![
        referrer("application/sbom", b"3"),
        referrer("application/sig", b"4"),
    ]))
    .expect("json");
    Mock::given(method("GET"))
        .and(path(format!(
            "/v2/team/app/manifests/sha256-{}",
            without_api.encoded()
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(tag_index, media_types::OCI_IMAGE_INDEX),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let r = client
        .referrers(
            &reference(&server, &format!("team/app@{with_api}")),
            Some("application/sbom"),
        )
        .await
        .expect("api");
    assert!(!r.from_tag_schema);
    assert_eq!(
        r.manifests.len(),
        1,
        "filtered client-side without OCI-Filters-Applied"
    );
    assert_eq!(r.manifests[0].digest, Digest::sha256(b"1"));
    let r = client
        .referrers(
            &reference(&server, &format!("team/app@{without_api}")),
            Some("application/sig"),
        )
        .await
        .expect("tag schema");
    assert!(r.from_tag_schema);
    assert_eq!(r.manifests.len(), 1);
    assert_eq!(r.manifests[0].digest, Digest::sha256(b"4"));
}

#[tokio::test]
async fn pushing_a_referrer_without_oci_subject_maintains_the_tag_index() {
    let server = MockServer::start().await;
    let subject = Descriptor::for_bytes(media_types::OCI_IMAGE_MANIFEST, MANIFEST);
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "artifactType": "application/sbom",
        "config": Descriptor::empty(),
        "layers": [],
        "subject": subject,
    }))
    .expect("json");
    let tag_path = format!("/v2/team/app/manifests/sha256-{}", subject.digest.encoded());
    Mock::given(method("PUT"))
        .and(path("/v2/team/app/manifests/sbom"))
        .and(header("content-type", media_types::OCI_IMAGE_MANIFEST))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(tag_path.as_str()))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(tag_path.as_str()))
        .and(header("content-type", media_types::OCI_IMAGE_INDEX))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let pushed = client
        .push_manifest(
            &reference(&server, "team/app:sbom"),
            Bytes::from(referrer.clone()),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await
        .expect("push");
    assert!(pushed.updated_referrers_tag);
    assert_eq!(pushed.digest, Digest::sha256(&referrer));
    let reqs = requests(&server).await;
    let index: serde_json::Value = serde_json::from_slice(&reqs[2].body).expect("index json");
    assert_eq!(index["manifests"][0]["digest"], pushed.digest.as_str());
    assert_eq!(index["manifests"][0]["artifactType"], "application/sbom");
}

#[tokio::test]
async fn bearer_tokens_are_negotiated_once_and_reused() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("service", "mock"))
        .and(query_param("scope", "repository:team/app:pull"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token":"tok-1","expires_in":300})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(manifest_response(MANIFEST))
        .with_priority(1)
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer realm="{realm}",service="mock",scope="repository:team/app:pull""#
                )
                .as_str(),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let r = reference(&server, "team/app:1.0");
    for _ in 0..3 {
        client
            .fetch_manifest(&r, &FetchOptions::default())
            .await
            .expect("fetch");
    }
}

#[tokio::test]
async fn a_denied_token_is_dropped_and_renegotiated_once() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let challenge =
        format!(r#"Bearer realm="{realm}",service="mock",scope="repository:team/app:pull""#);
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token":"old","expires_in":300})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token":"new","expires_in":300})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .and(header("authorization", "Bearer old"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("WWW-Authenticate", challenge.as_str())
                .set_body_json(
                    serde_json::json!({"errors":[{"code":"DENIED","message":"token revoked"}]}),
                ),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .and(header("authorization", "Bearer new"))
        .respond_with(manifest_response(MANIFEST))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .mount(&server)
        .await;
    let client = client_for(&server);
    client
        .fetch_manifest(
            &reference(&server, "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect("renegotiated");
    let tokens = requests(&server)
        .await
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count();
    assert_eq!(tokens, 2);
}

#[tokio::test]
async fn mount_falls_back_to_upload_and_deletes_use_202() {
    let server = MockServer::start().await;
    let blob = b"mount me".to_vec();
    let digest = Digest::sha256(&blob);
    Mock::given(method("POST"))
        .and(path("/v2/team/target/blobs/uploads/"))
        .and(query_param("mount", digest.as_str()))
        .and(query_param("from", "team/source"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("Location", "/v2/team/target/blobs/uploads/s1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/team/target/blobs/uploads/s1"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v2/team/target/blobs/{digest}")))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v2/team/target/manifests/{digest}")))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let target = reference(&server, "team/target");
    let descriptor = Descriptor::new(
        media_types::OCI_LAYER_TAR,
        digest.clone(),
        blob.len() as u64,
    );
    let options = PushOptions::builder().mount_from("team/source").build();
    let pushed = client
        .push_blob(&target, &descriptor, Bytes::from(blob), &options)
        .await
        .expect("upload after refused mount");
    assert_eq!(pushed.outcome, orca_distribution::PushOutcome::Uploaded);
    client
        .delete_blob(&target, &digest)
        .await
        .expect("delete blob");
    client
        .delete_manifest(&reference(&server, &format!("team/target@{digest}")))
        .await
        .expect("delete manifest");
}

#[tokio::test]
async fn plain_http_is_refused_unless_configured() {
    let server = MockServer::start().await;
    let mut config = config_for(&server);
    config.registries.clear();
    config.connect_timeout = Duration::from_secs(2);
    let client = Client::new(config).expect("client");
    // Without the plain-HTTP opt-in the client speaks TLS, which a plain server cannot
    // answer: it never sends the request in clear text.
    let e = client
        .ping(&host(&server))
        .await
        .expect_err("TLS to a plain server fails");
    assert!(
        matches!(e.kind(), ErrorKind::Connect | ErrorKind::Timeout),
        "{e}"
    );
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn a_streamed_upload_that_does_not_match_its_descriptor_is_aborted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/upload/u3"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let client = client_for(&server);
    let data = vec![7u8; 70_000];
    let mut claimed = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &vec![8u8; 70_000]);
    claimed.size = data.len() as u64;
    let options = PushOptions::builder()
        .method(UploadMethod::Streamed)
        .verify_source(true)
        .build();
    let e = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            Some(&claimed),
            std::io::Cursor::new(data.clone()),
            &options,
        )
        .await
        .expect_err("mismatch");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    let mut longer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &data);
    longer.size -= 1;
    let e = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            Some(&longer),
            std::io::Cursor::new(data),
            &options,
        )
        .await
        .expect_err("source longer than descriptor");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
    let puts: Vec<usize> = requests(&server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.body.len())
        .collect();
    assert!(
        puts.iter().all(|&n| n < 70_000),
        "a complete body went out: {puts:?}"
    );
}

/// A registry that opens upload sessions and answers every `PUT` with `DIGEST_INVALID`.
async fn refusing_every_digest() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/upload/u4"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#,
        ))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn by_default_a_streamed_upload_leaves_the_digest_check_to_the_registry() {
    let server = refusing_every_digest().await;
    let client = client_for(&server);
    let data = vec![7u8; 70_000];
    let mut claimed = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &vec![8u8; 70_000]);
    claimed.size = data.len() as u64;
    let e = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            Some(&claimed),
            std::io::Cursor::new(data.clone()),
            &PushOptions::default(),
        )
        .await
        .expect_err("the registry refuses the digest");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert!(e.to_string().contains("DIGEST_INVALID"), "{e}");
    let puts: Vec<usize> = requests(&server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.body.len())
        .collect();
    assert_eq!(puts, [70_000], "the whole body goes to the registry");
    // The size is still checked here: a short source never completes the body.
    let mut longer_claim = claimed.clone();
    longer_claim.size += 1;
    let e = client
        .push_blob_reader(
            &reference(&server, "team/app"),
            Some(&longer_claim),
            std::io::Cursor::new(data),
            &PushOptions::default(),
        )
        .await
        .expect_err("source shorter than its descriptor");
    assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{e}");
}

#[tokio::test]
async fn an_in_memory_push_hashes_here_only_with_verify_source() {
    let server = refusing_every_digest().await;
    let client = client_for(&server);
    let data = Bytes::from(vec![7u8; 1000]);
    let mut claimed = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &[8u8; 1000]);
    claimed.size = data.len() as u64;
    let puts = |requests: Vec<Request>| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PUT")
            .count()
    };
    // By default the registry checks the digest.
    let e = client
        .push_blob(
            &reference(&server, "team/app"),
            &claimed,
            data.clone(),
            &PushOptions::default(),
        )
        .await
        .expect_err("the registry refuses the digest");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert!(e.to_string().contains("DIGEST_INVALID"), "{e}");
    assert_eq!(puts(requests(&server).await), 1);
    // With verify_source the bytes never leave.
    let options = PushOptions::builder().verify_source(true).build();
    let e = client
        .push_blob(&reference(&server, "team/app"), &claimed, data, &options)
        .await
        .expect_err("refused here");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert_eq!(puts(requests(&server).await), 1, "no second PUT");
    // The size is always checked here.
    claimed.size += 1;
    let e = client
        .push_blob(
            &reference(&server, "team/app"),
            &claimed,
            Bytes::from(vec![7u8; 1000]),
            &PushOptions::default(),
        )
        .await
        .expect_err("wrong size");
    assert!(e.to_string().contains("1000 bytes"), "{e}");
    assert_eq!(puts(requests(&server).await), 1);
}

#[tokio::test]
async fn an_upload_location_on_another_host_gets_no_authorization() {
    let registry = MockServer::start().await;
    let uploads = MockServer::start().await;
    let blob = b"upload elsewhere".to_vec();
    let digest = Digest::sha256(&blob);
    Mock::given(method("POST"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(202).insert_header(
            "Location",
            format!("{}/session/9?sig=x", uploads.uri()).as_str(),
        ))
        .with_priority(1)
        .mount(&registry)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", r#"Basic realm="registry""#),
        )
        .mount(&registry)
        .await;
    Mock::given(method("PUT"))
        .and(path("/session/9"))
        .and(query_param("sig", "x"))
        .and(query_param("digest", digest.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&uploads)
        .await;
    let credentials =
        StaticCredentials::new().with(&host(&registry), Credential::basic("user", "pw"));
    let client = Client::with_authenticator(
        config_for(&registry),
        Authenticator::new(credentials, AuthOptions::default()),
    )
    .expect("client");
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, digest, blob.len() as u64);
    client
        .push_blob(
            &reference(&registry, "team/app"),
            &descriptor,
            Bytes::from(blob),
            &PushOptions::default(),
        )
        .await
        .expect("push");
    let puts = requests(&uploads).await;
    assert_eq!(puts.len(), 1);
    assert!(
        header_of(&puts[0], "authorization").is_none(),
        "credentials sent to the upload host"
    );
}

#[tokio::test]
async fn denied_with_basic_credentials_is_reported_as_denied() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(
                serde_json::json!({"errors":[{"code":"DENIED","message":"pull only"}]}),
            ),
        )
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", r#"Basic realm="registry""#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let credentials =
        StaticCredentials::new().with(&host(&server), Credential::basic("reader", "pw"));
    let client = Client::with_authenticator(
        config_for(&server),
        Authenticator::new(credentials, AuthOptions::default()),
    )
    .expect("client");
    let e = client
        .start_upload(&reference(&server, "team/app"))
        .await
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    assert!(e.has_code(&orca_distribution::ErrorCode::Denied));
    assert!(e.to_string().contains("pull only"), "{e}");
}

#[tokio::test]
async fn warnings_of_blob_downloads_and_uploads_reach_the_caller() {
    let server = MockServer::start().await;
    let blob = b"warned blob".to_vec();
    let descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &blob);
    Mock::given(method("GET"))
        .and(path(format!("/v2/team/app/blobs/{}", descriptor.digest)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(blob.clone())
                .insert_header("Warning", r#"299 - "blob storage is read-only soon""#),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("Location", "/upload/w1"))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Warning", r#"299 - "quota almost used up""#)
                .append_header("Warning", r#"199 - "not a 299 warning""#),
        )
        .mount(&server)
        .await;
    let client = client_for(&server);
    let repo = reference(&server, "team/app");
    let stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    assert_eq!(stream.warnings(), ["blob storage is read-only soon"]);
    assert_eq!(stream.bytes().await.expect("verified"), blob);
    let pushed = client
        .push_blob(
            &repo,
            &descriptor,
            Bytes::from(blob.clone()),
            &PushOptions::default(),
        )
        .await
        .expect("push");
    assert_eq!(pushed.warnings, ["quota almost used up"]);
    let streamed = client
        .push_blob_reader(
            &repo,
            Some(&descriptor),
            std::io::Cursor::new(blob),
            &PushOptions::builder()
                .method(UploadMethod::Streamed)
                .build(),
        )
        .await
        .expect("streamed push");
    assert_eq!(streamed.warnings, ["quota almost used up"]);
}

#[tokio::test]
async fn a_manifest_fetched_by_a_sha512_digest_verifies_with_sha512() {
    let server = MockServer::start().await;
    let sha512 = Digest::compute(&orca_manifest::Algorithm::Sha512, MANIFEST).expect("sha512");
    let wrong = Digest::compute(&orca_manifest::Algorithm::Sha512, b"other").expect("sha512");
    for digest in [&sha512, &wrong] {
        Mock::given(method("GET"))
            .and(path(format!("/v2/team/app/manifests/{digest}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(MANIFEST.to_vec(), media_types::OCI_IMAGE_MANIFEST),
            )
            .mount(&server)
            .await;
    }
    let client = client_for(&server);
    let options = FetchOptions::default();
    let fetched = client
        .fetch_manifest(&reference(&server, &format!("team/app@{sha512}")), &options)
        .await
        .expect("a sha512-pinned manifest");
    assert_eq!(fetched.descriptor.digest, sha512);
    assert_eq!(fetched.manifest.digest(), &Digest::sha256(MANIFEST));
    assert_eq!(fetched.descriptor.size, MANIFEST.len() as u64);
    let e = client
        .fetch_manifest(&reference(&server, &format!("team/app@{wrong}")), &options)
        .await
        .expect_err("other bytes than the sha512 names");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
}

#[tokio::test]
async fn pushing_a_manifest_value_returns_its_full_descriptor() {
    let server = MockServer::start().await;
    let manifest = orca_manifest::Manifest::parse(
        Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#,
        ),
        None,
    )
    .expect("manifest");
    Mock::given(method("PUT"))
        .and(path("/v2/team/app/manifests/1.0"))
        .and(header("content-type", media_types::OCI_IMAGE_MANIFEST))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let pushed = client
        .push_manifest_value(&reference(&server, "team/app:1.0"), &manifest)
        .await
        .expect("push");
    assert_eq!(pushed.descriptor, manifest.descriptor());
    assert_eq!(
        pushed.descriptor.artifact_type.as_deref(),
        Some("application/vnd.example")
    );
    assert_eq!(requests(&server).await[0].body, manifest.bytes().to_vec());
    // Bytes that are not a manifest of the media type given are refused before sending.
    let e = client
        .push_manifest(
            &reference(&server, "team/app:1.0"),
            Bytes::from_static(b"{}"),
            media_types::OCI_IMAGE_INDEX,
        )
        .await
        .expect_err("not an index");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[tokio::test]
async fn a_registry_blob_cap_refuses_before_any_request() {
    let server = MockServer::start().await;
    let registry: orca_distribution::Registry = host(&server).parse().expect("registry");
    let mut config = config_for(&server);
    config.policy_mut(registry).max_blob_bytes = Some(100);
    let client = Client::new(config).expect("client");
    let big = Descriptor::new("application/octet-stream", Digest::sha256(b"x"), 101);
    let repo = reference(&server, "team/app");
    let e = client
        .fetch_blob(&repo, &big)
        .await
        .expect_err("above the cap");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
    let e = client
        .push_blob_reader(
            &repo,
            Some(&big),
            tokio::io::empty(),
            &PushOptions::default(),
        )
        .await
        .expect_err("above the cap");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
    assert!(requests(&server).await.is_empty());
    // Another registry keeps the default policy (no cap).
    assert_eq!(client.config().policy("other.example").max_blob_bytes, None);
}

/// A `HEAD` refused with 403 cannot say why; the `GET` asked once after it does, and its
/// reason reaches the error.
#[tokio::test]
async fn a_head_refused_with_403_is_asked_again_as_get_for_the_reason() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            r#"{"errors":[{"code":"DENIED","message":"client with IP 10.0.0.7 is not allowed access"}]}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = client_for(&server)
        .resolve(&reference(&server, "team/app:1.0"))
        .await
        .expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    assert!(
        e.to_string()
            .contains("client with IP 10.0.0.7 is not allowed access"),
        "{e}"
    );
}
