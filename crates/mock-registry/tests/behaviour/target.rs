//! The `Target` abstraction: one registry under test, mock or reference, with helpers
//! that only use the spec's HTTP API.

use std::fmt;

use bytes::Bytes;
use orca_manifest::Digest;
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
use orca_mock_registry::{AuthMode, Config, MockRegistry, Secret};

use crate::client::{Http, Resp};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Mock,
    Reference,
}

pub(crate) struct Target {
    pub(crate) kind: Kind,
    /// Whether the registry requires Basic auth (the client then sends it).
    pub(crate) basic: bool,
    pub(crate) base: String,
    pub(crate) http: Http,
    pub(crate) mock: Option<MockRegistry>,
    _reference: Option<ReferenceRegistry>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = if self.basic { " with Basic auth" } else { "" };
        write!(f, "{:?}{auth} at {}", self.kind, self.base)
    }
}

const USER: &str = "suite";
const PASSWORD: &str = "suite-password";

fn basic_http() -> Http {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    Http::with_authorization(format!("Basic {token}"))
}

/// The mock without auth and with Basic auth, and the reference registry the same two ways
/// when it is installed (htpasswd for Basic).
pub(crate) async fn targets() -> Vec<Target> {
    let mut out = vec![
        mock(Config::default()).await,
        Target {
            basic: true,
            http: basic_http(),
            ..mock(Config::default().with_auth(AuthMode::basic(USER, PASSWORD))).await
        },
    ];
    for basic in [false, true] {
        let options = ReferenceOptions {
            users: if basic {
                vec![(USER.to_owned(), Secret::new(PASSWORD))]
            } else {
                Vec::new()
            },
            ..ReferenceOptions::default()
        };
        let Some(reference) = ReferenceRegistry::start(options)
            .await
            .expect("reference registry starts")
        else {
            break;
        };
        out.push(Target {
            kind: Kind::Reference,
            basic,
            base: reference.base_url().to_owned(),
            http: if basic { basic_http() } else { Http::new() },
            mock: None,
            _reference: Some(reference),
        });
    }
    out
}

pub(crate) async fn mock(config: Config) -> Target {
    let reg = MockRegistry::start(config).await.expect("mock starts");
    Target {
        kind: Kind::Mock,
        basic: false,
        base: reg.base_url().to_owned(),
        http: Http::new(),
        mock: Some(reg),
        _reference: None,
    }
}

/// A manifest pushed by [`Target::push_image`].
pub(crate) struct Image {
    pub(crate) manifest: Bytes,
    pub(crate) digest: Digest,
}

impl Target {
    pub(crate) fn is_mock(&self) -> bool {
        self.kind == Kind::Mock
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resolve a `Location` (absolute for distribution, relative for the mock).
    pub(crate) fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            self.url(location)
        }
    }

    /// Join a query parameter to a URL that may already have a query.
    pub(crate) fn with_query(url: &str, query: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{query}")
    }

    pub(crate) async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .http
            .req(
                "POST",
                &self.url(&format!("/v2/{repo}/blobs/uploads/")),
                &[],
                "",
            )
            .await;
        assert_eq!(r.status, 202, "{self}: start upload");
        self.resolve(r.header("location").expect("Location"))
    }

    /// Upload a blob with POST then PUT (supported by every registry).
    pub(crate) async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256(data);
        let location = self.start_upload(repo).await;
        let url = Target::with_query(&location, &format!("digest={digest}"));
        let r = self
            .http
            .req(
                "PUT",
                &url,
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(data),
            )
            .await;
        assert_eq!(r.status, 201, "{self}: finish upload: {:?}", r.body);
        digest
    }

    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Resp {
        self.http
            .req(
                "PUT",
                &self.url(&format!("/v2/{repo}/manifests/{reference}")),
                &[("content-type", media_type)],
                Bytes::copy_from_slice(body),
            )
            .await
    }

    /// Push a one-layer OCI image and tag it; `extra` is merged into the manifest JSON.
    pub(crate) async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        layer: &[u8],
        extra: serde_json::Value,
    ) -> Image {
        let config = self.push_blob(repo, b"{}").await;
        let layer_digest = self.push_blob(repo, layer).await;
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.as_str(), "size": layer.len()}],
        });
        if let (Some(m), Some(e)) = (manifest.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                m.insert(k.clone(), v.clone());
            }
        }
        let bytes = Bytes::from(serde_json::to_vec(&manifest).expect("json"));
        let digest = Digest::sha256(&bytes);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &bytes).await;
        assert_eq!(r.status, 201, "{self}: put manifest: {:?}", r.body);
        Image {
            manifest: bytes,
            digest,
        }
    }
}
