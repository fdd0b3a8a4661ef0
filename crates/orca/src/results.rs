//! What the facade's calls return.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use orca_manifest::{Descriptor, Digest, Manifest, Platform};
use orca_reference::Reference;

/// What [`ArtifactStore::fetch`](crate::ArtifactStore::fetch) wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Fetched {
    /// The reference fetched, pinned to the manifest's digest (without the tag when the
    /// manifest was chosen from the index the tag names).
    pub reference: Reference,
    /// The manifest's digest: fetch `reference` by it to get the same bytes again.
    pub digest: Digest,
    /// The manifest's descriptor (with the platform it was chosen for, when it was
    /// chosen from an index).
    pub manifest: Descriptor,
    /// The index the manifest was chosen from by [`FetchOptions::platform`](crate::FetchOptions::platform),
    /// when the reference named an index.
    pub index: Option<Descriptor>,
    /// The artifact type (image-spec 1.1's rule, config media type fallback).
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Files, folders and links written, relative to `dest`, in layer order.
    pub files: Vec<FetchedFile>,
    /// The artifact's size: the sum of its layers.
    pub artifact_bytes: u64,
    /// Bytes of file content written.
    pub written_bytes: u64,
    /// Layer bytes downloaded from the registry.
    pub downloaded_bytes: u64,
    /// Layer bytes read from the content cache.
    pub cached_bytes: u64,
    /// Whether the manifest came from the content cache (no `GET` for it).
    pub manifest_from_cache: bool,
}

/// The kind of a [`FetchedFile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A hard link.
    Hardlink,
}

/// One entry written by a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedFile {
    /// The path relative to `dest`.
    pub path: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Bytes of content (0 for all but files).
    pub size: u64,
    /// The layer it came from.
    pub layer: Digest,
}

/// What a push did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Pushed {
    /// The reference pushed to, pinned to the manifest's digest.
    pub reference: Reference,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's descriptor (with its artifact type).
    pub manifest: Descriptor,
    /// The layers, in order.
    pub layers: Vec<Descriptor>,
    /// Bytes uploaded (blobs the registry already had are not counted).
    pub uploaded_bytes: u64,
    /// Blobs the registry already had (not uploaded).
    pub skipped_blobs: usize,
    /// Their digests (layers and config), so a caller can say which were skipped.
    pub existing: Vec<Digest>,
}

/// A manifest as fetched: its bytes, its descriptor and its parsed form.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ManifestContent {
    /// Media type, digest (verified over `bytes`) and size.
    pub descriptor: Descriptor,
    /// The bytes received.
    pub bytes: Bytes,
    /// The parsed manifest or index.
    pub manifest: Manifest,
}

/// The referrers of a manifest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Referrers {
    /// The subject's digest.
    pub subject: Digest,
    /// The referrers, with their artifact types.
    pub manifests: Vec<Descriptor>,
}

/// What a copy did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Copied {
    /// The root manifest's digest (the same at both ends).
    pub digest: Option<Digest>,
    /// With [`CopyOptions::platform`](crate::CopyOptions::platform): the platform of the
    /// manifest copied.
    pub platform: Option<Platform>,
    /// The index that manifest was chosen from (not copied itself), if it was.
    pub index: Option<Descriptor>,
    /// Manifests and indexes pushed (referrers included).
    pub manifests: usize,
    /// Blobs whose bytes were copied.
    pub blobs_copied: usize,
    /// Blobs mounted from the source repository (same registry).
    pub blobs_mounted: usize,
    /// Blobs the destination already had.
    pub blobs_skipped: usize,
    /// Blob bytes copied.
    pub bytes: u64,
    /// Referrers copied.
    pub referrers: usize,
}
