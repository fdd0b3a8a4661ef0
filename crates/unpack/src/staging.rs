//! Working directories beside a destination, and the removal of those a killed process
//! left behind.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

/// How long an unlocked working directory must have been untouched before another
/// process removes it: longer than any gap between creating one and locking it.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// The most leftovers one [`Staging::new_in`] looks at, so a directory full of them costs
/// a bounded amount of work per call (the next calls take the rest).
const MAX_SWEPT: usize = 64;

/// The most parent directories whose last scan is remembered.
const MAX_SCANNED_PARENTS: usize = 256;

/// The working-directory names (`.<name>.orca-<kind>-XXXXXX`, any name and kind) each
/// parent held when this process last read it, and when. A parent is read at most once
/// per [`ABANDONED_AFTER`]: a leftover made after a read is younger than that until the
/// next one, so it could not have been removed anyway, and a fetch into a directory of
/// many destinations does not read them all each time.
static SCANS: LazyLock<Mutex<HashMap<PathBuf, Scan>>> = LazyLock::new(Mutex::default);

/// When a parent was read, and the working-directory names it held.
type Scan = (Instant, Vec<String>);

/// The working-directory names in `parent`, from its last scan when that is recent.
fn working_dirs(parent: &Path) -> Vec<String> {
    if let Some((at, names)) = SCANS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(parent)
        && at.elapsed() < ABANDONED_AFTER
    {
        return names.clone();
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with('.') && name.contains(".orca-"))
        .collect();
    let mut scans = SCANS.lock().unwrap_or_else(PoisonError::into_inner);
    if scans.len() >= MAX_SCANNED_PARENTS {
        scans.retain(|_, (at, _)| at.elapsed() < ABANDONED_AFTER);
        if scans.len() >= MAX_SCANNED_PARENTS {
            scans.clear();
        }
    }
    scans.insert(parent.to_path_buf(), (Instant::now(), names.clone()));
    names
}

/// Forget every scan, so the next [`Staging::new_in`] reads its parent again.
#[cfg(test)]
fn forget_scans() {
    SCANS.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// A private working directory `<parent>/.<name>.orca-<kind>-XXXXXX`, where a tree is
/// built before it is moved to `<parent>/<name>`; removed when dropped unless
/// [kept](Staging::keep).
///
/// While it lives, the process holds an exclusive lock on it (`flock` where the platform
/// has one). A process killed mid-way (`SIGKILL`, a power cut) cannot remove its working
/// directory; the next `Staging::new_in` for the same `name` and `kind` removes each
/// such directory that nobody holds locked and that has not changed for a minute, so
/// leftovers do not pile up beside a destination fetched again and again. A directory a
/// running process holds is never touched; where locks are unavailable, nothing is
/// removed.
#[derive(Debug)]
pub struct Staging {
    dir: TempDir,
    /// Held for the directory's life; `None` where directories cannot be locked.
    _lock: Option<File>,
}

impl Staging {
    /// Removes what killed processes left for `name` and `kind` in `parent` (see
    /// [`Staging`]), then creates and locks a new working directory there.
    ///
    /// # Errors
    ///
    /// The directory cannot be created (its IO error, unchanged, so a caller can tell
    /// a missing `parent` by its kind).
    pub fn new_in(parent: &Path, name: &str, kind: &str) -> io::Result<Staging> {
        let prefix = format!(".{name}.orca-{kind}-");
        remove_abandoned(parent, &prefix);
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)?;
        let lock = lock(dir.path());
        Ok(Staging { dir, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the directory (it was moved into place, say) and releases the lock; returns
    /// its path as it was created.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

/// An exclusive lock on `dir`, or `None` when this platform or file system cannot lock
/// a directory, or someone else holds it.
fn lock(dir: &Path) -> Option<File> {
    let handle = File::open(dir).ok()?;
    handle.try_lock().ok()?;
    Some(handle)
}

/// Removes the entries of `parent` named `<prefix>XXXXXX` that are directories (not
/// links), unchanged for [`ABANDONED_AFTER`] and lockable (so no process holds them);
/// best effort, at most [`MAX_SWEPT`] candidates.
fn remove_abandoned(parent: &Path, prefix: &str) {
    let now = SystemTime::now();
    let candidates = working_dirs(parent)
        .into_iter()
        .filter(|name| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .take(MAX_SWEPT);
    for name in candidates {
        let path = parent.join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let idle = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= ABANDONED_AFTER);
        if !meta.is_dir() || !idle {
            continue;
        }
        // Removed while locked, so a process cannot take it over meanwhile; a failure
        // leaves it for a later call.
        if let Some(_held) = lock(&path) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets `path`'s modification time `age` in the past.
    fn age(path: &Path, age: Duration) {
        let then = SystemTime::now() - age;
        File::open(path).unwrap().set_modified(then).unwrap();
    }

    #[test]
    fn leftovers_nobody_holds_are_removed_and_held_or_fresh_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let old = Duration::from_secs(3600);

        // A killed process's directory: unlocked, an hour old, with content.
        let abandoned = parent.path().join(".out.orca-fetch-AbC123");
        fs::create_dir_all(abandoned.join("nested")).unwrap();
        fs::write(abandoned.join("nested/file"), b"partial").unwrap();
        age(&abandoned, old);
        // A running process's: locked (as `Staging` holds it), an hour old.
        let running = Staging::new_in(parent.path(), "out", "fetch").unwrap();
        age(running.path(), old);
        // Just created by a process that has not locked it yet.
        let fresh = parent.path().join(".out.orca-fetch-Fresh1");
        fs::create_dir(&fresh).unwrap();
        // Another destination's, another kind's, a file and a user's own name.
        let other_name = parent.path().join(".other.orca-fetch-AbC123");
        let other_kind = parent.path().join(".out.orca-tmp-AbC123");
        let user_dir = parent.path().join(".out.orca-fetch-mine-keep");
        for dir in [&other_name, &other_kind, &user_dir] {
            fs::create_dir(dir).unwrap();
            age(dir, old);
        }
        let file = parent.path().join(".out.orca-fetch-File12");
        fs::write(&file, b"x").unwrap();
        age(&file, old);

        // This process read the parent for `running`: read it again, as another would.
        forget_scans();
        let next = Staging::new_in(parent.path(), "out", "fetch").unwrap();
        assert!(!abandoned.exists());
        for kept in [
            running.path(),
            &fresh,
            &other_name,
            &other_kind,
            &user_dir,
            &file,
        ] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
        assert!(next.path().is_dir());

        // Dropped: removed; kept: stays, and (unlocked, once old) is not swept after a
        // rename moved it out of the prefix.
        let next_path = next.path().to_path_buf();
        drop(next);
        assert!(!next_path.exists());
        let placed = parent.path().join("out");
        let kept = running.keep();
        fs::rename(&kept, &placed).unwrap();
        age(&placed, old);
        forget_scans();
        let _again = Staging::new_in(parent.path(), "out", "fetch").unwrap();
        assert!(placed.is_dir());
    }

    #[test]
    fn a_missing_parent_is_the_creation_error_unchanged() {
        let parent = tempfile::tempdir().unwrap();
        let e = Staging::new_in(&parent.path().join("missing"), "out", "tmp").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
