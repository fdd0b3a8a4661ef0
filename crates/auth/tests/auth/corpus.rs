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

#[test]
fn www_authenticate_corpus() {
    let files = corpus("www_authenticate");
    assert!(files.len() >= 12, "seed corpus has {} files", files.len());
    let mut parsed = 0;
    for (name, bytes) in &files {
        orca_auth::fuzzing::check_www_authenticate(bytes);
        if std::str::from_utf8(bytes).is_ok_and(|t| orca_auth::Challenge::parse(t).is_ok()) {
            parsed += 1;
        } else {
            assert!(
                name.contains("unterminated")
                    || name.contains("missing-value")
                    || name.contains("no-scheme")
                    || name.contains("control-char"),
                "{name} was expected to parse"
            );
        }
    }
    assert_eq!(
        files.len() - parsed,
        4,
        "exactly the four malformed seeds fail"
    );
}

#[test]
fn token_response_corpus() {
    let files = corpus("token_response");
    assert!(files.len() >= 12, "seed corpus has {} files", files.len());
    for (_, bytes) in &files {
        orca_auth::fuzzing::check_token_response(bytes);
    }
}
