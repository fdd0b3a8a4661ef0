//! A large file is uploaded while it is hashed: pushed once it is uploaded and reads back
//! the same; pushed again it is skipped, its upload abandoned; progress counts each byte
//! once.

use std::sync::{Arc, Mutex};

use orca::manifest::Digest;
use orca::{ArtifactStore, Event, FileSpec, PushOptions, Store, StoreRegistry, TransferOutcome};
use orca_mock_registry::{Config, MockRegistry};

/// Above the client's 8 MiB first chunk, so the upload takes the streamed `PATCH`.
const SIZE: usize = 9 * 1024 * 1024 + 123;
/// Below `SIZE`, so the file takes the overlapped path.
const OVERLAP_FROM: u64 = 1024 * 1024;

fn content() -> Vec<u8> {
    (0..SIZE)
        .map(|i| u8::try_from((i * 7 + i / 4096) % 251).unwrap())
        .collect()
}

type Events = Arc<Mutex<Vec<Event>>>;

fn store_for(host: &str) -> (ArtifactStore, Events) {
    let events: Events = Arc::default();
    let seen = events.clone();
    let store = ArtifactStore::builder(
        StoreRegistry::new().with(Store::new(host).unwrap().with_plain_http(true)),
    )
    .observer(Arc::new(move |e: &Event| {
        seen.lock().unwrap().push(e.clone());
    }))
    .build()
    .unwrap();
    (store, events)
}

/// The layer's events: started, progress bytes, finished outcomes.
fn layer_events(events: &Events, digest: &Digest) -> (usize, u64, Vec<TransferOutcome>) {
    let mut started = 0;
    let mut bytes = 0;
    let mut finished = Vec::new();
    for e in events.lock().unwrap().drain(..) {
        match e {
            Event::TransferStarted { descriptor, .. } if descriptor.digest == *digest => {
                started += 1;
            }
            Event::Progress {
                digest: d,
                bytes: n,
                ..
            } if d == *digest => bytes += n,
            Event::TransferFinished {
                descriptor,
                outcome,
                ..
            } if descriptor.digest == *digest => finished.push(outcome),
            _ => {}
        }
    }
    (started, bytes, finished)
}

/// Pushes the large file twice (two tags), checks what was uploaded, skipped and
/// reported, and pulls it back.
async fn push_twice(host: &str) -> (orca::Pushed, orca::Pushed) {
    let (store, events) = store_for(host);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let bytes = content();
    std::fs::write(&file, &bytes).unwrap();
    let digest = Digest::sha256(&bytes);
    let options = PushOptions::default().overlap_from(OVERLAP_FROM);
    let specs = [FileSpec::new(&file)];

    let first = store
        .push_files(&format!("{host}/big/file:one"), &specs, &options)
        .await
        .unwrap();
    assert_eq!(first.layers.len(), 1);
    assert_eq!(first.layers[0].digest, digest);
    assert_eq!(first.layers[0].size, SIZE as u64);
    assert_eq!(first.layers[0].title(), Some("big.bin"));
    assert_eq!(first.skipped_blobs, 0);
    assert_eq!(
        first.uploaded_bytes,
        SIZE as u64 + 2,
        "the layer and `{{}}`"
    );
    let (started, progress, finished) = layer_events(&events, &digest);
    assert_eq!(started, 1);
    assert_eq!(progress, SIZE as u64, "every byte reported once");
    assert_eq!(finished, [TransferOutcome::Transferred]);

    let out = dir.path().join("out");
    let fetched = store
        .fetch(&format!("{host}/big/file:one"), "x", &out)
        .await
        .unwrap();
    assert_eq!(fetched.digest, first.digest);
    assert!(std::fs::read(out.join("big.bin")).unwrap() == bytes);
    events.lock().unwrap().clear();

    let second = store
        .push_files(&format!("{host}/big/file:two"), &specs, &options)
        .await
        .unwrap();
    assert_eq!(second.digest, first.digest, "the same manifest");
    assert_eq!(second.skipped_blobs, 2, "layer and config exist");
    assert_eq!(second.uploaded_bytes, 0);
    let (started, _, finished) = layer_events(&events, &digest);
    assert_eq!(started, 1);
    assert_eq!(finished, [TransferOutcome::Skipped]);
    (first, second)
}

#[tokio::test]
async fn a_large_file_is_uploaded_while_hashed_and_skipped_when_pushed_again() {
    let mock = MockRegistry::start(Config::default()).await.unwrap();
    let (first, _) = push_twice(mock.host()).await;
    // `sha256:` is sent percent-encoded in the query.
    let digest = first.layers[0].digest.as_str().replace(':', "%3A");
    let closing: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT" && r.path.contains(&format!("digest={digest}")))
        .collect();
    assert_eq!(
        closing.len(),
        1,
        "one completed upload of the layer, by the first push: {closing:?}"
    );
    // The first push sent it in one pass: PATCHes, no streamed PUT with the digest known
    // before the upload.
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.method.as_str() == "PATCH" && r.path.contains("/big/file/blobs/uploads/"))
    );
}

#[tokio::test]
async fn a_large_file_is_uploaded_while_hashed_to_docker_registry() {
    let Some(real) = crate::support::docker_registry().await else {
        return;
    };
    push_twice(real.host()).await;
}

#[tokio::test]
async fn a_large_file_that_cannot_be_read_fails_naming_it() {
    let mock = MockRegistry::start(Config::default()).await.unwrap();
    let (store, _) = store_for(mock.host());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.bin");
    let err = store
        .push_files(
            &format!("{}/big/file:gone", mock.host()),
            &[FileSpec::new(&missing)],
            &PushOptions::default().overlap_from(0),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gone.bin"), "{err}");
    assert!(
        mock.requests()
            .iter()
            .all(|r| !r.path.contains("/manifests/")),
        "no manifest pushed"
    );
}

#[tokio::test]
async fn the_bytes_of_a_large_file_are_counted_once() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mock = MockRegistry::start(Config::default()).await.unwrap();
    let (store, _) = store_for(mock.host());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, content()).unwrap();
    let pushed = store
        .push_files(
            &format!("{}/big/counted:1", mock.host()),
            &[FileSpec::new(&file)],
            &PushOptions::default().overlap_from(OVERLAP_FROM),
        )
        .await
        .unwrap();
    assert_eq!(pushed.uploaded_bytes, SIZE as u64 + 2);
    let snapshot = snapshotter.snapshot().into_vec();
    let (uploaded, _) = crate::metrics::figure(
        &snapshot,
        "orca_transferred_bytes_total",
        &[("direction", "upload")],
    );
    assert_eq!(uploaded, SIZE as u64 + 2, "the layer and `{{}}`, once");
}

#[tokio::test]
async fn a_blob_fetched_to_a_file_is_placed_only_once_verified() {
    let mock = MockRegistry::start(Config::default()).await.unwrap();
    let (first, _) = push_twice(mock.host()).await;
    let (store, events) = store_for(mock.host());
    let digest = first.layers[0].digest.clone();
    let blob = format!("{}/big/file@{digest}", mock.host());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, b"what was there").unwrap();

    // A corrupted body: refused, the file there left as it was, no temporary file left.
    mock.faults()
        .add(orca_mock_registry::Fault::corrupt_blobs());
    let e = store.fetch_blob_to_file(&blob, &path).await.unwrap_err();
    assert_eq!(e.code(), "DigestMismatch", "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"what was there");
    let names = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(), ["big.bin"]);
    mock.faults().clear();
    events.lock().unwrap().clear();

    // Verified: placed (replacing the file, readable by others as curl -o leaves it),
    // every byte reported once.
    let descriptor = store.fetch_blob_to_file(&blob, &path).await.unwrap();
    assert_eq!(descriptor.digest, digest);
    assert!(std::fs::read(&path).unwrap() == content());
    assert_eq!(names(), ["big.bin"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    let (started, progress, finished) = layer_events(&events, &digest);
    assert_eq!(started, 1);
    assert_eq!(progress, SIZE as u64);
    assert_eq!(finished, [TransferOutcome::Transferred]);
}

/// An untagged push (what `orca attach` does): by digest beside its subject, no tag; a
/// tag or an extra tag with it is refused before anything is sent; annotations alone are
/// an artifact with the empty descriptor as its one layer.
#[tokio::test]
async fn an_untagged_push_goes_by_digest_and_annotations_alone_are_an_artifact() {
    let env = crate::support::env().await;
    let file = env.dir.path().join("notes.txt");
    std::fs::write(&file, b"notes").unwrap();
    let subject = env.reference("app:v1");
    let pushed = env
        .store
        .push_files(&subject, &[FileSpec::new(&file)], &PushOptions::default())
        .await
        .unwrap();

    let options = PushOptions::default()
        .artifact_type("application/vnd.example.note")
        .annotation("reviewed", "yes")
        .subject(&subject)
        .untagged(true);
    let note = env
        .store
        .push_files(&env.reference("app"), &[], &options)
        .await
        .unwrap();
    assert_eq!(
        note.reference.to_string(),
        format!("{}@{}", env.reference("app"), note.digest)
    );
    let content = env
        .store
        .fetch_manifest(&note.reference.to_string())
        .await
        .unwrap();
    let layers = content.manifest.layers();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].media_type, orca::manifest::media_types::OCI_EMPTY);
    assert_eq!(
        content.manifest.subject().map(|s| &s.digest),
        Some(&pushed.digest)
    );
    assert_eq!(env.store.tags(&env.reference("app")).await.unwrap(), ["v1"]);
    let found = env.store.referrers(&subject, None).await.unwrap();
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, note.digest);

    env.mock.clear_requests();
    for (reference, options) in [
        (env.reference("app:note"), options.clone()),
        (env.reference("app"), options.clone().extra_tag("also")),
    ] {
        let e = env
            .store
            .push_files(&reference, &[FileSpec::new(&file)], &options)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{e}");
        assert!(e.to_string().contains("untagged"), "{e}");
    }
    let e = env
        .store
        .push_files(&env.reference("app:empty"), &[], &PushOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nothing to push"), "{e}");
    assert!(env.mock.requests().is_empty(), "{:?}", env.mock.requests());
}

/// `push_blob_file` (`orca blob push`): uploaded once, then found; a digest given that the
/// bytes do not have is refused by the registry and nothing is committed; a directory is
/// refused before any request.
#[tokio::test]
async fn a_file_is_pushed_as_one_blob() {
    let env = crate::support::env().await;
    let file = env.dir.path().join("layer.bin");
    std::fs::write(&file, b"one blob").unwrap();
    let repository = env.reference("blobs");
    let (descriptor, existed) = env.store.push_blob_file(&repository, &file).await.unwrap();
    assert!(!existed);
    assert_eq!(descriptor.digest, Digest::sha256(b"one blob"));
    assert_eq!(
        (descriptor.size, descriptor.media_type.as_str()),
        (8, "application/octet-stream")
    );
    assert!(descriptor.annotations.is_empty());
    let again = env.store.push_blob_file(&repository, &file).await.unwrap();
    assert_eq!(again, (descriptor.clone(), true));

    let wrong = Digest::sha256(b"something else");
    let e = env
        .store
        .push_blob_file(&format!("{repository}@{wrong}"), &file)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArgument", "{e}");
    assert!(e.to_string().contains("does not hash to"), "{e}");
    let missing = env
        .store
        .blob_descriptor(&format!("{repository}@{wrong}"))
        .await;
    assert_eq!(missing.unwrap_err().code(), "ArtifactNotFound");

    env.mock.clear_requests();
    let e = env
        .store
        .push_blob_file(&repository, env.dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidArgument", "{e}");
    assert!(env.mock.requests().is_empty());
}
