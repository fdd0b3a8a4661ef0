//! The behaviour suite: raw HTTP tests of the distribution spec with a plain hyper client
//! (not orca's). Every spec test runs against the mock and, when Debian's
//! `docker-registry` is installed, against a fresh reference registry too; where the two
//! differ the expectation is per target, as the crate README's difference table says.

mod auth;
mod client;
mod connection;
mod faults;
mod interop;
mod log;
mod spec;
mod storage;
mod target;
