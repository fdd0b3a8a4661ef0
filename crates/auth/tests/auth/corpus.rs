//! The fuzz targets' seed corpora, replayed through the same checks as the targets.

use std::path::PathBuf;

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// Seeds that must not parse; every other named seed must.
const MALFORMED_SEEDS: [&str; 4] = ["unterminated", "missing-value", "no-scheme", "control-char"];
const WELL_FORMED_SEEDS: [&str; 14] = [
    "docker-hub",
    "ghcr",
    "acr",
    "acr-basic",
    "quay",
    "ecr",
    "harbor",
    "distribution-basic",
    "distribution-error",
    "several",
    "odd-spacing",
    "escapes",
    "token68",
    "non-ascii",
];

#[test]
fn www_authenticate_corpus() {
    let files = corpus("www_authenticate");
    assert!(files.len() >= 12, "seed corpus has {} files", files.len());
    // Every file (seeds, and whatever a local fuzz run added) holds the invariants.
    for (_, bytes) in &files {
        orca_auth::fuzzing::check_www_authenticate(bytes);
    }
    let parses = |seed: &str| {
        let (_, bytes) = files
            .iter()
            .find(|(name, _)| name.ends_with(&format!("/{seed}")))
            .unwrap_or_else(|| panic!("seed {seed} is missing"));
        std::str::from_utf8(bytes).is_ok_and(|t| orca_auth::Challenge::parse(t).is_ok())
    };
    for seed in WELL_FORMED_SEEDS {
        assert!(parses(seed), "{seed} should parse");
    }
    for seed in MALFORMED_SEEDS {
        assert!(!parses(seed), "{seed} should not parse");
    }
}

#[test]
fn token_response_corpus() {
    let files = corpus("token_response");
    assert!(files.len() >= 12, "seed corpus has {} files", files.len());
    for (_, bytes) in &files {
        orca_auth::fuzzing::check_token_response(bytes);
    }
}
