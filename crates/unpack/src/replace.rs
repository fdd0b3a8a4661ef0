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
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(staging.path(), dest).map_err(|e| Error::io("rename into", dest, e))?;
            let _ = staging.keep();
            return Ok(false);
        }
        Err(e) => return Err(Error::io("inspect", dest, e)),
        Ok(_) => {}
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, staging.path(), CWD, dest, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // The staging path now holds the previous destination.
                let old = staging.keep();
                remove_any(&old);
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
    if let Err(e) = fs::rename(staging.path(), dest) {
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
    let _ = staging.keep();
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
