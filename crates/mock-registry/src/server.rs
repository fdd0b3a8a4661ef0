//! The HTTP side: accepting connections, routing, and the distribution API handlers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use orca_manifest::{Digest, media_types};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::{ApiError, Code};
use crate::auth::{self, Action, Auth, Authz, Need};
use crate::body::{ChannelBody, Leftover, ReqBody, ResBody, empty, full};
use crate::faults::{BodyFaults, Faults};
use crate::log::LoggedRequest;
use crate::routes::{self, Route};
use crate::store::{BlobSource, ManifestMeta, Store, Upload};
use crate::wire::{accepts, parse_range};

/// State shared by every connection of one registry.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) auth: Auth,
    pub(crate) faults: Faults,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    pub(crate) connections: AtomicU64,
    pub(crate) base_url: String,
    pub(crate) host: String,
    pub(crate) storage_url: String,
    /// The "signature" blob-storage URLs carry, like a SAS token.
    pub(crate) storage_sig: String,
    pub(crate) chunk_min_length: Option<u64>,
    pub(crate) max_manifest_size: usize,
    pub(crate) referrers_api: bool,
    pub(crate) header_read_timeout: Duration,
    /// How many connections each listener serves at once (at least 1).
    pub(crate) max_connections: usize,
}

type Res = Response<ResBody>;
type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Registry,
    BlobStorage,
}

/// How a listener's connections are wrapped: with the `tls` feature, a rustls acceptor;
/// without it, a type with no values (so plain HTTP is the only way).
#[cfg(feature = "tls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
/// How a listener's connections are wrapped: without the `tls` feature, a type with no
/// values (so plain HTTP is the only way).
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum Acceptor {}

/// Accept connections until the task is aborted; every connection task is aborted with it.
/// With `tls`, each connection is a TLS session first (a failed handshake ends it). With
/// `max_connections` open, no more are accepted until one ends.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    which: Listener,
    tls: Option<Acceptor>,
) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept(), if connections.len() < shared.max_connections => {
                let Ok(pair) = accepted else {
                    // Out of file descriptors or similar: back off briefly and go on.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                pair
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        if which == Listener::Registry {
            shared.connections.fetch_add(1, Ordering::Relaxed);
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, shared, which).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    // A handshake that fails (a plain-HTTP client, an untrusting one) or
                    // takes too long ends only this connection.
                    let limit = shared.header_read_timeout;
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(limit, acceptor.accept(stream)).await
                    {
                        serve_connection(stream, shared, which).await;
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
        });
    }
}

/// Serve HTTP/1.1 or HTTP/2 on one connection until it ends.
async fn serve_connection<I>(io: I, shared: Arc<Shared>, which: Listener)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = shared.header_read_timeout;
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, req, which).await) }
    });
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // A connection error (a client hanging up, a fault aborting a body) ends only this
    // connection.
    let _ = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await;
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, which: Listener) -> Res {
    let method = req.method().clone();
    // The blob-storage listener's paths are logged and matched with a `/storage` prefix.
    let prefix = match which {
        Listener::Registry => "",
        Listener::BlobStorage => "/storage",
    };
    let path = format!("{prefix}{}", req.uri().path());
    let path_and_query = format!(
        "{prefix}{}",
        req.uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |pq| pq.as_str())
    );
    let seen = auth::seen(req.headers());
    // HTTP/2 streams end on their own; only an HTTP/1 connection must read past a body.
    let http1 = req.version() <= Version::HTTP_11;
    let expects_continue = header_str(req.headers(), header::EXPECT)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let (parts, body) = req.into_parts();
    let (body, leftover) = ReqBody::new(body);
    let req = Request::from_parts(parts, body);
    let request_faults = shared.faults.for_request(&method, &path);
    if let Some(delay) = request_faults.delay {
        tokio::time::sleep(delay).await;
    }
    let mut resp = respond(&shared, req, which, request_faults.status).await;
    if http1 {
        finish_request_body(&leftover, expects_continue, &mut resp).await;
    }
    if which == Listener::Registry {
        resp.headers_mut().insert(
            "Docker-Distribution-API-Version",
            HeaderValue::from_static("registry/2.0"),
        );
    }
    shared
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(LoggedRequest {
            method,
            path: path_and_query,
            status: resp.status(),
            auth: seen,
        });
    resp
}

/// The answer to `req` (an injected fault's, or the route's); the request, and so what is
/// left of its body, is dropped on return.
async fn respond(
    shared: &Shared,
    req: Request<ReqBody>,
    which: Listener,
    fault: Option<(u16, Option<u64>)>,
) -> Res {
    if let Some((status, retry_after)) = fault {
        return fault_response(status, retry_after);
    }
    match which {
        Listener::Registry => route(shared, req)
            .await
            .unwrap_or_else(ApiError::into_response),
        Listener::BlobStorage => storage(shared, &req).unwrap_or_else(ApiError::into_response),
    }
}

/// At most this much of a request body is read past after its answer is ready; beyond it
/// the connection is closed instead.
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// How long reading past a request body may take before the connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// After answering without reading a whole request body (a 401 challenge, a 405, a 416, an
/// injected fault, …): read the rest, up to [`DRAIN_LIMIT`], so that a keep-alive client's
/// next request on this HTTP/1 connection is read as a request. When that is not possible
/// (a larger body, a client waiting for `100 Continue` before it sends one, an error, a
/// stall), the answer says `Connection: close` and the connection closes after it, so the
/// client does not reuse it.
async fn finish_request_body(leftover: &Leftover, expects_continue: bool, resp: &mut Res) {
    let unread = leftover
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(mut body) = unread else { return };
    let drained = !expects_continue
        && body.size_hint().lower() <= DRAIN_LIMIT
        && tokio::time::timeout(DRAIN_TIME, drain(&mut body))
            .await
            .unwrap_or(false);
    if !drained {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Read `body` to its end; `false` on an error or past [`DRAIN_LIMIT`] bytes.
async fn drain(body: &mut Incoming) -> bool {
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Ok(data) = frame.into_data() {
            read += data.len() as u64;
            if read > DRAIN_LIMIT {
                return false;
            }
        }
    }
    true
}

fn fault_response(status: u16, retry_after: Option<u64>) -> Res {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => Code::TooManyRequests,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ => Code::Unknown,
    };
    let mut resp = ApiError::new(code)
        .status(status)
        .detail("injected fault")
        .into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn set(resp: &mut Res, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn status_only(status: StatusCode) -> Res {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

fn json(status: StatusCode, content_type: &'static str, value: &serde_json::Value) -> Res {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|e| ApiError::new(Code::DigestInvalid).detail(e.to_string()))
}

fn unsupported() -> ApiError {
    ApiError::new(Code::Unsupported)
}

/// What a request on `route` needs from auth.
fn need(method: &Method, route: &Route) -> Need {
    let Some(name) = route.name() else {
        return match route {
            Route::Catalog => Need::Catalog,
            _ => Need::Any,
        };
    };
    let actions = match *method {
        Method::GET | Method::HEAD => vec![Action::Pull],
        Method::DELETE => match route {
            Route::Upload { .. } => vec![Action::Push],
            _ => vec![Action::Delete],
        },
        _ => vec![Action::Pull, Action::Push],
    };
    Need::Repository {
        name: name.to_owned(),
        actions,
    }
}

async fn route(shared: &Shared, req: Request<ReqBody>) -> Result<Res> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let route = routes::parse(&path);
    let method = req.method().clone();
    match route {
        Route::Token | Route::OAuth2Token | Route::OAuth2Exchange => {
            let headers = req.headers().clone();
            let form = if method == Method::POST {
                let bytes = read_limited(req.into_body(), 64 * 1024).await?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                String::new()
            };
            return Ok(shared.auth.token_endpoint(
                &route,
                &method,
                &headers,
                &query,
                &form,
                &shared.host,
            ));
        }
        Route::NotFound => return Ok(auth::not_found()),
        _ => {}
    }
    if let Some(name) = route.name()
        && !routes::valid_name(name)
    {
        return Err(ApiError::new(Code::NameInvalid).detail(serde_json::json!({ "name": name })));
    }
    let authz = match shared.auth.authorize(
        req.headers(),
        &need(&method, &route),
        &shared.base_url,
        &shared.host,
        &shared.faults,
    ) {
        Ok(a) => a,
        Err(resp) => return Ok(*resp),
    };
    let q = routes::pairs(&query);
    match (&route, &method) {
        (Route::Base, &Method::GET | &Method::HEAD) => Ok(json(
            StatusCode::OK,
            "application/json",
            &serde_json::json!({}),
        )),
        (Route::Catalog, &Method::GET) => catalog(shared, &q),
        (Route::Tags { name }, &Method::GET) => tags(shared, name, &q),
        (Route::Manifest { name, reference }, &Method::GET | &Method::HEAD) => get_manifest(
            shared,
            name,
            reference,
            req.headers(),
            method == Method::HEAD,
        ),
        (Route::Manifest { name, reference }, &Method::PUT) => {
            let content_type = header_str(req.headers(), header::CONTENT_TYPE).map(str::to_owned);
            let body = read_limited(req.into_body(), shared.max_manifest_size).await?;
            put_manifest(shared, name, reference, content_type.as_deref(), body)
        }
        (Route::Manifest { name, reference }, &Method::DELETE) => {
            delete_manifest(shared, name, reference)
        }
        (Route::Blob { name, digest }, &Method::GET | &Method::HEAD) => {
            get_blob(shared, name, digest, &req, &path)
        }
        (Route::Blob { name, digest }, &Method::DELETE) => delete_blob(shared, name, digest),
        (Route::StartUpload { name }, &Method::POST) => {
            start_upload(shared, name, &q, &authz, req.into_body()).await
        }
        (Route::Upload { name, id }, &Method::GET) => upload_status(shared, name, id).await,
        (Route::Upload { name, id }, &Method::PATCH) => patch_upload(shared, name, id, req).await,
        (Route::Upload { name, id }, &Method::PUT) => put_upload(shared, name, id, &q, req).await,
        (Route::Upload { name, id }, &Method::DELETE) => cancel_upload(shared, name, id),
        (Route::Referrers { name, digest }, &Method::GET) => referrers(shared, name, digest, &q),
        _ => Err(unsupported()),
    }
}

/// Read a whole request body, refusing more than `limit` bytes with 413.
async fn read_limited(mut body: ReqBody, limit: usize) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(Code::BlobUploadInvalid).detail(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ApiError::new(Code::SizeInvalid)
                    .status(StatusCode::PAYLOAD_TOO_LARGE)
                    .detail(serde_json::json!({ "limit": limit })));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Items after `last`, at most `n`, and whether more follow.
fn paginate(
    items: impl Iterator<Item = String>,
    q: &[(String, String)],
) -> Result<(Vec<String>, Option<usize>, bool)> {
    let n = match routes::first(q, "n") {
        None | Some("") => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(Code::Unsupported)
                .status(StatusCode::BAD_REQUEST)
                .detail("n must be a non-negative integer")
        })?),
    };
    let last = routes::first(q, "last").filter(|l| !l.is_empty());
    let mut after: Vec<String> = items
        .filter(|i| last.is_none_or(|l| i.as_str() > l))
        .collect();
    let more = n.is_some_and(|n| after.len() > n);
    if let Some(n) = n {
        after.truncate(n);
    }
    Ok((after, n, more))
}

fn link(resp: &mut Res, path: &str, n: Option<usize>, page: &[String], more: bool) {
    if let (true, Some(n), Some(last)) = (more, n, page.last()) {
        let value = format!("<{path}?n={n}&last={}>; rel=\"next\"", routes::encode(last));
        set(resp, "Link", &value);
    }
}

fn catalog(shared: &Shared, q: &[(String, String)]) -> Result<Res> {
    let names: Vec<String> = shared.store.read(|m| {
        m.repositories
            .iter()
            .filter(|(_, r)| !r.manifests.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    });
    let (page, n, more) = paginate(names.into_iter(), q)?;
    let mut resp = json(
        StatusCode::OK,
        "application/json",
        &serde_json::json!({ "repositories": page }),
    );
    link(&mut resp, "/v2/_catalog", n, &page, more);
    Ok(resp)
}

fn tags(shared: &Shared, name: &str, q: &[(String, String)]) -> Result<Res> {
    let tags: Option<Vec<String>> = shared.store.read(|m| {
        m.repositories
            .get(name)
            .filter(|r| !r.manifests.is_empty() || !r.tags.is_empty())
            .map(|r| r.tags.keys().cloned().collect())
    });
    let Some(tags) = tags else {
        return Err(ApiError::new(Code::NameUnknown).detail(serde_json::json!({ "name": name })));
    };
    let (page, n, more) = paginate(tags.into_iter(), q)?;
    let mut resp = json(
        StatusCode::OK,
        "application/json",
        &serde_json::json!({ "name": name, "tags": page }),
    );
    link(&mut resp, &format!("/v2/{name}/tags/list"), n, &page, more);
    Ok(resp)
}

/// Resolve a tag or digest to a stored manifest.
///
/// A reference that is neither a valid tag nor a valid digest names no manifest: 404
/// `MANIFEST_UNKNOWN`, as the distribution-spec conformance suite expects of a `GET` or
/// `HEAD` (a `PUT` of one is refused with 400 by [`put_manifest`]).
fn resolve(shared: &Shared, name: &str, reference: &str) -> Result<(Digest, ManifestMeta)> {
    let unknown = || {
        ApiError::new(Code::ManifestUnknown).detail(serde_json::json!({ "reference": reference }))
    };
    let digest = if reference.contains(':') {
        Digest::parse(reference).map_err(|_| unknown())?
    } else if routes::valid_tag(reference) {
        let found = shared
            .store
            .read(|m| m.repositories.get(name)?.tags.get(reference).cloned());
        parse_digest(&found.ok_or_else(unknown)?)?
    } else {
        return Err(unknown());
    };
    let meta = shared
        .store
        .read(|m| {
            m.repositories
                .get(name)?
                .manifests
                .get(digest.as_str())
                .cloned()
        })
        .ok_or_else(unknown)?;
    Ok((digest, meta))
}

fn get_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Res> {
    let (digest, meta) = resolve(shared, name, reference)?;
    if !accepts(headers, &meta.media_type) {
        return Err(
            ApiError::new(Code::ManifestUnknown).detail(serde_json::json!({
                "reason": "the manifest's media type is not in Accept",
                "mediaType": meta.media_type,
            })),
        );
    }
    let bytes = shared
        .store
        .blob_bytes(&digest)?
        .ok_or_else(|| ApiError::new(Code::ManifestUnknown))?;
    let len = bytes.len();
    let mut resp = Response::new(if head { empty() } else { full(bytes) });
    set(&mut resp, "Content-Type", &meta.media_type);
    set(&mut resp, "Content-Length", &len.to_string());
    set(&mut resp, "Docker-Content-Digest", digest.as_str());
    set(&mut resp, "ETag", &format!("\"{digest}\""));
    Ok(resp)
}

const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    media_types::OCI_IMAGE_MANIFEST,
    media_types::OCI_IMAGE_INDEX,
    media_types::DOCKER_MANIFEST_V2,
    media_types::DOCKER_MANIFEST_LIST,
];

fn invalid(detail: &str) -> ApiError {
    ApiError::new(Code::ManifestInvalid).detail(detail)
}

/// The few manifest fields the registry needs, read with `serde_json` directly (the
/// registry never trusts a re-serialisation: the stored bytes are the bytes received).
fn inspect_manifest(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(ManifestMeta, Vec<String>, Vec<String>)> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(&format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("not a JSON object"))?;
    if obj.get("schemaVersion").and_then(serde_json::Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let body_type = obj.get("mediaType").and_then(serde_json::Value::as_str);
    let header_type = content_type.map(media_types::essence);
    let media_type = match (header_type, body_type) {
        (Some(h), Some(b)) if h != b => {
            return Err(invalid("mediaType does not match Content-Type"));
        }
        (Some(h), _) => h.to_owned(),
        (None, Some(b)) => b.to_owned(),
        (None, None) if obj.contains_key("manifests") => media_types::OCI_IMAGE_INDEX.to_owned(),
        (None, None) => media_types::OCI_IMAGE_MANIFEST.to_owned(),
    };
    if !ACCEPTED_MANIFEST_TYPES.contains(&media_type.as_str()) {
        return Err(invalid(&format!(
            "unsupported manifest media type {media_type}"
        )));
    }
    let digest_of = |v: &serde_json::Value| -> Result<Option<String>> {
        if v.get("urls").is_some() {
            return Ok(None);
        }
        let d = v
            .get("digest")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("descriptor without digest"))?;
        Ok(Some(parse_digest(d)?.as_str().to_owned()))
    };
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    let config = obj.get("config");
    if media_types::is_index(&media_type) {
        for m in obj
            .get("manifests")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid("index without manifests"))?
        {
            manifests.extend(digest_of(m)?);
        }
    } else {
        let config = config.ok_or_else(|| invalid("manifest without config"))?;
        blobs.extend(digest_of(config)?);
        for l in obj
            .get("layers")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid("manifest without layers"))?
        {
            blobs.extend(digest_of(l)?);
        }
    }
    let subject = match obj.get("subject") {
        None => None,
        Some(s) => digest_of(s)?,
    };
    let artifact_type = obj
        .get("artifactType")
        .and_then(serde_json::Value::as_str)
        .or_else(|| {
            config
                .and_then(|c| c.get("mediaType"))
                .and_then(serde_json::Value::as_str)
        })
        .map(str::to_owned);
    let annotations: Option<BTreeMap<String, String>> = obj
        .get("annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    Ok((
        ManifestMeta {
            media_type,
            size: body.len() as u64,
            artifact_type,
            subject,
            annotations,
        },
        blobs,
        manifests,
    ))
}

fn put_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Res> {
    let (tag, digest) = if reference.contains(':') {
        let expected = parse_digest(reference)?;
        let actual = Digest::compute(&expected.algorithm(), &body)
            .map_err(|e| ApiError::new(Code::DigestInvalid).detail(e.to_string()))?;
        if actual != expected {
            return Err(ApiError::new(Code::DigestInvalid).detail(
                serde_json::json!({ "expected": expected.as_str(), "actual": actual.as_str() }),
            ));
        }
        (None, expected)
    } else if routes::valid_tag(reference) {
        (Some(reference.to_owned()), Digest::sha256(&body))
    } else {
        return Err(ApiError::new(Code::ManifestInvalid).detail("invalid tag"));
    };
    let (meta, blobs, children) = inspect_manifest(content_type, &body)?;
    let missing = shared.store.read(|m| {
        let repo = m.repositories.get(name);
        blobs
            .iter()
            .find(|b| repo.is_none_or(|r| !r.blobs.contains(*b)))
            .or_else(|| {
                children
                    .iter()
                    .find(|c| repo.is_none_or(|r| !r.manifests.contains_key(*c)))
            })
            .cloned()
    });
    if let Some(missing) = missing {
        return Err(ApiError::new(Code::ManifestBlobUnknown)
            .detail(serde_json::json!({ "digest": missing })));
    }
    let subject = meta.subject.clone();
    shared.store.put_blob_bytes(&digest, body)?;
    shared.store.write(|m| {
        let repo = m.repositories.entry(name.to_owned()).or_default();
        repo.manifests.insert(digest.as_str().to_owned(), meta);
        if let Some(tag) = tag {
            repo.tags.insert(tag, digest.as_str().to_owned());
        }
    })?;
    let mut resp = status_only(StatusCode::CREATED);
    set(
        &mut resp,
        "Location",
        &format!("/v2/{name}/manifests/{digest}"),
    );
    set(&mut resp, "Docker-Content-Digest", digest.as_str());
    // `OCI-Subject` tells the client the registry indexed the referrer; a registry without
    // the referrers API (distribution 2.8) sends nothing, and the client must maintain the
    // `<alg>-<hex>` tag index itself.
    if let Some(subject) = subject.filter(|_| shared.referrers_api) {
        set(&mut resp, "OCI-Subject", &subject);
    }
    Ok(resp)
}

fn delete_manifest(shared: &Shared, name: &str, reference: &str) -> Result<Res> {
    let unknown = || ApiError::new(Code::ManifestUnknown);
    if reference.contains(':') {
        let digest = parse_digest(reference)?;
        let removed = shared.store.write(|m| {
            let repo = m.repositories.get_mut(name)?;
            repo.manifests.remove(digest.as_str())?;
            repo.tags.retain(|_, d| d != digest.as_str());
            Some(())
        })?;
        removed.ok_or_else(unknown)?;
    } else {
        let removed = shared
            .store
            .write(|m| m.repositories.get_mut(name)?.tags.remove(reference))?;
        removed.ok_or_else(unknown)?;
    }
    Ok(status_only(StatusCode::ACCEPTED))
}

/// Serve a blob's bytes (whole or one range) with the blob faults applied.
fn blob_response(
    source: BlobSource,
    len: u64,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
    faults: BodyFaults,
) -> Res {
    let Ok(range) = parse_range(header_str(headers, header::RANGE), len) else {
        let mut resp = ApiError::new(Code::RangeInvalid).into_response();
        set(&mut resp, "Content-Range", &format!("bytes */{len}"));
        return resp;
    };
    let (start, count, status) = match range {
        Some((s, e)) => (s, e - s + 1, StatusCode::PARTIAL_CONTENT),
        None => (0, len, StatusCode::OK),
    };
    let body = if head {
        empty()
    } else {
        stream_blob(source, start, count, faults)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    set(&mut resp, "Content-Type", "application/octet-stream");
    set(&mut resp, "Content-Length", &count.to_string());
    set(&mut resp, "Docker-Content-Digest", digest.as_str());
    set(&mut resp, "Accept-Ranges", "bytes");
    set(&mut resp, "ETag", &format!("\"{digest}\""));
    if let Some((s, e)) = range {
        set(&mut resp, "Content-Range", &format!("bytes {s}-{e}/{len}"));
    }
    resp
}

fn stream_blob(source: BlobSource, start: u64, len: u64, faults: BodyFaults) -> ResBody {
    let (tx, body) = ChannelBody::channel(len);
    tokio::spawn(async move {
        // The receiver hanging up (client gone) ends production; nothing else to do.
        let _ = produce(source, start, len, faults, tx).await;
    });
    body
}

async fn produce(
    source: BlobSource,
    start: u64,
    len: u64,
    faults: BodyFaults,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let chunk: u64 = match faults.throttle {
        Some(rate) => rate.clamp(1, 16 * 1024),
        None => 256 * 1024,
    };
    let mut file = match &source {
        BlobSource::File(path) => Some(crate::store::read_file(
            path.clone(),
            start,
            len,
            usize::try_from(chunk).map_err(io::Error::other)?,
        )),
        BlobSource::Memory(_) => None,
    };
    let gone = |_| io::Error::other("receiver gone");
    let mut sent = 0u64;
    while sent < len {
        let mut bytes = match (&source, file.as_mut()) {
            (BlobSource::Memory(b), _) => {
                let want = usize::try_from(chunk.min(len - sent)).map_err(io::Error::other)?;
                let from = usize::try_from(start + sent).map_err(io::Error::other)?;
                b.slice(from..from + want)
            }
            (BlobSource::File(_), Some(pieces)) => match pieces.recv().await {
                Some(piece) => piece?,
                None => return Err(io::Error::other("the blob file's reader stopped")),
            },
            (BlobSource::File(_), None) => return Err(io::Error::other("file not open")),
        };
        let want = bytes.len() as u64;
        if faults.corrupt && sent == 0 && !bytes.is_empty() {
            let mut v = BytesMut::from(&bytes[..]);
            v[0] ^= 0xff;
            bytes = v.freeze();
        }
        if let Some(k) = faults.close_after
            && sent + want > k
        {
            let keep = usize::try_from(k - sent).map_err(io::Error::other)?;
            if keep > 0 {
                tx.send(Ok(bytes.slice(..keep))).await.map_err(gone)?;
            }
            tx.send(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "injected fault: connection closed mid-body",
            )))
            .await
            .map_err(gone)?;
            return Ok(());
        }
        tx.send(Ok(bytes)).await.map_err(gone)?;
        sent += want;
        if let Some(rate) = faults.throttle {
            #[allow(clippy::cast_precision_loss)] // sleep lengths need no exactness
            let secs = want as f64 / rate as f64;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
    Ok(())
}

fn linked(shared: &Shared, name: &str, digest: &Digest) -> bool {
    shared.store.read(|m| {
        m.repositories
            .get(name)
            .is_some_and(|r| r.blobs.contains(digest.as_str()))
    })
}

fn get_blob(
    shared: &Shared,
    name: &str,
    digest: &str,
    req: &Request<ReqBody>,
    path: &str,
) -> Result<Res> {
    let digest = parse_digest(digest)?;
    let unknown = || {
        ApiError::new(Code::BlobUnknown).detail(serde_json::json!({ "digest": digest.as_str() }))
    };
    if !linked(shared, name, &digest) {
        return Err(unknown());
    }
    let (source, len) = shared.store.blob(&digest).ok_or_else(unknown)?;
    let head = req.method() == Method::HEAD;
    let faults = if head {
        BodyFaults::default()
    } else {
        shared.faults.for_blob(req.method(), path)
    };
    if faults.redirect {
        let mut resp = status_only(StatusCode::TEMPORARY_REDIRECT);
        let location = format!(
            "{}/blobs/{digest}?sig={}",
            shared.storage_url, shared.storage_sig
        );
        set(&mut resp, "Location", &location);
        return Ok(resp);
    }
    Ok(blob_response(
        source,
        len,
        &digest,
        req.headers(),
        head,
        faults,
    ))
}

/// The blob-storage listener: `GET|HEAD /blobs/<digest>?sig=…`, refusing `Authorization`.
fn storage(shared: &Shared, req: &Request<ReqBody>) -> Result<Res> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let mut resp = Response::new(full(
            "<Error><Code>InvalidAuthenticationInfo</Code><Message>Authorization is not allowed with a signed URL</Message></Error>",
        ));
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        set(&mut resp, "Content-Type", "application/xml");
        return Ok(resp);
    }
    let q = routes::pairs(req.uri().query().unwrap_or_default());
    if routes::first(&q, "sig") != Some(shared.storage_sig.as_str()) {
        return Ok(status_only(StatusCode::FORBIDDEN));
    }
    let Some(digest) = req.uri().path().strip_prefix("/blobs/") else {
        return Ok(auth::not_found());
    };
    let digest = parse_digest(digest)?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(unsupported());
    }
    let Some((source, len)) = shared.store.blob(&digest) else {
        return Ok(auth::not_found());
    };
    let head = req.method() == Method::HEAD;
    let faults = if head {
        BodyFaults::default()
    } else {
        let path = format!("/storage{}", req.uri().path());
        let mut f = shared.faults.for_blob(req.method(), &path);
        f.redirect = false;
        f
    };
    Ok(blob_response(
        source,
        len,
        &digest,
        req.headers(),
        head,
        faults,
    ))
}

fn delete_blob(shared: &Shared, name: &str, digest: &str) -> Result<Res> {
    let digest = parse_digest(digest)?;
    let removed = shared.store.write(|m| {
        m.repositories
            .get_mut(name)
            .is_some_and(|r| r.blobs.remove(digest.as_str()))
    })?;
    if removed {
        Ok(status_only(StatusCode::ACCEPTED))
    } else {
        Err(ApiError::new(Code::BlobUnknown))
    }
}

fn link_blob(shared: &Shared, name: &str, digest: &Digest) -> io::Result<()> {
    shared.store.write(|m| {
        m.repositories
            .entry(name.to_owned())
            .or_default()
            .blobs
            .insert(digest.as_str().to_owned());
    })
}

fn blob_created(name: &str, digest: &Digest) -> Res {
    let mut resp = status_only(StatusCode::CREATED);
    set(&mut resp, "Location", &format!("/v2/{name}/blobs/{digest}"));
    set(&mut resp, "Docker-Content-Digest", digest.as_str());
    resp
}

fn upload_accepted(shared: &Shared, name: &str, id: &str, size: u64, status: StatusCode) -> Res {
    let mut resp = status_only(status);
    set(
        &mut resp,
        "Location",
        &format!("/v2/{name}/blobs/uploads/{id}"),
    );
    set(&mut resp, "Range", &format!("0-{}", size.saturating_sub(1)));
    set(&mut resp, "Docker-Upload-UUID", id);
    if let Some(min) = shared.chunk_min_length {
        set(&mut resp, "OCI-Chunk-Min-Length", &min.to_string());
    }
    resp
}

/// Stream a request body into an upload; returns the bytes written.
async fn stream_into(upload: &mut Upload, mut body: ReqBody) -> Result<u64> {
    let mut feed = upload
        .start_feed()
        .map_err(|e| ApiError::new(Code::BlobUploadInvalid).detail(e.to_string()))?;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Err(e) => {
                failure = Some(ApiError::new(Code::BlobUploadInvalid).detail(e.to_string()));
                break;
            }
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && feed.push(&data).await.is_err()
                {
                    // The storing thread failed; `end_feed` returns its error.
                    break;
                }
            }
        }
    }
    let written = upload.end_feed(feed).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

async fn start_upload(
    shared: &Shared,
    name: &str,
    q: &[(String, String)],
    authz: &Authz,
    body: ReqBody,
) -> Result<Res> {
    if let Some(mount) = routes::first(q, "mount") {
        let digest = parse_digest(mount)?;
        let from = routes::first(q, "from").unwrap_or_default();
        // Mount only from a repository the caller may pull from; otherwise fall back to an
        // ordinary session, as distribution does.
        if routes::valid_name(from)
            && authz.allows(from, Action::Pull)
            && linked(shared, from, &digest)
        {
            link_blob(shared, name, &digest)?;
            return Ok(blob_created(name, &digest));
        }
    }
    let id = shared.store.start_upload(name).await?;
    if let Some(digest) = routes::first(q, "digest") {
        let digest = parse_digest(digest)?;
        let upload = shared
            .store
            .take_upload(&id)
            .ok_or_else(|| ApiError::new(Code::BlobUploadUnknown))?;
        let mut upload = upload.lock().await;
        stream_into(&mut upload, body).await?;
        return finish(shared, name, &mut upload, &digest).await;
    }
    Ok(upload_accepted(shared, name, &id, 0, StatusCode::ACCEPTED))
}

async fn finish(shared: &Shared, name: &str, upload: &mut Upload, digest: &Digest) -> Result<Res> {
    if !shared.store.commit_upload(upload, digest).await? {
        return Err(ApiError::new(Code::DigestInvalid)
            .detail(serde_json::json!({ "digest": digest.as_str() })));
    }
    link_blob(shared, name, digest)?;
    Ok(blob_created(name, digest))
}

/// The upload session `id` of repository `name` (a session busy with another request is
/// taken to be of the right repository; the request then waits for it).
fn session(shared: &Shared, name: &str, id: &str) -> Result<Arc<tokio::sync::Mutex<Upload>>> {
    let unknown = || ApiError::new(Code::BlobUploadUnknown);
    let upload = shared.store.upload(id).ok_or_else(unknown)?;
    let same_repo = upload.try_lock().map_or(true, |u| u.repository == name);
    if same_repo {
        Ok(upload)
    } else {
        Err(unknown())
    }
}

async fn upload_status(shared: &Shared, name: &str, id: &str) -> Result<Res> {
    let upload = session(shared, name, id)?;
    let size = upload.lock().await.size;
    Ok(upload_accepted(
        shared,
        name,
        id,
        size,
        StatusCode::NO_CONTENT,
    ))
}

/// Parse `Content-Range: <start>-<end>` (also accepting a `bytes ` prefix).
fn content_range(value: &str) -> Option<(u64, u64)> {
    let v = value.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Whether a request's `Content-Range` (when it has one) continues a session holding `size`
/// bytes: it starts at `size`, does not end before it starts, and agrees with any
/// `Content-Length`.
fn continues_session(headers: &HeaderMap, size: u64) -> bool {
    let Some(value) = header_str(headers, "Content-Range") else {
        return true;
    };
    let Some((start, end)) = content_range(value) else {
        return false;
    };
    let length = header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    start == size && end >= start && length.is_none_or(|l| l == end - start + 1)
}

/// 416 for a chunk that does not continue session `id`, with the session's current
/// `Range` so the client can resume; the session stays open.
fn out_of_order(name: &str, id: &str, size: u64) -> Res {
    let mut resp = ApiError::new(Code::RangeInvalid).into_response();
    set(
        &mut resp,
        "Location",
        &format!("/v2/{name}/blobs/uploads/{id}"),
    );
    set(&mut resp, "Range", &format!("0-{}", size.saturating_sub(1)));
    set(&mut resp, "Docker-Upload-UUID", id);
    resp
}

async fn patch_upload(shared: &Shared, name: &str, id: &str, req: Request<ReqBody>) -> Result<Res> {
    let upload = session(shared, name, id)?;
    let mut upload = upload.lock().await;
    if !continues_session(req.headers(), upload.size) || upload.short_chunk {
        return Ok(out_of_order(name, id, upload.size));
    }
    let written = stream_into(&mut upload, req.into_body()).await?;
    if shared.chunk_min_length.is_some_and(|min| written < min) {
        upload.short_chunk = true;
    }
    Ok(upload_accepted(
        shared,
        name,
        id,
        upload.size,
        StatusCode::ACCEPTED,
    ))
}

/// The closing `PUT ?digest=`: its body (perhaps empty) is the last chunk. A
/// `Content-Range` that does not continue the session gets 416 and leaves the session
/// usable (the spec's MUST); otherwise the session ends here, stored or refused.
async fn put_upload(
    shared: &Shared,
    name: &str,
    id: &str,
    q: &[(String, String)],
    req: Request<ReqBody>,
) -> Result<Res> {
    let upload = session(shared, name, id)?;
    let digest = parse_digest(routes::first(q, "digest").unwrap_or_default())?;
    let mut upload = upload.lock().await;
    if !continues_session(req.headers(), upload.size) {
        return Ok(out_of_order(name, id, upload.size));
    }
    // From here on the session is this request's: whatever happens, it ends.
    shared
        .store
        .take_upload(id)
        .ok_or_else(|| ApiError::new(Code::BlobUploadUnknown))?;
    stream_into(&mut upload, req.into_body()).await?;
    finish(shared, name, &mut upload, &digest).await
}

fn cancel_upload(shared: &Shared, name: &str, id: &str) -> Result<Res> {
    session(shared, name, id)?;
    if shared.store.cancel_upload(id) {
        Ok(status_only(StatusCode::NO_CONTENT))
    } else {
        Err(ApiError::new(Code::BlobUploadUnknown))
    }
}

fn referrers(shared: &Shared, name: &str, digest: &str, q: &[(String, String)]) -> Result<Res> {
    if !shared.referrers_api {
        return Ok(auth::not_found());
    }
    let digest = parse_digest(digest)?;
    let filter = routes::first(q, "artifactType").filter(|f| !f.is_empty());
    let manifests: Vec<serde_json::Value> = shared.store.read(|m| {
        let Some(repo) = m.repositories.get(name) else {
            return Vec::new();
        };
        repo.manifests
            .iter()
            .filter(|(_, meta)| meta.subject.as_deref() == Some(digest.as_str()))
            .filter(|(_, meta)| filter.is_none_or(|f| meta.artifact_type.as_deref() == Some(f)))
            .map(|(d, meta)| {
                let mut desc = serde_json::json!({
                    "mediaType": meta.media_type,
                    "digest": d,
                    "size": meta.size,
                });
                if let Some(t) = &meta.artifact_type {
                    desc["artifactType"] = t.clone().into();
                }
                if let Some(a) = &meta.annotations {
                    desc["annotations"] = serde_json::json!(a);
                }
                desc
            })
            .collect()
    });
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_INDEX,
        "manifests": manifests,
    });
    let mut resp = json(StatusCode::OK, media_types::OCI_IMAGE_INDEX, &index);
    if filter.is_some() {
        set(&mut resp, "OCI-Filters-Applied", "artifactType");
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::RangeNotSatisfiable;

    #[test]
    fn ranges() {
        let cases = [
            (None, 10, Ok(None)),
            (Some("bytes=0-4"), 10, Ok(Some((0, 4)))),
            (Some("bytes=5-"), 10, Ok(Some((5, 9)))),
            (Some("bytes=-3"), 10, Ok(Some((7, 9)))),
            (Some("bytes=8-100"), 10, Ok(Some((8, 9)))),
            (Some("bytes=10-"), 10, Err(RangeNotSatisfiable)),
            (Some("bytes=5-2"), 10, Err(RangeNotSatisfiable)),
            (Some("bytes=x-"), 10, Err(RangeNotSatisfiable)),
            (Some("items=0-1"), 10, Ok(None)),
        ];
        assert_eq!(cases.len(), 9);
        for (v, len, want) in cases {
            assert_eq!(parse_range(v, len), want, "{v:?}");
        }
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("0-9"), Some((0, 9)));
        assert_eq!(content_range("bytes 10-19/*"), Some((10, 19)));
        assert_eq!(content_range("x"), None);
    }

    #[test]
    fn accept_negotiation() {
        let mut h = HeaderMap::new();
        assert!(accepts(&h, "a/b"));
        h.insert(header::ACCEPT, HeaderValue::from_static("x/y, a/b;q=0.5"));
        assert!(accepts(&h, "a/b"));
        assert!(!accepts(&h, "c/d"));
        h.append(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(accepts(&h, "c/d"));
    }
}
