//! The content cache: no request for a pinned fetch, one HEAD for a tag, concurrent
//! writers, eviction, and a layout skopeo reads.

use std::sync::Arc;

use orca::{ArtifactStore, CacheOptions, FileSpec, PushOptions, Store, StoreRegistry};

use crate::support::{env_cached, names, sample_folder, tree};

#[tokio::test]
async fn a_pinned_fetch_from_the_cache_makes_no_request_and_a_tag_fetch_one_head() {
    let env = env_cached().await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference("configs/anonymization:default");
    let pushed = env
        .store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    let pinned = format!(
        "{}/configs/anonymization@{}",
        env.mock.host(),
        pushed.digest
    );

    env.mock.clear_requests();
    let first = env
        .store
        .fetch(&pinned, "anonymization", &env.dir.path().join("a"))
        .await
        .unwrap();
    assert!(!first.manifest_from_cache);
    assert_eq!(first.cached_bytes, 0);
    assert!(!env.mock.requests().is_empty());

    env.mock.clear_requests();
    let second = env
        .store
        .fetch(&pinned, "anonymization", &env.dir.path().join("b"))
        .await
        .unwrap();
    assert!(env.mock.requests().is_empty(), "{:?}", env.mock.requests());
    assert!(second.manifest_from_cache);
    assert_eq!(second.downloaded_bytes, 0);
    assert_eq!(second.cached_bytes, second.artifact_bytes);
    assert_eq!(
        tree(&env.dir.path().join("b")),
        tree(&env.dir.path().join("a"))
    );

    env.mock.clear_requests();
    let by_tag = env
        .store
        .fetch(&reference, "anonymization", &env.dir.path().join("c"))
        .await
        .unwrap();
    let requests = env.mock.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method.as_str(), "HEAD");
    assert_eq!(by_tag.digest, pushed.digest);
    assert!(by_tag.manifest_from_cache);

    env.mock.clear_requests();
    let resolved = env.store.resolve(&pinned).await.unwrap();
    assert_eq!(resolved.digest, pushed.digest);
    assert!(env.mock.requests().is_empty());

    let cache = env.store.cache().unwrap();
    let entries: Vec<String> = cache
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(entries.contains(&reference), "{entries:?}");
    assert!(entries.contains(&pinned), "{entries:?}");
}

#[tokio::test]
async fn a_damaged_cached_layer_is_downloaded_again() {
    let env = env_cached().await;
    let file = env.dir.path().join("x.txt");
    std::fs::write(&file, "hello").unwrap();
    let reference = env.reference("c/x:1");
    let pushed = env
        .store
        .push_files(&reference, &[FileSpec::new(&file)], &PushOptions::default())
        .await
        .unwrap();
    env.store
        .fetch(&reference, "x", &env.dir.path().join("a"))
        .await
        .unwrap();
    let cache = env.store.cache().unwrap();
    std::fs::write(cache.blob_path(&pushed.layers[0].digest), "HELLO").unwrap();
    let again = env
        .store
        .fetch(&reference, "x", &env.dir.path().join("b"))
        .await
        .unwrap();
    assert_eq!(again.downloaded_bytes, 5);
    assert_eq!(
        std::fs::read(env.dir.path().join("b/x.txt")).unwrap(),
        b"hello"
    );
    assert_eq!(
        std::fs::read(cache.blob_path(&pushed.layers[0].digest)).unwrap(),
        b"hello"
    );
}

#[test]
fn concurrent_fetches_of_one_reference_share_the_cache() {
    // Several stores with their own clients and runtimes (as separate processes would
    // have) fetch the same reference into one cache directory at once.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, reference, dir) = runtime.block_on(async {
        let mock = orca_mock_registry::MockRegistry::start(orca_mock_registry::Config::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::builder(
            StoreRegistry::new().with(Store::new(mock.host()).unwrap().with_plain_http(true)),
        )
        .build()
        .unwrap();
        let folder = sample_folder(dir.path());
        let reference = format!("{}/configs/shared:1", mock.host());
        store
            .push_dir(&reference, &folder, &PushOptions::default())
            .await
            .unwrap();
        (mock, reference, dir)
    });
    let cache_dir = dir.path().join("cache");
    let dir_path = Arc::new(dir.path().to_path_buf());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (reference, cache_dir, host, dir_path) = (
                reference.clone(),
                cache_dir.clone(),
                mock.host().to_owned(),
                Arc::clone(&dir_path),
            );
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let store = ArtifactStore::builder(
                        StoreRegistry::new().with(Store::new(&host).unwrap().with_plain_http(true)),
                    )
                    .cache(&cache_dir, CacheOptions::default())
                    .build()
                    .unwrap();
                    store
                        .fetch(&reference, "x", &dir_path.join(format!("out{i}")))
                        .await
                        .unwrap()
                })
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for r in &results {
        assert_eq!(r.digest, results[0].digest);
    }
    let cache = orca::ContentCache::open(&cache_dir, CacheOptions::default()).unwrap();
    let entries = cache.entries().unwrap();
    assert_eq!(
        entries.len(),
        2,
        "the tag and the digest, once each: {entries:?}"
    );
    assert_eq!(cache.stats().unwrap().blobs, 3, "manifest, config, layer");
    let leftovers: Vec<String> = names(&cache_dir.join("blobs/sha256"))
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(runtime);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let env = crate::support::env_with(
        orca_mock_registry::Config::default(),
        |s| s,
        Some(CacheOptions::default().with_max_bytes(Some(6_000))),
    )
    .await;
    for i in 0..6u8 {
        let file = env.dir.path().join(format!("f{i}.bin"));
        std::fs::write(&file, vec![i; 2_000]).unwrap();
        let reference = env.reference(&format!("b/f:{i}"));
        env.store
            .push_files(&reference, &[FileSpec::new(&file)], &PushOptions::default())
            .await
            .unwrap();
        env.store
            .fetch(&reference, "x", &env.dir.path().join(format!("out{i}")))
            .await
            .unwrap();
    }
    let stats = env.store.cache().unwrap().stats().unwrap();
    assert!(stats.bytes <= 6_000, "{stats:?}");
    let names: Vec<String> = env
        .store
        .cache()
        .unwrap()
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("b/f:5")),
        "the newest stays: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with("b/f:0")),
        "the oldest went: {names:?}"
    );
}

#[tokio::test]
async fn skopeo_reads_the_cache() {
    let Ok(output) = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
    else {
        eprintln!("skipped: skopeo is not installed");
        return;
    };
    assert!(output.status.success());
    let env = env_cached().await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference("configs/anonymization:default");
    env.store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    env.store
        .fetch(&reference, "x", &env.dir.path().join("out"))
        .await
        .unwrap();
    let cache = env.store.cache().unwrap().root().to_path_buf();
    let target = env.dir.path().join("skopeo-dir");
    let status = std::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .arg("copy")
        .arg(format!("oci:{}:{reference}", cache.display()))
        .arg(format!("dir:{}", target.display()))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(target.join("manifest.json").is_file());
}

/// Pushes a one-file artifact, fetches it into `a` (filling the cache), damages the
/// cached layer with `damage`, fetches into `b`, and checks `b` holds the right bytes,
/// downloaded again, and the cache is repaired.
async fn damaged_layer_round(options: CacheOptions, damage: &[u8]) {
    let env =
        crate::support::env_with(orca_mock_registry::Config::default(), |s| s, Some(options)).await;
    let file = env.dir.path().join("x.txt");
    std::fs::write(&file, "hello").unwrap();
    let reference = env.reference("c/x:1");
    let pushed = env
        .store
        .push_files(&reference, &[FileSpec::new(&file)], &PushOptions::default())
        .await
        .unwrap();
    let pinned = format!("{}/c/x@{}", env.mock.host(), pushed.digest);
    env.store
        .fetch(&pinned, "x", &env.dir.path().join("a"))
        .await
        .unwrap();
    let cache = env.store.cache().unwrap();
    let blob = cache.blob_path(&pushed.layers[0].digest);
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, damage).unwrap();
    env.mock.clear_requests();
    let again = env
        .store
        .fetch(&pinned, "x", &env.dir.path().join("b"))
        .await
        .unwrap();
    assert_eq!(again.downloaded_bytes, 5);
    assert_eq!(env.blob_reads(), 1, "{:?}", env.mock.requests());
    assert_eq!(
        std::fs::read(env.dir.path().join("b/x.txt")).unwrap(),
        b"hello"
    );
    assert_eq!(std::fs::read(&blob).unwrap(), b"hello");
    // And the next fetch is served from the repaired cache.
    env.mock.clear_requests();
    let third = env
        .store
        .fetch(&pinned, "x", &env.dir.path().join("c"))
        .await
        .unwrap();
    assert_eq!(third.downloaded_bytes, 0);
    assert!(env.mock.requests().is_empty(), "{:?}", env.mock.requests());
    assert_eq!(
        std::fs::read(env.dir.path().join("c/x.txt")).unwrap(),
        b"hello"
    );
}

#[tokio::test]
async fn a_damaged_cached_layer_is_downloaded_again_with_hard_links() {
    damaged_layer_round(CacheOptions::default().with_hard_links(true), b"HELLO").await;
}

#[tokio::test]
async fn a_truncated_cached_layer_is_downloaded_again_without_verifying_reads() {
    damaged_layer_round(CacheOptions::default().with_verify_reads(false), b"hell").await;
}

#[cfg(unix)]
#[tokio::test]
async fn hard_links_place_the_cached_blob_itself() {
    use std::os::unix::fs::MetadataExt;
    let env = crate::support::env_with(
        orca_mock_registry::Config::default(),
        |s| s,
        Some(CacheOptions::default().with_hard_links(true)),
    )
    .await;
    let folder = sample_folder(env.dir.path());
    let file = env.dir.path().join("x.txt");
    std::fs::write(&file, "hello").unwrap();
    let files = env.reference("c/files:1");
    let pushed = env
        .store
        .push_files(&files, &[FileSpec::new(&file)], &PushOptions::default())
        .await
        .unwrap();
    let dir = env.reference("c/dir:1");
    env.store
        .push_dir(&dir, &folder, &PushOptions::default())
        .await
        .unwrap();
    for (reference, out) in [(&files, "a"), (&files, "b"), (&dir, "d1"), (&dir, "d2")] {
        env.store
            .fetch(reference, "x", &env.dir.path().join(out))
            .await
            .unwrap();
    }
    let cache = env.store.cache().unwrap();
    let blob = std::fs::metadata(cache.blob_path(&pushed.layers[0].digest)).unwrap();
    // The first fetch downloaded (a copy); the second linked the cached blob.
    assert_ne!(
        std::fs::metadata(env.dir.path().join("a/x.txt"))
            .unwrap()
            .ino(),
        blob.ino()
    );
    assert_eq!(
        std::fs::metadata(env.dir.path().join("b/x.txt"))
            .unwrap()
            .ino(),
        blob.ino()
    );
    // Folders are extracted as before.
    assert_eq!(
        tree(&env.dir.path().join("d2")),
        tree(&env.dir.path().join("d1"))
    );
}

#[tokio::test]
async fn a_manifest_removed_from_the_cache_is_fetched_again_though_it_was_read_before() {
    let env = env_cached().await;
    let folder = sample_folder(env.dir.path());
    let reference = env.reference("configs/anonymization:default");
    let pushed = env
        .store
        .push_dir(&reference, &folder, &PushOptions::default())
        .await
        .unwrap();
    let pinned = format!(
        "{}/configs/anonymization@{}",
        env.mock.host(),
        pushed.digest
    );
    for dest in ["a", "b"] {
        env.store
            .fetch(&pinned, "anonymization", &env.dir.path().join(dest))
            .await
            .unwrap();
    }
    // Another process evicts the manifest: this process, which has it in memory, must
    // not pretend the cache still holds it.
    let cache = env.store.cache().unwrap();
    std::fs::remove_file(cache.blob_path(&pushed.digest)).unwrap();
    env.mock.clear_requests();
    let again = env
        .store
        .fetch(&pinned, "anonymization", &env.dir.path().join("c"))
        .await
        .unwrap();
    assert!(!again.manifest_from_cache);
    let requests = env.mock.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method.as_str() == "GET" && r.path.contains("/manifests/")),
        "{requests:?}"
    );
    assert_eq!(cache.contains(&pushed.digest), Some(pushed.manifest.size));
    assert_eq!(
        tree(&env.dir.path().join("c")),
        tree(&env.dir.path().join("a"))
    );
}
