//! A one-pass upload raced against the caller computing the digest: skipped when the
//! registry has the blob (whichever ends first), refused before commit when what was sent
//! is not the expected blob; against the mock registry and Debian's `docker-registry`.

use std::pin::Pin;
use std::task::{Context, Poll};

use orca_distribution::{Client, Error, ErrorKind, PushOptions, PushOutcome, PushedBlob};
use orca_manifest::{Descriptor, Digest};
use orca_mock_registry::{Config, MockRegistry};
use orca_reference::Reference;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;

use crate::{assert_stored, docker_registry, small_chunks};

fn blob(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from((i * 31 + i / 997) % 253).unwrap_or(0) ^ seed)
        .collect()
}

fn descriptor(data: &[u8]) -> Descriptor {
    Descriptor::new(
        "application/octet-stream",
        Digest::sha256(data),
        data.len() as u64,
    )
}

/// A reader that says when it reached its end, so that a test can make the expected
/// descriptor arrive only after the whole upload was read.
struct SignalAtEnd {
    inner: std::io::Cursor<Vec<u8>>,
    done: Option<oneshot::Sender<()>>,
}

impl AsyncRead for SignalAtEnd {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() == before
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
        result
    }
}

fn closing_puts(mock: &MockRegistry) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.path.contains("digest="))
        .map(|r| r.path.clone())
        .collect()
}

fn skip() -> PushOptions {
    PushOptions::builder().skip_existing(true).build()
}

/// Pushes `data` with `skip_existing`, its expected descriptor known at once (`None`:
/// the caller could not compute it).
async fn push_known(
    client: &Client,
    repo: &Reference,
    data: &[u8],
    expected: Option<Descriptor>,
) -> Result<PushedBlob, Error> {
    client
        .push_blob_reader_overlapped(
            repo,
            std::io::Cursor::new(data.to_vec()),
            std::future::ready(expected),
            &skip(),
        )
        .await
}

#[tokio::test]
async fn uploaded_then_skipped_whichever_ends_first() {
    let mock = MockRegistry::start(Config::default()).await.expect("mock");
    let client = small_chunks(mock.host());
    let repo: Reference = format!("{}/team/app", mock.host()).parse().expect("ref");
    let data = blob(1 << 20, 0);
    let expected = descriptor(&data);

    // Known at once: uploaded (the registry does not have it), then read back.
    let pushed = push_known(&client, &repo, &data, Some(expected.clone()))
        .await
        .expect("uploaded");
    assert_eq!(pushed.outcome, PushOutcome::Uploaded);
    assert_eq!(
        (pushed.digest.clone(), pushed.size),
        (expected.digest.clone(), expected.size)
    );
    assert_eq!(closing_puts(&mock).len(), 1);
    assert_stored(&client, &repo, &expected, &data).await;

    // Known at once, the registry has it: skipped, the session cancelled.
    mock.clear_requests();
    let pushed = push_known(&client, &repo, &data, Some(expected.clone()))
        .await
        .expect("skipped");
    assert_eq!(pushed.outcome, PushOutcome::AlreadyExists);
    assert!(closing_puts(&mock).is_empty(), "{:?}", mock.requests());
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.method.as_str() == "DELETE")
    );

    // Known only once the whole source was read: still asked before closing, skipped.
    mock.clear_requests();
    let (tx, rx) = oneshot::channel();
    let late = expected.clone();
    let pushed = client
        .push_blob_reader_overlapped(
            &repo,
            SignalAtEnd {
                inner: std::io::Cursor::new(data.clone()),
                done: Some(tx),
            },
            async move { rx.await.ok().map(|()| late) },
            &skip(),
        )
        .await
        .expect("skipped late");
    assert_eq!(pushed.outcome, PushOutcome::AlreadyExists);
    assert!(closing_puts(&mock).is_empty(), "{:?}", mock.requests());

    // Without skip_existing the registry is not asked: uploaded again.
    mock.clear_requests();
    let pushed = client
        .push_blob_reader_overlapped(
            &repo,
            std::io::Cursor::new(data),
            std::future::ready(Some(expected)),
            &PushOptions::default(),
        )
        .await
        .expect("uploaded again");
    assert_eq!(pushed.outcome, PushOutcome::Uploaded);
    assert!(mock.requests().iter().all(|r| r.method.as_str() != "HEAD"));
}

#[tokio::test]
async fn a_source_that_is_not_the_expected_blob_is_never_committed() {
    let mock = MockRegistry::start(Config::default()).await.expect("mock");
    let client = small_chunks(mock.host());
    let repo: Reference = format!("{}/team/app", mock.host()).parse().expect("ref");
    let sent = blob(1 << 20, 0);
    let hashed = blob(1 << 20, 1);
    let e = push_known(&client, &repo, &sent, Some(descriptor(&hashed)))
        .await
        .expect_err("not the expected blob");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    let mut longer = hashed.clone();
    longer.push(0);
    let e = push_known(&client, &repo, &sent, Some(descriptor(&longer)))
        .await
        .expect_err("not the expected size");
    assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{e}");
    // The caller could not compute it: abandoned.
    let e = push_known(&client, &repo, &sent, None)
        .await
        .expect_err("no descriptor");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(closing_puts(&mock).is_empty(), "{:?}", mock.requests());
    let deletes = mock
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .count();
    assert_eq!(deletes, 3, "each session cancelled: {:?}", mock.requests());
    assert!(
        client
            .blob_exists(&repo, &Digest::sha256(&sent))
            .await
            .expect("head")
            .is_none()
    );
}

#[tokio::test]
async fn docker_registry_takes_an_overlapped_push_and_a_skip() {
    let Some(real) = docker_registry().await else {
        return;
    };
    let client = small_chunks(real.host());
    let repo: Reference = format!("{}/team/app", real.host()).parse().expect("ref");
    let data = blob(1 << 20, 2);
    let expected = descriptor(&data);
    for outcome in [PushOutcome::Uploaded, PushOutcome::AlreadyExists] {
        let pushed = push_known(&client, &repo, &data, Some(expected.clone()))
            .await
            .expect("push");
        assert_eq!(pushed.outcome, outcome);
    }
    assert_stored(&client, &repo, &expected, &data).await;
    let other = blob(1 << 20, 3);
    let e = push_known(&client, &repo, &other, Some(descriptor(&blob(1 << 20, 4))))
        .await
        .expect_err("not the expected blob");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert!(
        client
            .blob_exists(&repo, &Digest::sha256(&other))
            .await
            .expect("head")
            .is_none()
    );
}
