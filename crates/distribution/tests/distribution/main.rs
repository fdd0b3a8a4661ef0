//! Integration tests of `orca-distribution`: exact request shapes against wiremock, and the
//! guarantee that no secret reaches an error or a log line.

mod auth;
mod hostile;
mod large_blobs;
mod observe;
mod one_pass;
mod overlapped;
mod secrets;
mod tls;
mod unpack;
mod wire;

use bytes::Bytes;
use orca_distribution::{Client, ClientConfig, RetryPolicy};
use orca_manifest::Descriptor;
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};
use orca_reference::Reference;
use std::time::Duration;
use wiremock::MockServer;

/// `host:port` of a wiremock server.
pub(crate) fn host(server: &MockServer) -> String {
    server.address().to_string()
}

/// A client for plain HTTP to `server`, with fast retries.
pub(crate) fn client_for(server: &MockServer) -> Client {
    Client::new(config_for(server)).expect("client")
}

pub(crate) fn config_for(server: &MockServer) -> ClientConfig {
    let mut config = ClientConfig::default()
        .with_plain_http(host(server))
        .with_retry(
            RetryPolicy::builder()
                .max_retries(3)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(20))
                .build(),
        );
    config.read_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_secs(5);
    config
}

pub(crate) fn reference(server: &MockServer, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", host(server))).expect("reference")
}

/// A client to `host` (plain HTTP) with 64 KiB chunks, so a 1 MiB blob is "large".
pub(crate) fn small_chunks(host: &str) -> Client {
    let mut config = ClientConfig::default().with_plain_http(host);
    config.chunk_size = 64 * 1024;
    Client::new(config).expect("client")
}

/// Debian's `docker-registry` on 127.0.0.1, or `None` (said on stderr) when it is not
/// installed.
pub(crate) async fn docker_registry() -> Option<ReferenceRegistry> {
    let real = ReferenceRegistry::start(ReferenceOptions::default())
        .await
        .expect("docker-registry");
    if real.is_none() {
        eprintln!("skipped: docker-registry is not installed");
    }
    real
}

/// The registry serves `expected`, verified, and it is `data`.
pub(crate) async fn assert_stored(
    client: &Client,
    repo: &Reference,
    expected: &Descriptor,
    data: &[u8],
) {
    let fetched = client
        .fetch_blob(repo, expected)
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("verified");
    assert_eq!(fetched, Bytes::copy_from_slice(data));
}
