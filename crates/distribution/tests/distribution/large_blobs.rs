//! Multi-MiB blobs, many body frames each, from the mock: a corrupted, truncated or
//! oversized blob fails (a digest mismatch after its last byte, a size mismatch after the
//! resume finds nothing more, a size excess before the extra bytes are handed out), and
//! `write_layer_async` and `BlobStream::save` leave nothing behind; a dropped connection is resumed and verified.
//! Blobs this large are hashed on a thread of their own as they arrive.

use bytes::Bytes;
use futures_util::StreamExt;
use orca_distribution::{Client, ClientConfig, Error, ErrorKind, PushOptions};
use orca_manifest::{Descriptor, media_types};
use orca_mock_registry::{Config, Fault, MockRegistry};
use orca_reference::Reference;
use orca_unpack::{LayerOptions, write_layer_async};

/// Many body frames, and not a multiple of any buffer; above 4 MiB, so the digest is
/// computed on a thread of its own (the pipelined path).
const LEN: usize = 5 * 1024 * 1024 + 12_345;

/// A mock holding a pseudo-random blob of `LEN` bytes, titled `blob.bin`.
async fn setup() -> (MockRegistry, Client, Reference, Bytes, Descriptor) {
    let registry = MockRegistry::start(Config::default()).await.expect("mock");
    let config = ClientConfig::builder()
        .plain_http(registry.host().parse().expect("registry"))
        .build();
    let client = Client::new(config).expect("client");
    let repo = Reference::new(registry.host(), "team/big").expect("reference");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let blob: Bytes = (0..LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into();
    let mut descriptor = Descriptor::for_bytes(media_types::OCI_LAYER_TAR, &blob);
    descriptor
        .annotations
        .insert("org.opencontainers.image.title".into(), "blob.bin".into());
    client
        .push_blob(&repo, &descriptor, blob.clone(), &PushOptions::default())
        .await
        .expect("push");
    (registry, client, repo, blob, descriptor)
}

/// Reads the stream to its end: the bytes handed out and the error it ended with, if any.
async fn drain(client: &Client, repo: &Reference, descriptor: &Descriptor) -> (u64, Option<Error>) {
    let mut stream = client.fetch_blob(repo, descriptor).await.expect("fetch");
    let mut n = 0;
    // Bounded: the stream ends after at most the blob's bytes and one error.
    while let Some(item) = stream.next().await {
        match item {
            Ok(piece) => n += piece.len() as u64,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// `write_layer_async` of the blob into a fresh directory must fail and leave it empty.
async fn writes_nothing(client: &Client, repo: &Reference, descriptor: &Descriptor) {
    let out = tempfile::tempdir().expect("tempdir");
    let reader = client
        .fetch_blob(repo, descriptor)
        .await
        .expect("the response starts")
        .into_async_read();
    let written = write_layer_async(
        descriptor.clone(),
        reader,
        out.path().to_owned(),
        LayerOptions::default(),
    )
    .await;
    assert!(written.is_err(), "a bad blob was written: {written:?}");
    let left: Vec<_> = std::fs::read_dir(out.path())
        .expect("read_dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Saved to a file: the file already there stays as it was, nothing else is left.
    let target = out.path().join("blob.bin");
    std::fs::write(&target, b"old").expect("write");
    let saved = client
        .fetch_blob(repo, descriptor)
        .await
        .expect("the response starts")
        .save(&target)
        .await;
    assert!(saved.is_err(), "a bad blob was saved: {saved:?}");
    assert_eq!(std::fs::read(&target).expect("read"), b"old");
    assert_eq!(names(out.path()), ["blob.bin"]);
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_large_blob_is_saved_to_a_file_once_verified() {
    let (_registry, client, repo, blob, descriptor) = setup().await;
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("blob.bin");
    std::fs::write(&target, b"old").expect("write");
    let stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    let n = stream.save(&target).await.expect("saved");
    assert_eq!(n, descriptor.size);
    assert_eq!(
        std::fs::read(&target).expect("read"),
        blob,
        "replaced whole"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    assert_eq!(names(out.path()), ["blob.bin"]);
    // A directory that does not exist: an error naming it, before any byte is read.
    let missing = out.path().join("missing/blob.bin");
    let stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    let error = stream.save(&missing).await.expect_err("no such directory");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot create a temporary file in ") && message.contains("missing"),
        "{message}"
    );
}

#[tokio::test]
async fn a_save_removes_what_a_killed_save_of_the_same_file_left() {
    let (_registry, client, repo, blob, descriptor) = setup().await;
    let out = tempfile::tempdir().expect("tempdir");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let aged = |name: &str| {
        let path = out.path().join(name);
        std::fs::write(&path, b"partial").expect("write");
        std::fs::File::options()
            .append(true)
            .open(&path)
            .expect("open")
            .set_modified(hour_ago)
            .expect("age");
        path
    };
    // A killed save's partial file, one still being written (locked), one just created,
    // and another file's.
    aged(".blob.bin.orca-part-K1lled");
    let held = aged(".blob.bin.orca-part-Held12");
    let lock = std::fs::File::open(&held).expect("open");
    lock.try_lock().expect("lock");
    std::fs::write(out.path().join(".blob.bin.orca-part-Fresh1"), b"new").expect("write");
    aged(".other.bin.orca-part-K1lled");

    let stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    stream
        .save(out.path().join("blob.bin"))
        .await
        .expect("saved");
    assert_eq!(
        std::fs::read(out.path().join("blob.bin")).expect("read"),
        blob
    );
    assert_eq!(
        names(out.path()),
        [
            ".blob.bin.orca-part-Fresh1",
            ".blob.bin.orca-part-Held12",
            ".other.bin.orca-part-K1lled",
            "blob.bin"
        ]
    );
}

#[tokio::test]
async fn a_large_blob_is_verified_and_written() {
    let (_registry, client, repo, blob, descriptor) = setup().await;
    let bytes = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("verified");
    assert_eq!(bytes, blob);
    let out = tempfile::tempdir().expect("tempdir");
    let reader = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .into_async_read();
    write_layer_async(
        descriptor.clone(),
        reader,
        out.path().to_owned(),
        LayerOptions::default(),
    )
    .await
    .expect("written");
    assert_eq!(
        std::fs::read(out.path().join("blob.bin")).expect("read"),
        blob
    );
}

#[tokio::test]
async fn a_large_blob_resumed_after_a_dropped_connection_is_verified() {
    let (registry, client, repo, blob, descriptor) = setup().await;
    registry
        .faults()
        .add(Fault::close_after(1_500_000).on("GET").times(1));
    let bytes = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("resumed and verified");
    assert_eq!(bytes, blob);
}

#[tokio::test]
async fn a_corrupted_large_blob_fails_after_its_last_byte_and_writes_nothing() {
    let (registry, client, repo, _blob, descriptor) = setup().await;
    registry.faults().add(Fault::corrupt_blobs().on("GET"));
    let (n, e) = drain(&client, &repo, &descriptor).await;
    let e = e.expect("corruption is an error");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert_eq!(n, descriptor.size, "the verdict comes after the last byte");

    let mut reader = client
        .fetch_blob(&repo, &descriptor)
        .await
        .expect("fetch")
        .into_async_read();
    let io_error = tokio::io::copy(&mut reader, &mut tokio::io::sink())
        .await
        .expect_err("the digest check fails");
    assert_eq!(
        io_error.kind(),
        std::io::ErrorKind::InvalidData,
        "{io_error}"
    );
    writes_nothing(&client, &repo, &descriptor).await;
}

#[tokio::test]
async fn a_truncated_large_blob_fails_with_a_size_mismatch_and_writes_nothing() {
    let (_registry, client, repo, _blob, mut descriptor) = setup().await;
    // The registry has fewer bytes than the descriptor claims: the body ends early, the
    // resume finds nothing more.
    descriptor.size += 1000;
    let (n, e) = drain(&client, &repo, &descriptor).await;
    let e = e.expect("a short blob is an error");
    assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{e}");
    assert_eq!(n, LEN as u64);
    writes_nothing(&client, &repo, &descriptor).await;
}

#[tokio::test]
async fn an_oversized_large_blob_fails_before_its_extra_bytes_are_handed_out() {
    let (_registry, client, repo, _blob, mut descriptor) = setup().await;
    descriptor.size -= 1000;
    let (n, e) = drain(&client, &repo, &descriptor).await;
    let e = e.expect("a long blob is an error");
    assert_eq!(e.kind(), ErrorKind::SizeExceeded, "{e}");
    assert!(n <= descriptor.size, "{n} bytes handed out");
    writes_nothing(&client, &repo, &descriptor).await;
}
