//! Fetch, push, copy and discover artifacts in OCI registries: the facade over orca's crates.
