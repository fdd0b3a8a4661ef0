//! Fetch and push with ORAS semantics; atomic placement.

use std::time::Duration;

use bytes::Bytes;
use orca::manifest::{Descriptor, annotations, media_types};
use orca::{BlobOptions, ConfigStyle, FetchOptions, FileSpec, PushOptions};
use orca_mock_registry::Fault;

use crate::support::{env, names, push_raw, sample_folder, tree};

#[tokio::test]
async fn a_pushed_folder_and_file_come_back_by_tag_and_by_digest() {
    let env = env().await;
    let folder = sample_folder(env.dir.path());
    let readme = env.dir.path().join("README.txt");
    std::fs::write(&readme, "read me\n").unwrap();
    let reference = env.reference("configs/anonymization:default");
    let pushed = env
        .store
        .push_files(
            &reference,
            &[
                FileSpec::new(&folder),
                FileSpec::parse(&format!("{}:text/plain", readme.display())).unwrap(),
            ],
            &PushOptions::default()
                .artifact_type("application/vnd.microsoft.health.anonymization.v1")
                .annotation("org.opencontainers.image.description", "de-id rules"),
        )
        .await
        .unwrap();
    assert_eq!(pushed.layers.len(), 2);
    assert_eq!(
        pushed.layers[0].annotation(annotations::ORAS_CONTENT_UNPACK),
        Some("true")
    );
    assert_eq!(pushed.layers[1].media_type, "text/plain");
    assert_eq!(pushed.reference.tag(), Some("default"));

    let dest = env.dir.path().join("out");
    let fetched = env
        .store
        .fetch(&reference, "anonymization", &dest)
        .await
        .unwrap();
    assert_eq!(fetched.digest, pushed.digest);
    assert_eq!(
        fetched.artifact_type.as_deref(),
        Some("application/vnd.microsoft.health.anonymization.v1")
    );
    assert_eq!(tree(&dest.join("anonymization")), tree(&folder));
    assert_eq!(
        std::fs::read(dest.join("README.txt")).unwrap(),
        b"read me\n"
    );
    assert_eq!(
        fetched.artifact_bytes,
        pushed.layers.iter().map(|l| l.size).sum::<u64>()
    );
    assert_eq!(fetched.downloaded_bytes, fetched.artifact_bytes);
    let paths: Vec<String> = fetched
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    assert!(
        paths.contains(&"anonymization/rules/patient.json".to_owned()),
        "{paths:?}"
    );
    assert!(paths.contains(&"README.txt".to_owned()), "{paths:?}");
    assert_eq!(
        names(env.dir.path()),
        ["README.txt", "anonymization", "out"]
    );

    // By digest, into an existing destination: replaced whole.
    std::fs::write(dest.join("stale.txt"), "old").unwrap();
    let by_digest = format!(
        "{}/configs/anonymization@{}",
        env.mock.host(),
        pushed.digest
    );
    let again = env
        .store
        .fetch(&by_digest, "anonymization", &dest)
        .await
        .unwrap();
    assert_eq!(again.digest, pushed.digest);
    assert!(!dest.join("stale.txt").exists());
    assert_eq!(tree(&dest.join("anonymization")), tree(&folder));

    // No tag and no digest means latest.
    env.store
        .push_dir(
            &env.reference("configs/plain"),
            &folder,
            &PushOptions::default(),
        )
        .await
        .unwrap();
    let latest = env
        .store
        .fetch(
            &env.reference("configs/plain"),
            "x",
            &env.dir.path().join("latest"),
        )
        .await
        .unwrap();
    assert_eq!(latest.reference.tag(), Some("latest"));
    assert_eq!(
        names(env.dir.path()),
        ["README.txt", "anonymization", "latest", "out"]
    );
}

#[tokio::test]
async fn merge_mode_writes_beside_what_is_there() {
    let env = env().await;
    let file = env.dir.path().join("a.txt");
    std::fs::write(&file, "A").unwrap();
    let reference = env.reference("m/files:1");
    env.store
        .push_files(&reference, &[FileSpec::new(&file)], &PushOptions::default())
        .await
        .unwrap();
    let dest = env.dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("mine.txt"), "keep").unwrap();
    env.store
        .fetch_with(
            &reference,
            "x",
            &dest,
            &FetchOptions::default().merge_into_dest(true),
        )
        .await
        .unwrap();
    assert_eq!(names(&dest), ["a.txt", "mine.txt"]);
    // A destination that is a file is refused and left alone.
    let file_dest = env.dir.path().join("plain-file");
    std::fs::write(&file_dest, "keep").unwrap();
    let error = env
        .store
        .fetch(&reference, "x", &file_dest)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "InvalidArgument");
    assert_eq!(std::fs::read(&file_dest).unwrap(), b"keep");
}

#[tokio::test]
async fn what_older_oras_and_the_python_package_push_is_read() {
    let env = env().await;
    let folder = sample_folder(env.dir.path());
    // Older ORAS: config application/vnd.unknown.config.v1+json of size 0, folder layer
    // with the io.deis annotations, no artifactType.
    let legacy = env.reference("oras/legacy:1.0");
    let pushed = env
        .store
        .push_dir(
            &legacy,
            &folder,
            &PushOptions::default().config(ConfigStyle::Legacy),
        )
        .await
        .unwrap();
    let manifest = env.store.fetch_manifest(&legacy).await.unwrap();
    let config = manifest.manifest.config().unwrap();
    assert_eq!(config.media_type, media_types::ORAS_UNKNOWN_CONFIG);
    assert_eq!(config.size, 0);
    assert!(!String::from_utf8_lossy(&manifest.bytes).contains("artifactType"));
    let out = env.dir.path().join("legacy");
    let fetched = env
        .store
        .fetch(&legacy, "anonymization", &out)
        .await
        .unwrap();
    assert_eq!(fetched.digest, pushed.digest);
    assert_eq!(tree(&out.join("anonymization")), tree(&folder));

    // The Python `oras` package: a titled tar+gzip layer without the unpack annotations.
    let mut packed = Vec::new();
    let described =
        orca::unpack::pack_dir(&folder, &mut packed, &orca::unpack::PackOptions::default())
            .unwrap();
    let layer = Descriptor::new(
        described.media_type.clone(),
        described.digest.clone(),
        described.size,
    )
    .with_annotation(annotations::TITLE, "anonymization");
    let python = env.reference("oras/python:1");
    push_raw(
        env.mock.host(),
        &python,
        (
            Descriptor::for_bytes(media_types::ORAS_UNKNOWN_CONFIG, b"{}"),
            Bytes::from_static(b"{}"),
        ),
        vec![(layer, Bytes::from(packed))],
        None,
    )
    .await;
    // By default it is one file named by its title (ORAS CLI semantics) ...
    let as_file = env.dir.path().join("python-file");
    env.store.fetch(&python, "x", &as_file).await.unwrap();
    assert!(as_file.join("anonymization").is_file());
    // ... and with unpack_all it is the folder.
    let as_folder = env.dir.path().join("python-folder");
    env.store
        .fetch_with(
            &python,
            "x",
            &as_folder,
            &FetchOptions::default().unpack_all(true),
        )
        .await
        .unwrap();
    assert_eq!(tree(&as_folder.join("anonymization")), tree(&folder));
}

#[tokio::test]
async fn path_escaping_titles_are_refused_before_any_blob_is_requested() {
    let env = env().await;
    for (i, title) in ["../evil", "/etc/passwd", "a/../../b", ""]
        .iter()
        .enumerate()
    {
        let reference = env.reference(&format!("hostile/title:{i}"));
        env.store
            .push_blob(
                &reference,
                Bytes::from_static(b"owned"),
                &BlobOptions::new("application/vnd.test").title(*title),
            )
            .await
            .unwrap();
        env.mock.clear_requests();
        let dest = env.dir.path().join(format!("dest{i}"));
        let error = env.store.fetch(&reference, "x", &dest).await.unwrap_err();
        assert_eq!(error.code(), "UnsafeArtifactContent", "{title}: {error}");
        assert_eq!(error.http_status(), 400);
        assert_eq!(env.blob_reads(), 0, "{title}");
        assert!(!dest.exists());
    }
    assert!(!env.dir.path().join("evil").exists());
    assert_eq!(names(env.dir.path()), Vec::<String>::new());
}

/// `dest`, holding one file (`old.json`) a failed fetch must leave alone.
fn old_destination(env: &crate::support::Env) -> std::path::PathBuf {
    let dest = env.dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("old.json"), "old").unwrap();
    dest
}

/// Fetches `reference` while the mock corrupts every blob: a `DigestMismatch` (502).
async fn fetch_corrupted(env: &crate::support::Env, reference: &str, dest: &std::path::Path) {
    env.mock.faults().add(Fault::corrupt_blobs());
    let error = env.store.fetch(reference, "x", dest).await.unwrap_err();
    assert_eq!(error.code(), "DigestMismatch", "{}", error.full_message());
    assert_eq!(error.http_status(), 502);
}

#[tokio::test]
async fn a_failed_fetch_leaves_the_destination_as_it_was() {
    let env = env().await;
    let folder = sample_folder(env.dir.path());
    // Incompressible, so the layer arrives in many pieces and the corruption breaks the
    // extraction long before the stream's end reveals the digest mismatch.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..2 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(folder.join("noise.bin"), noise).unwrap();
    let reference = env.reference("configs/app:1");
    env.store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    let dest = old_destination(&env);
    fetch_corrupted(&env, &reference, &dest).await;
    assert_eq!(names(&dest), ["old.json"]);
    assert_eq!(names(env.dir.path()), ["anonymization", "dest"]);
}

#[tokio::test]
async fn a_corrupted_file_layer_is_written_nowhere_and_not_cached() {
    // The file writer trusts the download's digest check rather than hashing again, so
    // what it wrote must never be installed (or cached) when that check fails.
    let env = crate::support::env_cached().await;
    let blob = Bytes::from(vec![7u8; 1 << 20]);
    let reference = env.reference("files/blob:1");
    env.store
        .push_blob(
            &reference,
            blob.clone(),
            &BlobOptions::new("application/vnd.test").title("big.bin"),
        )
        .await
        .unwrap();
    let dest = old_destination(&env);
    fetch_corrupted(&env, &reference, &dest).await;
    assert_eq!(names(&dest), ["old.json"]);
    assert_eq!(names(env.dir.path()), ["cache", "dest"]);
    // Nothing of the corrupted bytes was kept: once the registry serves them right, the
    // layer is downloaded again and written whole.
    env.mock.faults().clear();
    let reads = env.blob_reads();
    env.store.fetch(&reference, "x", &dest).await.unwrap();
    assert!(
        env.blob_reads() > reads,
        "the layer must be downloaded again"
    );
    assert_eq!(std::fs::read(dest.join("big.bin")).unwrap(), blob);
}

#[tokio::test]
async fn an_interrupted_fetch_leaves_the_destination_as_it_was() {
    let env = env().await;
    let blob = Bytes::from(vec![7u8; 256 * 1024]);
    let reference = env.reference("slow/blob:1");
    env.store
        .push_blob(
            &reference,
            blob,
            &BlobOptions::new("application/vnd.test").title("big.bin"),
        )
        .await
        .unwrap();
    env.mock.faults().add(Fault::throttle(64 * 1024));
    let dest = old_destination(&env);
    // Dropped after a moment: about a quarter of the blob has arrived.
    let interrupted = tokio::time::timeout(
        Duration::from_millis(800),
        env.store.fetch(&reference, "x", &dest),
    )
    .await;
    assert!(interrupted.is_err(), "the fetch should still be running");
    // The writer notices its input is gone and removes the staging directory; bounded wait.
    for _ in 0..100 {
        if names(env.dir.path()) == ["dest"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(names(env.dir.path()), ["dest"]);
    assert_eq!(names(&dest), ["old.json"]);
}

#[tokio::test]
async fn push_blob_skips_what_the_registry_has_and_refers_to_a_subject() {
    let env = env().await;
    let content = Bytes::from_static(b"{\"snapshot\":42}");
    let options = BlobOptions::new("application/vnd.example.snapshot.v1+json")
        .media_type("application/json")
        .annotation("org.opencontainers.image.revision", "42");
    let first = env
        .store
        .push_blob(
            &env.reference("snapshots/ctl:r42"),
            content.clone(),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(first.skipped_blobs, 0);
    assert!(first.uploaded_bytes >= content.len() as u64);
    let second = env
        .store
        .push_blob(&env.reference("snapshots/ctl:r42-again"), content, &options)
        .await
        .unwrap();
    assert_eq!(second.skipped_blobs, 2, "layer and config exist");
    assert_eq!(second.uploaded_bytes, 0);
    assert_eq!(second.digest, first.digest);

    let signature = env
        .store
        .push_blob(
            &env.reference("snapshots/ctl:sig"),
            Bytes::from_static(b"signed"),
            &BlobOptions::new("application/vnd.example.signature").subject(first.digest.as_str()),
        )
        .await
        .unwrap();
    let referrers = env
        .store
        .referrers(&env.reference("snapshots/ctl:r42"), None)
        .await
        .unwrap();
    assert_eq!(referrers.subject, first.digest);
    assert_eq!(referrers.manifests.len(), 1);
    assert_eq!(referrers.manifests[0].digest, signature.digest);
    assert_eq!(
        referrers.manifests[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
    let filtered = env
        .store
        .referrers(
            &env.reference("snapshots/ctl:r42"),
            Some("application/vnd.other"),
        )
        .await
        .unwrap();
    assert!(filtered.manifests.is_empty());

    let mut tags = env
        .store
        .tags(&env.reference("snapshots/ctl"))
        .await
        .unwrap();
    tags.sort();
    assert_eq!(tags, ["r42", "r42-again", "sig"]);
    env.store
        .tag(&env.reference("snapshots/ctl:r42"), &["stable"])
        .await
        .unwrap();
    let resolved = env
        .store
        .resolve(&env.reference("snapshots/ctl:stable"))
        .await
        .unwrap();
    assert_eq!(resolved.digest, first.digest);
    let catalog = env.store.catalog(env.mock.host()).await.unwrap();
    assert_eq!(catalog, ["snapshots/ctl"]);
    let deleted = env
        .store
        .delete(&env.reference("snapshots/ctl:sig"))
        .await
        .unwrap();
    assert_eq!(deleted, signature.digest);
    let gone = env
        .store
        .resolve(&format!("{}@{deleted}", env.reference("snapshots/ctl")))
        .await;
    assert_eq!(gone.unwrap_err().code(), "ArtifactNotFound");
}

/// An index of one artifact per platform, pushed as multi-platform tools do: each child
/// by digest, the index under `tag`. Returns the children's descriptors.
async fn push_index(env: &crate::support::Env, repo: &str, tag: &str) -> Vec<Descriptor> {
    use orca::manifest::ImageIndex;
    let host = env.mock.host().to_owned();
    let mut children = Vec::new();
    for (os, arch) in [("linux", "amd64"), ("linux", "arm64"), ("windows", "amd64")] {
        let layer = Bytes::from(format!("settings for {os}/{arch}\n"));
        let mut layer_d = Descriptor::for_bytes("text/plain", &layer);
        layer_d
            .annotations
            .insert(annotations::TITLE.to_owned(), "settings.txt".to_owned());
        let config = Bytes::from_static(b"{}");
        let config_d = Descriptor::for_bytes(media_types::OCI_EMPTY, &config);
        let mut child = push_raw(
            &host,
            &format!("{host}/{repo}:{os}-{arch}"),
            (config_d, config),
            vec![(layer_d, layer)],
            Some("application/vnd.example.settings"),
        )
        .await;
        child.platform = Some(format!("{os}/{arch}").parse().unwrap());
        children.push(child);
    }
    let index = ImageIndex::new(children.clone()).to_bytes();
    let pushed = env
        .store
        .push_manifest(&format!("{host}/{repo}:{tag}"), index.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        pushed,
        Descriptor::for_bytes(media_types::OCI_IMAGE_INDEX, &index)
    );
    children
}

#[tokio::test]
async fn a_manifest_to_push_is_checked_before_it_is_sent() {
    let env = env().await;
    let children = push_index(&env, "multi/checked", "1").await;
    let index = orca::manifest::ImageIndex::new(children).to_bytes();
    env.mock.clear_requests();
    let cases: [(&str, &[u8], Option<&str>, &str); 5] = [
        (
            "multi/checked:2",
            b"{not json",
            None,
            "not a manifest or index",
        ),
        (
            "multi/checked:2",
            &index,
            Some(media_types::OCI_IMAGE_MANIFEST),
            "not a manifest or index",
        ),
        (
            &format!("multi/checked@sha256:{}", "0".repeat(64)),
            &index,
            None,
            "content hashes to sha256:",
        ),
        (
            &format!("multi/checked@sha512:{}", "0".repeat(128)),
            &index,
            None,
            "content hashes to sha512:",
        ),
        ("multi/checked:2", b"{}", None, "not a manifest or index"),
    ];
    for (reference, bytes, media_type, expected) in cases {
        let e = env
            .store
            .push_manifest(&env.reference(reference), bytes.to_vec(), media_type)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{e}");
        let message = e.full_message();
        assert!(message.contains(expected), "{reference}: {message}");
    }
    assert!(env.mock.requests().is_empty(), "{:?}", env.mock.requests());

    // By digest when the reference names neither tag nor digest; a child the repository
    // lacks is the registry's refusal.
    let pushed = env
        .store
        .push_manifest(&env.reference("multi/checked"), index.clone(), None)
        .await
        .unwrap();
    assert!(
        env.mock
            .requests()
            .iter()
            .any(|r| r.path == format!("/v2/multi/checked/manifests/{}", pushed.digest)),
        "{:?}",
        env.mock.requests()
    );
    let e = env
        .store
        .push_manifest(&env.reference("elsewhere/app:1"), index, None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArgument", "{e}");
    assert!(e.full_message().contains("elsewhere/app:1"), "{e}");
    assert!(
        e.full_message().contains("MANIFEST_BLOB_UNKNOWN"),
        "{}",
        e.full_message()
    );
}

#[tokio::test]
async fn the_config_of_an_index_entry_is_fetched_for_a_platform() {
    let env = crate::support::env_cached().await;
    push_index(&env, "multi/configs", "1").await;
    let reference = env.reference("multi/configs:1");
    // Its entry's config for a platform (the empty config here); none without one.
    let arm64 = "linux/arm64".parse().unwrap();
    let (config, bytes) = env
        .store
        .fetch_config(&reference, Some(&arm64))
        .await
        .unwrap();
    assert_eq!(
        (config.media_type.as_str(), bytes.as_slice()),
        (media_types::OCI_EMPTY, &b"{}"[..])
    );
    let e = env.store.fetch_config(&reference, None).await.unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
    assert!(e.to_string().contains("linux/arm64"), "{e}");
}

#[tokio::test]
async fn an_index_is_fetched_for_the_platform_asked_for() {
    let env = crate::support::env_cached().await;
    let children = push_index(&env, "multi/settings", "1").await;
    let reference = env.reference("multi/settings:1");
    let dest = env.dir.path().join("out");

    // Without a platform: refused, naming what the index offers; nothing written.
    let e = env.store.fetch(&reference, "x", &dest).await.unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
    let message = e.to_string();
    for listed in ["linux/amd64", "linux/arm64", "windows/amd64", "--platform"] {
        assert!(message.contains(listed), "{message}");
    }
    assert!(!dest.exists());

    // A platform the index lacks: not found (404), the platforms listed.
    let options = FetchOptions::default().platform("linux/s390x".parse().unwrap());
    let e = env
        .store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.http_status()),
        ("ArtifactNotFound", 404),
        "{e}"
    );
    let message = e.full_message();
    assert!(message.contains("linux/s390x"), "{message}");
    assert!(message.contains("linux/arm64"), "{message}");
    assert!(!dest.exists());

    // The first entry for the platform asked for.
    let options = FetchOptions::default().platform("linux/arm64".parse().unwrap());
    let fetched = env
        .store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    assert_eq!(fetched.digest, children[1].digest);
    assert_eq!(
        fetched.reference.to_string(),
        format!("{}/multi/settings@{}", env.mock.host(), children[1].digest)
    );
    assert_eq!(
        fetched.manifest.platform.as_ref().map(ToString::to_string),
        Some("linux/arm64".to_owned())
    );
    let index = fetched.index.expect("the index it was chosen from");
    assert_eq!(index.media_type, media_types::OCI_IMAGE_INDEX);
    assert_eq!(
        fetched.artifact_type.as_deref(),
        Some("application/vnd.example.settings")
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("settings.txt")).unwrap(),
        "settings for linux/arm64\n"
    );

    // The cache names the tag as the registry does (the index), the manifest by digest;
    // a second fetch by tag makes one HEAD and nothing else.
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.path().join("cache/index.json")).unwrap())
            .unwrap();
    let named = |name: &str| {
        layout["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .map(|m| m["digest"].as_str().unwrap().to_owned())
    };
    assert_eq!(named(&reference), Some(index.digest.to_string()));
    assert_eq!(
        named(&format!(
            "{}/multi/settings@{}",
            env.mock.host(),
            children[1].digest
        )),
        Some(children[1].digest.to_string())
    );
    env.mock.clear_requests();
    let options = FetchOptions::default().platform("windows".parse().unwrap());
    let again = env
        .store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    assert_eq!(again.digest, children[2].digest);
    assert_eq!(
        std::fs::read_to_string(dest.join("settings.txt")).unwrap(),
        "settings for windows/amd64\n"
    );
    env.mock.clear_requests();
    let cached = env
        .store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    assert!(cached.manifest_from_cache);
    let requests = env.mock.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method.as_str(), "HEAD");
}

/// An environment with the sample folder pushed as `path`; returns it and the reference.
async fn pushed_folder(path: &str) -> (crate::support::Env, String) {
    let env = env().await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference(path);
    env.store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    (env, reference)
}

/// Sets `path`'s modification time an hour back (a leftover, not one being made now).
fn hour_old(path: &std::path::Path) {
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
}

#[tokio::test]
async fn a_killed_fetchs_staging_directory_is_removed_by_the_next_fetch() {
    let (env, reference) = pushed_folder("configs/left:1").await;
    // What a fetch killed mid-way leaves: a partial staging directory, unlocked, and
    // (so that it is told from one being created right now) an hour old.
    let parent = env.dir.path().join("work");
    let leftover = parent.join(".out.orca-fetch-K1lled");
    std::fs::create_dir_all(leftover.join("anonymization")).unwrap();
    std::fs::write(leftover.join("anonymization/partial.json"), b"{").unwrap();
    hour_old(&leftover);

    env.store
        .fetch(&reference, "x", &parent.join("out"))
        .await
        .unwrap();
    assert_eq!(names(&parent), ["out"]);
}

#[tokio::test]
async fn a_killed_merges_holder_is_removed_by_the_next_merge() {
    let (env, reference) = pushed_folder("configs/merged:1").await;
    let dest = env.dir.path().join("work");
    let options = FetchOptions::default().merge_into_dest(true);
    env.store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    // What a merge killed between moving the new folder aside and swapping it in leaves.
    let leftover = dest.join(".anonymization.orca-merge-K1lled");
    std::fs::create_dir_all(leftover.join("anonymization")).unwrap();
    hour_old(&leftover);

    env.store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    assert_eq!(names(&dest), ["anonymization"]);
}

#[tokio::test]
async fn a_platform_asked_of_one_manifest_is_checked_against_its_image_config() {
    let env = crate::support::env_cached().await;
    let host = env.mock.host().to_owned();
    let layer = Bytes::from_static(b"tool for linux/arm64\n");
    let mut layer_d = Descriptor::for_bytes("text/plain", &layer);
    layer_d
        .annotations
        .insert(annotations::TITLE.to_owned(), "tool.txt".to_owned());
    let config = Bytes::from_static(
        br#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let config_d = Descriptor::for_bytes(media_types::OCI_IMAGE_CONFIG, &config);
    let image = push_raw(
        &host,
        &format!("{host}/single/tool:1"),
        (config_d, config),
        vec![(layer_d, layer)],
        None,
    )
    .await;
    let reference = env.reference("single/tool:1");
    let dest = env.dir.path().join("out");

    // Another platform: not found (404), naming both; nothing written.
    for wanted in ["linux/amd64", "linux/arm64/v7", "windows"] {
        let options = FetchOptions::default().platform(wanted.parse().unwrap());
        let e = env
            .store
            .fetch_with(&reference, "x", &dest, &options)
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("ArtifactNotFound", 404));
        let message = e.full_message();
        assert!(
            message.contains(&format!("for platform linux/arm64/v8, not {wanted}")),
            "{message}"
        );
        assert!(!dest.exists());
    }

    // Its own platform: fetched, the descriptor carrying what the config says.
    let options = FetchOptions::default().platform("linux/arm64".parse().unwrap());
    let fetched = env
        .store
        .fetch_with(&reference, "x", &dest, &options)
        .await
        .unwrap();
    assert_eq!(fetched.digest, image.digest);
    assert!(fetched.index.is_none());
    assert_eq!(
        fetched.manifest.platform.as_ref().map(ToString::to_string),
        Some("linux/arm64/v8".to_owned())
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("tool.txt")).unwrap(),
        "tool for linux/arm64\n"
    );
    let content = env
        .store
        .fetch_manifest_for(&reference, &"linux/arm64/v8".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(content.descriptor.digest, image.digest);
    assert_eq!(
        content.descriptor.platform.map(|p| p.to_string()),
        Some("linux/arm64/v8".to_owned())
    );

    // Pinned and cached, the config is read from the cache too: no request at all.
    env.mock.clear_requests();
    let pinned = format!("{host}/single/tool@{}", image.digest);
    env.store
        .fetch_with(&pinned, "x", &dest, &options)
        .await
        .unwrap();
    assert_eq!(env.mock.requests().len(), 0, "{:?}", env.mock.requests());

    // An artifact names no platform: refused, saying why, before any layer is asked for.
    let folder = sample_folder(env.dir.path());
    let artifact = env.reference("single/settings:1");
    env.store
        .push_dir(&artifact, &folder, &PushOptions::default())
        .await
        .unwrap();
    env.mock.clear_requests();
    let e = env
        .store
        .fetch_with(&artifact, "x", &env.dir.path().join("other"), &options)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
    assert!(e.to_string().contains("not an image config"), "{e}");
    assert!(
        env.mock
            .requests()
            .iter()
            .all(|r| !r.path.contains("/blobs/")),
        "{:?}",
        env.mock.requests()
    );
    let e = env
        .store
        .fetch_manifest_for(&artifact, &"linux/amd64".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArtifact", "{e}");
}
