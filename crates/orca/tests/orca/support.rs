//! Shared set-up: a mock registry registered as a store, sample folders, raw pushes.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use orca::distribution::{Client, ClientConfig, PushOptions};
use orca::manifest::{Descriptor, ImageManifest, media_types};
use orca::{ArtifactStore, CacheOptions, Store, StoreRegistry};
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
use orca_mock_registry::{Config, MockRegistry};
use tempfile::TempDir;

pub(crate) struct Env {
    pub(crate) mock: MockRegistry,
    pub(crate) store: ArtifactStore,
    pub(crate) dir: TempDir,
}

impl Env {
    /// `<mock>/<path>`.
    pub(crate) fn reference(&self, path: &str) -> String {
        format!("{}/{path}", self.mock.host())
    }

    /// Requests to blob endpoints (not uploads) so far.
    pub(crate) fn blob_reads(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.path.contains("/blobs/sha256:") && r.method.as_str() == "GET")
            .count()
    }
}

/// A mock registry (plain HTTP, no auth), registered with `configure` applied to its store.
pub(crate) async fn env_with(
    config: Config,
    configure: impl FnOnce(Store) -> Store,
    cache: Option<CacheOptions>,
) -> Env {
    let mock = MockRegistry::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = configure(Store::new(mock.host()).unwrap().with_plain_http(true));
    let mut builder = ArtifactStore::builder(StoreRegistry::new().with(store))
        .client_config(ClientConfig::default().with_retry(orca::distribution::RetryPolicy::none()));
    if let Some(options) = cache {
        builder = builder.cache(dir.path().join("cache"), options);
    }
    Env {
        mock,
        store: builder.build().unwrap(),
        dir,
    }
}

pub(crate) async fn env() -> Env {
    env_with(Config::default(), |s| s, None).await
}

pub(crate) async fn env_cached() -> Env {
    env_with(Config::default(), |s| s, Some(CacheOptions::default())).await
}

/// A de-identification configuration folder like the FHIR server's.
pub(crate) fn sample_folder(parent: &Path) -> PathBuf {
    let folder = parent.join("anonymization");
    std::fs::create_dir_all(folder.join("rules")).unwrap();
    std::fs::write(
        folder.join("anonymization.json"),
        r#"{"fhirVersion":"R4","fhirPathRules":[{"path":"Patient.name","method":"redact"}],"parameters":{"dateShiftKey":"","enablePartialAgesForRedact":true}}"#,
    )
    .unwrap();
    std::fs::write(
        folder.join("rules/patient.json"),
        r#"[{"path":"Patient.address","method":"generalize"}]"#,
    )
    .unwrap();
    folder
}

/// Every file below `root` with its content, sorted.
pub(crate) fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Pushes a manifest of `layers` (with their bytes) and `config` with the plain client, as
/// other tools would.
pub(crate) async fn push_raw(
    host: &str,
    reference: &str,
    config: (Descriptor, Bytes),
    layers: Vec<(Descriptor, Bytes)>,
    artifact_type: Option<&str>,
) -> Descriptor {
    let client = Client::new(ClientConfig::default().with_plain_http(host)).unwrap();
    let reference: orca::Reference = reference.parse().unwrap();
    for (descriptor, bytes) in layers.iter().chain(std::iter::once(&config)) {
        client
            .push_blob(
                &reference,
                descriptor,
                bytes.clone(),
                &PushOptions::default(),
            )
            .await
            .unwrap();
    }
    let mut manifest = ImageManifest::new(config.0, layers.into_iter().map(|(d, _)| d).collect());
    manifest.artifact_type = artifact_type.map(ToOwned::to_owned);
    let bytes = manifest.to_bytes();
    client
        .push_manifest(
            &reference,
            Bytes::from(bytes.clone()),
            media_types::OCI_IMAGE_MANIFEST,
        )
        .await
        .unwrap();
    Descriptor::for_bytes(media_types::OCI_IMAGE_MANIFEST, &bytes)
}

/// Names of the entries of `dir`, sorted.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Debian's `docker-registry` on 127.0.0.1, or `None` (said on stderr) when it is not
/// installed.
pub(crate) async fn docker_registry() -> Option<ReferenceRegistry> {
    let real = ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .unwrap();
    if real.is_none() {
        eprintln!("skipped: docker-registry is not installed");
    }
    real
}
