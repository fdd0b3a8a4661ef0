//! Async OCI distribution-spec client over hyper and rustls, with streamed, verified
//! transfers.
//!
//! [`Client`] speaks the whole [distribution spec]: ping, manifest `HEAD`/`GET`/`PUT`/
//! `DELETE`, blob `HEAD`/`GET`/`DELETE`, uploads (monolithic, single `POST`, chunked
//! `PATCH`, streamed from any [`tokio::io::AsyncRead`]), cross-repository mounts, tag and
//! catalog listings as paginated streams, and referrers (with the tag-schema fallback).
//!
//! What it guarantees:
//! - Every blob byte is counted and hashed as it arrives; a [`BlobStream`] fails when the
//!   size or the digest is wrong. A manifest's digest is computed over the bytes received.
//! - Authentication goes through [`orca_auth`]: a cached `Authorization` first; on a 401 one
//!   negotiation (token service, ACR exchange, Entra ID), shared by concurrent requests
//!   for the same registry and scopes, its credential lookups run off the runtime
//!   (`spawn_blocking`); then the request again.
//! - Per-registry policy ([`RegistryPolicy`], keyed by [`Registry`]): plain HTTP only for
//!   registries whose policy allows it, TLS roots and verification, concurrency, retries,
//!   size caps. `Authorization` never follows a redirect or upload `Location` to another
//!   scheme, host or port.
//! - An [`Observer`] receives [`Event`]s (requests, retries, negotiations, bytes, verified
//!   blobs) for metrics and progress bars.
//! - Idempotent requests are retried (connection errors, 408, 429, 5xx) with bounded
//!   exponential back-off with jitter, honouring `Retry-After`; uploads re-check their state
//!   before sending again.
//! - A 401 from another origin than the registry's (a redirect's storage back end) is
//!   never negotiated: the registry's credentials never reach a realm it chose.
//! - Stalls end: a body must keep [`RegistryPolicy::min_throughput`], and an operation stops
//!   retrying and resuming after [`RegistryPolicy::max_stall`] without progress.
//! - Errors carry the method, the URL without credentials, the HTTP status and the
//!   registry's error codes; no secret appears in an error, a log line or `Debug` output,
//!   and remote text in an error is a bounded excerpt with control characters escaped and
//!   credentials replaced by `REDACTED`.
//!
//! See the README's *Security* section for what is left to the caller (notably: a
//! [`BlobStream`]'s bytes are untrusted until it ended cleanly).
//!
//! It never reads files except the PEM files named in the configuration, and spawns no
//! background task beyond hyper's connection tasks.
//!
//! ```no_run
//! use orca_distribution::{Client, ClientConfig};
//! use orca_reference::Reference;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientConfig::default())?;
//! let reference: Reference = "registry.example/team/app:1.0".parse()?;
//! let descriptor = client.resolve(&reference).await?;
//! println!("{} is {} ({} bytes)", reference, descriptor.digest, descriptor.size);
//! # Ok(())
//! # }
//! ```
//!
//! [distribution spec]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md

mod client;
mod config;
mod download;
mod error;
mod hash_pipe;
mod listing;
mod observe;
mod pool;
mod registry;
mod sanitize;
mod transport;
mod upload;

pub use client::{
    Client, FetchOptions, FetchOptionsBuilder, FetchedManifest, PushedManifest, Referrers,
    referrers_tag,
};
pub use config::{
    ClientConfig, ClientConfigBuilder, MinThroughput, RegistryPolicy, RegistryPolicyBuilder,
    RetryPolicy, RetryPolicyBuilder,
};
pub use download::{BlobReader, BlobStream};
pub use error::{BoxError, Error, ErrorCode, ErrorKind, RegistryError};
pub use listing::Names;
pub use observe::{AuthOutcome, Direction, Event, Observer, RetryReason};
pub use registry::Registry;
pub use upload::{
    MountOutcome, PushOptions, PushOptionsBuilder, PushOutcome, PushedBlob, UploadMethod,
    UploadSession,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
