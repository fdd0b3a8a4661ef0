//! The front between clients and an upstream mock registry.

mod backing;
mod front;
mod skopeo;
mod storage;
mod support;
