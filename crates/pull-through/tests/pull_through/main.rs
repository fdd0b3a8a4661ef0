//! The front against two mock registries (upstream and client side).

mod backing;
mod storage;
