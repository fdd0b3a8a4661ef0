//! orca-store's integration tests, one module per source module: the stores file and
//! registry, and the content cache (layout, verification, eviction, concurrent writers).

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod cache;
mod registry;
mod rules;
