//! `DirStorage` through the object-safe trait, as the front holds it.

use std::sync::Arc;

use orca_manifest::Digest;
use orca_pull_through::{DirStorage, ManifestRef, Storage};

#[tokio::test]
async fn dir_storage_behind_the_trait_object() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(DirStorage::open(dir.path()).unwrap());
    let digest = Digest::sha256(b"x");
    assert_eq!(storage.blob_size("a", &digest).await.unwrap(), None);
    let tag = ManifestRef::Tag("latest".into());
    assert_eq!(storage.manifest("a", &tag).await.unwrap(), None);
    let spool = storage.spool_dir().unwrap();
    std::fs::write(spool.join("b"), b"x").unwrap();
    storage
        .put_blob("a", &digest, 1, &spool.join("b"))
        .await
        .unwrap();
    assert_eq!(storage.blob_size("a", &digest).await.unwrap(), Some(1));
}
