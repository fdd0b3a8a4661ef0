//! A caching registry front (a pull-through cache, as Azure Container Registry's artifact
//! cache): pulls are served from [`Storage`]; a miss is fetched upstream once, however many
//! clients ask, verified, stored and streamed to the clients as it arrives.

mod backing;
mod storage;

pub use backing::{BackingLocation, BackingOptions, InvalidBacking, RegistryStorage};
pub use storage::{BlobRead, DirStorage, ManifestRef, Storage, StoredManifest};
