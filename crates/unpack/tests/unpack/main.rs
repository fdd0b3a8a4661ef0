//! Integration tests of orca-unpack: the hostile-archive corpus, round trips, ORAS layer
//! semantics, atomic replacement, the fuzz corpus and interop with the Python `oras`
//! package.

// Helpers outside `#[test]` functions panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "tokio")]
mod async_adapter;
mod craft;
mod fuzz_corpus;
mod hostile;
mod interop;
mod layer;
mod replace;
mod roundtrip;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// A snapshot of a directory tree: relative path → kind and content (files), target
/// (links) or nothing (directories). Never follows links.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if fs::symlink_metadata(root).is_err() {
        return out;
    }
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link -> {}", fs::read_link(&path).unwrap().display()),
            );
        } else if meta.is_dir() {
            out.insert(rel, "dir".to_owned());
            walk(root, &path, out);
        } else {
            let bytes = fs::read(&path).unwrap();
            out.insert(
                rel,
                format!(
                    "file {} {}",
                    bytes.len(),
                    orca_manifest::Digest::sha256(&bytes)
                ),
            );
        }
    }
}
