//! Packing folders the way the ORAS CLI does.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use orca_manifest::{Descriptor, Digest, Hasher, annotations, media_types};

use crate::error::Error;
use crate::limits::Limits;
use crate::path::check_path;

/// Knobs of [`pack_dir`] and [`pack_file`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PackOptions {
    /// The layer's media type; `None` gives `application/vnd.oci.image.layer.v1.tar+gzip`
    /// for a folder and `application/vnd.oci.image.layer.v1.tar` (the ORAS default) for a
    /// file.
    pub media_type: Option<String>,
    /// The title, which is also the leading folder of every entry; `None` gives the
    /// folder's or file's own name.
    pub title: Option<String>,
    /// Zero every mtime, as ORAS does by default, so that the same folder always gives the
    /// same digest. When `false`, files' and directories' mtimes are kept.
    pub reproducible: bool,
    /// gzip level, 0–9 (6 is gzip's and Go's default).
    pub compression_level: u32,
}

impl Default for PackOptions {
    fn default() -> PackOptions {
        PackOptions {
            media_type: None,
            title: None,
            reproducible: true,
            compression_level: 6,
        }
    }
}

impl PackOptions {
    /// A builder starting from [`PackOptions::default`].
    pub fn builder() -> PackOptionsBuilder {
        PackOptionsBuilder(PackOptions::default())
    }
}

/// Builds [`PackOptions`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PackOptionsBuilder(PackOptions);

impl PackOptionsBuilder {
    /// [`PackOptions::media_type`].
    pub fn media_type(mut self, value: impl Into<String>) -> Self {
        self.0.media_type = Some(value.into());
        self
    }

    /// [`PackOptions::title`].
    pub fn title(mut self, value: impl Into<String>) -> Self {
        self.0.title = Some(value.into());
        self
    }

    /// [`PackOptions::reproducible`].
    pub fn reproducible(mut self, value: bool) -> Self {
        self.0.reproducible = value;
        self
    }

    /// [`PackOptions::compression_level`].
    pub fn compression_level(mut self, value: u32) -> Self {
        self.0.compression_level = value;
        self
    }

    /// The options.
    pub fn build(self) -> PackOptions {
        self.0
    }
}

/// Counts and hashes what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Packs the folder `dir` as a tar+gzip ORAS folder layer written to `out`, and returns its
/// descriptor.
///
/// Like the ORAS CLI (`oras-go` `file` store): entries are named relative to the folder's
/// parent, so each starts with the title (the folder itself is the first entry);
/// directories are walked depth first with names in byte order; uid and gid are 0,
/// user and group names empty, mtimes zero (unless [`PackOptions::reproducible`] is
/// off); the tar stream ends with two zero blocks and is gzipped with mtime 0. Symbolic
/// links are stored as links. The descriptor carries `org.opencontainers.image.title`,
/// `io.deis.oras.content.digest` (sha256 of the uncompressed tar) and
/// `io.deis.oras.content.unpack: "true"`.
///
/// # Deviation
///
/// Modes keep only the permission bits (no setuid, setgid or sticky). Names longer than
/// the ustar fields use GNU long-name records, where Go writes PAX records; every reader,
/// including this crate's, reads both.
///
/// # Errors
///
/// [`Error::Unpackable`] for devices, fifos and sockets, [`Error::InvalidAnnotation`] for
/// an unusable title, [`Error::Io`] for file system errors (including a file that changed
/// size while it was read).
pub fn pack_dir<W: Write>(dir: &Path, out: W, options: &PackOptions) -> Result<Descriptor, Error> {
    let meta = fs::metadata(dir).map_err(|e| Error::io("inspect", dir, e))?;
    if !meta.is_dir() {
        return Err(Error::Unpackable {
            path: dir.to_path_buf(),
            reason: "it is not a directory (use pack_file for files)",
        });
    }
    let title = title_of(dir, options)?;
    let compressed = HashingWriter {
        inner: out,
        hasher: Hasher::sha256(),
        count: 0,
    };
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(
            compressed,
            flate2::Compression::new(options.compression_level.min(9)),
        );
    let tar_stream = HashingWriter {
        inner: gzip,
        hasher: Hasher::sha256(),
        count: 0,
    };
    let mut builder = tar::Builder::new(tar_stream);
    let mut buf = vec![0; 256 * 1024];
    append_tree(&mut builder, dir, &title, options, &meta, &mut buf)?;
    let finish = |e| Error::io("write the layer for", dir, e);
    let tar_stream = builder.into_inner().map_err(finish)?;
    let content_digest = tar_stream.hasher.finish();
    let compressed = tar_stream.inner.finish().map_err(finish)?;
    let mut compressed_out = compressed;
    compressed_out.flush().map_err(finish)?;
    let digest = compressed_out.hasher.finish();
    let media_type = options
        .media_type
        .clone()
        .unwrap_or_else(|| media_types::OCI_LAYER_TAR_GZIP.to_owned());
    Ok(Descriptor::new(media_type, digest, compressed_out.count)
        .with_annotation(annotations::TITLE, title)
        .with_annotation(annotations::ORAS_CONTENT_DIGEST, content_digest.to_string())
        .with_annotation(annotations::ORAS_CONTENT_UNPACK, "true"))
}

/// The descriptor of a single file pushed as a layer: its digest and size, the media type,
/// and a title (the file's name unless [`PackOptions::title`] says otherwise). The content
/// of the layer is the file itself.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Unpackable`] when it is not a
/// regular file, [`Error::InvalidAnnotation`] for an unusable title.
pub fn pack_file(path: &Path, options: &PackOptions) -> Result<Descriptor, Error> {
    let meta = fs::metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    if !meta.is_file() {
        return Err(Error::Unpackable {
            path: path.to_path_buf(),
            reason: "it is not a regular file",
        });
    }
    let title = title_of(path, options)?;
    let mut file = fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Hasher::sha256();
    let size = io::copy(&mut file, &mut hasher).map_err(|e| Error::io("read", path, e))?;
    let digest: Digest = hasher.finish();
    let media_type = options
        .media_type
        .clone()
        .unwrap_or_else(|| media_types::ORAS_DEFAULT_LAYER.to_owned());
    Ok(Descriptor::new(media_type, digest, size).with_annotation(annotations::TITLE, title))
}

fn title_of(path: &Path, options: &PackOptions) -> Result<String, Error> {
    let title = if let Some(title) = &options.title {
        title.clone()
    } else {
        let absolute = if path.file_name().is_some() {
            path.to_path_buf()
        } else {
            fs::canonicalize(path).map_err(|e| Error::io("resolve", path, e))?
        };
        absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match check_path(title.as_bytes(), &Limits::default()) {
        Ok(p) if !p.is_root() => Ok(p.as_string()),
        Ok(_) => Err(Error::InvalidAnnotation {
            key: annotations::TITLE.to_owned(),
            value: title,
            reason: "it is empty".to_owned(),
        }),
        Err(e) => Err(Error::InvalidAnnotation {
            key: annotations::TITLE.to_owned(),
            value: title,
            reason: e.to_string(),
        }),
    }
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

fn mtime_of(meta: &fs::Metadata, options: &PackOptions) -> u64 {
    if options.reproducible {
        return 0;
    }
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions())
}

#[cfg(not(unix))]
fn mode_of(meta: &fs::Metadata) -> u32 {
    match (meta.is_dir(), meta.permissions().readonly()) {
        (true, _) => 0o755,
        (false, true) => 0o444,
        (false, false) => 0o644,
    }
}

/// Counts bytes read, to detect a file that changes size while it is packed.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    name: &str,
    options: &PackOptions,
    meta: &fs::Metadata,
    buf: &mut [u8],
) -> Result<(), Error> {
    let write_err = |e| Error::io("write the layer entry for", dir, e);
    let mut head = header(
        tar::EntryType::Directory,
        mode_of(meta),
        mtime_of(meta, options),
        0,
    );
    builder
        .append_data(&mut head, name, io::empty())
        .map_err(write_err)?;
    let mut children: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io("list", dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::io("list", dir, e))?;
    children.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for child in children {
        let child_name = format!(
            "{name}/{}",
            child.file_name().unwrap_or_default().to_string_lossy()
        );
        let meta = fs::symlink_metadata(&child).map_err(|e| Error::io("inspect", &child, e))?;
        let kind = meta.file_type();
        let child_err = |e| Error::io("write the layer entry for", &child, e);
        if kind.is_symlink() {
            let target = fs::read_link(&child).map_err(|e| Error::io("read link", &child, e))?;
            let mut head = header(tar::EntryType::Symlink, 0o777, mtime_of(&meta, options), 0);
            builder
                .append_link(&mut head, &child_name, &target)
                .map_err(child_err)?;
        } else if kind.is_dir() {
            append_tree(builder, &child, &child_name, options, &meta, buf)?;
        } else if kind.is_file() {
            let size = meta.len();
            let mut head = header(
                tar::EntryType::Regular,
                mode_of(&meta),
                mtime_of(&meta, options),
                size,
            );
            let file = fs::File::open(&child).map_err(|e| Error::io("open", &child, e))?;
            let mut counted = Counted {
                inner: io::BufReader::with_capacity(buf.len(), file).take(size),
                count: 0,
            };
            builder
                .append_data(&mut head, &child_name, &mut counted)
                .map_err(child_err)?;
            if counted.count != size {
                return Err(Error::io(
                    "read",
                    &child,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the file shrank from {size} to {} bytes while it was packed",
                            counted.count
                        ),
                    ),
                ));
            }
        } else {
            return Err(Error::Unpackable {
                path: child,
                reason: "only regular files, directories and symbolic links are packed",
            });
        }
    }
    Ok(())
}
