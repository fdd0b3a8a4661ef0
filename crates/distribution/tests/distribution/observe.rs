//! The observer's events for a push and a pull against `orca-mock-registry`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{
    AuthOutcome, Client, ClientConfig, Direction, Event, Observer, PushOptions, RetryPolicy,
    RetryReason, UploadMethod,
};
use orca_manifest::{Descriptor, Digest};
use orca_mock_registry::{AuthMode, Config, Fault, MockRegistry};
use orca_reference::Reference;

/// An owned copy of an event, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Sent(String, Option<String>),
    Answered(String, Option<String>, Option<u16>),
    Retry(String, u32, RetryReason),
    Auth(String, AuthOutcome),
    /// Direction, digest, running total, size, bytes since the previous event.
    Bytes(Direction, Option<Digest>, u64, Option<u64>, u64),
    Verified(Direction, Digest, u64),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl Observer for Recorder {
    fn event(&self, event: &Event<'_>) {
        let seen = match event {
            Event::Sent {
                method, repository, ..
            } => Seen::Sent(method.to_string(), repository.map(str::to_owned)),
            Event::Answered {
                method,
                repository,
                status,
                ..
            } => Seen::Answered(method.to_string(), repository.map(str::to_owned), *status),
            Event::Retry {
                method,
                attempt,
                reason,
                ..
            } => Seen::Retry(method.to_string(), *attempt, *reason),
            Event::Auth {
                scopes, outcome, ..
            } => Seen::Auth(
                scopes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                *outcome,
            ),
            Event::Bytes {
                direction,
                digest,
                bytes,
                total,
                moved,
                ..
            } => Seen::Bytes(*direction, digest.cloned(), *bytes, *total, *moved),
            Event::Verified {
                direction,
                digest,
                size,
                ..
            } => Seen::Verified(*direction, (*digest).clone(), *size),
            _ => return,
        };
        self.0.lock().expect("lock").push(seen);
    }
}

impl Recorder {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

async fn setup(auth: Option<AuthMode>) -> (MockRegistry, Client, Arc<Recorder>, Reference) {
    let mut config = Config::default();
    if let Some(auth) = auth {
        config = config.with_auth(auth);
    }
    let registry = MockRegistry::start(config).await.expect("mock");
    let recorder = Arc::new(Recorder::default());
    let config = ClientConfig::builder()
        .plain_http(registry.host().parse().expect("registry"))
        .retry(
            RetryPolicy::builder()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5))
                .build(),
        )
        .chunk_size(4096)
        .observer(recorder.clone())
        .build();
    let client = Client::new(config).expect("client");
    let repo = Reference::new(registry.host(), "team/app").expect("reference");
    (registry, client, recorder, repo)
}

fn blob(len: usize) -> (Bytes, Descriptor) {
    let data: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).expect("byte"))
        .collect();
    let descriptor = Descriptor::new(
        "application/octet-stream",
        Digest::sha256(&data),
        len as u64,
    );
    (Bytes::from(data), descriptor)
}

/// The `Bytes` events of one direction: their running totals, in order.
fn progress(seen: &[Seen], direction: Direction) -> Vec<u64> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Bytes(d, _, bytes, _, _) if *d == direction => Some(*bytes),
            _ => None,
        })
        .collect()
}

/// The `Bytes` events of one direction: what each says moved since the previous one.
fn moved(seen: &[Seen], direction: Direction) -> Vec<u64> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Bytes(d, _, _, _, moved) if *d == direction => Some(*moved),
            _ => None,
        })
        .collect()
}

/// Each `moved` is the step between running totals, which start from 0.
fn steps(totals: &[u64]) -> Vec<u64> {
    std::iter::once(0)
        .chain(totals.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect()
}

#[tokio::test]
async fn a_streamed_push_and_a_pull_report_requests_bytes_and_verification() {
    let (_registry, client, recorder, repo) = setup(None).await;
    let (data, descriptor) = blob(100_000);
    let options = PushOptions::builder()
        .method(UploadMethod::Streamed)
        .verify_source(true)
        .build();
    client
        .push_blob_reader(
            &repo,
            Some(&descriptor),
            std::io::Cursor::new(data.to_vec()),
            &options,
        )
        .await
        .expect("push");
    let pushed = recorder.take();
    let repository = Some("team/app".to_owned());
    // POST opens the session, PUT carries the blob: each sent and answered, in order.
    let requests: Vec<_> = pushed
        .iter()
        .filter(|s| matches!(s, Seen::Sent(..) | Seen::Answered(..)))
        .cloned()
        .collect();
    assert_eq!(
        requests,
        [
            Seen::Sent("POST".into(), repository.clone()),
            Seen::Answered("POST".into(), repository.clone(), Some(202)),
            Seen::Sent("PUT".into(), repository.clone()),
            Seen::Answered("PUT".into(), repository.clone(), Some(201)),
        ]
    );
    let up = progress(&pushed, Direction::Upload);
    assert!(!up.is_empty(), "{pushed:?}");
    assert!(up.windows(2).all(|w| w[0] < w[1]), "{up:?}");
    assert_eq!(up.last(), Some(&descriptor.size));
    assert_eq!(moved(&pushed, Direction::Upload), steps(&up));
    assert!(pushed.iter().all(|s| match s {
        Seen::Bytes(_, digest, _, total, _) =>
            digest.as_ref() == Some(&descriptor.digest) && *total == Some(descriptor.size),
        _ => true,
    }));
    assert!(
        pushed.contains(&Seen::Verified(
            Direction::Upload,
            descriptor.digest.clone(),
            descriptor.size
        )),
        "{pushed:?}"
    );

    let mut stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    let mut received = 0;
    while let Some(piece) = stream.next().await {
        received += piece.expect("piece").len();
    }
    assert_eq!(received as u64, descriptor.size);
    let pulled = recorder.take();
    assert_eq!(
        pulled[..2],
        [
            Seen::Sent("GET".into(), repository.clone()),
            Seen::Answered("GET".into(), repository, Some(200)),
        ]
    );
    let down = progress(&pulled, Direction::Download);
    assert!(down.windows(2).all(|w| w[0] < w[1]), "{down:?}");
    assert_eq!(down.last(), Some(&descriptor.size));
    assert_eq!(moved(&pulled, Direction::Download), steps(&down));
    assert_eq!(
        pulled.last(),
        Some(&Seen::Verified(
            Direction::Download,
            descriptor.digest.clone(),
            descriptor.size
        ))
    );
    // Verified comes once, after the last byte; nothing about uploads on a pull.
    assert_eq!(
        pulled
            .iter()
            .filter(|s| matches!(s, Seen::Verified(..)))
            .count(),
        1
    );
    assert!(progress(&pulled, Direction::Upload).is_empty());
}

#[tokio::test]
async fn a_chunked_push_reports_each_chunk_and_a_retry_names_its_status() {
    let (registry, client, recorder, repo) = setup(None).await;
    let (data, descriptor) = blob(10_000);
    registry.faults().add(Fault::fail_nth(1, 503).on("HEAD"));
    // A HEAD answered 503 once is retried: the retry names the status.
    assert_eq!(
        client
            .blob_exists(&repo, &descriptor.digest)
            .await
            .expect("head"),
        None
    );
    let seen = recorder.take();
    assert!(
        seen.contains(&Seen::Answered(
            "HEAD".into(),
            Some("team/app".into()),
            Some(503)
        )),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Seen::Retry("HEAD".into(), 1, RetryReason::Status(503))),
        "{seen:?}"
    );

    let options = PushOptions::builder().method(UploadMethod::Chunked).build();
    client
        .push_blob_reader(
            &repo,
            Some(&descriptor),
            std::io::Cursor::new(data.to_vec()),
            &options,
        )
        .await
        .expect("push");
    let seen = recorder.take();
    // 4096-byte chunks: one event per PATCH, with the running total.
    assert_eq!(progress(&seen, Direction::Upload), [4096, 8192, 10_000]);
    let patches = seen
        .iter()
        .filter(|s| matches!(s, Seen::Answered(m, _, Some(202)) if m == "PATCH"))
        .count();
    assert_eq!(patches, 3, "{seen:?}");
    assert!(seen.contains(&Seen::Verified(
        Direction::Upload,
        descriptor.digest.clone(),
        descriptor.size
    )));
}

/// A client with `user`/`password` for the mock, reporting to a recorder.
fn authenticated(registry: &MockRegistry, user: &str, password: &str) -> (Client, Arc<Recorder>) {
    let credentials =
        StaticCredentials::new().with(registry.host(), Credential::basic(user, password));
    let auth = Authenticator::new(credentials, AuthOptions::default());
    let recorder = Arc::new(Recorder::default());
    let config = ClientConfig::builder()
        .plain_http(registry.host().parse().expect("registry"))
        .retry(RetryPolicy::none())
        .observer(recorder.clone())
        .build();
    let client = Client::with_authenticator(config, auth).expect("client");
    (client, recorder)
}

#[tokio::test]
async fn a_negotiation_is_reported_with_its_scopes_and_outcome() {
    let registry =
        MockRegistry::start(Config::default().with_auth(AuthMode::bearer("alice", "secret")))
            .await
            .expect("mock");
    let repo = Reference::new(registry.host(), "team/app").expect("reference");
    let (_data, descriptor) = blob(10);

    let (client, recorder) = authenticated(&registry, "alice", "secret");
    for _ in 0..2 {
        let found = client
            .blob_exists(&repo, &descriptor.digest)
            .await
            .expect("head");
        assert_eq!(found, None);
    }
    let seen = recorder.take();
    // One negotiation, granted, for the scope the request needed; the second request
    // reuses the token.
    let auths: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Auth(..)))
        .collect();
    assert_eq!(
        auths,
        [&Seen::Auth(
            "repository:team/app:pull".into(),
            AuthOutcome::Granted
        )],
        "{seen:?}"
    );
    let heads: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Answered(m, _, status) if m == "HEAD" => *status,
            _ => None,
        })
        .collect();
    assert_eq!(heads, [401, 404, 404]);

    let (client, recorder) = authenticated(&registry, "alice", "wrong");
    client
        .blob_exists(&repo, &descriptor.digest)
        .await
        .expect_err("a wrong password is refused");
    let seen = recorder.take();
    assert!(
        seen.contains(&Seen::Auth(
            "repository:team/app:pull".into(),
            AuthOutcome::Failed
        )),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_resumed_download_reports_the_resume_and_keeps_counting() {
    let (registry, client, recorder, repo) = setup(None).await;
    let (data, descriptor) = blob(200_000);
    client
        .push_blob(&repo, &descriptor, data, &PushOptions::default())
        .await
        .expect("push");
    recorder.take();
    registry
        .faults()
        .add(Fault::close_after(50_000).on("GET").times(1));
    let mut stream = client.fetch_blob(&repo, &descriptor).await.expect("fetch");
    let mut received = 0;
    while let Some(piece) = stream.next().await {
        received += piece.expect("resumed piece").len();
    }
    assert_eq!(received as u64, descriptor.size);
    let seen = recorder.take();
    let resumes: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Retry(m, attempt, RetryReason::Resume { received }) if m == "GET" => {
                Some((*attempt, *received))
            }
            _ => None,
        })
        .collect();
    assert_eq!(resumes.len(), 1, "{seen:?}");
    // What had arrived when the connection broke (how much hyper hands out before the
    // error depends on its buffering).
    assert!(resumes[0].1 < descriptor.size, "{resumes:?}");
    // Two GETs, a running total that never goes back, one
    // verification at the end.
    let gets = seen
        .iter()
        .filter(|s| matches!(s, Seen::Sent(m, _) if m == "GET"))
        .count();
    assert_eq!(gets, 2, "{seen:?}");
    let down = progress(&seen, Direction::Download);
    assert!(down.windows(2).all(|w| w[0] < w[1]), "{down:?}");
    assert_eq!(down.last(), Some(&descriptor.size));
    assert_eq!(
        seen.last(),
        Some(&Seen::Verified(
            Direction::Download,
            descriptor.digest.clone(),
            descriptor.size
        ))
    );
}
