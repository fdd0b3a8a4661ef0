//! The tokio adapter feeds the same extractor.

use orca_unpack::{Error, ExtractOptions, PathProblem, extract_async};

use crate::craft::{RawTar, gzip};

#[tokio::test]
async fn extracts_from_an_async_reader() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    // Larger than the channel holds, so that the reader waits for the extractor.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let stream = gzip(&RawTar::new().file("big", &big).file("small", b"s").finish());
    let summary = extract_async(stream.as_slice(), dest.clone(), ExtractOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.bytes, big.len() as u64 + 1);
    assert_eq!(std::fs::read(dest.join("big")).unwrap(), big);
}

#[tokio::test]
async fn refusals_come_through_and_write_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let stream = RawTar::new().file("../evil", b"x").finish();
    let error = extract_async(stream.as_slice(), dest, ExtractOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnsafePath {
                problem: PathProblem::ParentDir,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}
