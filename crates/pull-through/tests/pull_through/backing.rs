//! `RegistryStorage` against Debian's `docker-registry` as the backing store: manifests
//! by tag and digest, blob reads with ranges, manifests held until their children land,
//! verification of what the backing registry serves.

#![allow(clippy::unwrap_used)] // Helpers of tests: a failure is the test's.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use orca_distribution::{Client, ClientConfig, ErrorKind, FetchOptions};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
use orca_pull_through::{
    BackingLocation, BackingOptions, BlobRead, ManifestRef, RegistryStorage, Storage,
    StoredManifest,
};
use orca_reference::Reference;

/// Start `docker-registry`, or `None` (the test then returns: the harness printed why).
async fn registry() -> Option<ReferenceRegistry> {
    ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .expect("docker-registry starts")
}

fn client(registry: &ReferenceRegistry) -> Client {
    let config = ClientConfig::builder()
        .plain_http(registry.host().parse().expect("registry"))
        .build();
    Client::new(config).expect("client")
}

fn storage(registry: &ReferenceRegistry, prefix: &str, options: BackingOptions) -> RegistryStorage {
    let location: BackingLocation = format!("{}/{prefix}", registry.host()).parse().unwrap();
    RegistryStorage::new(client(registry), location, options)
}

/// A blob of `n` bytes that are not all alike.
fn content(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            u8::try_from(i % 251)
                .unwrap()
                .wrapping_mul(31)
                .wrapping_add(seed)
        })
        .collect()
}

/// Hand `bytes` to `put_blob` as the front does: a verified spool file.
async fn put_blob(storage: &RegistryStorage, repository: &str, bytes: &[u8]) -> Digest {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    std::fs::write(&path, bytes).unwrap();
    let digest = Digest::sha256(bytes);
    storage
        .put_blob(repository, &digest, bytes.len() as u64, &path)
        .await
        .unwrap();
    digest
}

async fn collect(read: BlobRead) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    let mut body = read.body;
    while let Some(piece) = body.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

/// An OCI image manifest of `config` and `layers`.
fn image(config: &[u8], layers: &[&[u8]]) -> StoredManifest {
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|l| Descriptor::for_bytes(media_types::OCI_LAYER_TAR_GZIP, l))
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "config": Descriptor::for_bytes(media_types::OCI_IMAGE_CONFIG, config),
        "layers": layers,
    });
    stored(media_types::OCI_IMAGE_MANIFEST, &body)
}

/// An OCI index of `manifests`.
fn index(manifests: &[&StoredManifest]) -> StoredManifest {
    let manifests: Vec<Descriptor> = manifests
        .iter()
        .map(|m| Descriptor::new(&m.media_type, m.digest.clone(), m.bytes.len() as u64))
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_INDEX,
        "manifests": manifests,
    });
    stored(media_types::OCI_IMAGE_INDEX, &body)
}

fn stored(media_type: &str, body: &serde_json::Value) -> StoredManifest {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap());
    StoredManifest {
        digest: Digest::sha256(&bytes),
        media_type: media_type.into(),
        bytes,
    }
}

/// Whether the backing registry itself serves `name:reference` (read with a client of its
/// own, not through the storage).
async fn in_backing(registry: &ReferenceRegistry, name: &str, reference: &str) -> bool {
    let sep = if reference.contains(':') { "@" } else { ":" };
    let target: Reference = format!("{}/{name}{sep}{reference}", registry.host())
        .parse()
        .unwrap();
    match client(registry)
        .fetch_manifest(&target, &FetchOptions::default())
        .await
    {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn manifests_by_tag_and_digest_and_blobs_with_ranges() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(&registry, "cache/hub", BackingOptions::default());
    let repo = "library/alpine";
    let config = b"{\"architecture\":\"amd64\"}".to_vec();
    let layer = content(3 * 1024 * 1024 + 17, 1);
    let manifest = image(&config, &[&layer]);
    let tag = ManifestRef::Tag("3".into());
    let by_digest = ManifestRef::Digest(manifest.digest.clone());
    assert_eq!(storage.manifest(repo, &tag).await.unwrap(), None);
    assert_eq!(storage.manifest(repo, &by_digest).await.unwrap(), None);

    let config_digest = put_blob(&storage, repo, &config).await;
    let layer_digest = put_blob(&storage, repo, &layer).await;
    // Again: already there, nothing to send.
    put_blob(&storage, repo, &layer).await;
    storage
        .put_manifest(repo, &manifest, Some("3"))
        .await
        .unwrap();
    assert_eq!(
        storage.held_manifests(),
        0,
        "children there: pushed at once"
    );
    assert!(in_backing(&registry, "cache/hub/library/alpine", "3").await);
    assert!(
        !in_backing(&registry, "library/alpine", "3").await,
        "under the prefix only"
    );

    // A second storage on the same registry (another front) reads it.
    let other = self::storage(&registry, "cache/hub", BackingOptions::default());
    for s in [&storage, &other] {
        assert_eq!(
            s.manifest(repo, &tag).await.unwrap().as_ref(),
            Some(&manifest)
        );
        assert_eq!(
            s.manifest(repo, &by_digest).await.unwrap().as_ref(),
            Some(&manifest)
        );
    }
    assert_eq!(storage.manifest("library/other", &tag).await.unwrap(), None);

    assert_eq!(
        storage.blob_size(repo, &config_digest).await.unwrap(),
        Some(config.len() as u64)
    );
    assert_eq!(
        storage
            .blob_size(repo, &Digest::sha256(b"absent"))
            .await
            .unwrap(),
        None
    );
    assert!(
        storage
            .read_blob(repo, &Digest::sha256(b"absent"), None)
            .await
            .unwrap()
            .is_none()
    );
    let whole = other
        .read_blob(repo, &layer_digest, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(whole.size, layer.len() as u64);
    assert_eq!(collect(whole).await.unwrap(), layer);
    let size = layer.len() as u64;
    for (start, end) in [
        (0, 0),
        (10, 19),
        (1024 * 1024 - 1, 2 * 1024 * 1024 + 5),
        (size - 1, size - 1),
    ] {
        let part = other
            .read_blob(repo, &layer_digest, Some((start, end)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(part.size, size);
        assert_eq!(
            collect(part).await.unwrap(),
            layer[usize::try_from(start).unwrap()..=usize::try_from(end).unwrap()],
            "range {start}-{end}"
        );
    }
    assert!(
        other
            .read_blob(repo, &layer_digest, Some((0, size)))
            .await
            .is_err()
    );
    assert!(storage.blob_size("../x", &layer_digest).await.is_err());
}

#[tokio::test]
async fn manifests_are_held_until_their_children_land() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(&registry, "cache", BackingOptions::default());
    let repo = "team/app";
    let config = b"{}".to_vec();
    let layer = content(100_000, 2);
    let manifest = image(&config, &[&layer]);
    let list = index(&[&manifest]);
    let tag = ManifestRef::Tag("1".into());

    // The index first, then its manifest: both held, both served by this storage.
    storage.put_manifest(repo, &list, Some("1")).await.unwrap();
    storage.put_manifest(repo, &manifest, None).await.unwrap();
    assert_eq!(storage.held_manifests(), 2);
    assert_eq!(
        storage.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&list)
    );
    let by_digest = ManifestRef::Digest(manifest.digest.clone());
    assert_eq!(
        storage.manifest(repo, &by_digest).await.unwrap().as_ref(),
        Some(&manifest)
    );
    assert!(!in_backing(&registry, "cache/team/app", "1").await);

    put_blob(&storage, repo, &config).await;
    assert_eq!(storage.held_manifests(), 2, "the layer is still missing");
    assert!(!in_backing(&registry, "cache/team/app", manifest.digest.as_str()).await);

    put_blob(&storage, repo, &layer).await;
    assert_eq!(storage.held_manifests(), 0, "the manifest, then the index");
    assert!(in_backing(&registry, "cache/team/app", manifest.digest.as_str()).await);
    assert!(in_backing(&registry, "cache/team/app", "1").await);
    let other = self::storage(&registry, "cache", BackingOptions::default());
    assert_eq!(
        other.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&list)
    );
}

#[tokio::test]
async fn a_held_manifest_completed_by_another_front_is_pushed_on_its_next_read() {
    let Some(registry) = registry().await else {
        return;
    };
    let options = BackingOptions::default().with_recheck_after(Duration::ZERO);
    let a = storage(&registry, "shared", options.clone());
    let b = storage(&registry, "shared", options);
    let repo = "library/nginx";
    let config = b"{\"os\":\"linux\"}".to_vec();
    let layer = content(4096, 3);
    let manifest = image(&config, &[&layer]);
    a.put_manifest(repo, &manifest, Some("stable"))
        .await
        .unwrap();
    assert_eq!(a.held_manifests(), 1);
    // Front B gets the blob requests.
    put_blob(&b, repo, &config).await;
    put_blob(&b, repo, &layer).await;
    assert_eq!(a.held_manifests(), 1, "A has not heard yet");
    let tag = ManifestRef::Tag("stable".into());
    assert_eq!(b.manifest(repo, &tag).await.unwrap(), None);
    // A's next read of it asks the backing registry again, and pushes it.
    assert_eq!(
        a.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&manifest)
    );
    assert_eq!(a.held_manifests(), 0);
    assert_eq!(
        b.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&manifest)
    );
}

#[tokio::test]
async fn held_manifests_are_bounded_and_a_tag_moves_to_the_newest() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(
        &registry,
        "bounded",
        BackingOptions::default().with_max_held_manifests(2),
    );
    let repo = "a";
    let manifests: Vec<StoredManifest> = (0..3u8)
        .map(|i| image(&[b'{', b'}', b' ', i], &[&content(10, i)]))
        .collect();
    for m in &manifests {
        storage.put_manifest(repo, m, Some("t")).await.unwrap();
    }
    assert_eq!(storage.held_manifests(), 2, "the oldest was dropped");
    let oldest = ManifestRef::Digest(manifests[0].digest.clone());
    assert_eq!(storage.manifest(repo, &oldest).await.unwrap(), None);
    let tag = ManifestRef::Tag("t".into());
    assert_eq!(
        storage.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&manifests[2])
    );
    // The middle one loses the tag: when it lands, it is pushed by digest only.
    put_blob(&storage, repo, &[b'{', b'}', b' ', 1]).await;
    put_blob(&storage, repo, &content(10, 1)).await;
    assert_eq!(storage.held_manifests(), 1);
    assert!(in_backing(&registry, "bounded/a", manifests[1].digest.as_str()).await);
    assert!(!in_backing(&registry, "bounded/a", "t").await);
}

#[tokio::test]
async fn a_corrupted_blob_in_the_backing_registry_is_cut_before_its_end() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(&registry, "verify", BackingOptions::default());
    let repo = "x";
    let layer = content(2 * 1024 * 1024, 4);
    let digest = put_blob(&storage, repo, &layer).await;
    // Flip one byte in the registry's own file (filesystem driver layout).
    let hex = digest.encoded();
    let file = registry
        .dir()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&file).expect("the registry's blob file");
    bytes[1000] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    for range in [None, Some((0, 99)), Some((0, layer.len() as u64 - 1))] {
        let read = storage
            .read_blob(repo, &digest, range)
            .await
            .unwrap()
            .unwrap();
        let mut received = 0usize;
        let mut failed = None;
        let mut body = read.body;
        while let Some(piece) = body.next().await {
            match piece {
                Ok(p) => received += p.len(),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let wanted = range.map_or(layer.len(), |(s, e)| usize::try_from(e - s + 1).unwrap());
        let e = failed.unwrap_or_else(|| panic!("{range:?}: a corrupted blob must fail"));
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        assert!(
            received < wanted,
            "{range:?}: {received} of {wanted} bytes before the failure"
        );
    }
}

/// A front before `upstream` (rule `library/* -> UPSTREAM/mirror/*`) storing in the
/// backing registry under `prefix`.
async fn front_on(
    upstream: &orca_mock_registry::MockRegistry,
    backing: &ReferenceRegistry,
    prefix: &str,
) -> (orca_pull_through::Front, RegistryStorage) {
    let host = upstream.host();
    let rules = orca_pull_through::StaticUpstreams::new()
        .with(
            crate::support::RULE_TARGET,
            crate::support::client(&[host], None),
            &format!("{host}/mirror/*"),
        )
        .unwrap();
    let storage = storage(backing, prefix, BackingOptions::default());
    let front = orca_pull_through::Front::start(
        std::sync::Arc::new(storage.clone()),
        std::sync::Arc::new(rules),
        orca_pull_through::Options::default(),
    )
    .await
    .unwrap();
    (front, storage)
}

#[tokio::test]
async fn two_fronts_share_one_backing_registry() {
    use http::{Method, StatusCode};

    use crate::support::{content, push_image, raw};

    let Some(backing) = registry().await else {
        return;
    };
    let upstream = orca_mock_registry::MockRegistry::start(orca_mock_registry::Config::default())
        .await
        .unwrap();
    let upstream_client = crate::support::client(&[upstream.host()], None);
    let image = push_image(
        &upstream_client,
        upstream.host(),
        "mirror/x",
        "1",
        content(1_500_000, 9),
    )
    .await;
    let (a, a_storage) = front_on(&upstream, &backing, "fronts").await;
    let (b, _) = front_on(&upstream, &backing, "fronts").await;

    // A client pulls through front A: misses, fetched upstream, pushed to the backing.
    let pull = |front: &orca_pull_through::Front, reference: String| {
        let client = crate::support::client(&[&front.host()], None);
        async move {
            let reference: Reference = reference.parse().unwrap();
            let fetched = client
                .fetch_manifest(&reference, &FetchOptions::default())
                .await
                .unwrap();
            let repo = Reference::new(reference.registry(), reference.repository()).unwrap();
            let mut blobs = Vec::new();
            for d in fetched.manifest.children() {
                let stream = client.fetch_blob(&repo, d).await.unwrap();
                blobs.push(stream.bytes().await.unwrap());
            }
            (fetched.bytes, blobs)
        }
    };
    let (manifest, blobs) = pull(&a, format!("{}/library/x:1", a.host())).await;
    assert_eq!(manifest, image.manifest_bytes);
    assert_eq!(blobs[1], image.layer_bytes);
    // The blobs land just after their downloads verified, and the held manifest with
    // them (bounded wait).
    let mut pushed = false;
    for _ in 0..500 {
        if a_storage.held_manifests() == 0 && in_backing(&backing, "fronts/library/x", "1").await {
            pushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(pushed, "the manifest reached the backing registry");
    let upstream_before = upstream.requests().len();

    // Front B has never seen it: by digest, everything comes from the backing registry.
    let (manifest, blobs) = pull(&b, format!("{}/library/x@{}", b.host(), image.manifest)).await;
    assert_eq!(manifest, image.manifest_bytes);
    assert_eq!(blobs[1], image.layer_bytes);
    let layer = raw(
        Method::GET,
        &format!("{}/v2/library/x/blobs/{}", b.base_url(), image.layer),
        &[("range", "bytes=100-199")],
    )
    .await;
    assert_eq!(layer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(layer.cache(), Some("hit"));
    assert_eq!(layer.bytes(), &image.layer_bytes[100..200]);
    assert_eq!(
        upstream.requests().len(),
        upstream_before,
        "front B sent nothing upstream: {:?}",
        &upstream.requests()[upstream_before..]
    );

    // By tag, front B asks upstream only whether the tag moved (its own revalidation
    // clock): one HEAD, no manifest or blob bytes.
    let (manifest, _) = pull(&b, format!("{}/library/x:1", b.host())).await;
    assert_eq!(manifest, image.manifest_bytes);
    let after: Vec<_> = upstream.requests()[upstream_before..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].method, Method::HEAD, "{after:?}");

    // The backing registry names no spool directory: each front made one of its own under
    // the temporary directory, and removes it when it is done.
    let spools = [a.spool_dir().to_path_buf(), b.spool_dir().to_path_buf()];
    assert_ne!(spools[0], spools[1]);
    assert!(spools.iter().all(|dir| dir.is_dir()), "{spools:?}");
    a.shutdown().await;
    b.shutdown().await;
    for dir in &spools {
        let mut gone = false;
        for _ in 0..500 {
            if !dir.exists() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "{} is left behind", dir.display());
    }
}

#[tokio::test]
async fn the_backing_registry_over_tls_with_basic_auth_from_the_callers_client() {
    use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};

    let options = ReferenceOptions {
        tls: true,
        users: vec![(
            "front".to_owned(),
            orca_mock_registry::Secret::new("s3cret"),
        )],
    };
    let Some(registry) = ReferenceRegistry::start(options).await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, registry.ca_pem().unwrap()).unwrap();
    let location: BackingLocation = format!("{}/secure", registry.host()).parse().unwrap();
    let config = || ClientConfig::builder().root_certificate(&ca).build();
    let with_password = |password: &str| {
        let auth = Authenticator::new(
            StaticCredentials::new().with(registry.host(), Credential::basic("front", password)),
            AuthOptions::default(),
        );
        Client::with_authenticator(config(), auth).unwrap()
    };
    let repo = "library/app";
    let layer = content(10_000, 5);
    let manifest = image(b"{}", &[&layer]);
    let tag = ManifestRef::Tag("v1".into());

    let storage = RegistryStorage::new(
        with_password("s3cret"),
        location.clone(),
        BackingOptions::default(),
    );
    put_blob(&storage, repo, b"{}").await;
    put_blob(&storage, repo, &layer).await;
    storage
        .put_manifest(repo, &manifest, Some("v1"))
        .await
        .unwrap();
    assert_eq!(storage.held_manifests(), 0);
    assert_eq!(
        storage.manifest(repo, &tag).await.unwrap().as_ref(),
        Some(&manifest)
    );

    // Refused credentials are a storage failure (the front answers 500), never a miss,
    // and the error does not carry the password.
    let wrong = RegistryStorage::new(
        with_password("wrong"),
        location.clone(),
        BackingOptions::default(),
    );
    let e = wrong.manifest(repo, &tag).await.unwrap_err();
    assert!(!e.to_string().contains("wrong"), "{e}");
    let anonymous = RegistryStorage::new(
        Client::new(config()).unwrap(),
        location,
        BackingOptions::default(),
    );
    assert!(
        anonymous
            .blob_size(repo, &Digest::sha256(&layer))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_blob_deleted_from_the_backing_registry_is_a_miss() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(&registry, "gc", BackingOptions::default());
    let repo = "y";
    let digest = put_blob(&storage, repo, &content(5000, 6)).await;
    // The size is remembered for the read that follows it...
    assert_eq!(storage.blob_size(repo, &digest).await.unwrap(), Some(5000));
    // ...and the registry's garbage collector removes the blob meanwhile.
    let name: Reference = format!("{}/gc/y", registry.host()).parse().unwrap();
    client(&registry).delete_blob(&name, &digest).await.unwrap();
    assert!(
        storage
            .read_blob(repo, &digest, None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(storage.blob_size(repo, &digest).await.unwrap(), None);
}

#[tokio::test]
async fn the_empty_config_of_an_artifact_is_pushed_by_the_storage_itself() {
    let Some(registry) = registry().await else {
        return;
    };
    let storage = storage(&registry, "oras", BackingOptions::default());
    let repo = "configs/app";
    let layer = content(300, 7);
    // An ORAS-style artifact: the `{}` config, which its clients never download.
    let manifest = image(b"{}", &[&layer]);
    storage
        .put_manifest(repo, &manifest, Some("v1"))
        .await
        .unwrap();
    assert_eq!(storage.held_manifests(), 1, "the layer is missing");
    assert_eq!(
        storage
            .blob_size(repo, &Digest::sha256(b"{}"))
            .await
            .unwrap(),
        Some(2),
        "the empty blob was pushed at once"
    );
    put_blob(&storage, repo, &layer).await;
    assert_eq!(storage.held_manifests(), 0);
    assert!(in_backing(&registry, "oras/configs/app", "v1").await);
}

/// `skopeo copy docker://FRONT/library/x:1 oci:DIR`; `None` when skopeo is not installed.
async fn skopeo_copy(front: &orca_pull_through::Front, dir: &std::path::Path) -> Option<()> {
    use std::process::{Command, Stdio};

    let found = Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: skopeo is not installed");
        return None;
    }
    let source = format!("docker://{}/library/x:1", front.host());
    let dest = format!("oci:{}", dir.join("oci").display());
    let home = dir.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("skopeo")
            .env("HOME", &home)
            .env("TMPDIR", &home)
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
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_through_two_fronts_on_one_backing() {
    use crate::support::{content, push_image};

    let Some(backing) = registry().await else {
        return;
    };
    let upstream = orca_mock_registry::MockRegistry::start(orca_mock_registry::Config::default())
        .await
        .unwrap();
    let upstream_client = crate::support::client(&[upstream.host()], None);
    let image = push_image(
        &upstream_client,
        upstream.host(),
        "mirror/x",
        "1",
        content(200_000, 8),
    )
    .await;
    let (a, a_storage) = front_on(&upstream, &backing, "skopeo").await;
    let (b, _) = front_on(&upstream, &backing, "skopeo").await;
    let first = tempfile::tempdir().unwrap();
    if skopeo_copy(&a, first.path()).await.is_none() {
        return;
    }
    let mut pushed = false;
    for _ in 0..500 {
        if a_storage.held_manifests() == 0 && in_backing(&backing, "skopeo/library/x", "1").await {
            pushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        pushed,
        "what skopeo pulled through A reached the backing registry"
    );
    let before = upstream.requests().len();
    let second = tempfile::tempdir().unwrap();
    skopeo_copy(&b, second.path()).await.unwrap();
    let layer = std::fs::read(
        second
            .path()
            .join("oci/blobs/sha256")
            .join(image.layer.encoded()),
    )
    .unwrap();
    assert_eq!(layer, image.layer_bytes);
    // Front B asked upstream only whether the tag moved: one HEAD.
    let after: Vec<_> = upstream.requests()[before..].to_vec();
    assert!(after.len() <= 1, "{after:?}");
    assert!(
        after
            .iter()
            .all(|r| r.method == http::Method::HEAD && r.path.contains("/manifests/")),
        "{after:?}"
    );
}

/// A storage on a mock registry (for its faults), with a quick-failing client.
async fn on_mock(prefix: &str) -> (orca_mock_registry::MockRegistry, RegistryStorage) {
    let mock = orca_mock_registry::MockRegistry::start(orca_mock_registry::Config::default())
        .await
        .unwrap();
    let location: BackingLocation = format!("{}/{prefix}", mock.host()).parse().unwrap();
    let client = crate::support::client(&[mock.host()], None);
    (
        mock,
        RegistryStorage::new(client, location, BackingOptions::default()),
    )
}

#[tokio::test]
async fn a_refused_manifest_push_is_forgotten_and_the_blob_still_stored() {
    use orca_mock_registry::Fault;

    let (mock, storage) = on_mock("faulty").await;
    let repo = "app";
    let layer = content(1000, 10);
    let manifest = image(b"{\"c\":1}", &[&layer]);
    storage
        .put_manifest(repo, &manifest, Some("1"))
        .await
        .unwrap();
    assert_eq!(storage.held_manifests(), 1);
    mock.faults()
        .add(Fault::status(500).on("PUT").path("/v2/*/manifests/*"));
    put_blob(&storage, repo, b"{\"c\":1}").await;
    // The last child lands: the push is refused; the blob operation still succeeds.
    put_blob(&storage, repo, &layer).await;
    assert_eq!(
        storage.held_manifests(),
        0,
        "forgotten, not retried for ever"
    );
    assert_eq!(
        storage
            .blob_size(repo, &Digest::sha256(&layer))
            .await
            .unwrap(),
        Some(1000)
    );
    let tag = ManifestRef::Tag("1".into());
    assert_eq!(
        storage.manifest(repo, &tag).await.unwrap(),
        None,
        "a miss again"
    );
    // With every child there, a refused push is the storage call's failure.
    let e = storage
        .put_manifest(repo, &manifest, Some("1"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("backing registry"), "{e}");
    assert_eq!(storage.held_manifests(), 0);
}

#[tokio::test]
async fn a_failing_backing_registry_is_a_storage_failure_not_a_miss() {
    use orca_mock_registry::Fault;

    let (mock, storage) = on_mock("down").await;
    mock.faults().add(Fault::status(503));
    let tag = ManifestRef::Tag("1".into());
    assert!(storage.manifest("app", &tag).await.is_err());
    assert!(
        storage
            .blob_size("app", &Digest::sha256(b"x"))
            .await
            .is_err()
    );
    let manifest = image(b"{}", &[b"l"]);
    assert!(storage.put_manifest("app", &manifest, None).await.is_err());
    assert_eq!(storage.held_manifests(), 0, "a failed put keeps nothing");
}
