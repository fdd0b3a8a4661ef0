//! Options of the facade's calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orca_manifest::Platform;

use crate::Error;

/// Options of [`ArtifactStore::fetch_with`](crate::ArtifactStore::fetch_with).
///
/// The default is what a service wants: `dest` becomes exactly the artifact (replacing
/// what was there, atomically), ORAS pull semantics, no untitled layers.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)] // independent switches, like the ORAS CLI's flags
pub struct FetchOptions {
    /// Extract every tar+gzip layer, not only those annotated
    /// `io.deis.oras.content.unpack=true`: the Python `oras` package's convention
    /// (`oras pull -a`-style "unpack all").
    pub unpack_all: bool,
    /// Write layers without a title too, named `<algorithm>-<encoded digest>`.
    pub write_untitled: bool,
    /// Write into an existing `dest` beside what it holds, as `oras pull -o DIR` does:
    /// each layer's file or folder is replaced atomically, the set is not. Off (the
    /// default), `dest` as a whole is replaced atomically.
    pub merge_into_dest: bool,
    /// Create symbolic links found in folder layers (each must stay inside `dest`).
    pub allow_symlinks: bool,
    /// Extraction limits; `None` means [`orca_unpack::Limits::standard`], with the total
    /// raised to the operation's size limit when that is larger.
    pub extract_limits: Option<orca_unpack::Limits>,
    /// When the reference names an index (a multi-platform image or artifact), fetch the
    /// first manifest listed for this platform (see [`Platform::matches`]), as
    /// `oras pull --platform` does. Without it, fetching an index is an
    /// [`Error::InvalidArtifact`](crate::Error::InvalidArtifact) that lists the
    /// platforms; a platform no entry has is an
    /// [`Error::ArtifactNotFound`](crate::Error::ArtifactNotFound). A reference naming
    /// one manifest is fetched when its image config is for this platform (else
    /// `ArtifactNotFound`); an artifact, whose config is not an image config, names no
    /// platform and is refused ([`Error::InvalidArtifact`](crate::Error::InvalidArtifact)).
    pub platform: Option<Platform>,
}

impl FetchOptions {
    /// Set [`FetchOptions::unpack_all`] (builder style).
    #[must_use]
    pub fn unpack_all(mut self, on: bool) -> Self {
        self.unpack_all = on;
        self
    }

    /// Set [`FetchOptions::write_untitled`] (builder style).
    #[must_use]
    pub fn write_untitled(mut self, on: bool) -> Self {
        self.write_untitled = on;
        self
    }

    /// Set [`FetchOptions::merge_into_dest`] (builder style).
    #[must_use]
    pub fn merge_into_dest(mut self, on: bool) -> Self {
        self.merge_into_dest = on;
        self
    }

    /// Set [`FetchOptions::allow_symlinks`] (builder style).
    #[must_use]
    pub fn allow_symlinks(mut self, on: bool) -> Self {
        self.allow_symlinks = on;
        self
    }

    /// Set [`FetchOptions::platform`] (builder style).
    #[must_use]
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Set [`FetchOptions::extract_limits`] (builder style).
    #[must_use]
    pub fn extract_limits(mut self, limits: orca_unpack::Limits) -> Self {
        self.extract_limits = Some(limits);
        self
    }
}

/// One file or folder to push, as the ORAS CLI takes it: `PATH[:MEDIATYPE]`.
///
/// A folder is packed as one tar+gzip ORAS folder layer (`io.deis.oras.content.unpack`);
/// a file is one layer with its bytes as they are. The title
/// (`org.opencontainers.image.title`) is the file's or folder's name unless set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSpec {
    /// The file or folder.
    pub path: PathBuf,
    /// The layer's media type; `None` means `application/vnd.oci.image.layer.v1.tar`
    /// for a file, `application/vnd.oci.image.layer.v1.tar+gzip` for a folder.
    pub media_type: Option<String>,
    /// The title; `None` means the file's or folder's name.
    pub title: Option<String>,
    /// Extra layer annotations.
    pub annotations: BTreeMap<String, String>,
}

impl FileSpec {
    /// `path` with the default media type and title.
    pub fn new(path: impl Into<PathBuf>) -> FileSpec {
        FileSpec {
            path: path.into(),
            media_type: None,
            title: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Parse the ORAS CLI's `PATH[:MEDIATYPE]`: the text after the last `:` is a media
    /// type when it contains a `/` (so `C:\dir` and `a:b` stay paths).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an empty path or an invalid media type.
    pub fn parse(spec: &str) -> Result<FileSpec, Error> {
        let (path, media_type) = match spec.rsplit_once(':') {
            Some((path, media_type)) if media_type.contains('/') && !path.is_empty() => {
                orca_manifest::media_types::validate(media_type).map_err(|e| {
                    Error::InvalidArgument {
                        message: format!("{spec:?}: invalid media type {media_type:?}"),
                        source: Some(Box::new(e)),
                    }
                })?;
                (path, Some(media_type.to_owned()))
            }
            _ => (spec, None),
        };
        if path.is_empty() {
            return Err(Error::InvalidArgument {
                message: format!("{spec:?}: no file named"),
                source: None,
            });
        }
        Ok(FileSpec {
            media_type,
            ..FileSpec::new(path)
        })
    }

    /// Set the media type (builder style).
    #[must_use]
    pub fn with_media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    /// Set the title (builder style).
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Add a layer annotation (builder style).
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The config a push writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigStyle {
    /// image-spec 1.1, as ORAS 1.x pushes: `artifactType` set, the empty descriptor
    /// (`application/vnd.oci.empty.v1+json`, `{}`) as config.
    #[default]
    Empty,
    /// As older ORAS versions push: no `artifactType`, a config of media type
    /// `artifact_type` (default `application/vnd.unknown.config.v1+json`) and size 0.
    Legacy,
    /// As ORAS 1.x pushes with `--image-spec v1.0`, for registries that predate
    /// image-spec 1.1: no `artifactType`, a config `{}` of media type `artifact_type`
    /// (default `application/vnd.unknown.config.v1+json`).
    ImageSpecV1_0,
    /// A config file of the caller's, with its media type.
    File(FileSpec),
}

/// Options of [`ArtifactStore::push_dir`](crate::ArtifactStore::push_dir) and
/// [`push_files`](crate::ArtifactStore::push_files).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PushOptions {
    /// The artifact type; `None` means `application/vnd.unknown.artifact.v1` (ORAS's
    /// default).
    pub artifact_type: Option<String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The manifest this artifact refers to (a reference or a digest in the same
    /// repository): the pushed manifest's `subject`, found through `referrers`.
    pub subject: Option<String>,
    /// The operation whose size limit applies; `None` means the store's default limit.
    pub operation: Option<String>,
    /// More tags for the same manifest.
    pub extra_tags: Vec<String>,
    /// The config written.
    pub config: ConfigStyle,
    /// Files at least this large (`None`: [`PushOptions::DEFAULT_OVERLAP_FROM`]) are
    /// uploaded as they are hashed, rather than hashed first: the upload starts at once
    /// while a second reader hashes the file; once the digest is known the registry is
    /// asked for the blob and the upload is abandoned when it has it. A file that changes
    /// between the two reads fails the push and no manifest is pushed. Folders are
    /// hashed as they are packed and always take the ordinary path.
    pub overlap_from: Option<u64>,
    /// Push the manifest by its digest only, with no tag, as `oras attach` does for a
    /// referrer (see [`PushOptions::subject`]); the reference must then name neither a tag
    /// nor a digest, and [`PushOptions::extra_tags`] must be empty.
    pub untagged: bool,
}

impl PushOptions {
    /// The default of [`PushOptions::overlap_from`]: 16 MiB (below it, the second read
    /// costs more than it saves).
    pub const DEFAULT_OVERLAP_FROM: u64 = 16 * 1024 * 1024;

    /// Set [`PushOptions::overlap_from`] (builder style).
    #[must_use]
    pub fn overlap_from(mut self, bytes: u64) -> Self {
        self.overlap_from = Some(bytes);
        self
    }

    /// Set [`PushOptions::untagged`] (builder style).
    #[must_use]
    pub fn untagged(mut self, on: bool) -> Self {
        self.untagged = on;
        self
    }

    /// Set the artifact type (builder style).
    #[must_use]
    pub fn artifact_type(mut self, artifact_type: impl Into<String>) -> Self {
        self.artifact_type = Some(artifact_type.into());
        self
    }

    /// Add a manifest annotation (builder style).
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Set the subject (builder style).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Set the operation whose limit applies (builder style).
    #[must_use]
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// Add a tag (builder style).
    #[must_use]
    pub fn extra_tag(mut self, tag: impl Into<String>) -> Self {
        self.extra_tags.push(tag.into());
        self
    }

    /// Set the config style (builder style).
    #[must_use]
    pub fn config(mut self, config: ConfigStyle) -> Self {
        self.config = config;
        self
    }
}

/// Options of [`ArtifactStore::push_blob`](crate::ArtifactStore::push_blob): a
/// single-layer artifact.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlobOptions {
    /// The artifact type (required by image-spec 1.1 for an artifact with an empty config).
    pub artifact_type: String,
    /// The layer's media type (default `application/octet-stream`).
    pub media_type: String,
    /// The layer's title, when it should be written as a file on fetch.
    pub title: Option<String>,
    /// Layer annotations.
    pub layer_annotations: BTreeMap<String, String>,
    /// Manifest annotations (identity, revision, …).
    pub annotations: BTreeMap<String, String>,
    /// The manifest this artifact refers to.
    pub subject: Option<String>,
}

impl BlobOptions {
    /// A blob of `artifact_type`, media type `application/octet-stream`, untitled.
    pub fn new(artifact_type: impl Into<String>) -> BlobOptions {
        BlobOptions {
            artifact_type: artifact_type.into(),
            media_type: "application/octet-stream".to_owned(),
            title: None,
            layer_annotations: BTreeMap::new(),
            annotations: BTreeMap::new(),
            subject: None,
        }
    }

    /// Set the layer's media type (builder style).
    #[must_use]
    pub fn media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = media_type.into();
        self
    }

    /// Set the title (builder style).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Add a layer annotation (builder style).
    #[must_use]
    pub fn layer_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.layer_annotations.insert(key.into(), value.into());
        self
    }

    /// Add a manifest annotation (builder style).
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Set the subject (builder style).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// Options of [`ArtifactStore::copy`](crate::ArtifactStore::copy).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CopyOptions {
    /// Copy the referrers too (signatures, SBOMs…), recursively: of the manifest, and of
    /// each manifest an index lists (where a multi-platform image's signatures are).
    pub referrers: bool,
    /// Copy only the manifest for this platform, as `oras cp --platform` does: from an
    /// index, the first entry for it (the index itself is not copied, and the
    /// destination's tag names that manifest); a single manifest is copied when its image
    /// config is for this platform. No entry for it, or an image for another platform, is
    /// an [`Error::ArtifactNotFound`](crate::Error::ArtifactNotFound); an artifact names
    /// no platform and is refused ([`Error::InvalidArtifact`](crate::Error::InvalidArtifact)).
    pub platform: Option<Platform>,
}

impl CopyOptions {
    /// Set [`CopyOptions::referrers`] (builder style).
    #[must_use]
    pub fn referrers(mut self, on: bool) -> Self {
        self.referrers = on;
        self
    }

    /// Set [`CopyOptions::platform`] (builder style).
    #[must_use]
    pub fn platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }
}
