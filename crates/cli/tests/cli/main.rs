//! End-to-end tests of the real `orca` binary: against registries it serves itself
//! (`orca serve`, the embedded registry) and, when installed, Debian's `docker-registry`.

// Helpers outside #[test] functions: a failure to set up is the test's failure.
#![allow(clippy::unwrap_used)]

mod backing;
mod cache_rules;
mod entra;
mod front;
mod harness;
mod help;
mod interop;
mod login_azure;
mod messages;
mod mock;
mod reference;
mod serve_tls;
mod terminal;
