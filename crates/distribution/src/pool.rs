//! Connections: HTTP/1.1 keep-alive connections and one HTTP/2 connection per origin.
//!
//! hyper-util's pool hands a finished HTTP/1 connection back from a task of its own, and a
//! request that finds the pool empty meanwhile starts a new connect: sequential requests
//! from one task sometimes opened a third or fourth connection when the machine was busy.
//! Here a connection goes back to the pool in the same step that ends its response (at
//! once for a response without a body, when the body's last byte is read otherwise), so
//! one task's sequential requests always reuse one connection; only requests that overlap
//! open more.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use tower_service::Service;

use crate::error::BoxError;
use crate::transport::ReqBody;

/// Idle HTTP/1 connections kept per origin; more are closed when they finish.
const MAX_IDLE_PER_ORIGIN: usize = 16;
/// A body dropped before its end with at most this many bytes left is read to its end in
/// the background so that its connection can be reused; a longer one closes it.
const DRAIN_LIMIT: u64 = 64 * 1024;
/// How long a background drain may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at one request: a pooled connection the server closed meanwhile is replaced.
const MAX_ATTEMPTS: usize = 8;

/// Why a request could not be sent or answered.
#[derive(Debug)]
pub(crate) enum PoolError {
    /// Connecting (TCP, TLS) failed.
    Connect(BoxError),
    /// The connection failed during the handshake or the exchange.
    Http(hyper::Error),
    /// The URL cannot be sent (no scheme or host).
    Uri(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "cannot connect: {e}"),
            PoolError::Http(e) => write!(f, "connection failed: {e}"),
            PoolError::Uri(m) => write!(f, "cannot send to this URL: {m}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Connect(e) => Some(e.as_ref()),
            PoolError::Http(e) => Some(e),
            PoolError::Uri(_) => None,
        }
    }
}

struct Idle {
    sender: http1::SendRequest<ReqBody>,
    since: Instant,
}

#[derive(Default)]
struct Origin {
    idle: Vec<Idle>,
    h2: Option<http2::SendRequest<ReqBody>>,
}

type Origins = Arc<Mutex<HashMap<String, Origin>>>;

fn lock(origins: &Origins) -> MutexGuard<'_, HashMap<String, Origin>> {
    origins.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connection pool of one [`crate::Client`].
pub(crate) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    idle_timeout: Duration,
    origins: Origins,
}

enum Conn {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

impl Pool {
    pub(crate) fn new(connector: HttpsConnector<HttpConnector>, idle_timeout: Duration) -> Pool {
        Pool {
            connector,
            idle_timeout,
            origins: Arc::default(),
        }
    }

    /// Send `request` (with an absolute URL) on a pooled or new connection.
    pub(crate) async fn request(
        &self,
        mut request: Request<ReqBody>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let absolute = request.uri().clone();
        let (scheme, authority) = match (absolute.scheme(), absolute.authority()) {
            (Some(s), Some(a)) => (s.clone(), a.clone()),
            _ => return Err(PoolError::Uri("the URL has no scheme or host".into())),
        };
        let key = format!("{scheme}://{authority}");
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            let (conn, reused) = match self.checkout(&key) {
                Some(conn) => (conn, true),
                None => (self.connect(&key, &absolute).await?, false),
            };
            match conn {
                Conn::H2(mut sender) => {
                    *request.uri_mut() = absolute.clone();
                    if let Err(e) = sender.ready().await {
                        self.forget_h2(&key, &sender);
                        // As for HTTP/1: a shared connection may have gone; a new one failing
                        // is final.
                        if reused {
                            last = Some(e);
                            continue;
                        }
                        return Err(PoolError::Http(e));
                    }
                    match sender.try_send_request(request).await {
                        Ok(response) => return Ok(response.map(|b| PooledBody::new(b, None))),
                        Err(mut e) => match e.take_message() {
                            Some(unsent) if reused => {
                                self.forget_h2(&key, &sender);
                                request = unsent;
                                last = Some(e.into_error());
                            }
                            _ => return Err(PoolError::Http(e.into_error())),
                        },
                    }
                }
                Conn::H1(mut sender) => {
                    if let Err(e) = sender.ready().await {
                        // A pooled connection the server closed; a new one failing is final.
                        if reused {
                            last = Some(e);
                            continue;
                        }
                        return Err(PoolError::Http(e));
                    }
                    origin_form(&mut request, &scheme, &authority);
                    match sender.try_send_request(request).await {
                        Ok(response) => {
                            let ticket = Ticket {
                                origins: Arc::clone(&self.origins),
                                key,
                                sender,
                            };
                            return Ok(response.map(|b| PooledBody::new(b, Some(ticket))));
                        }
                        Err(mut e) => match e.take_message() {
                            Some(unsent) if reused => {
                                request = unsent;
                                last = Some(e.into_error());
                            }
                            _ => return Err(PoolError::Http(e.into_error())),
                        },
                    }
                }
            }
        }
        Err(last.map_or_else(
            || PoolError::Uri("no connection could be used".into()),
            PoolError::Http,
        ))
    }

    /// A live HTTP/2 connection to `key`, or its newest idle HTTP/1 connection.
    fn checkout(&self, key: &str) -> Option<Conn> {
        let mut origins = lock(&self.origins);
        let origin = origins.get_mut(key)?;
        if let Some(h2) = &origin.h2 {
            if !h2.is_closed() {
                return Some(Conn::H2(h2.clone()));
            }
            origin.h2 = None;
        }
        while let Some(idle) = origin.idle.pop() {
            if !idle.sender.is_closed() && idle.since.elapsed() < self.idle_timeout {
                return Some(Conn::H1(idle.sender));
            }
        }
        None
    }

    fn forget_h2(&self, key: &str, sender: &http2::SendRequest<ReqBody>) {
        let mut origins = lock(&self.origins);
        if let Some(origin) = origins.get_mut(key)
            && origin
                .h2
                .as_ref()
                .is_some_and(|h2| h2.is_closed() || sender.is_closed())
        {
            origin.h2 = None;
        }
    }

    async fn connect(&self, key: &str, uri: &Uri) -> Result<Conn, PoolError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(PoolError::Connect)?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(PoolError::Connect)?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(PoolError::Http)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
            });
            lock(&self.origins).entry(key.to_owned()).or_default().h2 = Some(sender.clone());
            Ok(Conn::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(PoolError::Http)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "HTTP/1 connection ended");
                }
            });
            Ok(Conn::H1(sender))
        }
    }
}

/// An HTTP/1 request goes out in origin form (`/path?query`) with a `Host` header.
fn origin_form(request: &mut Request<ReqBody>, scheme: &Scheme, authority: &Authority) {
    if !request.headers().contains_key(header::HOST) {
        let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        // Built from host and port, never from the authority as a whole, which may carry
        // user information.
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&host) {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
}

/// An HTTP/1 connection out with a response, and where to return it.
struct Ticket {
    origins: Origins,
    key: String,
    sender: http1::SendRequest<ReqBody>,
}

impl Ticket {
    /// Back to the pool: its response is complete, so the connection takes the next
    /// request as soon as hyper has seen the end (a request waits for that, not longer).
    fn check_in(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut origins = lock(&self.origins);
        let origin = origins.entry(self.key).or_default();
        if origin.idle.len() < MAX_IDLE_PER_ORIGIN {
            origin.idle.push(Idle {
                sender: self.sender,
                since: Instant::now(),
            });
        }
    }
}

/// A response body that returns its connection to the pool when it ends.
pub(crate) struct PooledBody {
    inner: Option<Incoming>,
    ticket: Option<Ticket>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("pooled", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

impl PooledBody {
    fn new(inner: Incoming, ticket: Option<Ticket>) -> PooledBody {
        let mut body = PooledBody {
            inner: Some(inner),
            ticket,
        };
        body.check_in_if_done();
        body
    }

    fn check_in_if_done(&mut self) {
        if self.inner.as_ref().is_none_or(Body::is_end_stream)
            && let Some(ticket) = self.ticket.take()
        {
            ticket.check_in();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        match &frame {
            None => {
                self.inner = None;
                self.check_in_if_done();
            }
            Some(Ok(_)) => self.check_in_if_done(),
            // The connection is broken; it is not returned.
            Some(Err(_)) => self.ticket = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for PooledBody {
    /// A body dropped before its end: a short rest is read in the background so that the
    /// connection can be reused (hyper closes a connection whose body was abandoned).
    fn drop(&mut self) {
        let (Some(ticket), Some(mut inner)) = (self.ticket.take(), self.inner.take()) else {
            return;
        };
        let short = inner.size_hint().upper().is_some_and(|n| n <= DRAIN_LIMIT);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if short {
            runtime.spawn(async move {
                let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                    while let Some(frame) = inner.frame().await {
                        if frame.is_err() {
                            return false;
                        }
                    }
                    true
                })
                .await;
                if drained == Ok(true) {
                    ticket.check_in();
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const BODY: usize = 10_000;

    /// A loopback HTTP/1.1 server that counts accepted connections and answers every
    /// request with `BODY` bytes (none for `HEAD`); with `close`, it closes the connection
    /// after each response, saying so.
    async fn server(close: bool) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let accepts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepts);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let end = loop {
                            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head_only = pending.starts_with(b"HEAD ");
                        pending.drain(..end);
                        let connection = if close { "Connection: close\r\n" } else { "" };
                        let mut response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n{connection}\r\n"
                        )
                        .into_bytes();
                        if !head_only {
                            response.extend_from_slice(&[b'x'; BODY]);
                        }
                        if stream.write_all(&response).await.is_err() {
                            return;
                        }
                        if close {
                            return;
                        }
                    }
                });
            }
        });
        (host, accepts)
    }

    fn pool() -> Pool {
        let connector =
            crate::transport::connector(&crate::ClientConfig::default()).expect("connector");
        Pool::new(connector, Duration::from_secs(90))
    }

    fn request(method: &str, host: &str) -> Request<ReqBody> {
        Request::builder()
            .method(method)
            .uri(format!("http://{host}/v2/"))
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .expect("request")
    }

    async fn read_all(body: PooledBody) -> usize {
        body.collect().await.expect("body").to_bytes().len()
    }

    fn idle(pool: &Pool, host: &str) -> usize {
        lock(&pool.origins)
            .get(&format!("http://{host}"))
            .map_or(0, |o| o.idle.len())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sequential_requests_reuse_one_connection() {
        let (host, accepts) = server(false).await;
        let pool = pool();
        for i in 0..200 {
            let method = if i % 2 == 0 { "HEAD" } else { "GET" };
            let response = pool
                .request(request(method, &host))
                .await
                .expect("response");
            assert_eq!(response.status(), 200);
            let expected = if method == "HEAD" { 0 } else { BODY };
            assert_eq!(read_all(response.into_body()).await, expected);
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_requests_open_a_second_connection_and_keep_both() {
        let (host, accepts) = server(false).await;
        let pool = pool();
        let first = pool.request(request("GET", &host)).await.expect("first");
        let second = pool.request(request("GET", &host)).await.expect("second");
        assert_eq!(accepts.load(Ordering::SeqCst), 2);
        assert_eq!(read_all(second.into_body()).await, BODY);
        assert_eq!(read_all(first.into_body()).await, BODY);
        assert_eq!(idle(&pool, &host), 2);
        for _ in 0..4 {
            let r = pool.request(request("GET", &host)).await.expect("again");
            assert_eq!(read_all(r.into_body()).await, BODY);
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_body_dropped_unread_is_drained_and_its_connection_reused() {
        let (host, accepts) = server(false).await;
        let pool = pool();
        let response = pool.request(request("GET", &host)).await.expect("response");
        drop(response);
        // The drain runs in the background; bounded wait for it.
        for _ in 0..200 {
            if idle(&pool, &host) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(idle(&pool, &host), 1);
        let response = pool.request(request("GET", &host)).await.expect("response");
        assert_eq!(read_all(response.into_body()).await, BODY);
        assert_eq!(accepts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_the_server_closes_are_replaced() {
        let (host, accepts) = server(true).await;
        let pool = pool();
        for _ in 0..5 {
            let response = pool.request(request("GET", &host)).await.expect("response");
            assert_eq!(read_all(response.into_body()).await, BODY);
        }
        // A closed connection may still sit in the pool until it is next asked for; it
        // is never used for a request.
        assert_eq!(accepts.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn http1_requests_go_in_origin_form_with_a_host_header() {
        let cases = [
            (
                "http://127.0.0.1:5000/v2/x?n=1",
                "127.0.0.1:5000",
                "/v2/x?n=1",
            ),
            (
                "https://user:secret@example.com:443/v2/",
                "example.com",
                "/v2/",
            ),
            ("https://example.com:8443", "example.com:8443", "/"),
            ("http://[::1]:80/v2/", "[::1]", "/v2/"),
        ];
        for (url, host, path) in cases {
            let mut request = request("GET", "unused");
            *request.uri_mut() = url.parse().expect("uri");
            let uri = request.uri().clone();
            let (scheme, authority) = (
                uri.scheme().expect("scheme"),
                uri.authority().expect("authority"),
            );
            origin_form(&mut request, scheme, authority);
            assert_eq!(request.headers()[header::HOST], host, "{url}");
            assert_eq!(request.uri().to_string(), path, "{url}");
        }
    }

    #[tokio::test]
    async fn a_url_without_a_host_is_refused() {
        let pool = pool();
        let request = Request::builder()
            .uri("/v2/")
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .expect("request");
        let e = pool.request(request).await.expect_err("no host");
        assert!(e.to_string().contains("no scheme or host"), "{e}");
    }
}
