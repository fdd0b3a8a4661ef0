//! Replays the `reference` fuzz target's seed corpus through the target's own check.

use std::path::PathBuf;

#[test]
fn fuzz_corpus_replays_clean() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/reference");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "only {} corpus files in {}",
        files.len(),
        dir.display()
    );
    for path in &files {
        let data =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        orca_reference::fuzzing::check(&data);
    }
}
