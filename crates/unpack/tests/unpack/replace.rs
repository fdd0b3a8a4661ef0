//! Pulling again into a destination that holds an earlier pull replaces it atomically.

use std::fs;

use orca_unpack::{Error, ExtractOptions, extract};

use crate::craft::{RawTar, gzip};
use crate::snapshot;

#[test]
fn a_second_extraction_replaces_the_first_without_mixing() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let first = RawTar::new()
        .dir("d")
        .file("d/old", b"old")
        .file("same", b"v1")
        .finish();
    let second = RawTar::new()
        .file("same", b"v2")
        .file("new", b"new")
        .finish();
    let summary = extract(first.as_slice(), &dest, &ExtractOptions::default()).unwrap();
    assert!(!summary.replaced);
    let summary = extract(gzip(&second).as_slice(), &dest, &ExtractOptions::default()).unwrap();
    assert!(summary.replaced);
    let names: Vec<String> = snapshot(&dest).into_keys().collect();
    assert_eq!(names, ["new", "same"]);
    assert_eq!(fs::read(dest.join("same")).unwrap(), b"v2");
    // Nothing else beside the destination.
    let siblings: Vec<_> = fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["dest"]);
}

#[test]
fn a_file_or_link_at_the_destination_is_replaced_not_followed() {
    let parent = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    #[cfg(unix)]
    std::os::unix::fs::symlink(elsewhere.path(), &dest).unwrap();
    #[cfg(not(unix))]
    fs::write(&dest, "a file").unwrap();
    let stream = RawTar::new().file("x", b"x").finish();
    extract(stream.as_slice(), &dest, &ExtractOptions::default()).unwrap();
    assert!(fs::symlink_metadata(&dest).unwrap().is_dir());
    assert!(
        snapshot(elsewhere.path()).is_empty(),
        "nothing written through the link"
    );
}

#[test]
fn an_unusable_destination_is_refused_by_name() {
    let parent = tempfile::tempdir().unwrap();
    let stream = RawTar::new().file("x", b"x").finish();
    let missing_parent = parent.path().join("no/such/dest");
    let error = extract(
        stream.as_slice(),
        &missing_parent,
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::InvalidDestination { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("parent directory does not exist")
    );
    let error = extract(
        stream.as_slice(),
        &parent.path().join(".."),
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::InvalidDestination { .. }),
        "{error:?}"
    );
}

/// `replace_with`, as the facade uses it for what it fetched: a new destination, a
/// directory over a file and a file over a directory, nothing left beside it; a
/// destination whose parent is missing is refused and the source stays.
#[test]
fn replace_with_moves_into_place_and_removes_what_was_there() {
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let tree = parent.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("a"), b"a").unwrap();
    assert!(!orca_unpack::replace_with(&tree, &dest).unwrap());
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"a");

    let file = parent.path().join("file");
    fs::write(&file, b"now a file").unwrap();
    assert!(orca_unpack::replace_with(&file, &dest).unwrap());
    assert_eq!(fs::read(&dest).unwrap(), b"now a file");

    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("b"), b"b").unwrap();
    assert!(orca_unpack::replace_with(&tree, &dest).unwrap());
    assert_eq!(fs::read(dest.join("b")).unwrap(), b"b");
    let left: Vec<_> = fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["dest"]);

    fs::write(&file, b"stays").unwrap();
    let e = orca_unpack::replace_with(&file, &parent.path().join("missing/dest")).unwrap_err();
    assert!(matches!(e, Error::InvalidDestination { .. }), "{e}");
    assert_eq!(fs::read(&file).unwrap(), b"stays");
}
