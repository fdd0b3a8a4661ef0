//! skopeo pulls through the front (skipped with a message when skopeo is absent).

use std::process::{Command, Stdio};

use http::Method;
use orca_mock_registry::Config;

use crate::support::{Setup, content, push_image};

fn skopeo() -> bool {
    let found = Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: skopeo is not installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_image_through_the_front() {
    if !skopeo() {
        return;
    }
    let s = Setup::start(
        Config::default(),
        None,
        orca_pull_through::Options::default(),
    )
    .await;
    let image = push_image(
        &s.upstream_client,
        s.upstream.host(),
        "mirror/x",
        "1",
        content(100_000, 9),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("oci");
    let source = format!("docker://{}/library/x:1", s.front.host());
    let dest = format!("oci:{}", out.display());
    let home_path = home.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("skopeo")
            .env("HOME", &home_path)
            .env("TMPDIR", &home_path)
            .args([
                "copy",
                "--preserve-digests",
                "--src-tls-verify=false",
                &source,
                &dest,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let layer = std::fs::read(out.join("blobs/sha256").join(image.layer.encoded())).unwrap();
    assert_eq!(layer, image.layer_bytes);
    assert!(
        out.join("blobs/sha256")
            .join(image.manifest.encoded())
            .exists()
    );
    assert_eq!(
        s.upstream_requests(&Method::GET, &format!("/blobs/{}", image.layer)),
        1
    );
}
