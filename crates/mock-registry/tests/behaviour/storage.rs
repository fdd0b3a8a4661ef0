//! Directory storage: content-addressed, atomic, persistent across restarts.

use orca_manifest::{Algorithm, Digest};
use orca_mock_registry::{Config, Error, MockRegistry, Storage};

use crate::target::{OCI_MANIFEST, Target, mock};

fn dir_config(dir: &std::path::Path) -> Config {
    Config::default().with_storage(Storage::Directory(dir.to_owned()))
}

fn files_under(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    // Bounded by the tree: each directory is visited once.
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn directory_storage_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (image, layer) = {
        let t = mock(dir_config(dir.path())).await;
        let image = t
            .push_image("st/app", "v1", b"persistent layer", serde_json::json!({}))
            .await;
        (image, Digest::sha256(b"persistent layer"))
    };
    let blob_file = dir.path().join("blobs/sha256").join(layer.encoded());
    assert_eq!(
        std::fs::read(&blob_file).expect("blob file"),
        b"persistent layer"
    );
    assert!(
        files_under(&dir.path().join("uploads")).is_empty(),
        "no temporary files left"
    );
    let t = mock(dir_config(dir.path())).await;
    let r = t
        .http
        .req(
            "GET",
            &t.url("/v2/st/app/manifests/v1"),
            &[("accept", OCI_MANIFEST)],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image.manifest);
    let r = t
        .http
        .get(&t.url(&format!("/v2/st/app/blobs/{layer}")))
        .await;
    assert_eq!(&r.body[..], b"persistent layer");
    let r = t.http.get(&t.url("/v2/st/app/tags/list")).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
}

#[tokio::test]
async fn an_unfinished_upload_is_never_a_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = vec![7u8; 100_000];
    {
        let t = mock(dir_config(dir.path())).await;
        let location = t.start_upload("st/partial").await;
        let r = t
            .http
            .req(
                "PATCH",
                &location,
                &[("content-range", "0-49999")],
                data[..50_000].to_vec(),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    let blobs = files_under(&dir.path().join("blobs"));
    assert!(blobs.is_empty(), "half an upload is invisible: {blobs:?}");
    let t = mock(dir_config(dir.path())).await;
    let r = t
        .http
        .get(&t.url(&format!("/v2/st/partial/blobs/{}", Digest::sha256(&data))))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn large_chunked_upload_streams_to_disk_and_back_with_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = mock(dir_config(dir.path())).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut location = t.start_upload("st/large").await;
    for (i, chunk) in data.chunks(1_000_000).enumerate() {
        let start = i * 1_000_000;
        let range = format!("{start}-{}", start + chunk.len() - 1);
        let r = t
            .http
            .req(
                "PATCH",
                &location,
                &[("content-range", &range)],
                chunk.to_vec(),
            )
            .await;
        assert_eq!(r.status, 202);
        location = t.resolve(r.header("location").expect("Location"));
    }
    let digest = Digest::sha256(&data);
    let r = t
        .http
        .req(
            "PUT",
            &Target::with_query(&location, &format!("digest={digest}")),
            &[],
            "",
        )
        .await;
    assert_eq!(r.status, 201);
    let url = t.url(&format!("/v2/st/large/blobs/{digest}"));
    let r = t.http.get(&url).await;
    assert_eq!(r.body.len(), data.len());
    assert_eq!(Digest::sha256(&r.body), digest);
    let r = t
        .http
        .req("GET", &url, &[("range", "bytes=2999990-")], "")
        .await;
    assert_eq!(&r.body[..], &data[2_999_990..]);
}

#[tokio::test]
async fn sha512_digests_are_verified() {
    for storage in ["memory", "directory"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = if storage == "memory" {
            Config::default()
        } else {
            dir_config(dir.path())
        };
        let t = mock(config).await;
        let data = b"sha512 content";
        let digest = Digest::compute(&Algorithm::Sha512, data).expect("sha512");
        let location = t.start_upload("st/sha512").await;
        let r = t
            .http
            .req(
                "PUT",
                &Target::with_query(&location, &format!("digest={digest}")),
                &[],
                &data[..],
            )
            .await;
        assert_eq!(r.status, 201, "{storage}");
        let r = t
            .http
            .get(&t.url(&format!("/v2/st/sha512/blobs/{digest}")))
            .await;
        assert_eq!(&r.body[..], data, "{storage}");
        let wrong = Digest::compute(&Algorithm::Sha512, b"other").expect("sha512");
        let location = t.start_upload("st/sha512").await;
        let r = t
            .http
            .req(
                "PUT",
                &Target::with_query(&location, &format!("digest={wrong}")),
                &[],
                &data[..],
            )
            .await;
        assert_eq!(r.status, 400, "{storage}");
    }
}

#[tokio::test]
async fn corrupt_state_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("state.json"), b"{not json").expect("write");
    let err = MockRegistry::start(dir_config(dir.path()))
        .await
        .expect_err("corrupt state");
    assert!(matches!(err, Error::CorruptState { .. }), "{err:?}");
    assert!(err.to_string().contains("state.json"), "{err}");
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = std::sync::Arc::new(mock(dir_config(dir.path())).await);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 199) as u8).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let t = t.clone();
        let data = data.clone();
        tasks.spawn(async move { t.push_blob(&format!("st/concurrent{}", i % 2), &data).await });
    }
    let mut digests = Vec::new();
    while let Some(d) = tasks.join_next().await {
        digests.push(d.expect("task"));
    }
    assert_eq!(digests.len(), 8);
    assert!(digests.iter().all(|d| *d == Digest::sha256(&data)));
    for repo in ["st/concurrent0", "st/concurrent1"] {
        let r = t
            .http
            .get(&t.url(&format!("/v2/{repo}/blobs/{}", digests[0])))
            .await;
        assert_eq!(Digest::sha256(&r.body), digests[0]);
    }
    assert!(
        files_under(&dir.path().join("uploads")).is_empty(),
        "no temporary files left"
    );
}
