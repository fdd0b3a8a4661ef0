//! Integration tests of `orca-distribution`: exact request shapes against wiremock, and the
//! guarantee that no secret reaches an error or a log line.

mod auth;
mod hostile;
mod large_blobs;
mod observe;
mod one_pass;
mod overlapped;
mod secrets;
mod unpack;
mod wire;

use orca_distribution::{Client, ClientConfig, RetryPolicy};
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
