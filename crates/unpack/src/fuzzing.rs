//! The invariant check behind the `tar` fuzz target, public so that the fuzz target and
//! this crate's tests (which replay the seed corpus) run the same code. Not an API for
//! anything else.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::extract::{Duplicates, ExtractOptions, Summary, extract};
use crate::limits::Limits;

/// The limits the fuzz target extracts with: small, so that every run is quick.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_total_bytes: 1024 * 1024,
        max_entry_bytes: 256 * 1024,
        max_entries: 64,
        max_path_depth: 8,
        max_path_length: 256,
        max_compression_ratio: 100,
    }
}

const CANARY: &[u8] = b"must never change";

/// Extracts `data` (links allowed, [`fuzz_limits`]) into a fresh sandbox and panics if an
/// invariant does not hold:
///
/// - on error, the sandbox holds nothing but its canary file; on success, the canary and
///   the destination;
/// - the canary (a sibling of the destination) is unchanged;
/// - on success, no path is deeper or longer than the limits, no file is larger than the
///   per-entry limit, the files together hold no more than the total limit, there are no
///   more entries than allowed (counting the parent directories an entry may create), no
///   device, fifo or socket exists, no mode has setuid/setgid/sticky, and every symbolic
///   link resolves inside the destination.
///
/// Returns what [`extract`] returned.
///
/// # Panics
///
/// When an invariant does not hold (that is the point), or when the sandbox cannot be
/// created.
pub fn check_tar(data: &[u8]) -> Result<Summary, Error> {
    let sandbox = tempfile::tempdir().expect("a temporary sandbox");
    let canary = sandbox.path().join("canary");
    fs::write(&canary, CANARY).expect("the canary");
    let dest = sandbox.path().join("out");
    let limits = fuzz_limits();
    let mut options = ExtractOptions::with_limits(limits);
    options.allow_symlinks = true;
    options.allow_hardlinks = true;
    options.duplicates = if data.len().is_multiple_of(2) {
        Duplicates::LastWins
    } else {
        Duplicates::Error
    };
    let result = extract(data, &dest, &options);
    let mut names: Vec<OsString> = fs::read_dir(sandbox.path())
        .expect("list the sandbox")
        .map(|e| e.expect("sandbox entry").file_name())
        .collect();
    names.sort();
    let expected: Vec<OsString> = if result.is_ok() {
        vec!["canary".into(), "out".into()]
    } else {
        vec!["canary".into()]
    };
    assert_eq!(names, expected, "sandbox after {result:?}");
    assert_eq!(fs::read(&canary).expect("read the canary"), CANARY);
    if result.is_ok() {
        check_tree(&dest, &limits);
    }
    result
}

fn check_tree(root: &Path, limits: &Limits) {
    let mut total = 0u64;
    let mut count = 0u64;
    let mut inodes = HashSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).expect("list") {
            let entry = entry.expect("entry");
            let rel = rel.join(entry.file_name());
            let meta = fs::symlink_metadata(root.join(&rel)).expect("inspect");
            count += 1;
            assert!(
                rel.components().count() as u64 <= limits.max_path_depth,
                "{} is deeper than the limit",
                rel.display()
            );
            assert!(
                rel.as_os_str().len() as u64 <= limits.max_path_length,
                "{} is longer than the limit",
                rel.display()
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                assert_eq!(
                    meta.mode() & 0o7000,
                    0,
                    "{} has special mode bits",
                    rel.display()
                );
                if meta.is_file() && inodes.insert(meta.ino()) {
                    total += meta.len();
                }
            }
            #[cfg(not(unix))]
            if meta.is_file() {
                let _ = &mut inodes;
                total += meta.len();
            }
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_symlink() {
                let target = fs::read_link(root.join(&rel)).expect("read link");
                let mut at: Vec<OsString> = rel
                    .parent()
                    .map(|p| p.iter().map(OsString::from).collect())
                    .unwrap_or_default();
                let mut hops = 0;
                assert!(
                    resolves_inside(root, &mut at, &target, &mut hops),
                    "{} -> {} leaves the destination",
                    rel.display(),
                    target.display()
                );
            } else {
                assert!(
                    kind.is_file(),
                    "{} is neither file, directory nor link",
                    rel.display()
                );
                assert!(
                    meta.len() <= limits.max_entry_bytes,
                    "{} is too large",
                    rel.display()
                );
            }
        }
    }
    assert!(total <= limits.max_total_bytes, "{total} bytes written");
    assert!(
        count <= limits.max_entries * limits.max_path_depth,
        "{count} entries on disk"
    );
}

/// Resolves `target` from `at` on disk, following links, and says whether it stays inside
/// `root`. A missing component is taken as a plain name; a loop is not an escape.
fn resolves_inside(root: &Path, at: &mut Vec<OsString>, target: &Path, hops: &mut u32) -> bool {
    for component in target.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => return false,
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return false;
                }
            }
            Component::Normal(name) => {
                at.push(name.to_owned());
                let full: PathBuf = root.join(at.iter().collect::<PathBuf>());
                if fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
                    *hops += 1;
                    if *hops > 40 {
                        return true;
                    }
                    let next = fs::read_link(&full).expect("read link");
                    at.pop();
                    if !resolves_inside(root, at, &next, hops) {
                        return false;
                    }
                }
            }
        }
    }
    true
}
