//! What an ORAS pull writes for one layer.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

use orca_manifest::{Descriptor, Digest, Hasher, annotations, media_types};

use crate::error::{DigestTarget, Error};
use crate::extract::{BUFFER, ExtractOptions, Summary, extract_buffered};
use crate::limits::LimitKind;
use crate::path::{RelativePath, check_path};

/// Knobs of [`write_layer`].
///
/// ```
/// use orca_unpack::{ExtractOptions, LayerOptions, Limits, PackOptions};
///
/// let options = LayerOptions::builder()
///     .extract(ExtractOptions::builder().limits(Limits::small()).allow_symlinks(true).build())
///     .unpack_all_tar_gzip(true)
///     .build();
/// assert!(options.extract.allow_symlinks && options.unpack_all_tar_gzip);
/// let pack = PackOptions::builder().title("configs").compression_level(9).build();
/// assert_eq!(pack.title.as_deref(), Some("configs"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LayerOptions {
    /// Limits and link policy for extracted folders (and the size limit for single files,
    /// [`Limits::max_entry_bytes`](crate::Limits::max_entry_bytes)). Its digest and prefix
    /// fields are ignored: they come from the descriptor.
    pub extract: ExtractOptions,
    /// Write layers without a title too, named `<algorithm>-<encoded digest>`.
    pub write_untitled: bool,
    /// Extract every `tar+gzip` layer (OCI or Docker media type), not only those annotated
    /// `io.deis.oras.content.unpack=true`: the convention of the Python `oras` package,
    /// which pushes folders without the unpack annotations.
    pub unpack_all_tar_gzip: bool,
    /// The reader's bytes are verified against the layer digest by the caller, who uses
    /// nothing written until its own check passed (a verified download such as
    /// `orca_distribution::BlobStream`, whose end says whether the digest matched): the
    /// layer digest is not computed a second time. The size is still checked, and an
    /// extracted folder's `io.deis.oras.content.digest` too. Off by default: the layer
    /// is hashed as it is written.
    pub source_verified: bool,
}

impl LayerOptions {
    /// A builder starting from [`LayerOptions::default`].
    pub fn builder() -> LayerOptionsBuilder {
        LayerOptionsBuilder(LayerOptions::default())
    }
}

/// Builds [`LayerOptions`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LayerOptionsBuilder(LayerOptions);

impl LayerOptionsBuilder {
    /// [`LayerOptions::extract`].
    pub fn extract(mut self, value: ExtractOptions) -> Self {
        self.0.extract = value;
        self
    }

    /// [`LayerOptions::write_untitled`].
    pub fn write_untitled(mut self, value: bool) -> Self {
        self.0.write_untitled = value;
        self
    }

    /// [`LayerOptions::unpack_all_tar_gzip`].
    pub fn unpack_all_tar_gzip(mut self, value: bool) -> Self {
        self.0.unpack_all_tar_gzip = value;
        self
    }

    /// [`LayerOptions::source_verified`].
    pub fn source_verified(mut self, value: bool) -> Self {
        self.0.source_verified = value;
        self
    }

    /// The options.
    pub fn build(self) -> LayerOptions {
        self.0
    }
}

/// What [`write_layer`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Written {
    /// A folder layer was extracted to `path`.
    Extracted {
        /// `dest/<title>`.
        path: PathBuf,
        /// What the extraction wrote.
        summary: Summary,
    },
    /// The layer was written as one file.
    File {
        /// `dest/<title>`.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The layer has no title and untitled layers were not asked for; nothing was read.
    Skipped,
}

/// Writes one layer of an artifact below `dest` the way an ORAS pull does.
///
/// - A layer annotated `io.deis.oras.content.unpack=true` (or any tar+gzip layer with
///   [`LayerOptions::unpack_all_tar_gzip`]) is a packed folder: it is extracted to
///   `dest/<title>` with [`extract`](crate::extract()), every entry must lie inside the
///   `<title>` folder (which is stripped), and the layer digest, size and
///   `io.deis.oras.content.digest` (when present) are checked while streaming.
/// - Any other layer is written as one file `dest/<title>`, its digest and size checked.
/// - A layer without a title is skipped unless [`LayerOptions::write_untitled`].
///
/// The title must be a safe relative path ([`check_path`]); missing parent directories
/// below `dest` are created, and an existing parent that is not a real directory (for
/// example a symbolic link another layer created) is refused. The target is replaced
/// atomically; on error it is untouched and nothing is left behind (parent directories
/// created for it aside).
///
/// # Deviation
///
/// The Python `oras` package extracts a tar+gzip layer into the output directory whatever
/// its entries are named; here entries must be inside the folder the title names (which
/// is how that package and the ORAS CLI pack folders). An unparsable
/// `io.deis.oras.content.digest` is an error, where `oras-go` ignores it.
///
/// # Errors
///
/// [`Error::InvalidAnnotation`] for an unusable title or content digest, and everything
/// [`extract`](crate::extract()) returns.
pub fn write_layer<R: Read>(
    descriptor: &Descriptor,
    reader: R,
    dest: &Path,
    options: &LayerOptions,
) -> Result<Written, Error> {
    // The buffer extract() and the file writer would each put in front of a plain reader.
    write_layer_buffered(
        descriptor,
        io::BufReader::with_capacity(BUFFER, reader),
        dest,
        options,
    )
}

/// [`write_layer`] from a [`BufRead`]: a single-file layer is written, and a folder
/// layer decoded ([`extract_buffered`]), straight from the reader's own buffer
/// ([`BufRead::fill_buf`]), with no copy into one of its own — for a reader that already
/// holds the bytes in memory (pieces received from the network). Otherwise the same as
/// [`write_layer`].
///
/// # Errors
///
/// As [`write_layer`].
pub fn write_layer_buffered<R: BufRead>(
    descriptor: &Descriptor,
    reader: R,
    dest: &Path,
    options: &LayerOptions,
) -> Result<Written, Error> {
    match plan(descriptor, dest, options)? {
        Plan::Skip => Ok(Written::Skipped),
        Plan::Unpack { target, options } => {
            let summary = extract_buffered(reader, &target, &options)?;
            Ok(Written::Extracted {
                path: target,
                summary,
            })
        }
        Plan::File { target } => {
            let size = write_file(descriptor, reader, &target, options)?;
            Ok(Written::File { path: target, size })
        }
    }
}

/// What [`write_layer`] does with a layer, decided before anything is read.
enum Plan {
    Skip,
    Unpack {
        target: PathBuf,
        options: ExtractOptions,
    },
    File {
        target: PathBuf,
    },
}

/// Checks the title, creates the target's parents and decides file versus folder.
fn plan(descriptor: &Descriptor, dest: &Path, options: &LayerOptions) -> Result<Plan, Error> {
    let title = match descriptor.title() {
        Some(title) => title.to_owned(),
        None if options.write_untitled => format!(
            "{}-{}",
            descriptor.digest.algorithm_str(),
            descriptor.digest.encoded()
        ),
        None => return Ok(Plan::Skip),
    };
    let invalid = |reason: String| Error::InvalidAnnotation {
        key: annotations::TITLE.to_owned(),
        value: title.clone(),
        reason,
    };
    let relative = match check_path(title.as_bytes(), &options.extract.limits) {
        Ok(path) if path.is_root() => return Err(invalid("it names no file".to_owned())),
        Ok(path) => path,
        Err(e) => return Err(invalid(e.to_string())),
    };
    let media_type = media_types::essence(&descriptor.media_type);
    let unpack = descriptor.annotation(annotations::ORAS_CONTENT_UNPACK) == Some("true")
        || (options.unpack_all_tar_gzip
            && matches!(
                media_type,
                media_types::OCI_LAYER_TAR_GZIP | media_types::DOCKER_LAYER_GZIP
            ));
    let target = prepare_parents(dest, &relative)?;
    if !unpack {
        return Ok(Plan::File { target });
    }
    let content_digest = descriptor
        .annotation(annotations::ORAS_CONTENT_DIGEST)
        .map(|value| {
            Digest::parse(value).map_err(|e| Error::InvalidAnnotation {
                key: annotations::ORAS_CONTENT_DIGEST.to_owned(),
                value: value.to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let mut extract_options = options.extract.clone();
    extract_options.layer_digest = (!options.source_verified).then(|| descriptor.digest.clone());
    extract_options.layer_size = Some(descriptor.size);
    extract_options.content_digest = content_digest;
    extract_options.strip_prefix = Some(relative.as_string());
    Ok(Plan::Unpack {
        target,
        options: extract_options,
    })
}

/// Creates the missing parents of `dest/relative` and refuses any that is not a real
/// directory. Returns the full target path.
fn prepare_parents(dest: &Path, relative: &RelativePath) -> Result<PathBuf, Error> {
    fs::create_dir_all(dest).map_err(|e| Error::io("create directory", dest, e))?;
    let mut current = dest.to_path_buf();
    let components = relative.components();
    for component in &components[..components.len() - 1] {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                return Err(Error::ThroughLink {
                    path: relative.as_string(),
                    conflict: component.clone(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(|e| Error::io("create directory", &current, e))?;
            }
            Err(e) => return Err(Error::io("inspect", &current, e)),
        }
    }
    Ok(dest.join(relative.to_path_buf()))
}

fn write_file<R: BufRead>(
    descriptor: &Descriptor,
    mut reader: R,
    target: &Path,
    options: &LayerOptions,
) -> Result<u64, Error> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut staged = tempfile::Builder::new()
        .prefix(&format!(".{name}.orca-tmp-"))
        .tempfile_in(parent)
        .map_err(|e| Error::io("create a staging file in", parent, e))?;
    let hasher =
        Hasher::new(&descriptor.digest.algorithm()).map_err(|_| Error::UnsupportedDigest {
            what: DigestTarget::Layer,
            digest: descriptor.digest.clone(),
        })?;
    // The caller verifies the bytes: hashing them again would only cost a core.
    let mut hasher = (!options.source_verified).then_some(hasher);
    let limit = options
        .extract
        .limits
        .max_entry_bytes
        .min(options.extract.limits.max_total_bytes);
    let mut size = 0u64;
    loop {
        let piece = match reader.fill_buf() {
            Ok([]) => break,
            Ok(piece) => piece,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        let n = piece.len();
        size += n as u64;
        if size > descriptor.size {
            return Err(Error::SizeMismatch {
                expected: descriptor.size,
                actual: size,
                at_least: true,
            });
        }
        if size > limit {
            return Err(Error::Limit {
                limit: LimitKind::EntryBytes,
                value: limit,
                seen: size,
                entry: Some(name),
            });
        }
        if let Some(hasher) = &mut hasher {
            hasher.update(piece);
        }
        staged
            .write_all(piece)
            .map_err(|e| Error::io("write", staged.path(), e))?;
        reader.consume(n);
    }
    if size != descriptor.size {
        return Err(Error::SizeMismatch {
            expected: descriptor.size,
            actual: size,
            at_least: false,
        });
    }
    if let Some(hasher) = hasher {
        let actual = hasher.finish();
        if actual != descriptor.digest {
            return Err(Error::DigestMismatch {
                what: DigestTarget::Layer,
                expected: descriptor.digest.clone(),
                actual,
            });
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set the mode of", staged.path(), e))?;
    }
    staged
        .persist(target)
        .map_err(|e| Error::io("rename into", target, e.error))?;
    Ok(size)
}

/// Writes every layer of a manifest below `dest` with [`write_layer`], in order, opening
/// each blob with `open` only when the layer is going to be written (untitled layers that
/// are skipped are never opened).
///
/// Two layers with the same title are refused before anything is opened
/// ([`Error::Duplicate`]), as the ORAS CLI refuses them.
///
/// # Limitations
///
/// Each layer is replaced atomically, the set is not: when a layer fails, the layers
/// before it stay written.
///
/// # Errors
///
/// The first error of a layer; an error of `open` is [`Error::Read`].
pub fn write_layers<F, R>(
    layers: &[Descriptor],
    mut open: F,
    dest: &Path,
    options: &LayerOptions,
) -> Result<Vec<Written>, Error>
where
    F: FnMut(&Descriptor) -> io::Result<R>,
    R: Read,
{
    let mut titles = HashSet::new();
    for layer in layers {
        if let Some(title) = layer.title() {
            let normalised = check_path(title.as_bytes(), &options.extract.limits)
                .map_or_else(|_| title.to_owned(), |p| p.as_string());
            if !titles.insert(normalised) {
                return Err(Error::Duplicate {
                    path: title.to_owned(),
                    type_change: false,
                });
            }
        }
    }
    let mut written = Vec::with_capacity(layers.len());
    for layer in layers {
        if layer.title().is_none() && !options.write_untitled {
            written.push(Written::Skipped);
            continue;
        }
        let reader = open(layer).map_err(Error::Read)?;
        written.push(write_layer(layer, reader, dest, options)?);
    }
    Ok(written)
}
