use std::time::{Duration, SystemTime};

use orca_manifest::{Descriptor, ImageManifest, media_types};
use orca_store::{CacheOptions, ContentCache, Error, REF_NAME_ANNOTATION};

/// Stores a one-layer artifact of `size` bytes (content derived from `seed`) and names it.
fn add_artifact(cache: &ContentCache, name: &str, seed: u8, size: usize) -> Descriptor {
    let layer_bytes = vec![seed; size];
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &layer_bytes);
    cache.put_blob(&layer, &layer_bytes).unwrap();
    cache
        .put_blob(&Descriptor::empty(), orca_manifest::EMPTY_JSON)
        .unwrap();
    let manifest = ImageManifest::artifact("application/vnd.test", vec![layer])
        .unwrap()
        .to_manifest()
        .unwrap();
    let descriptor = manifest.descriptor();
    cache.put_blob(&descriptor, manifest.bytes()).unwrap();
    cache.add_entry(name, &descriptor).unwrap();
    descriptor
}

#[test]
fn the_layout_is_an_oci_image_layout() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let manifest = add_artifact(&cache, "reg.example/app:1", 7, 100);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"][0]["digest"], manifest.digest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"][REF_NAME_ANNOTATION],
        "reg.example/app:1"
    );
    assert!(cache.blob_path(&manifest.digest).is_file());
    let entry = cache.entry("reg.example/app:1").unwrap().unwrap();
    assert_eq!(entry.descriptor.digest, manifest.digest);
    // The same name again replaces the entry.
    let other = add_artifact(&cache, "reg.example/app:1", 8, 100);
    let entries = cache.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].descriptor.digest, other.digest);
    // Reopening keeps everything.
    let again = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    assert_eq!(again.entries().unwrap().len(), 1);
}

#[test]
fn writes_are_verified_and_leave_nothing_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    let good = Descriptor::for_bytes("application/octet-stream", b"hello");
    let wrong = cache.put_blob(&good, b"hellO");
    assert!(
        matches!(wrong, Err(Error::CacheVerification { .. })),
        "{wrong:?}"
    );
    let short = cache.put_blob(&good, b"hell");
    assert!(
        matches!(short, Err(Error::CacheVerification { .. })),
        "{short:?}"
    );
    assert!(cache.put_blob(&good, b"hello!").is_err());
    assert_eq!(cache.contains(&good.digest), None);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    cache.put_blob(&good, b"hello").unwrap();
    assert_eq!(cache.contains(&good.digest), Some(5));
    assert_eq!(cache.read_blob(&good.digest).unwrap().unwrap(), b"hello");
    // A blob corrupted on disk is refused on read and removed.
    std::fs::write(cache.blob_path(&good.digest), b"HELLO").unwrap();
    assert!(matches!(
        cache.read_blob(&good.digest),
        Err(Error::CacheVerification { .. })
    ));
    assert_eq!(cache.contains(&good.digest), None);
}

#[test]
fn the_least_recently_used_entries_are_evicted() {
    let dir = tempfile::tempdir().unwrap();
    // Each artifact keeps about 1,000 bytes (layer) plus its manifest and config.
    let cache = ContentCache::open(
        dir.path(),
        CacheOptions::default().with_max_bytes(Some(3_000)),
    )
    .unwrap();
    let a = add_artifact(&cache, "r.example/a:1", 1, 1000);
    let b = add_artifact(&cache, "r.example/b:1", 2, 1000);
    // Make `a` the most recently used, `b` the least.
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .append(true)
        .open(cache.blob_path(&b.digest))
        .unwrap()
        .set_modified(past)
        .unwrap();
    cache.touch(&a.digest);
    let c = add_artifact(&cache, "r.example/c:1", 3, 1000);
    let names: Vec<String> = cache
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["r.example/a:1", "r.example/c:1"]);
    assert!(cache.contains(&b.digest).is_none());
    assert!(cache.contains(&a.digest).is_some());
    assert!(cache.contains(&c.digest).is_some());
    // The shared empty config stays: other entries use it.
    assert!(cache.contains(&Descriptor::empty().digest).is_some());
    let stats = cache.stats().unwrap();
    assert!(stats.bytes <= 3_000, "{stats:?}");
    assert_eq!(stats.entries, 2);
}

#[test]
fn eviction_removes_partial_files_killed_writers_left_and_spares_live_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    add_artifact(&cache, "r.example/a:1", 1, 100);
    let blobs = dir.path().join("blobs/sha256");
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let aged = |path: &std::path::Path, bytes: usize| {
        std::fs::write(path, vec![0u8; bytes]).unwrap();
        std::fs::File::options()
            .append(true)
            .open(path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    };
    // What killed writers left: a partial blob and a half-written index.json.
    aged(&blobs.join(".orca-tmp-K1lled"), 1000);
    aged(&dir.path().join(".orca-tmp-Index1"), 24);
    // A writer still at work (it holds its file locked), idle for an hour.
    let layer = Descriptor::for_bytes("application/octet-stream", &[9u8; 64]);
    let mut live = cache.blob_writer(&layer).unwrap();
    live.write_all(&[9u8; 10]).unwrap();
    let live_file = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(".orca-tmp-") && name != ".orca-tmp-K1lled"
        })
        .unwrap();
    std::fs::File::options()
        .append(true)
        .open(&live_file)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    // One just created by a writer (not yet locked) and a file of the user's.
    std::fs::write(blobs.join(".orca-tmp-Fresh1"), b"new").unwrap();
    aged(&dir.path().join("notes.txt"), 10);

    // Nothing to evict, but the leftovers go: their bytes are counted as freed.
    assert_eq!(cache.evict_to(u64::MAX).unwrap(), 1024);
    assert!(!blobs.join(".orca-tmp-K1lled").exists());
    assert!(!dir.path().join(".orca-tmp-Index1").exists());
    assert!(live_file.exists());
    assert!(blobs.join(".orca-tmp-Fresh1").exists());
    assert!(dir.path().join("notes.txt").exists());
    // The live writer still commits.
    live.write_all(&[9u8; 54]).unwrap();
    live.commit().unwrap();
    assert_eq!(cache.contains(&layer.digest), Some(64));
}

#[test]
fn concurrent_writers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let threads: Vec<_> = (0..8u8)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let cache = ContentCache::open(&root, CacheOptions::default()).unwrap();
                for j in 0..10u8 {
                    add_artifact(&cache, &format!("r.example/t{i}:{j}"), j, 500);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let cache = ContentCache::open(&root, CacheOptions::default()).unwrap();
    assert_eq!(cache.entries().unwrap().len(), 80);
    // Ten distinct layers, the config and ten distinct manifests.
    assert_eq!(cache.stats().unwrap().blobs, 21);
}

/// Overwrites the cached blob in place, keeping its size (as a stray write would).
fn damage(cache: &ContentCache, descriptor: &Descriptor, bytes: &[u8]) {
    let path = cache.blob_path(&descriptor.digest);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn place_blob_copies_verified_content_and_refuses_a_damaged_blob() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path().join("c"), CacheOptions::default()).unwrap();
    let good = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello");
    let out = dir.path().join("out.txt");
    assert_eq!(cache.place_blob(&good, &out).unwrap(), None);
    assert!(!out.exists());
    cache.put_blob(&good, b"hello").unwrap();
    assert_eq!(cache.place_blob(&good, &out).unwrap(), Some(5));
    assert_eq!(std::fs::read(&out).unwrap(), b"hello");
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (a, b) = (
            std::fs::metadata(&out).unwrap(),
            std::fs::metadata(cache.blob_path(&good.digest)).unwrap(),
        );
        assert_ne!(a.ino(), b.ino(), "a copy, not a link");
        assert_eq!(a.permissions().mode() & 0o777, 0o644);
    }
    // An existing target is never overwritten.
    assert!(matches!(
        cache.place_blob(&good, &out),
        Err(Error::Io { .. })
    ));

    // Same size, other bytes: found, the blob removed, nothing left at the target.
    damage(&cache, &good, b"HELLO");
    let again = dir.path().join("again.txt");
    let damaged = cache.place_blob(&good, &again);
    assert!(
        matches!(damaged, Err(Error::CacheVerification { .. })),
        "{damaged:?}"
    );
    assert!(!again.exists());
    assert_eq!(cache.contains(&good.digest), None);

    // Truncated: found by its size.
    damage(&cache, &good, b"hel");
    assert!(matches!(
        cache.place_blob(&good, &again),
        Err(Error::CacheVerification { .. })
    ));
    assert!(!again.exists());
    assert_eq!(cache.contains(&good.digest), None);
}

#[test]
fn place_blob_without_verifying_trusts_a_blob_of_the_right_size_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(
        dir.path().join("c"),
        CacheOptions::default().with_verify_reads(false),
    )
    .unwrap();
    let good = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello");
    cache.put_blob(&good, b"hello").unwrap();
    let out = dir.path().join("out.txt");
    assert_eq!(cache.place_blob(&good, &out).unwrap(), Some(5));
    assert_eq!(std::fs::read(&out).unwrap(), b"hello");
    // A grown blob is found without hashing, and removed.
    damage(&cache, &good, b"hello, world");
    let grown = dir.path().join("grown.txt");
    assert!(matches!(
        cache.place_blob(&good, &grown),
        Err(Error::CacheVerification { .. })
    ));
    assert!(!grown.exists());
    assert_eq!(cache.contains(&good.digest), None);
}

#[cfg(unix)]
#[test]
fn place_blob_with_hard_links_links_a_verified_read_only_blob() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(
        dir.path().join("c"),
        CacheOptions::default().with_hard_links(true),
    )
    .unwrap();
    let good = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello");
    cache.put_blob(&good, b"hello").unwrap();
    let out = dir.path().join("out.txt");
    assert_eq!(cache.place_blob(&good, &out).unwrap(), Some(5));
    let (a, b) = (
        std::fs::metadata(&out).unwrap(),
        std::fs::metadata(cache.blob_path(&good.digest)).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "a link to the cached blob");
    assert_eq!(b.permissions().mode() & 0o777, 0o444);
    assert_eq!(std::fs::read(&out).unwrap(), b"hello");

    // Damaged in place (through the link, say): refused before anything is linked.
    damage(&cache, &good, b"HELLO");
    let again = dir.path().join("again.txt");
    assert!(matches!(
        cache.place_blob(&good, &again),
        Err(Error::CacheVerification { .. })
    ));
    assert!(!again.exists());
    assert_eq!(cache.contains(&good.digest), None);
}

#[test]
fn several_names_of_one_manifest_are_added_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    let first = add_artifact(&cache, "r.example/a:1", 1, 100);
    let second = add_artifact(&cache, "r.example/b:1", 2, 100);
    cache
        .add_entries(
            &["r.example/a:1", "r.example/a@pinned", "r.example/a@pinned"],
            &second,
        )
        .unwrap();
    let entries = cache.entries().unwrap();
    let names: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.descriptor.digest.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("r.example/b:1", second.digest.as_str()),
            ("r.example/a:1", second.digest.as_str()),
            ("r.example/a@pinned", second.digest.as_str()),
        ]
    );
    assert!(names.iter().all(|(_, d)| *d != first.digest.as_str()));
}

#[test]
fn clones_adding_at_once_lose_no_entry_and_see_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    // Another process's view of the same directory: its writes must not be hidden by
    // what the first remembers of the index it wrote last.
    let other = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    add_artifact(&cache, "r.example/first:1", 1, 100);
    add_artifact(&other, "r.example/other:1", 2, 100);
    let threads: Vec<_> = (0..16u8)
        .map(|i| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for j in 0..10u8 {
                    add_artifact(&cache, &format!("r.example/t{i}:{j}"), j, 300);
                }
            })
        })
        .collect();
    add_artifact(&other, "r.example/other:2", 3, 100);
    for t in threads {
        t.join().unwrap();
    }
    add_artifact(&cache, "r.example/last:1", 4, 100);
    let names: std::collections::BTreeSet<String> = cache
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 16 * 10 + 4, "{names:?}");
    for name in [
        "r.example/first:1",
        "r.example/other:1",
        "r.example/other:2",
        "r.example/last:1",
        "r.example/t15:9",
    ] {
        assert!(names.contains(name), "{name} is missing");
    }
}

#[test]
fn an_index_that_cannot_be_written_fails_every_caller_and_blocks_none() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    let descriptor = add_artifact(&cache, "r.example/a:1", 1, 100);
    // A directory where index.json should be: it can be neither read nor replaced.
    std::fs::remove_file(dir.path().join("index.json")).unwrap();
    std::fs::create_dir(dir.path().join("index.json")).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (cache, descriptor) = (cache.clone(), descriptor.clone());
            std::thread::spawn(move || cache.add_entry(&format!("r.example/a:{i}"), &descriptor))
        })
        .collect();
    for t in threads {
        let error = t.join().unwrap().unwrap_err();
        assert!(
            error.to_string().contains("index.json"),
            "the error names the file: {error}"
        );
    }
}

#[test]
fn a_writer_for_verified_bytes_checks_their_size_but_not_their_digest_again() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cache = ContentCache::open(dir.path(), CacheOptions::default()).unwrap();
    let layer = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello");
    // Hashing writer: other bytes of the right size are refused, nothing kept.
    let mut writer = cache.blob_writer(&layer).unwrap();
    writer.write_all(b"hellO").unwrap();
    let error = writer.commit().unwrap_err();
    assert!(matches!(error, Error::CacheVerification { .. }), "{error}");
    assert!(!cache.blob_path(&layer.digest).exists());
    // Verified by the caller: the size is still checked ...
    let mut writer = cache.verified_blob_writer(&layer).unwrap();
    writer.write_all(b"hell").unwrap();
    let error = writer.commit().unwrap_err();
    assert!(error.to_string().contains("has 4 bytes, not 5"), "{error}");
    assert!(!cache.blob_path(&layer.digest).exists());
    let mut writer = cache.verified_blob_writer(&layer).unwrap();
    assert!(
        writer.write_all(b"hello!").is_err(),
        "more bytes than the size"
    );
    drop(writer);
    // ... and the caller's bytes are kept as they are, without a second hash.
    let mut writer = cache.verified_blob_writer(&layer).unwrap();
    writer.write_all(b"hello").unwrap();
    writer.commit().unwrap();
    assert_eq!(
        std::fs::read(cache.blob_path(&layer.digest)).unwrap(),
        b"hello"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
