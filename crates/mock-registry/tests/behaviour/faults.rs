//! Every fault of the fault plan, against the mock.

use std::time::Duration;

use orca_manifest::Digest;
use orca_mock_registry::{AuthMode, Config, Fault, FaultPlan, MockRegistry};

use crate::target::{Target, mock};

fn reg(t: &Target) -> &MockRegistry {
    t.mock.as_ref().expect("a mock target")
}

async fn blob_target(len: usize) -> (Target, Vec<u8>, String) {
    let t = mock(Config::default()).await;
    let data: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).expect("small"))
        .collect();
    let digest = t.push_blob("f/blob", &data).await;
    let url = t.url(&format!("/v2/f/blob/blobs/{digest}"));
    (t, data, url)
}

#[tokio::test]
async fn fail_nth_request_with_each_status() {
    let cases = [
        (500, "UNKNOWN"),
        (502, "UNKNOWN"),
        (503, "UNAVAILABLE"),
        (429, "TOOMANYREQUESTS"),
    ];
    assert_eq!(cases.len(), 4);
    for (status, code) in cases {
        let t = mock(Config::default()).await;
        reg(&t)
            .faults()
            .add(Fault::fail_nth(2, status).retry_after(7));
        let statuses: Vec<u16> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                let r = t.http.get(&t.url("/v2/")).await;
                if r.status == status {
                    assert_eq!(r.code(), code);
                    assert_eq!(r.header("retry-after"), Some("7"));
                }
                v.push(r.status);
            }
            v
        };
        assert_eq!(statuses, [200, status, 200]);
        let logged: Vec<u16> = reg(&t)
            .requests()
            .iter()
            .map(|r| r.status.as_u16())
            .collect();
        assert_eq!(logged, statuses);
        assert_eq!(reg(&t).faults().fired(), [1]);
    }
}

#[tokio::test]
async fn fail_matching_requests_a_limited_number_of_times() {
    let t = mock(Config::default()).await;
    let image = t
        .push_image("f/match", "v1", b"l", serde_json::json!({}))
        .await;
    reg(&t).faults().add(
        Fault::status(429)
            .on("PUT")
            .path("/v2/*/manifests/*")
            .times(2)
            .retry_after(1),
    );
    let get = t.http.get(&t.url("/v2/f/match/manifests/v1")).await;
    assert_eq!(get.status, 200, "GETs do not match");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            t.put_manifest(
                "f/match",
                "v2",
                crate::target::OCI_MANIFEST,
                &image.manifest,
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses, [429, 429, 201]);
}

#[tokio::test]
async fn faults_given_at_start() {
    let t =
        mock(Config::default().with_faults(FaultPlan::new().with(Fault::fail_nth(1, 500)))).await;
    assert_eq!(t.http.get(&t.url("/v2/")).await.status, 500);
    assert_eq!(t.http.get(&t.url("/v2/")).await.status, 200);
}

#[tokio::test]
async fn close_connection_after_k_bytes() {
    let (t, data, url) = blob_target(200_000).await;
    reg(&t).faults().add(Fault::close_after(1000).times(1));
    let r = t.http.try_req("GET", &url, &[], "").await;
    assert!(r.is_err(), "the body is cut: {r:?}");
    // The fault is spent: the next GET (resuming with Range, as a client would) works.
    let r = t
        .http
        .req("GET", &url, &[("range", "bytes=1000-")], "")
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &data[1000..]);
    // Request-level faults do not see blob faults: /v2/ was never affected.
    assert_eq!(reg(&t).faults().fired(), [1]);
}

#[tokio::test]
async fn corrupt_blob_bytes() {
    let (t, data, url) = blob_target(5000).await;
    reg(&t).faults().add(Fault::corrupt_blobs());
    let r = t.http.get(&url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len());
    assert_ne!(&r.body[..], &data[..]);
    assert_ne!(Digest::sha256(&r.body), Digest::sha256(&data));
    assert_eq!(&r.body[1..], &data[1..], "only the first byte is flipped");
}

#[tokio::test]
async fn delay_and_throttle_keep_bodies_intact() {
    let (t, data, url) = blob_target(40_000).await;
    reg(&t)
        .faults()
        .add(Fault::delay(Duration::from_millis(20)).on("GET"));
    reg(&t).faults().add(Fault::throttle(400_000));
    let r = t.http.get(&url).await;
    assert_eq!(&r.body[..], &data[..]);
    assert_eq!(reg(&t).faults().fired(), [1, 1]);
}

#[tokio::test]
async fn redirect_blob_gets_to_storage_that_refuses_authorization() {
    let t = mock(Config::default().with_auth(AuthMode::basic("u", "p"))).await;
    let basic = "Basic dTpw"; // u:p
    let data = b"redirected blob content";
    let location = {
        let r = t
            .http
            .req(
                "POST",
                &t.url("/v2/f/redir/blobs/uploads/"),
                &[("authorization", basic)],
                "",
            )
            .await;
        t.resolve(r.header("location").expect("Location"))
    };
    let digest = Digest::sha256(data);
    let r = t
        .http
        .req(
            "PUT",
            &Target::with_query(&location, &format!("digest={digest}")),
            &[("authorization", basic)],
            &data[..],
        )
        .await;
    assert_eq!(r.status, 201);
    reg(&t).faults().add(Fault::redirect_blobs());
    let url = t.url(&format!("/v2/f/redir/blobs/{digest}"));
    let r = t
        .http
        .req("GET", &url, &[("authorization", basic)], "")
        .await;
    assert_eq!(r.status, 307);
    let storage = r.header("location").expect("Location").to_owned();
    assert!(storage.starts_with(reg(&t).blob_storage_url()), "{storage}");
    let r = t
        .http
        .req("GET", &storage, &[("authorization", basic)], "")
        .await;
    assert_eq!(r.status, 401, "storage refuses registry credentials");
    let r = t.http.get(&storage).await;
    assert_eq!((r.status, &r.body[..]), (200, &data[..]));
    let r = t
        .http
        .req("GET", &storage, &[("range", "bytes=0-9")], "")
        .await;
    assert_eq!((r.status, &r.body[..]), (206, &data[..10]));
    // Without the signature the storage URL is refused.
    let unsigned = storage.split('?').next().expect("path").to_owned();
    assert_eq!(t.http.get(&unsigned).await.status, 403);
    // HEAD is not redirected.
    let r = t
        .http
        .req("HEAD", &url, &[("authorization", basic)], "")
        .await;
    assert_eq!(r.status, 200);
    let storage_requests = reg(&t)
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .count();
    assert_eq!(storage_requests, 4);
    // Blob faults can target the storage listener alone.
    reg(&t)
        .faults()
        .add(Fault::close_after(5).path("/storage/*").times(1));
    assert!(
        t.http.try_req("GET", &storage, &[], "").await.is_err(),
        "cut at storage"
    );
    let r = t.http.get(&storage).await;
    assert_eq!(&r.body[..], &data[..], "the fault is spent");
}

#[tokio::test]
async fn tokens_expire_early() {
    let t = mock(Config::default().with_auth(AuthMode::bearer("u", "p"))).await;
    let r = t
        .http
        .req(
            "GET",
            &t.url(&format!(
                "/token?service={}&scope=repository:f/exp:pull",
                reg(&t).host()
            )),
            &[("authorization", "Basic dTpw")],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    let bearer = format!("Bearer {token}");
    let tags = t.url("/v2/f/exp/tags/list");
    assert_eq!(
        t.http
            .req("GET", &tags, &[("authorization", &bearer)], "")
            .await
            .status,
        404
    );
    reg(&t).faults().expire_tokens_after(Some(Duration::ZERO));
    let r = t
        .http
        .req("GET", &tags, &[("authorization", &bearer)], "")
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .expect("challenge")
            .contains("error=\"invalid_token\"")
    );
    reg(&t).faults().expire_tokens_after(None);
    assert_eq!(
        t.http
            .req("GET", &tags, &[("authorization", &bearer)], "")
            .await
            .status,
        404
    );
}
