//! Moving a finished extraction into place.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::staging::Staging;

/// The parent directory and file name of a destination.
pub(crate) fn split_destination(dest: &Path) -> Result<(PathBuf, String), Error> {
    let invalid = |reason| Error::InvalidDestination {
        path: dest.to_path_buf(),
        reason,
    };
    let name = dest
        .file_name()
        .ok_or_else(|| invalid("it has no final name (it ends in `..` or is a root)"))?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Err(invalid("it has no parent directory")),
    };
    match fs::metadata(&parent) {
        Ok(meta) if meta.is_dir() => Ok((parent, name)),
        Ok(_) => Err(invalid("its parent is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(invalid("its parent directory does not exist"))
        }
        Err(e) => Err(Error::io("inspect", parent, e)),
    }
}

/// A new, empty, private directory `<parent>/.<name>.orca-tmp-XXXXXX` (what killed
/// extractions left there is removed first, see [`Staging`]).
pub(crate) fn staging_dir(parent: &Path, name: &str) -> Result<Staging, Error> {
    Staging::new_in(parent, name, "tmp")
        .map_err(|e| Error::io("create a staging directory in", parent, e))
}

/// Moves `staging` to `dest`, replacing what is there. Returns whether something was
/// replaced. On error `dest` is as it was and `staging` is removed (by its drop).
pub(crate) fn install(
    staging: Staging,
    dest: &Path,
    parent: &Path,
    name: &str,
) -> Result<bool, Error> {
    let replaced = move_into_place(staging.path(), dest, parent, name)?;
    // Nothing is left at the staging path (the previous destination, exchanged there,
    // was removed).
    let _ = staging.keep();
    Ok(replaced)
}

/// Moves `from` (a file or directory on `dest`'s file system, typically a finished
/// [`Staging`] directory or something inside one) to `dest`, replacing what is there as
/// the crate documentation's "Atomic replacement" describes, and removes the previous
/// content. Returns whether something was replaced.
///
/// # Errors
///
/// [`Error::InvalidDestination`] when `dest` has no parent directory or final name;
/// [`Error::Io`] when a rename fails. `dest` is then as it was, and `from` is where it
/// was (unless the error says where the previous destination is kept).
pub fn replace_with(from: &Path, dest: &Path) -> Result<bool, Error> {
    let (parent, name) = split_destination(dest)?;
    move_into_place(from, dest, &parent, &name)
}

fn move_into_place(from: &Path, dest: &Path, parent: &Path, name: &str) -> Result<bool, Error> {
    #[cfg(target_os = "linux")]
    {
        // The common case, a new destination, in one call that cannot replace anything.
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, dest, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(false),
            // Something is there, or this file system cannot say: the ways below.
            Err(
                rustix::io::Errno::EXIST
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP,
            ) => {}
            Err(e) => return Err(Error::io("rename into", dest, e.into())),
        }
    }
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(from, dest).map_err(|e| Error::io("rename into", dest, e))?;
            return Ok(false);
        }
        Err(e) => return Err(Error::io("inspect", dest, e)),
        Ok(_) => {}
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, from, CWD, dest, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // `from` now holds the previous destination.
                remove_any(from);
                return Ok(true);
            }
            // Not supported by this kernel or file system: fall back to two renames.
            Err(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP,
            ) => {}
            Err(e) => return Err(Error::io("exchange with", dest, e.into())),
        }
    }
    let aside = tempfile::Builder::new()
        .prefix(&format!(".{name}.orca-old-"))
        .tempdir_in(parent)
        .map_err(|e| Error::io("create a directory in", parent, e))?;
    let old = aside.path().join(name);
    fs::rename(dest, &old).map_err(|e| Error::io("move aside", dest, e))?;
    if let Err(e) = fs::rename(from, dest) {
        // Put the previous destination back; if even that fails, say where it is.
        if fs::rename(&old, dest).is_ok() {
            return Err(Error::io("rename into", dest, e));
        }
        let kept = aside.keep();
        return Err(Error::io(
            "rename into (the previous destination is kept at)",
            kept.join(name),
            e,
        ));
    }
    // Dropping `aside` removes the previous destination.
    drop(aside);
    Ok(true)
}

/// Best-effort removal of a file, link or tree; a failure leaves the (unreferenced)
/// previous content behind under its `.orca-tmp-` name.
fn remove_any(path: &Path) {
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    let _ = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}
