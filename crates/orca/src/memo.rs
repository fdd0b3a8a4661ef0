//! Manifests this process has read from the content cache and verified, kept in memory so
//! that a fetch served from the cache does not read, hash and parse its manifest again.
//!
//! Entries are addressed by digest, so one never goes stale: the caller still asks the
//! cache whether the blob is there ([`orca_store::ContentCache::touch`]) before using one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use orca_manifest::Digest;

use crate::ManifestContent;

/// The most manifests kept.
const MAX_ENTRIES: usize = 1024;
/// Larger manifests are not kept (they are rare, and cost little to read next to their
/// layers).
const MAX_BYTES: usize = 64 * 1024;

/// A bounded map from digest to verified manifest; the least recently used goes first.
#[derive(Default)]
pub(crate) struct ManifestMemo {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Each manifest with the stamp of its last use.
    entries: HashMap<Digest, (ManifestContent, u64)>,
    /// Stamp of last use → digest, least recent first.
    by_use: BTreeMap<u64, Digest>,
    next_stamp: u64,
}

impl State {
    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }
}

impl ManifestMemo {
    pub(crate) fn get(&self, digest: &Digest) -> Option<ManifestContent> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = state.stamp();
        let (content, used) = state.entries.get_mut(digest)?;
        let content = content.clone();
        let previous = std::mem::replace(used, stamp);
        state.by_use.remove(&previous);
        state.by_use.insert(stamp, digest.clone());
        Some(content)
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
        while state.entries.len() >= MAX_ENTRIES {
            let Some((_, least)) = state.by_use.pop_first() else {
                break;
            };
            state.entries.remove(&least);
        }
        let stamp = state.stamp();
        state.by_use.insert(stamp, digest.clone());
        state.entries.insert(digest, (content.clone(), stamp));
    }

    pub(crate) fn remove(&self, digest: &Digest) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, stamp)) = state.entries.remove(digest) {
            state.by_use.remove(&stamp);
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
    fn keeps_at_most_its_bound_and_drops_the_least_recently_used_first() {
        let memo = ManifestMemo::default();
        let all: Vec<_> = (0..=MAX_ENTRIES + 1).map(content).collect();
        for c in &all[..MAX_ENTRIES] {
            memo.insert(c);
        }
        // The first inserted is used again: the second is now the least recent.
        assert!(memo.get(&all[0].descriptor.digest).is_some());
        memo.insert(&all[MAX_ENTRIES]);
        assert!(memo.get(&all[1].descriptor.digest).is_none());
        assert!(memo.get(&all[0].descriptor.digest).is_some());
        let last = memo.get(&all[MAX_ENTRIES].descriptor.digest).unwrap();
        assert_eq!(last.bytes, all[MAX_ENTRIES].bytes);
        memo.insert(&all[MAX_ENTRIES + 1]);
        assert!(memo.get(&all[2].descriptor.digest).is_none());

        memo.remove(&all[MAX_ENTRIES].descriptor.digest);
        assert!(memo.get(&all[MAX_ENTRIES].descriptor.digest).is_none());
        let state = memo.state.lock().unwrap();
        assert_eq!(state.entries.len(), MAX_ENTRIES - 1);
        assert_eq!(
            state.by_use.len(),
            state.entries.len(),
            "removal keeps the use order in step"
        );
    }
}
