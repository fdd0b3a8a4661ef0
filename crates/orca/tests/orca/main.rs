//! Integration tests of the facade against `orca-mock-registry`: fetch and push with ORAS
//! semantics, every error code, the content cache, copy, metrics.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod cache;
mod copy;
mod errors;
mod fetch;
mod metrics;
mod pull_through;
mod push;
mod support;
