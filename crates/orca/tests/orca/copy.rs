//! `copy` between two mock registries, within one, and to Debian's `docker-registry`.

use bytes::Bytes;
use orca::{ArtifactStore, BlobOptions, CopyOptions, PushOptions, Store, StoreRegistry};
use orca_mock_registry::{Config, MockRegistry};

use crate::support::{sample_folder, tree};

fn store_for(hosts: &[&str]) -> ArtifactStore {
    let mut stores = StoreRegistry::new();
    for host in hosts {
        stores.add(Store::new(host).unwrap().with_plain_http(true));
    }
    ArtifactStore::builder(stores).build().unwrap()
}

#[tokio::test]
async fn copy_between_two_registries_with_referrers() {
    let a = MockRegistry::start(Config::default()).await.unwrap();
    let b = MockRegistry::start(Config::default()).await.unwrap();
    let store = store_for(&[a.host(), b.host()]);
    let dir = tempfile::tempdir().unwrap();
    let folder = sample_folder(dir.path());
    let src = format!("{}/configs/anonymization:default", a.host());
    let pushed = store
        .push_dir(&src, &folder, &PushOptions::default())
        .await
        .unwrap();
    let signature = store
        .push_blob(
            &format!("{}/configs/anonymization:sig", a.host()),
            Bytes::from_static(b"signature"),
            &BlobOptions::new("application/vnd.example.signature").subject(pushed.digest.as_str()),
        )
        .await
        .unwrap();

    let copied = store
        .copy(
            &src,
            &format!("{}/mirror/anonymization", b.host()),
            &CopyOptions::default().referrers(true),
        )
        .await
        .unwrap();
    assert_eq!(copied.digest.as_ref(), Some(&pushed.digest));
    assert_eq!(copied.referrers, 1);
    assert_eq!(copied.manifests, 2);
    // The folder layer and the empty config, then the signature's layer (its config exists).
    assert_eq!(copied.blobs_copied, 3, "{copied:?}");

    let out = dir.path().join("out");
    let fetched = store
        .fetch(
            &format!("{}/mirror/anonymization:default", b.host()),
            "x",
            &out,
        )
        .await
        .unwrap();
    assert_eq!(fetched.digest, pushed.digest);
    assert_eq!(tree(&out.join("anonymization")), tree(&folder));
    let referrers = store
        .referrers(&format!("{}/mirror/anonymization:default", b.host()), None)
        .await
        .unwrap();
    assert_eq!(referrers.manifests.len(), 1);
    assert_eq!(referrers.manifests[0].digest, signature.digest);

    // Again: everything is there already.
    let again = store
        .copy(
            &src,
            &format!("{}/mirror/anonymization", b.host()),
            &CopyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.blobs_copied, 0);
    assert_eq!(again.blobs_skipped, 2);

    // Within one registry, blobs are mounted.
    let mounted = store
        .copy(
            &src,
            &format!("{}/other/anonymization:v1", a.host()),
            &CopyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(mounted.blobs_mounted, 2, "{mounted:?}");
    assert_eq!(mounted.blobs_copied, 0);
}

#[tokio::test]
async fn copy_from_the_mock_to_docker_registry() {
    let Some(real) = crate::support::docker_registry().await else {
        return;
    };
    let mock = MockRegistry::start(Config::default()).await.unwrap();
    let store = store_for(&[mock.host(), real.host()]);
    let dir = tempfile::tempdir().unwrap();
    let folder = sample_folder(dir.path());
    let src = format!("{}/configs/anonymization:default", mock.host());
    let pushed = store
        .push_dir(&src, &folder, &PushOptions::default())
        .await
        .unwrap();
    let dst = format!("{}/configs/anonymization:default", real.host());
    let copied = store
        .copy(&src, &dst, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(copied.blobs_copied, 2);
    let out = dir.path().join("out");
    let fetched = store.fetch(&dst, "x", &out).await.unwrap();
    assert_eq!(fetched.digest, pushed.digest);
    assert_eq!(tree(&out.join("anonymization")), tree(&folder));
}

#[tokio::test]
async fn copy_with_a_platform_copies_only_an_image_for_it() {
    use orca::manifest::{Descriptor, annotations, media_types};
    let a = MockRegistry::start(Config::default()).await.unwrap();
    let b = MockRegistry::start(Config::default()).await.unwrap();
    let store = store_for(&[a.host(), b.host()]);
    let layer = Bytes::from_static(b"tool for linux/arm64\n");
    let mut layer_d = Descriptor::for_bytes("text/plain", &layer);
    layer_d
        .annotations
        .insert(annotations::TITLE.to_owned(), "tool.txt".to_owned());
    let config = Bytes::from_static(br#"{"architecture":"arm64","os":"linux"}"#);
    let config_d = Descriptor::for_bytes(media_types::OCI_IMAGE_CONFIG, &config);
    let src = format!("{}/tools/tool:1", a.host());
    let image = crate::support::push_raw(
        a.host(),
        &src,
        (config_d, config),
        vec![(layer_d, layer)],
        None,
    )
    .await;
    let dst = format!("{}/mirror/tool:1", b.host());

    // Another platform: not found, naming both, and nothing reaches the destination.
    let e = store
        .copy(
            &src,
            &dst,
            &CopyOptions::default().platform("linux/amd64".parse().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ArtifactNotFound", "{e}");
    assert!(
        e.full_message()
            .contains("for platform linux/arm64, not linux/amd64"),
        "{}",
        e.full_message()
    );
    assert!(b.requests().is_empty(), "{:?}", b.requests());

    // Its platform: copied as it is, the platform reported.
    let copied = store
        .copy(
            &src,
            &dst,
            &CopyOptions::default().platform("linux/arm64".parse().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(copied.digest.as_ref(), Some(&image.digest));
    assert_eq!(
        copied.platform.as_ref().map(ToString::to_string),
        Some("linux/arm64".to_owned())
    );
    assert!(copied.index.is_none());
    assert_eq!((copied.manifests, copied.blobs_copied), (1, 2));
    assert_eq!(store.resolve(&dst).await.unwrap().digest, image.digest);

    // An artifact names no platform: refused.
    let dir = tempfile::tempdir().unwrap();
    let artifact = format!("{}/tools/settings:1", a.host());
    store
        .push_dir(
            &artifact,
            &sample_folder(dir.path()),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    let e = store
        .copy(
            &artifact,
            &format!("{}/mirror/settings:1", b.host()),
            &CopyOptions::default().platform("linux/arm64".parse().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
    assert!(e.to_string().contains("not an image config"), "{e}");
}
