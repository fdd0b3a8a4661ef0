//! Keep-alive: an answer given without reading the request body (a 401 challenge, a 405, a
//! 416, an injected fault) leaves the HTTP/1 connection usable for the next request, or,
//! when the body is too large to read past, says `Connection: close` and closes it.
//!
//! A raw TCP client, so that both requests provably travel on one connection.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use orca_manifest::Digest;
use orca_mock_registry::{AuthMode, Config, Fault, MockRegistry};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "keep";
const PASSWORD: &str = "alive";

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// One HTTP/1.1 connection, driven by hand.
struct Conn {
    stream: BufReader<TcpStream>,
}

/// A response read whole.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    async fn open(reg: &MockRegistry) -> Conn {
        let stream = TcpStream::connect(reg.addr()).await.expect("connect");
        Conn {
            stream: BufReader::new(stream),
        }
    }

    /// Send a request head (with `Host`) and `body` as it is (the caller sets the framing
    /// headers).
    async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: registry\r\n");
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream.write_all(body).await.expect("write body");
        stream.flush().await.expect("flush");
    }

    /// Send a request whose body is `len` bytes with a `Content-Length`.
    async fn send_sized(&mut self, method: &str, path: &str, headers: &[(&str, &str)], len: usize) {
        let length = len.to_string();
        let mut all = headers.to_vec();
        all.push(("content-length", &length));
        self.send(method, path, &all, &vec![b'x'; len]).await;
    }

    /// Read one response (its body framed by `Content-Length`, as the mock's answers are).
    async fn read(&mut self) -> Result<Answer, String> {
        let mut line = String::new();
        let n = self
            .stream
            .read_line(&mut line)
            .await
            .map_err(|e| format!("reading the status line: {e}"))?;
        if n == 0 {
            return Err("the connection was closed before an answer".to_owned());
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        // Bounded: no answer of the mock has 100 header lines.
        for _ in 0..100 {
            line.clear();
            self.stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("reading a header: {e}"))?;
            let text = line.trim_end();
            if text.is_empty() {
                let len: usize = headers
                    .iter()
                    .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(Ok(0), |(_, v)| v.parse())
                    .map_err(|e| format!("content-length: {e}"))?;
                let mut body = vec![0; len];
                self.stream
                    .read_exact(&mut body)
                    .await
                    .map_err(|e| format!("reading the body: {e}"))?;
                return Ok(Answer {
                    status,
                    headers,
                    body,
                });
            }
            let (k, v) = text
                .split_once(':')
                .ok_or_else(|| format!("bad header line {text:?}"))?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Err("more than 100 header lines".to_owned())
    }

    /// The next request on this connection works: `GET /v2/` (authorised) answers 200.
    async fn still_usable(&mut self, authorization: Option<&str>, what: &str) {
        let mut headers = vec![];
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        self.send("GET", "/v2/", &headers, b"").await;
        let next = self
            .read()
            .await
            .unwrap_or_else(|e| panic!("{what}: the next request on the connection: {e}"));
        assert_eq!(next.status, 200, "{what}: the next request");
    }

    /// The server closed the connection (after its answer): the next read is the end.
    async fn closed(&mut self, what: &str) {
        let mut rest = Vec::new();
        // A hang guard, not a timing assertion: the mock closes at once.
        let read =
            tokio::time::timeout(Duration::from_secs(60), self.stream.read_to_end(&mut rest))
                .await
                .unwrap_or_else(|_| panic!("{what}: the connection stayed open"));
        assert!(
            read.is_ok_and(|n| n == 0),
            "{what}: expected the end of the connection, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// (method, path, extra headers, body length, status)
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], usize, u16);

async fn basic_mock() -> MockRegistry {
    MockRegistry::start(Config::default().with_auth(AuthMode::basic(USER, PASSWORD)))
        .await
        .expect("mock starts")
}

#[tokio::test]
async fn challenge_to_a_request_with_a_body_keeps_the_connection() {
    let reg = basic_mock().await;
    let good = basic(USER, PASSWORD);
    let wrong = basic(USER, "wrong");
    let digest = Digest::sha256(b"whatever");
    let put = format!("/v2/ka/repo/blobs/uploads/nope?digest={digest}");
    // (method, path, authorization, body length): no credentials and wrong ones, small and
    // up to the drain limit.
    let cases: [(&str, &str, Option<&str>, usize); 5] = [
        ("PATCH", "/v2/ka/repo/blobs/uploads/nope", None, 64 * 1024),
        ("PUT", &put, Some(&wrong), 64 * 1024),
        ("PUT", "/v2/ka/repo/manifests/v1", None, 3000),
        ("POST", "/v2/ka/repo/blobs/uploads/", Some(&wrong), 10),
        ("PATCH", "/v2/ka/repo/blobs/uploads/nope", None, 1024 * 1024),
    ];
    assert_eq!(cases.len(), 5);
    let mut conn = Conn::open(&reg).await;
    for (method, path, authorization, len) in cases {
        let what = format!("{method} {path} with {len} bytes");
        let mut headers = vec![("content-type", "application/octet-stream")];
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        conn.send_sized(method, path, &headers, len).await;
        let answer = conn.read().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(answer.status, 401, "{what}");
        assert!(answer.header("www-authenticate").is_some(), "{what}");
        assert_eq!(answer.header("connection"), None, "{what}");
        conn.still_usable(Some(&good), &what).await;
    }
    assert_eq!(reg.connections(), 1, "every request on one connection");
}

#[tokio::test]
async fn chunked_body_left_unread_keeps_the_connection() {
    let reg = basic_mock().await;
    let mut conn = Conn::open(&reg).await;
    let chunk = vec![b'y'; 4096];
    let mut body = Vec::new();
    for _ in 0..8 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    conn.send(
        "PATCH",
        "/v2/ka/repo/blobs/uploads/nope",
        &[("transfer-encoding", "chunked")],
        &body,
    )
    .await;
    let answer = conn.read().await.expect("answer");
    assert_eq!(answer.status, 401);
    conn.still_usable(Some(&basic(USER, PASSWORD)), "after a chunked body")
        .await;
    assert_eq!(reg.connections(), 1);
}

#[tokio::test]
async fn other_answers_without_reading_keep_the_connection() {
    let reg = MockRegistry::start(Config::default())
        .await
        .expect("mock starts");
    reg.faults()
        .add(Fault::status(503).on("PUT").path("/v2/ka/fault/*").times(1));
    let mut conn = Conn::open(&reg).await;

    // An upload session with one chunk, for the 416 of a closing PUT that does not continue it.
    conn.send_sized("POST", "/v2/ka/up/blobs/uploads/", &[], 0)
        .await;
    let started = conn.read().await.expect("start upload");
    assert_eq!(started.status, 202);
    let location = started.header("location").expect("Location").to_owned();
    let digest = Digest::sha256(b"data");
    let closing = format!("{location}?digest={digest}");

    let cases: [Case; 5] = [
        // 405: manifests take no PATCH.
        ("PATCH", "/v2/ka/repo/manifests/v1", &[], 20_000, 405),
        // 404 BLOB_UPLOAD_UNKNOWN before the body is looked at.
        (
            "PUT",
            "/v2/ka/repo/blobs/uploads/nope?digest=sha256:00",
            &[],
            5000,
            404,
        ),
        // 400 NAME_INVALID.
        ("PUT", "/v2/Ka/manifests/v1", &[], 5000, 400),
        // An injected fault.
        ("PUT", "/v2/ka/fault/manifests/v1", &[], 5000, 503),
        // 416: the closing PUT starts at 100, the session holds 0 bytes.
        ("PUT", &closing, &[("content-range", "100-199")], 100, 416),
    ];
    assert_eq!(cases.len(), 5);
    for (method, path, headers, len, status) in cases {
        let what = format!("{method} {path} with {len} bytes");
        conn.send_sized(method, path, headers, len).await;
        let answer = conn.read().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            answer.status,
            status,
            "{what}: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.header("connection"), None, "{what}");
        conn.still_usable(None, &what).await;
    }
    assert_eq!(reg.faults().fired(), [1]);
    assert_eq!(reg.connections(), 1, "every request on one connection");
}

#[tokio::test]
async fn a_body_too_large_to_read_past_closes_the_connection_and_says_so() {
    let reg = basic_mock().await;
    // Declared larger than the mock reads past; only the head is sent, as a client that
    // waits for an early answer would.
    let declared = (8 * 1024 * 1024).to_string();
    let cases: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "larger than the drain limit",
            vec![("content-length", &declared)],
        ),
        (
            "waiting for 100 Continue",
            vec![("content-length", "4096"), ("expect", "100-continue")],
        ),
    ];
    assert_eq!(cases.len(), 2);
    for (what, headers) in cases {
        let mut conn = Conn::open(&reg).await;
        conn.send("PUT", "/v2/ka/repo/manifests/v1", &headers, b"")
            .await;
        let answer = conn.read().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(answer.status, 401, "{what}");
        assert_eq!(answer.header("connection"), Some("close"), "{what}");
        conn.closed(what).await;
    }
}

/// A client that opens a connection and never finishes its headers is cut off after
/// `Config::header_read_timeout`; one that sends them in time is answered.
#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    let config = Config {
        header_read_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let reg = MockRegistry::start(config).await.expect("registry");
    let mut slow = TcpStream::connect(reg.addr()).await.expect("connect");
    slow.write_all(b"GET /v2/ HTTP/1.1\r\nhost: registry\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer))
        .await
        .expect("the registry closed the connection");
    assert!(
        read.is_err() || !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{answer:?}"
    );

    let mut conn = Conn::open(&reg).await;
    conn.send("GET", "/v2/", &[], b"").await;
    assert_eq!(conn.read().await.expect("answer").status, 200);
}

/// With `Config::max_connections` open, the next client is answered only once one ends.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_end() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let reg = MockRegistry::start(config).await.expect("registry");
    let mut first = Conn::open(&reg).await;
    first.send("GET", "/v2/", &[], b"").await;
    assert_eq!(first.read().await.expect("answer").status, 200);
    // `first` is kept alive and holds the only place.
    let mut second = Conn::open(&reg).await;
    second.send("GET", "/v2/", &[], b"").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second.read())
            .await
            .is_err(),
        "answered while the only place was taken"
    );
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), second.read())
        .await
        .expect("answered once the first connection ended");
    assert_eq!(answer.expect("answer").status, 200);
}
