//! End-to-end tests of the real `orca` binary: against registries it serves itself
//! (`orca serve`, the embedded registry) and, when installed, Debian's `docker-registry`.

// Helpers outside #[test] functions: a failure to set up is the test's failure.
#![allow(clippy::unwrap_used)]

mod backing;
mod cache_rules;
mod front;
mod harness;
mod help;
mod interop;
mod mock;
mod reference;
mod terminal;
