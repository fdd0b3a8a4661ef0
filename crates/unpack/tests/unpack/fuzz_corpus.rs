//! Replays the `tar` fuzz target's seed corpus through the same check.

use std::fs;
use std::path::PathBuf;

#[test]
fn seed_corpus_holds_the_invariants() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tar");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 12, "seed corpus has {} files", files.len());
    let mut accepted = 0;
    for file in &files {
        let data = fs::read(file).unwrap();
        if orca_unpack::fuzzing::check_tar(&data).is_ok() {
            accepted += 1;
        }
    }
    // The corpus mixes good archives and refused ones.
    assert!(
        accepted > 0 && accepted < files.len(),
        "{accepted} of {} accepted",
        files.len()
    );
}
