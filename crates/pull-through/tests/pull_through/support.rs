//! An upstream mock with an image in it, a front with a directory storage before it, and
//! clients for both.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{Client, ClientConfig, PushOptions, RetryPolicy};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{Config, MockRegistry};
use orca_pull_through::{DirStorage, Front, Options, StaticUpstreams};
use orca_reference::Reference;

/// The upstream repository the rule `library/*` maps to is `mirror/*` on the upstream.
pub(crate) const RULE_TARGET: &str = "library/*";

/// A client for `hosts` (plain HTTP), failing fast: one quick retry.
pub(crate) fn client(hosts: &[&str], credential: Option<(&str, Credential)>) -> Client {
    let mut config = ClientConfig::default().with_retry(
        RetryPolicy::builder()
            .max_retries(1)
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(5))
            .build(),
    );
    for host in hosts {
        config = config.with_plain_http(*host);
    }
    config.read_timeout = Duration::from_secs(20);
    match credential {
        None => Client::new(config).expect("client"),
        Some((host, credential)) => {
            let auth = Authenticator::new(
                StaticCredentials::new().with(host, credential),
                AuthOptions::default(),
            );
            Client::with_authenticator(config, auth).expect("client")
        }
    }
}

/// What [`push_image`] pushed.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub(crate) manifest: Digest,
    pub(crate) manifest_bytes: Bytes,
    pub(crate) config: Digest,
    pub(crate) layer: Digest,
    pub(crate) layer_bytes: Bytes,
}

/// Deterministic, incompressible-looking bytes.
pub(crate) fn content(len: usize, seed: u8) -> Bytes {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Push a one-layer image (a real image config, so skopeo accepts it) to
/// `registry/repository:tag` with `client`.
pub(crate) async fn push_image(
    client: &Client,
    registry: &str,
    repository: &str,
    tag: &str,
    layer: Bytes,
) -> Image {
    let repo = Reference::new(registry, repository).expect("reference");
    let layer_digest = Digest::sha256(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [layer_digest.as_str()] },
    })
    .to_string();
    let config = Bytes::from(config);
    let config_digest = Digest::sha256(&config);
    for (bytes, digest, media_type) in [
        (
            config.clone(),
            config_digest.clone(),
            media_types::OCI_IMAGE_CONFIG,
        ),
        (
            layer.clone(),
            layer_digest.clone(),
            "application/vnd.oci.image.layer.v1.tar",
        ),
    ] {
        let descriptor = Descriptor::new(media_type, digest, bytes.len() as u64);
        client
            .push_blob(&repo, &descriptor, bytes, &PushOptions::default())
            .await
            .expect("push blob");
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "config": {
            "mediaType": media_types::OCI_IMAGE_CONFIG,
            "digest": config_digest.as_str(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.as_str(),
            "size": layer.len(),
        }],
    })
    .to_string();
    let manifest = Bytes::from(manifest);
    let tagged = repo.clone().with_tag(tag).expect("tag");
    client
        .push_manifest(&tagged, manifest.clone(), media_types::OCI_IMAGE_MANIFEST)
        .await
        .expect("push manifest");
    Image {
        manifest: Digest::sha256(&manifest),
        manifest_bytes: manifest,
        config: config_digest,
        layer: layer_digest,
        layer_bytes: layer,
    }
}

/// An upstream mock, a front before it with the rule `library/* -> UPSTREAM/mirror/*`, and
/// the front's storage directory.
pub(crate) struct Setup {
    pub(crate) upstream: MockRegistry,
    pub(crate) front: Front,
    pub(crate) dir: tempfile::TempDir,
    /// A client that pushes to the upstream (with its credentials, if any).
    pub(crate) upstream_client: Client,
}

impl Setup {
    /// Upstream with `config`; the front's upstream client uses `credential`.
    pub(crate) async fn start(
        config: Config,
        credential: Option<Credential>,
        options: Options,
    ) -> Setup {
        let upstream = MockRegistry::start(config).await.expect("upstream");
        let host = upstream.host().to_owned();
        let with_credential = |c: &Option<Credential>| c.clone().map(|c| (host.as_str(), c));
        let front_upstream_client = client(&[&host], with_credential(&credential));
        let upstream_client = client(&[&host], with_credential(&credential));
        let rules = StaticUpstreams::new()
            .with(
                RULE_TARGET,
                front_upstream_client,
                &format!("{host}/mirror/*"),
            )
            .expect("rule");
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = DirStorage::open(dir.path().join("storage")).expect("storage");
        let front = Front::start(Arc::new(storage), Arc::new(rules), options)
            .await
            .expect("front");
        Setup {
            upstream,
            front,
            dir,
            upstream_client,
        }
    }

    /// A client for the front (plain HTTP, anonymous).
    pub(crate) fn front_client(&self) -> Client {
        client(&[&self.front.host()], None)
    }

    /// `GET`s (or `HEAD`s) of `path_part` the upstream answered.
    pub(crate) fn upstream_requests(&self, method: &Method, path_part: &str) -> usize {
        self.upstream
            .requests()
            .iter()
            .filter(|r| r.method == *method && r.path.contains(path_part))
            .count()
    }

    /// Wait (bounded) until a fetched blob has landed in storage: it lands just after its
    /// download verified, asynchronously. `false` if it never does.
    pub(crate) async fn landed(&self, digest: &Digest) -> bool {
        for _ in 0..500 {
            if self.stored_blob_path(digest).exists() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Where the front's storage keeps a blob's content.
    pub(crate) fn stored_blob_path(&self, digest: &Digest) -> std::path::PathBuf {
        self.dir
            .path()
            .join("storage/blobs/sha256")
            .join(digest.encoded())
    }
}

/// A raw HTTP answer: status, headers, and the body (or the error that ended it).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Result<Bytes, String>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn cache(&self) -> Option<&str> {
        self.header(orca_pull_through::CACHE_HEADER)
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        self.body.as_ref().expect("a whole body")
    }
}

/// One raw request (no retries, no verification: what a client sees on the wire).
pub(crate) async fn raw(method: Method, url: &str, headers: &[(&str, &str)]) -> Answer {
    let http: HttpClient<_, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = http
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| e.to_string());
    Answer {
        status,
        headers,
        body,
    }
}
