//! The client against registries that misbehave on purpose (issue 16): a few hyper
//! handlers on 127.0.0.1, each recording what it received, and raw TCP servers for
//! answers hyper would not write. Every test asserts both what reached the hostile side
//! and what the user sees.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{
    Client, ClientConfig, ClientConfigBuilder, Error, ErrorKind, FetchOptions, MinThroughput,
    PushOptions, Registry, RetryPolicy, UploadMethod,
};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_reference::Reference;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Connections one hostile server accepts before it stops (loops in tests are bounded).
const MAX_CONNECTIONS: usize = 64;
/// How long a hostile server keeps a stalled answer open: far longer than any client
/// timeout a test configures; the test's runtime ends it anyway.
const HOLD: Duration = Duration::from_secs(30);

const PASSWORD: &str = "canary-PASSWORD-4711";

/// One request a hostile server received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) target: String,
    pub(crate) authorization: Option<String>,
    pub(crate) range: Option<String>,
}

/// How a hostile handler answers.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The head, then the body one byte per `every`.
    Trickle {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        every: Duration,
    },
    /// The head (announcing `length` bytes), then nothing.
    StallAfterHead { length: u64 },
    /// No answer at all.
    Never,
    /// `status` after a wait.
    Late { after: Duration, status: u16 },
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } | Reply::Trickle { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    fn with_body(mut self, bytes: &[u8]) -> Reply {
        if let Reply::Full { body, .. } = &mut self {
            *body = bytes.to_vec();
        }
        self
    }
}

type Handler = dyn Fn(&Seen, &str) -> Reply + Send + Sync;
type Boxed = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A hyper server on 127.0.0.1 answering with `handler(request, own host:port)`.
pub(crate) struct Hostile {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    pub(crate) async fn start(
        handler: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static,
    ) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = seen.clone();
        tokio::spawn(async move {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let recorded = recorded.clone();
                let own = addr.to_string();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let handler = handler.clone();
                        let recorded = recorded.clone();
                        let own = own.clone();
                        async move {
                            let seen = Seen {
                                method: request.method().to_string(),
                                target: request
                                    .uri()
                                    .path_and_query()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                authorization: request
                                    .headers()
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                                range: request
                                    .headers()
                                    .get("range")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                            };
                            recorded.lock().expect("lock").push(seen.clone());
                            let reply = handler(&seen, &own);
                            Ok::<_, Infallible>(respond(reply).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Hostile { addr, seen }
    }

    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn respond(reply: Reply) -> hyper::Response<Boxed> {
    let build = |status: u16, headers: &[(String, String)], body: Boxed| {
        let mut response = hyper::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(name, value);
        }
        response.body(body).expect("response")
    };
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => build(status, &headers, Full::new(Bytes::from(body)).boxed()),
        Reply::Trickle {
            mut headers,
            body,
            every,
        } => {
            headers.push(("content-length".into(), body.len().to_string()));
            let stream =
                futures_util::stream::unfold(body.into_iter(), move |mut rest| async move {
                    let byte = rest.next()?;
                    tokio::time::sleep(every).await;
                    Some((
                        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![byte]))),
                        rest,
                    ))
                });
            build(200, &headers, StreamBody::new(stream).boxed())
        }
        Reply::StallAfterHead { length } => {
            let stream = futures_util::stream::once(async {
                tokio::time::sleep(HOLD).await;
                Ok::<_, Infallible>(Frame::data(Bytes::new()))
            });
            build(
                200,
                &[("content-length".into(), length.to_string())],
                StreamBody::new(stream).boxed(),
            )
        }
        Reply::Never => {
            tokio::time::sleep(HOLD).await;
            build(500, &[], Full::new(Bytes::new()).boxed())
        }
        Reply::Late { after, status } => {
            tokio::time::sleep(after).await;
            build(status, &[], Full::new(Bytes::new()).boxed())
        }
    }
}

/// A raw TCP server that answers every connection's first bytes with `answer` and
/// closes; returns its address and a count of connections.
async fn raw(answer: Vec<u8>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let connections = Arc::new(Mutex::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        for _ in 0..MAX_CONNECTIONS {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            *counted.lock().expect("lock") += 1;
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, connections)
}

/// Fast retries, and plain HTTP to `hosts`.
fn builder(hosts: &[&str]) -> ClientConfigBuilder {
    let mut builder = ClientConfig::builder().retry(
        RetryPolicy::builder()
            .max_retries(3)
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(5))
            .build(),
    );
    for host in hosts {
        builder = builder.plain_http(host.parse::<Registry>().expect("registry"));
    }
    builder
}

fn config(hosts: &[&str]) -> ClientConfig {
    builder(hosts).build()
}

fn with_basic(config: ClientConfig, registry: &str, user: &str) -> Client {
    let credentials = StaticCredentials::new().with(registry, Credential::basic(user, PASSWORD));
    Client::with_authenticator(
        config,
        Authenticator::new(credentials, AuthOptions::default()),
    )
    .expect("client")
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).expect("reference")
}

/// Display, Debug and every source: all the text a user or a log could see.
fn everything(e: &Error) -> String {
    let mut text = format!("{e} | {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text} | {s} | {s:?}");
        source = s.source();
    }
    text
}

fn layer() -> Descriptor {
    Descriptor::new(media_types::OCI_LAYER_TAR, Digest::sha256(b"layer"), 5)
}

/// Issue 16.1: a redirect target's 401 is never negotiated with the registry's
/// credentials, whether the registry asked for them first or not.
#[tokio::test]
async fn a_redirect_targets_challenge_gets_no_credentials() {
    for registry_challenges in [false, true] {
        let storage = Hostile::start(|seen, own| {
            if seen.target.starts_with("/token") {
                Reply::status(200).with_body(br#"{"token":"FOREIGN-TOKEN"}"#)
            } else {
                Reply::status(401).with_header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="http://{own}/token",service="storage""#),
                )
            }
        })
        .await;
        let target = format!("http://{}/blobs/layer", storage.host());
        let registry = Hostile::start(move |seen, _| {
            if registry_challenges && seen.authorization.is_none() {
                Reply::status(401).with_header("WWW-Authenticate", r#"Basic realm="registry""#)
            } else {
                Reply::status(307).with_header("Location", &target)
            }
        })
        .await;
        let client = with_basic(
            config(&[&registry.host(), &storage.host()]),
            &registry.host(),
            "alice",
        );
        let e = client
            .fetch_blob(&reference(&registry.host(), "team/app"), &layer())
            .await
            .expect_err("storage refused");

        // The hostile side: storage saw one GET, without credentials, and no token
        // request.
        let at_storage = storage.seen();
        assert_eq!(at_storage.len(), 1, "{registry_challenges}: {at_storage:?}");
        assert_eq!(at_storage[0].method, "GET");
        assert!(at_storage[0].authorization.is_none(), "{at_storage:?}");
        // The registry got Basic at most, never a token the foreign realm issued.
        let at_registry = registry.seen();
        assert!(
            at_registry.iter().all(|s| s
                .authorization
                .as_deref()
                .is_none_or(|a| a.starts_with("Basic "))),
            "{at_registry:?}"
        );
        // The user: an error naming the host that refused.
        assert!(matches!(e, Error::RedirectRefused { .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let shown = e.to_string();
        assert!(shown.contains(&storage.host()), "{shown}");
        assert!(shown.contains("401"), "{shown}");
        assert!(!everything(&e).contains(PASSWORD));
    }
}

/// Issue 16.3: an error body echoing the credentials, with terminal escapes, is shown
/// bounded, escaped and redacted.
#[tokio::test]
async fn error_bodies_are_bounded_escaped_and_redacted() {
    let registry = Hostile::start(|seen, _| match &seen.authorization {
        None => Reply::status(401).with_header("WWW-Authenticate", r#"Basic realm="registry""#),
        Some(authorization) => {
            // Echo the header and the password, with an OSC title change, a colour and a
            // bell, and pad it far beyond what an error should show.
            let message = format!(
                "you sent {authorization} (password {PASSWORD}) \u{1b}]0;owned\u{7}\u{1b}[31m red {}",
                "x".repeat(20_000)
            );
            let body = serde_json::json!({
                "errors": [{"code": "MANIFEST_UNKNOWN", "message": message, "detail": {"echo": authorization}}]
            });
            Reply::status(404).with_body(body.to_string().as_bytes())
        }
    })
    .await;
    let client = with_basic(config(&[&registry.host()]), &registry.host(), "alice");
    let e = client
        .fetch_manifest(
            &reference(&registry.host(), "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect_err("404");

    // The hostile side did receive the credentials (this is what it echoes).
    let sent = registry
        .seen()
        .into_iter()
        .find_map(|s| s.authorization)
        .expect("Basic sent");
    let encoded = sent.strip_prefix("Basic ").expect("Basic");
    // The user sees none of them, and no escape sequence.
    let text = everything(&e);
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains(encoded), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    assert!(text.contains("REDACTED"), "{text}");
    let shown = e.to_string();
    assert!(shown.len() < 1_000, "{} characters", shown.len());
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

/// Issue 16.5: an oversized response header is the registry's protocol error, failed
/// once.
#[tokio::test]
async fn an_oversized_header_is_a_protocol_error_failed_once() {
    let mut answer = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
    answer.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    answer.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let (host, connections) = raw(answer).await;
    let client = Client::new(config(&[&host])).expect("client");
    let e = client
        .fetch_manifest(&reference(&host, "team/app:1.0"), &FetchOptions::default())
        .await
        .expect_err("oversized");
    assert_eq!(*connections.lock().expect("lock"), 1, "retried");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    assert!(!e.is_retryable());
    let shown = e.to_string();
    assert!(shown.contains("oversized header"), "{shown}");
    assert!(!shown.contains("cannot connect"), "{shown}");
}

/// Issue 11: a registry that speaks plain HTTP where TLS was expected is told apart from
/// other TLS failures, with how to allow it.
#[tokio::test]
async fn a_plain_http_answer_to_tls_says_how_to_allow_it() {
    let (host, connections) =
        raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    // No plain_http for this host: the client speaks TLS.
    let client = Client::new(config(&[])).expect("client");
    let e = client
        .fetch_manifest(&reference(&host, "team/app:1.0"), &FetchOptions::default())
        .await
        .expect_err("plain answer");
    assert_eq!(*connections.lock().expect("lock"), 1, "retried");
    assert!(matches!(e, Error::PlainHttpAnswer { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("plain HTTP"), "{shown}");
    assert!(shown.contains("--plain-http"), "{shown}");
}

/// Issue 11: Basic credentials refused by the registry are "credentials rejected",
/// naming the user, and a 401 to `HEAD` is not asked again with `GET`.
#[tokio::test]
async fn refused_basic_credentials_name_the_user_and_are_not_retried_as_get() {
    let registry = Hostile::start(|_, _| {
        Reply::status(401).with_header("WWW-Authenticate", r#"Basic realm="registry""#)
    })
    .await;
    let client = with_basic(config(&[&registry.host()]), &registry.host(), "alice");
    let e = client
        .resolve(&reference(&registry.host(), "team/app:1.0"))
        .await
        .expect_err("refused");
    let seen = registry.seen();
    assert!(seen.iter().all(|s| s.method == "HEAD"), "{seen:?}");
    assert_eq!(
        seen.len(),
        2,
        "one HEAD without, one with credentials: {seen:?}"
    );
    assert_eq!(e.kind(), ErrorKind::CredentialsRejected, "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("\"alice\""), "{shown}");
    assert!(shown.contains(&registry.host()), "{shown}");
    assert!(!everything(&e).contains(PASSWORD));
}

/// Issue 11: a token service's 401 is the same kind as the registry's, naming the user.
#[tokio::test]
async fn a_token_services_refusal_is_credentials_rejected_too() {
    let registry = Hostile::start(|seen, own| {
        if seen.target.starts_with("/token") {
            // A token service that echoes what it was sent, with a terminal escape.
            let echo = format!(
                "incorrect password {PASSWORD} in {} \u{1b}]0;owned\u{7}",
                seen.authorization.clone().unwrap_or_default()
            );
            Reply::status(401).with_body(
                serde_json::json!({ "error": "invalid_grant", "error_description": echo })
                    .to_string()
                    .as_bytes(),
            )
        } else {
            Reply::status(401).with_header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="http://{own}/token",service="registry""#),
            )
        }
    })
    .await;
    let client = with_basic(config(&[&registry.host()]), &registry.host(), "bob");
    let e = client
        .fetch_manifest(
            &reference(&registry.host(), "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect_err("refused");
    let seen = registry.seen();
    assert_eq!(
        seen.iter()
            .filter(|s| s.target.starts_with("/token"))
            .count(),
        1,
        "{seen:?}"
    );
    assert_eq!(e.kind(), ErrorKind::CredentialsRejected, "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("\"bob\""), "{shown}");
    assert!(shown.contains("/token"), "{shown}");
    let text = everything(&e);
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}

/// Tiny stall limits: a window of 100 ms that must see 64 bytes, 600 ms without progress
/// per operation, 150 ms for a response head.
fn impatient(host: &str) -> ClientConfig {
    builder(&[host])
        .min_throughput(MinThroughput::new(64, Duration::from_millis(100)))
        .max_stall(Duration::from_millis(600))
        .read_timeout(Duration::from_millis(150))
        .connect_timeout(Duration::from_millis(150))
        .build()
}

fn blob(n: usize) -> (Vec<u8>, Descriptor) {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(n).collect();
    let descriptor = Descriptor::new(
        media_types::OCI_LAYER_TAR,
        Digest::sha256(&bytes),
        bytes.len() as u64,
    );
    (bytes, descriptor)
}

/// What a bounded number of attempts looks like from the hostile side: the first GET,
/// then resumes (with `Range` once bytes arrived), never more than configured.
fn assert_bounded_resumes(seen: &[Seen], max_resumes: u32) {
    assert!(!seen.is_empty());
    assert!(seen[0].range.is_none(), "{seen:?}");
    assert!(
        seen.len() <= 1 + max_resumes as usize,
        "{} requests: {seen:?}",
        seen.len()
    );
}

/// Issue 16.4: a body sent at a trickle fails on the throughput rule, resumes a bounded
/// number of times, and ends.
#[tokio::test]
async fn a_trickling_body_fails_the_throughput_rule() {
    let (bytes, descriptor) = blob(4_000);
    let registry = Hostile::start(move |_, _| Reply::Trickle {
        headers: Vec::new(),
        body: bytes.clone(),
        every: Duration::from_millis(20),
    })
    .await;
    let config = impatient(&registry.host());
    let max_resumes = config.max_resumes;
    let client = Client::new(config).expect("client");
    let stream = client
        .fetch_blob(&reference(&registry.host(), "team/app"), &descriptor)
        .await
        .expect("the head arrives");
    let e = stream.bytes().await.expect_err("too slow");
    let seen = registry.seen();
    assert_bounded_resumes(&seen, max_resumes);
    // Bytes did arrive before each cut: every resume asks for the rest only.
    assert!(seen[1..].iter().all(|s| s.range.is_some()), "{seen:?}");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    assert!(
        matches!(
            e,
            Error::TooSlow { minimum: 64, .. } | Error::Timeout { .. }
        ),
        "{e:?}"
    );
}

/// Issue 16.4: a body that never comes after its head ends the same way.
#[tokio::test]
async fn a_stall_after_the_head_ends() {
    let (_, descriptor) = blob(4_000);
    let registry = Hostile::start(|_, _| Reply::StallAfterHead { length: 4_000 }).await;
    let config = impatient(&registry.host());
    let max_resumes = config.max_resumes;
    let client = Client::new(config).expect("client");
    let stream = client
        .fetch_blob(&reference(&registry.host(), "team/app"), &descriptor)
        .await
        .expect("the head arrives");
    let e = stream.bytes().await.expect_err("stalled");
    let seen = registry.seen();
    assert_bounded_resumes(&seen, max_resumes);
    assert!(
        seen.iter().all(|s| s.range.is_none()),
        "nothing arrived: {seen:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    assert!(e.to_string().contains("team/app/blobs"), "{e}");
}

/// Issue 16.4: a request never answered is retried a bounded number of times and ends.
#[tokio::test]
async fn a_request_never_answered_ends() {
    let registry = Hostile::start(|_, _| Reply::Never).await;
    let config = impatient(&registry.host());
    let max_retries = config.default_policy.retry.max_retries;
    let client = Client::new(config).expect("client");
    let e = client
        .fetch_manifest(
            &reference(&registry.host(), "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect_err("never answered");
    let seen = registry.seen();
    assert!(
        !seen.is_empty() && seen.len() <= 1 + max_retries as usize,
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|s| s.target == "/v2/team/app/manifests/1.0")
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    assert!(e.to_string().contains("manifests/1.0"), "{e}");
}

/// Issue 11: a complete body shorter than its descriptor is a size mismatch, even when
/// the registry answers the resume with 416.
#[tokio::test]
async fn a_short_blob_is_a_size_mismatch_not_a_416() {
    let (bytes, descriptor) = blob(10);
    let registry = Hostile::start(move |seen, _| match &seen.range {
        None => Reply::status(200).with_body(&bytes[..6]),
        Some(_) => Reply::status(416).with_header("Content-Range", "bytes */6"),
    })
    .await;
    let client = Client::new(config(&[&registry.host()])).expect("client");
    let stream = client
        .fetch_blob(&reference(&registry.host(), "team/app"), &descriptor)
        .await
        .expect("the head arrives");
    let e = stream.bytes().await.expect_err("short");
    let seen = registry.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].range.as_deref(), Some("bytes=6-"));
    assert!(
        matches!(
            e,
            Error::SizeMismatch {
                expected: 10,
                actual: 6,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("team/app/blobs"), "{e}");
}

/// Issue 11: errors found on the client's side of an upload or a manifest still name the
/// URL they concern (they used to print an empty one).
#[tokio::test]
async fn client_side_errors_name_their_url() {
    let registry = Hostile::start(|seen, _| match seen.method.as_str() {
        "POST" => Reply::status(202).with_header("Location", "/v2/team/app/blobs/uploads/s1"),
        "DELETE" => Reply::status(204),
        "GET" => Reply::status(200)
            .with_header("Content-Type", media_types::OCI_IMAGE_MANIFEST)
            .with_body(br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#),
        _ => Reply::status(404),
    })
    .await;
    let client = Client::new(config(&[&registry.host()])).expect("client");
    let e = client
        .fetch_manifest(
            &reference(&registry.host(), "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect_err("not a manifest");
    assert!(matches!(e, Error::InvalidContent { .. }), "{e:?}");
    assert!(e.to_string().contains("/v2/team/app/manifests/1.0"), "{e}");
    let repository = reference(&registry.host(), "team/app");
    let (bytes, mut descriptor) = blob(10);
    descriptor.size = 4;
    let options = PushOptions::builder().method(UploadMethod::Chunked).build();
    let e = client
        .push_blob_reader(
            &repository,
            Some(&descriptor),
            std::io::Cursor::new(bytes.clone()),
            &options,
        )
        .await
        .expect_err("larger than its descriptor");
    assert!(matches!(e, Error::SizeExceeded { limit: 4, .. }), "{e:?}");
    assert!(
        e.to_string().contains("/v2/team/app/blobs/uploads/s1"),
        "{e}"
    );
    let seen = registry.seen();
    assert_eq!(
        seen.last().map(|s| s.method.as_str()),
        Some("DELETE"),
        "{seen:?}"
    );

    let (_, wrong) = blob(3);
    let options = PushOptions::builder().verify_source(true).build();
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, wrong.digest, 10);
    let e = client
        .push_blob(&repository, &descriptor, Bytes::from(bytes), &options)
        .await
        .expect_err("wrong digest");
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e:?}");
    assert!(e.to_string().contains("/v2/team/app/blobs/sha256:"), "{e}");
}

/// Issue 16.4: an upload the registry stops reading fails the throughput rule too.
#[tokio::test]
async fn an_upload_the_registry_stops_reading_ends() {
    let registry = Hostile::start(|seen, _| match seen.method.as_str() {
        "POST" => Reply::status(202).with_header("Location", "/v2/team/app/blobs/uploads/s1"),
        // Never read the body, never answer: the client's socket buffers fill up.
        "PUT" => Reply::Never,
        _ => Reply::status(404),
    })
    .await;
    let client = Client::new(impatient(&registry.host())).expect("client");
    // Larger than loopback socket buffers, so the body must stall.
    let (bytes, descriptor) = blob(32 * 1024 * 1024);
    let options = PushOptions::builder()
        .method(UploadMethod::Streamed)
        .build();
    let e = client
        .push_blob_reader(
            &reference(&registry.host(), "team/app"),
            Some(&descriptor),
            std::io::Cursor::new(bytes),
            &options,
        )
        .await
        .expect_err("stalled upload");
    let seen = registry.seen();
    assert_eq!(
        seen.iter().filter(|s| s.method == "PUT").count(),
        1,
        "a streamed body is sent once: {seen:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    // The body stalled: the rule on bodies ended it, not a timeout on the answer.
    assert!(matches!(e, Error::TooSlow { minimum: 64, .. }), "{e:?}");
    assert!(e.to_string().contains("blobs/uploads/s1"), "{e}");
}

/// Issue 16.4: a small body sent in full is not judged on its pace while the registry
/// thinks (the throughput rule is for bodies still moving).
#[tokio::test]
async fn a_small_body_waits_for_a_slow_answer() {
    let registry = Hostile::start(|seen, _| match seen.method.as_str() {
        "POST" => Reply::status(202).with_header("Location", "/v2/team/app/blobs/uploads/s1"),
        // Three windows of thinking, well within the time for an answer.
        "PUT" => Reply::Late {
            after: Duration::from_millis(300),
            status: 201,
        },
        _ => Reply::status(404),
    })
    .await;
    let config = builder(&[&registry.host()])
        .min_throughput(MinThroughput::new(64, Duration::from_millis(100)))
        .read_timeout(Duration::from_secs(10))
        .build();
    let client = Client::new(config).expect("client");
    let (bytes, descriptor) = blob(10);
    let pushed = client
        .push_blob(
            &reference(&registry.host(), "team/app"),
            &descriptor,
            Bytes::from(bytes),
            &PushOptions::default(),
        )
        .await
        .expect("a slow answer is an answer");
    assert_eq!(pushed.digest, descriptor.digest);
    let seen = registry.seen();
    assert_eq!(
        seen.iter().filter(|s| s.method == "PUT").count(),
        1,
        "{seen:?}"
    );
}

/// A `HEAD` that gives no usable size for a blob (a `Content-Length` of 0, which only the
/// empty blob can have) is not taken as the size: a ranged `GET` asks for it, and when
/// that says nothing either the answer is a protocol error, not a size of 0.
#[tokio::test]
async fn a_blob_head_without_its_size_is_asked_again_with_a_range() {
    let (bytes, descriptor) = blob(10);
    let start = |get: Reply| {
        Hostile::start(move |seen, _| match seen.method.as_str() {
            // No Content-Length at all (hyper sends none for an empty HEAD answer).
            "HEAD" => Reply::status(200),
            _ => get.clone(),
        })
    };
    let ask = |registry: &Hostile| {
        let client = Client::new(config(&[&registry.host()])).expect("client");
        let repo = reference(&registry.host(), "team/app");
        let digest = descriptor.digest.clone();
        async move { client.blob_exists(&repo, &digest).await }
    };

    let ranged = start(
        Reply::status(206)
            .with_header("Content-Range", "bytes 0-0/10")
            .with_body(&bytes[..1]),
    )
    .await;
    assert_eq!(ask(&ranged).await.expect("sized"), Some(10));
    let seen = ranged.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[1].method.as_str()),
        ("HEAD", "GET")
    );
    assert_eq!(seen[1].range.as_deref(), Some("bytes=0-0"));

    // A registry that ignores the range: its Content-Length, the body left unread.
    let whole = start(Reply::status(200).with_body(&bytes)).await;
    assert_eq!(ask(&whole).await.expect("sized"), Some(10));

    let mute = start(Reply::status(206).with_body(&bytes[..1])).await;
    let e = ask(&mute).await.expect_err("no size anywhere");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("how large it is"), "{e}");

    // An explicit 0 for another blob is asked again too; for the empty blob it is
    // believed, with no second request.
    let ranged_reply = Reply::status(206)
        .with_header("Content-Range", "bytes 0-0/10")
        .with_body(&bytes[..1]);
    let zero = Hostile::start(move |seen, _| match seen.method.as_str() {
        "HEAD" => Reply::status(200).with_header("Content-Length", "0"),
        _ => ranged_reply.clone(),
    })
    .await;
    assert_eq!(ask(&zero).await.expect("sized"), Some(10));
    assert_eq!(zero.seen().len(), 2);
    let empty = Digest::sha256(b"");
    let registry =
        Hostile::start(|_, _| Reply::status(200).with_header("Content-Length", "0")).await;
    let client = Client::new(config(&[&registry.host()])).expect("client");
    let repo = reference(&registry.host(), "team/app");
    assert_eq!(
        client.blob_exists(&repo, &empty).await.expect("empty"),
        Some(0)
    );
    assert_eq!(registry.seen().len(), 1);
}
