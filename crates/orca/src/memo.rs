//! Manifests this process has read from the content cache and verified, kept in memory so
//! that a fetch served from the cache does not read, hash and parse its manifest again.
//!
//! Entries are addressed by digest, so one never goes stale: the caller still asks the
//! cache whether the blob is there ([`orca_store::ContentCache::touch`]) before using one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use orca_manifest::Digest;

use crate::ManifestContent;

/// The most manifests kept.
const MAX_ENTRIES: usize = 1024;
/// Larger manifests are not kept (they are rare, and cost little to read next to their
/// layers).
const MAX_BYTES: usize = 64 * 1024;

/// A bounded map from digest to verified manifest; the oldest insertion goes first.
#[derive(Default)]
pub(crate) struct ManifestMemo {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Digest, ManifestContent>,
    order: VecDeque<Digest>,
}

impl ManifestMemo {
    pub(crate) fn get(&self, digest: &Digest) -> Option<ManifestContent> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.entries.get(digest).cloned()
    }

    /// Keeps `content`, whose bytes were verified against `content.descriptor.digest`.
    pub(crate) fn insert(&self, content: &ManifestContent) {
        if content.bytes.len() > MAX_BYTES {
            return;
        }
        let digest = content.descriptor.digest.clone();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.entries.contains_key(&digest) {
            return;
        }
        while state.order.len() >= MAX_ENTRIES {
            if let Some(oldest) = state.order.pop_front() {
                state.entries.remove(&oldest);
            }
        }
        state.order.push_back(digest.clone());
        state.entries.insert(digest, content.clone());
    }

    pub(crate) fn remove(&self, digest: &Digest) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.entries.remove(digest).is_some() {
            state.order.retain(|d| d != digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use orca_manifest::{ImageManifest, Manifest};

    use super::*;

    fn content(i: usize) -> ManifestContent {
        let manifest = ImageManifest::artifact(format!("application/vnd.test.{i}"), Vec::new())
            .unwrap()
            .to_manifest()
            .unwrap();
        let bytes = Bytes::copy_from_slice(manifest.bytes());
        ManifestContent {
            descriptor: manifest.descriptor(),
            manifest: Manifest::parse(bytes.clone(), None).unwrap(),
            bytes,
        }
    }

    #[test]
    fn keeps_at_most_its_bound_and_drops_the_oldest_first() {
        let memo = ManifestMemo::default();
        let all: Vec<_> = (0..=MAX_ENTRIES).map(content).collect();
        for c in &all {
            memo.insert(c);
        }
        assert!(memo.get(&all[0].descriptor.digest).is_none());
        let last = memo.get(&all[MAX_ENTRIES].descriptor.digest).unwrap();
        assert_eq!(last.bytes, all[MAX_ENTRIES].bytes);
        memo.remove(&all[MAX_ENTRIES].descriptor.digest);
        assert!(memo.get(&all[MAX_ENTRIES].descriptor.digest).is_none());
        assert_eq!(
            memo.state.lock().unwrap().order.len(),
            MAX_ENTRIES - 1,
            "removal keeps the order list in step"
        );
    }
}
