//! The front between clients and an upstream mock registry.

mod front;
mod skopeo;
mod storage;
mod support;
