//! The HTTP side: accepting connections, routing with the mock registry's wire surface,
//! and the pull handlers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use orca_distribution::{ErrorKind, FetchOptions};
use orca_manifest::Digest;
use orca_mock_registry::User;
use orca_mock_registry::wire::{self, ErrorCode, Route};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::flight::{self, Failure, Flights};
use crate::metrics::{Metrics, label};
use crate::storage::{ManifestRef, Storage, StoredManifest};
use crate::upstream::{Upstream, Upstreams};

/// The body of every response.
pub(crate) type ResBody = UnsyncBoxBody<Bytes, io::Error>;
type Res = Response<ResBody>;

/// `Orca-Cache`: how a response was served.
pub const CACHE_HEADER: &str = "orca-cache";

/// How a response was served (the `Orca-Cache` header's value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cache {
    /// From storage, without asking upstream.
    Hit,
    /// Fetched from upstream.
    Miss,
    /// From storage after upstream confirmed the tag.
    Revalidated,
    /// From storage because upstream could not be asked.
    Stale,
}

impl Cache {
    fn as_str(self) -> &'static str {
        match self {
            Cache::Hit => "hit",
            Cache::Miss => "miss",
            Cache::Revalidated => "revalidated",
            Cache::Stale => "stale",
        }
    }
}

/// Serialises upstream lookups of one manifest.
type ManifestLock = Arc<tokio::sync::Mutex<()>>;

/// State shared by every connection.
pub(crate) struct Ctx {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) upstreams: Arc<dyn Upstreams>,
    pub(crate) metrics: Metrics,
    pub(crate) flights: Flights,
    pub(crate) spool_dir: PathBuf,
    pub(crate) revalidate_after: Duration,
    /// Who may pull; empty: anyone.
    users: Vec<User>,
    /// Recent successful logins of users with hashed passwords (user, sha256 of the
    /// password), so bcrypt runs once per client and not on every request.
    logins: Mutex<HashMap<(String, String), Instant>>,
    /// When each `(repository, tag)` was last confirmed upstream.
    validated: Mutex<HashMap<(String, String), Instant>>,
    /// One manifest lookup upstream at a time per `(repository, reference)`.
    manifest_locks: Mutex<HashMap<(String, String), ManifestLock>>,
    /// When upstream last refused a rule's credentials, per upstream repository: for
    /// `refusal_hold` it is not asked again.
    refusals: Mutex<HashMap<String, Instant>>,
    /// How long that is (`Options::refusal_hold`).
    refusal_hold: Duration,
    /// The spool directory when the front made it itself: removed once the front and
    /// every download still using it are gone.
    spool_owner: Option<tempfile::TempDir>,
}

/// The most upstream repositories whose refusals are remembered (a wildcard rule lets
/// clients name any number of them).
const MAX_REFUSALS: usize = 10_000;

/// Whether an upstream failure kind says the rule's credentials were refused.
fn is_refusal(kind: &str) -> bool {
    matches!(
        kind,
        "unauthorized" | "denied" | "credentials_rejected" | "auth"
    )
}

impl Ctx {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        upstreams: Arc<dyn Upstreams>,
        spool_dir: PathBuf,
        revalidate_after: Duration,
        users: Vec<User>,
        refusal_hold: Duration,
    ) -> Ctx {
        Ctx {
            users,
            refusal_hold,
            storage,
            upstreams,
            metrics: Metrics::default(),
            flights: Flights::default(),
            spool_dir,
            revalidate_after,
            validated: Mutex::default(),
            manifest_locks: Mutex::default(),
            refusals: Mutex::default(),
            logins: Mutex::default(),
            spool_owner: None,
        }
    }

    /// Removes `dir` (the spool directory the front made) when this state is dropped.
    pub(crate) fn owning_spool(mut self, dir: Option<tempfile::TempDir>) -> Ctx {
        self.spool_owner = dir;
        self
    }

    /// An error when `upstream` refused the rule's credentials less than `refusal_hold`
    /// ago (it is not asked again meanwhile).
    fn held(&self, upstream: &orca_reference::Reference) -> Result<()> {
        let refused = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&upstream.to_string())
            .is_some_and(|at| at.elapsed() < self.refusal_hold);
        if refused {
            self.metrics.inc(
                "orca_pull_through_upstream_failures_total",
                label("kind", "held"),
            );
            return Err(ApiError::refusal(serde_json::json!({
                "upstream": "held",
                "message": format!(
                    "upstream refused this rule's credentials less than {} ms ago; it is not asked again until then",
                    self.refusal_hold.as_millis()
                ),
            })));
        }
        Ok(())
    }

    /// Remembers that `upstream` failed with `kind` when it refused the credentials.
    fn note_failure(&self, upstream: &orca_reference::Reference, kind: &str) {
        if !is_refusal(kind) {
            return;
        }
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        if refusals.len() >= MAX_REFUSALS {
            refusals.retain(|_, at| at.elapsed() < self.refusal_hold);
        }
        if refusals.len() < MAX_REFUSALS {
            refusals.insert(upstream.to_string(), Instant::now());
        }
    }

    fn fresh(&self, key: &(String, String)) -> bool {
        self.validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|at| at.elapsed() < self.revalidate_after)
    }

    fn mark_fresh(&self, key: (String, String)) {
        self.validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Instant::now());
    }

    fn manifest_lock(&self, key: &(String, String)) -> ManifestLock {
        self.manifest_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Forget the lock of `key` when nobody else holds or waits for it.
    fn release_manifest_lock(&self, key: &(String, String), lock: &ManifestLock) {
        let mut locks = self
            .manifest_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Two handles: the map's and ours.
        if Arc::strong_count(lock) <= 2 {
            locks.remove(key);
        }
    }
}

/// How a connection is wrapped: with the `tls` feature, a rustls acceptor; without it, a
/// type with no values (plain HTTP is the only way).
#[cfg(feature = "tls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
/// How a connection is wrapped: without the `tls` feature, a type with no values (plain
/// HTTP is the only way).
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum Acceptor {}

/// Time limits of a connection.
pub(crate) struct Limits {
    /// How long [`serve`] waits for in-flight responses once stopped.
    pub(crate) grace: Duration,
    /// How long a client has to send a request's headers (HTTP/1).
    pub(crate) header_read_timeout: Duration,
    /// How many connections are served at once (at least 1).
    pub(crate) max_connections: usize,
}

/// How often an idle HTTP/2 connection is pinged, and how long the answer may take.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// How long a client has to finish the TLS handshake before its connection is closed.
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accept connections until `stop` says so, then let every connection finish its
/// in-flight response (at most `grace`) and return. With `tls`, each connection is a TLS
/// session first: a handshake that fails or takes longer than [`HANDSHAKE_TIMEOUT`] ends
/// only that connection. With `max_connections` open, no more are accepted until one
/// ends (they wait in the backlog).
pub(crate) async fn serve(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
    tls: Option<Acceptor>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Dead HTTP/2 peers are found by pings rather than kept for ever.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE);
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept(), if connections.len() < limits.max_connections => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off briefly and go on.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                stream
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        // A client hanging up, a cut body or a failed handshake ends only its connection.
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, ctx, &builder, watcher).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve_connection(stream, ctx, &builder, watcher).await;
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: finishing in-flight responses"
    );
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing the remaining connections");
    }
}

/// Serve HTTP/1.1 or HTTP/2 on one connection (plain or TLS) until it ends, watched for a
/// graceful shutdown.
async fn serve_connection<I>(
    io: I,
    ctx: Arc<Ctx>,
    builder: &hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(ctx, req).await) }
    });
    let conn = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .into_owned();
    let _ = watcher.watch(conn).await;
}

fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty() -> ResBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn streamed(stream: BoxStream<'static, io::Result<Bytes>>) -> ResBody {
    BodyExt::boxed_unsync(StreamBody::new(stream.map(|piece| piece.map(Frame::data))))
}

fn set(resp: &mut Res, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// An error answer with the spec's body.
struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    /// The message, when not the code's usual one.
    message: Option<String>,
    detail: Option<serde_json::Value>,
    /// Headers to add (`Content-Range` of a 416).
    extra: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(code: ErrorCode) -> ApiError {
        ApiError {
            status: wire::error_status(&code),
            code,
            message: None,
            detail: None,
            extra: Vec::new(),
        }
    }

    fn detail(mut self, detail: impl Into<serde_json::Value>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    fn status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// Upstream could not give what was asked for (and nothing stored can answer): 502
    /// `UNAVAILABLE`; but when it refused the rule's credentials, 403 `DENIED`, which
    /// clients do not retry: asking again would only repeat a failed login upstream (and
    /// risk locking the account) while the operator has a credential set to fix.
    fn upstream(kind: &str, message: &str) -> ApiError {
        if is_refusal(kind) {
            // Not the upstream's words: they can name the rule's user, and a front without
            // users answers anyone. The log has them.
            return ApiError::refusal(serde_json::json!({ "upstream": kind }));
        }
        let detail = serde_json::json!({ "upstream": kind, "message": message });
        let message = if matches!(kind, "rule" | "config") {
            "the front cannot use this repository's cache rule (its log says why)".to_owned()
        } else {
            format!(
                "the upstream registry could not give it ({kind}) and the front has no copy to serve"
            )
        };
        ApiError::new(ErrorCode::Unavailable)
            .status(StatusCode::BAD_GATEWAY)
            .message(message)
            .detail(detail)
    }

    /// 403 `DENIED`: upstream refused the rule's credentials.
    fn refusal(detail: serde_json::Value) -> ApiError {
        ApiError::new(ErrorCode::Denied)
            .status(StatusCode::FORBIDDEN)
            .message(
                "the front cannot authenticate upstream with this repository's cache rule (its credential set is refused or cannot be read); the front's operator needs to fix it, and its log says why",
            )
            .detail(detail)
    }

    fn message(mut self, message: impl Into<String>) -> ApiError {
        self.message = Some(message.into());
        self
    }

    fn storage(e: &io::Error) -> ApiError {
        tracing::error!(error = %crate::chain(&e), "storage failed");
        ApiError::new(ErrorCode::Unknown).detail("the front's storage failed")
    }

    fn into_response(self, ctx: &Ctx) -> Res {
        ctx.metrics.inc(
            "orca_pull_through_errors_total",
            label("code", self.code.as_str()),
        );
        let body = match &self.message {
            Some(message) => wire::error_body_with(&self.code, message, self.detail),
            None => wire::error_body(&self.code, self.detail),
        };
        let mut resp = Response::new(full(body));
        *resp.status_mut() = self.status;
        set(&mut resp, "content-type", wire::ERROR_CONTENT_TYPE);
        for (name, value) in self.extra {
            set(&mut resp, name, &value);
        }
        resp
    }
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Res {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (kind, result) = respond(&ctx, &req).await;
    let mut resp = result.unwrap_or_else(|e| e.into_response(&ctx));
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    ctx.metrics
        .inc("orca_pull_through_requests_total", label("route", kind));
    let cache = resp
        .headers()
        .get(CACHE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    tracing::info!(
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        cache = %cache,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

async fn respond(ctx: &Arc<Ctx>, req: &Request<Incoming>) -> (&'static str, Result<Res>) {
    if let Err(e) = authenticate(ctx, req.headers()) {
        return ("unauthorized", Err(e));
    }
    let method = req.method();
    let head = method == Method::HEAD;
    let readable = matches!(*method, Method::GET | Method::HEAD);
    if req.uri().path() == "/metrics" {
        if !readable {
            return ("metrics", Err(ApiError::new(ErrorCode::Unsupported)));
        }
        let mut resp = Response::new(if head {
            empty()
        } else {
            full(ctx.metrics.render())
        });
        set(
            &mut resp,
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
        );
        return ("metrics", Ok(resp));
    }
    let route = wire::parse_route(req.uri().path());
    if let Some(name) = route.name()
        && !wire::valid_name(name)
    {
        let e = ApiError::new(ErrorCode::NameInvalid).detail(serde_json::json!({ "name": name }));
        return ("invalid", Err(e));
    }
    match route {
        Route::Base if readable => {
            let mut resp = Response::new(full("{}"));
            set(&mut resp, "content-type", "application/json");
            ("base", Ok(resp))
        }
        Route::Manifest { name, reference } if readable => (
            "manifest",
            manifest(ctx, &name, &reference, req.headers(), head).await,
        ),
        Route::Blob { name, digest } if readable => {
            ("blob", blob(ctx, &name, &digest, req.headers(), head).await)
        }
        Route::NotFound => {
            let mut resp = Response::new(full("404 page not found\n"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            set(&mut resp, "content-type", "text/plain; charset=utf-8");
            ("other", Ok(resp))
        }
        // Pushes, deletes, uploads, tag lists, the catalog and referrers: a pull-through
        // cache serves pulls only.
        _ => (
            "unsupported",
            Err(ApiError::new(ErrorCode::Unsupported)
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .detail("this pull-through cache serves pulls only (GET and HEAD of manifests and blobs)")),
        ),
    }
}

/// How long a hashed-password login is remembered.
const LOGIN_MEMORY: Duration = Duration::from_secs(300);

/// The most logins remembered.
const MAX_LOGINS: usize = 1024;

/// With users, a request needs the Basic credentials of one of them: 401 with a Basic
/// challenge otherwise. Plain passwords are all compared, in constant time; a bcrypt hash
/// (an htpasswd line) is verified for the user named, and a success remembered for
/// [`LOGIN_MEMORY`]; a name with no hashed password still costs one bcrypt check when
/// there are hashed users, so the time taken does not say which names exist.
fn authenticate(ctx: &Ctx, headers: &HeaderMap) -> Result<()> {
    let users = &ctx.users;
    if users.is_empty() {
        return Ok(());
    }
    if let Some((name, password)) = wire::basic_credentials(headers) {
        // Plain passwords: every one compared (`&`, not `&&`).
        let plain = users
            .iter()
            .filter(|u| !u.has_hashed_password())
            .fold(false, |found, user| {
                found | ((user.name == name) & user.verify(&password))
            });
        if plain {
            // Right name and password: returning sooner tells nothing to anyone without them.
            return Ok(());
        }
        let mut hashed = users.iter().filter(|u| u.has_hashed_password()).peekable();
        if let Some(first) = hashed.peek().copied() {
            let key = (
                name.clone(),
                Digest::sha256(password.as_bytes()).to_string(),
            );
            let remembered = ctx
                .logins
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .is_some_and(|at| at.elapsed() < LOGIN_MEMORY);
            if remembered {
                return Ok(());
            }
            let named = hashed.find(|u| u.name == name).unwrap_or(first);
            if named.verify(&password) && named.name == name {
                remember_login(ctx, key);
                return Ok(());
            }
        }
        tracing::warn!(user = ?name, "refused a request: unknown user or wrong password");
    }
    let mut e = ApiError::new(ErrorCode::Unauthorized).message("authentication required");
    e.extra.push((
        "www-authenticate",
        r#"Basic realm="orca pull-through cache""#.to_owned(),
    ));
    Err(e)
}

fn remember_login(ctx: &Ctx, key: (String, String)) {
    let mut logins = ctx.logins.lock().unwrap_or_else(PoisonError::into_inner);
    if logins.len() >= MAX_LOGINS {
        logins.retain(|_, at| at.elapsed() < LOGIN_MEMORY);
    }
    if logins.len() < MAX_LOGINS {
        logins.insert(key, Instant::now());
    }
}

fn resolve_upstream(ctx: &Ctx, name: &str) -> Result<Option<Upstream>> {
    ctx.upstreams.resolve(name).map_err(|message| {
        tracing::error!(repository = %name, error = %message, "the repository's rule cannot be used");
        ApiError::upstream("rule", &message)
    })
}

fn count(ctx: &Ctx, cache: Cache, kind: &str) {
    let name = match cache {
        // A revalidated answer is served from storage: a hit, counted as a revalidation
        // too (where it is decided).
        Cache::Hit | Cache::Revalidated => "orca_pull_through_hits_total",
        Cache::Miss => "orca_pull_through_misses_total",
        Cache::Stale => "orca_pull_through_stale_total",
    };
    ctx.metrics.inc(name, label("kind", kind));
}

fn manifest_unknown(reference: &str) -> ApiError {
    ApiError::new(ErrorCode::ManifestUnknown).detail(serde_json::json!({ "reference": reference }))
}

async fn manifest(
    ctx: &Arc<Ctx>,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Res> {
    let wanted = if reference.contains(':') {
        ManifestRef::Digest(Digest::parse(reference).map_err(|_| manifest_unknown(reference))?)
    } else if wire::valid_tag(reference) {
        ManifestRef::Tag(reference.to_owned())
    } else {
        return Err(manifest_unknown(reference));
    };
    let upstream = resolve_upstream(ctx, name)?;
    let key = (name.to_owned(), reference.to_owned());
    // Hits need no lock: a digest stored, or a tag stored and confirmed recently.
    let stored = ctx
        .storage
        .manifest(name, &wanted)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let quick = stored.filter(|_| match wanted {
        ManifestRef::Digest(_) => true,
        ManifestRef::Tag(_) => upstream.is_none() || ctx.fresh(&key),
    });
    let (manifest, cache) = if let Some(m) = quick {
        (m, Cache::Hit)
    } else {
        // One upstream lookup at a time per manifest: the others then find it stored.
        let lock = ctx.manifest_lock(&key);
        let found = {
            let _one_at_a_time = lock.lock().await;
            find_manifest(ctx, name, &wanted, upstream.as_ref(), &key).await
        };
        ctx.release_manifest_lock(&key, &lock);
        found?
    };
    count(ctx, cache, "manifest");
    if !wire::accepts(headers, &manifest.media_type) {
        return Err(
            ApiError::new(ErrorCode::ManifestUnknown).detail(serde_json::json!({
                "reason": "the manifest's media type is not in Accept",
                "mediaType": manifest.media_type,
            })),
        );
    }
    let len = manifest.bytes.len();
    let mut resp = Response::new(if head {
        empty()
    } else {
        full(manifest.bytes.clone())
    });
    set(&mut resp, "content-type", &manifest.media_type);
    set(&mut resp, "content-length", &len.to_string());
    set(&mut resp, "docker-content-digest", manifest.digest.as_str());
    set(&mut resp, "etag", &format!("\"{}\"", manifest.digest));
    mark(&mut resp, cache);
    Ok(resp)
}

fn mark(resp: &mut Res, cache: Cache) {
    set(resp, CACHE_HEADER, cache.as_str());
    if cache == Cache::Stale {
        set(resp, "warning", "110 - \"Response is stale\"");
    }
}

/// The manifest `wanted` names, from storage or upstream, and how it was found.
async fn find_manifest(
    ctx: &Arc<Ctx>,
    name: &str,
    wanted: &ManifestRef,
    upstream: Option<&Upstream>,
    key: &(String, String),
) -> Result<(StoredManifest, Cache)> {
    let stored = ctx
        .storage
        .manifest(name, wanted)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    let Some(upstream) = upstream else {
        // No rule: what storage has, or nothing.
        return stored
            .map(|m| (m, Cache::Hit))
            .ok_or_else(|| manifest_unknown(&wanted.to_string()));
    };
    let tag = match wanted {
        // A digest names its bytes for ever: never revalidated.
        ManifestRef::Digest(_) => {
            if let Some(m) = stored {
                return Ok((m, Cache::Hit));
            }
            None
        }
        ManifestRef::Tag(t) => {
            if let Some(m) = &stored
                && ctx.fresh(key)
            {
                return Ok((m.clone(), Cache::Hit));
            }
            Some(t.as_str())
        }
    };
    // Ask upstream: which digest the tag names now (revalidation), or the manifest itself.
    let target = match wanted {
        ManifestRef::Digest(d) => upstream.repository.clone().with_digest(d.clone()),
        ManifestRef::Tag(t) => upstream
            .repository
            .clone()
            .with_tag(t)
            .map_err(|e| ApiError::upstream("invalid", &e.to_string()))?,
    };
    if let (Some(tag), Some(m)) = (tag, &stored) {
        if ctx.held(&upstream.repository).is_err() {
            tracing::debug!(repository = %name, tag, "upstream refused the rule's credentials lately: serving the stored manifest, stale");
            return Ok((m.clone(), Cache::Stale));
        }
        let started = Instant::now();
        let answer = upstream.client.resolve(&target).await;
        ctx.metrics.upstream_latency(started.elapsed());
        match answer {
            Ok(descriptor) if descriptor.digest == m.digest => {
                ctx.mark_fresh(key.clone());
                ctx.metrics.inc(
                    "orca_pull_through_revalidations_total",
                    label("outcome", "unchanged"),
                );
                tracing::debug!(repository = %name, tag, "tag revalidated upstream: unchanged");
                return Ok((m.clone(), Cache::Revalidated));
            }
            Ok(descriptor) => {
                ctx.metrics.inc(
                    "orca_pull_through_revalidations_total",
                    label("outcome", "changed"),
                );
                tracing::info!(repository = %name, tag, from = %m.digest, to = %descriptor.digest, "tag moved upstream");
                let by_digest = upstream.repository.clone().with_digest(descriptor.digest);
                return match fetch_manifest(ctx, name, upstream, &by_digest, Some(tag), key).await {
                    Ok(found) => Ok(found),
                    // The new manifest cannot be had: the old one, said to be stale.
                    Err(e) if e.status != StatusCode::NOT_FOUND => {
                        tracing::warn!(repository = %name, tag, "the moved tag's manifest cannot be fetched: serving the stored one, stale");
                        Ok((m.clone(), Cache::Stale))
                    }
                    Err(e) => Err(e),
                };
            }
            Err(e) => {
                ctx.metrics.inc(
                    "orca_pull_through_revalidations_total",
                    label("outcome", "failed"),
                );
                if e.kind() == ErrorKind::NotFound {
                    // Upstream says the tag is gone: say so too, keep the copy.
                    return Err(manifest_unknown(tag));
                }
                let kind = flight::kind_name(e.kind());
                ctx.note_failure(&upstream.repository, kind);
                ctx.metrics.inc(
                    "orca_pull_through_upstream_failures_total",
                    label("kind", kind),
                );
                tracing::warn!(repository = %name, tag, upstream = %upstream.repository, error = %crate::chain(&e), "upstream could not be asked: serving the stored manifest, stale");
                return Ok((m.clone(), Cache::Stale));
            }
        }
    }
    fetch_manifest(ctx, name, upstream, &target, tag, key).await
}

/// Fetch a manifest upstream (the client verifies it against the digest it was asked
/// by, or the one upstream announced), store it, and point `tag` at it.
async fn fetch_manifest(
    ctx: &Arc<Ctx>,
    name: &str,
    upstream: &Upstream,
    target: &orca_reference::Reference,
    tag: Option<&str>,
    key: &(String, String),
) -> Result<(StoredManifest, Cache)> {
    ctx.held(&upstream.repository)?;
    let started = Instant::now();
    let fetched = upstream
        .client
        .fetch_manifest(target, &FetchOptions::default())
        .await;
    ctx.metrics.upstream_latency(started.elapsed());
    let fetched = match fetched {
        Ok(f) => f,
        Err(e) => {
            if e.kind() == ErrorKind::NotFound {
                return Err(manifest_unknown(target.manifest_reference()));
            }
            let kind = flight::kind_name(e.kind());
            ctx.note_failure(&upstream.repository, kind);
            ctx.metrics.inc(
                "orca_pull_through_upstream_failures_total",
                label("kind", kind),
            );
            tracing::warn!(repository = %name, upstream = %target, error = %crate::chain(&e), "fetching a manifest upstream failed");
            return Err(ApiError::upstream(kind, &e.to_string()));
        }
    };
    let manifest = StoredManifest {
        digest: fetched.descriptor.digest.clone(),
        media_type: fetched.descriptor.media_type.clone(),
        bytes: fetched.bytes,
    };
    ctx.storage
        .put_manifest(name, &manifest, tag)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    if tag.is_some() {
        ctx.mark_fresh(key.clone());
    }
    tracing::info!(repository = %name, upstream = %target, digest = %manifest.digest, "manifest fetched upstream and stored");
    Ok((manifest, Cache::Miss))
}

fn blob_unknown(digest: &Digest) -> ApiError {
    ApiError::new(ErrorCode::BlobUnknown).detail(serde_json::json!({ "digest": digest.as_str() }))
}

fn blob_headers(resp: &mut Res, digest: &Digest, length: u64, cache: Cache) {
    set(resp, "content-type", "application/octet-stream");
    set(resp, "content-length", &length.to_string());
    set(resp, "docker-content-digest", digest.as_str());
    set(resp, "etag", &format!("\"{digest}\""));
    mark(resp, cache);
}

async fn blob(
    ctx: &Arc<Ctx>,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Res> {
    let digest = Digest::parse(digest)
        .map_err(|e| ApiError::new(ErrorCode::DigestInvalid).detail(e.to_string()))?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // Bounded: a flight that finds the blob stored already sends us back here once.
    for _ in 0..2 {
        if let Some(resp) = stored_blob(ctx, name, &digest, range, head).await? {
            count(ctx, Cache::Hit, "blob");
            return Ok(resp);
        }
        let Some(upstream) = resolve_upstream(ctx, name)? else {
            return Err(blob_unknown(&digest));
        };
        ctx.held(&upstream.repository)?;
        if head {
            // A download under way knows the size; otherwise ask upstream.
            if let Some((size, verified)) = ctx.flights.peek(name, &digest) {
                let cache = if verified { Cache::Hit } else { Cache::Miss };
                count(ctx, cache, "blob");
                let mut resp = Response::new(empty());
                blob_headers(&mut resp, &digest, size, cache);
                return Ok(resp);
            }
            return head_upstream(ctx, &upstream, &digest).await;
        }
        let repository = upstream.repository.clone();
        let (flight, leader) = ctx
            .flights
            .join(ctx, name, &digest, upstream)
            .map_err(|e| ApiError::storage(&e))?;
        let (size, verified) = match flight.started().await {
            Ok(started) => started,
            Err(Failure::Stored) => continue,
            Err(Failure::NotFound) => return Err(blob_unknown(&digest)),
            Err(Failure::Upstream(kind, message)) => {
                ctx.note_failure(&repository, kind);
                return Err(ApiError::upstream(kind, &message));
            }
            Err(Failure::Corrupt(message)) => {
                return Err(ApiError::upstream("corrupt", &message));
            }
            Err(Failure::Spool(message)) => {
                tracing::error!(error = %message, "spool failed");
                return Err(ApiError::new(ErrorCode::Unknown).detail("the front's spool failed"));
            }
        };
        // Joining a download that is over and verified, its blob about to land in
        // storage, is as good as a hit: no byte more comes from upstream.
        let cache = if verified && !leader {
            Cache::Hit
        } else {
            Cache::Miss
        };
        count(ctx, cache, "blob");
        // A miss streams the whole blob as it arrives; a Range is ignored (allowed by
        // RFC 9110), the client gets 200 and all of it.
        let mut resp = Response::new(streamed(flight.follow()));
        blob_headers(&mut resp, &digest, size, cache);
        return Ok(resp);
    }
    Err(ApiError::new(ErrorCode::Unknown).detail("the blob vanished from storage"))
}

/// A `HEAD` on a miss asks upstream for the size and downloads nothing.
async fn head_upstream(ctx: &Arc<Ctx>, upstream: &Upstream, digest: &Digest) -> Result<Res> {
    let started = Instant::now();
    let answer = upstream
        .client
        .blob_exists(&upstream.repository, digest)
        .await;
    ctx.metrics.upstream_latency(started.elapsed());
    match answer {
        Ok(Some(size)) => {
            count(ctx, Cache::Miss, "blob");
            let mut resp = Response::new(empty());
            blob_headers(&mut resp, digest, size, Cache::Miss);
            Ok(resp)
        }
        Ok(None) => Err(blob_unknown(digest)),
        Err(e) => {
            let kind = flight::kind_name(e.kind());
            ctx.note_failure(&upstream.repository, kind);
            ctx.metrics.inc(
                "orca_pull_through_upstream_failures_total",
                label("kind", kind),
            );
            Err(ApiError::upstream(kind, &e.to_string()))
        }
    }
}

/// The blob from storage (whole, or the range asked for), `None` when it is not stored.
async fn stored_blob(
    ctx: &Arc<Ctx>,
    name: &str,
    digest: &Digest,
    range: Option<&str>,
    head: bool,
) -> Result<Option<Res>> {
    let Some(size) = ctx
        .storage
        .blob_size(name, digest)
        .await
        .map_err(|e| ApiError::storage(&e))?
    else {
        return Ok(None);
    };
    let Ok(range) = wire::parse_range(range, size) else {
        let mut e = ApiError::new(ErrorCode::RangeInvalid);
        e.extra.push(("content-range", format!("bytes */{size}")));
        return Err(e);
    };
    let (status, length) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, e - s + 1),
        None => (StatusCode::OK, size),
    };
    let body = if head {
        empty()
    } else {
        let Some(read) = ctx
            .storage
            .read_blob(name, digest, range)
            .await
            .map_err(|e| ApiError::storage(&e))?
        else {
            return Ok(None);
        };
        streamed(read.body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    blob_headers(&mut resp, digest, length, Cache::Hit);
    set(&mut resp, "accept-ranges", "bytes");
    if let Some((s, e)) = range {
        set(&mut resp, "content-range", &format!("bytes {s}-{e}/{size}"));
    }
    Ok(Some(resp))
}
