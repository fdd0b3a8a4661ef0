//! The [`Manifest`] enum: any manifest orca reads, parsed from the bytes received.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::clip;
use crate::{Descriptor, Digest, Error, ImageIndex, ImageManifest, Platform, media_types};

/// The default [`ParseOptions::max_size`]: 4 MiB, the limit distribution and most registries
/// apply to manifests.
pub const DEFAULT_MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// Knobs for [`Manifest::parse_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// The largest body accepted, in bytes ([`DEFAULT_MAX_MANIFEST_SIZE`] by default).
    /// A reader should stop reading beyond it too; the check here is the last line.
    pub max_size: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_size: DEFAULT_MAX_MANIFEST_SIZE,
        }
    }
}

/// A parsed manifest together with the bytes it was parsed from and their digest.
///
/// # Invariants
///
/// `digest()` is the sha256 digest of `bytes()`, computed when parsing; the value is what
/// those bytes say. A `Parsed` is only made by [`Manifest::parse`], so the three always
/// agree. It dereferences to the parsed value.
#[derive(Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    value: T,
    bytes: Bytes,
    digest: Digest,
}

impl<T> Parsed<T> {
    /// The parsed value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The bytes received.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The sha256 digest of the bytes received.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The parsed value, dropping the bytes.
    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T> Deref for Parsed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Parsed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parsed")
            .field("digest", &self.digest)
            .field("size", &self.bytes.len())
            .field("value", &self.value)
            .finish()
    }
}

/// A manifest orca reads: OCI image manifest or index, Docker schema 2 manifest or manifest
/// list, parsed from the bytes received.
///
/// # Invariants
///
/// A `Manifest` keeps the bytes it was parsed from; [`Manifest::digest`] is computed over
/// those bytes, never over a re-serialisation, so it is the digest the registry stores the
/// manifest under. Every variant had `schemaVersion` 2 and a media type matching its variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Manifest {
    /// `application/vnd.oci.image.manifest.v1+json`.
    OciImage(Parsed<ImageManifest>),
    /// `application/vnd.oci.image.index.v1+json`.
    OciIndex(Parsed<ImageIndex>),
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    DockerImage(Parsed<ImageManifest>),
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerList(Parsed<ImageIndex>),
}

/// The fields that decide what a body is; the rest is ignored in this first pass.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<IgnoredAny>,
    #[serde(default)]
    layers: Option<IgnoredAny>,
    #[serde(default)]
    manifests: Option<IgnoredAny>,
}

impl Manifest {
    /// Parse bytes this crate serialised with `content_type` as their media type, and
    /// refuse them unless `kind` picks the parsed value (an image manifest, an index).
    pub(crate) fn parse_own(
        bytes: Vec<u8>,
        content_type: &str,
        kind: impl Fn(&Manifest) -> bool,
    ) -> Result<Manifest, Error> {
        let manifest = Manifest::parse(bytes, Some(content_type))?;
        if !kind(&manifest) {
            return Err(Error::UnsupportedMediaType {
                media_type: content_type.to_owned(),
            });
        }
        Ok(manifest)
    }

    /// Parse a manifest received with an optional `Content-Type`, with the default
    /// [`ParseOptions`] (a 4 MiB cap). See [`Manifest::parse_with`].
    ///
    /// `bytes` is anything that converts into [`Bytes`] without copying: `Vec<u8>`,
    /// `Bytes`, `String`, `&'static [u8]` (use `Bytes::copy_from_slice` for a borrowed slice).
    pub fn parse(bytes: impl Into<Bytes>, content_type: Option<&str>) -> Result<Manifest, Error> {
        Manifest::parse_with(bytes, content_type, &ParseOptions::default())
    }

    /// Parse a manifest received with an optional `Content-Type`.
    ///
    /// The media type comes from the body's `mediaType` field; else from `content_type`
    /// (parameters ignored) unless it is generic (`application/json`,
    /// `application/octet-stream`, …, see [`media_types::is_generic`]); else from the body's
    /// shape (`manifests` makes an OCI index, `config` and `layers` an OCI image manifest).
    /// Unknown fields are ignored.
    ///
    /// # Errors
    ///
    /// - [`Error::ManifestTooLarge`] above `options.max_size`, [`Error::EmptyManifest`];
    /// - [`Error::DockerSchema1`] and [`Error::OciArtifactManifest`] for those two formats,
    ///   named, whether the body or the `Content-Type` says so;
    /// - [`Error::InvalidManifest`] for JSON that is not a manifest of its media type
    ///   (syntax, a missing required field, a field of the wrong type, a duplicate field);
    /// - [`Error::MediaTypeMismatch`] when the body's `mediaType` and a non-generic
    ///   `Content-Type` differ (compared exactly, after dropping parameters);
    /// - [`Error::SchemaVersion`] when `schemaVersion` is missing or not 2;
    /// - [`Error::UnsupportedMediaType`], [`Error::UndeterminedMediaType`].
    ///
    /// # Security
    ///
    /// The size check comes first, so an oversized body is never parsed. JSON nesting is
    /// bounded by `serde_json`'s recursion limit.
    pub fn parse_with(
        bytes: impl Into<Bytes>,
        content_type: Option<&str>,
        options: &ParseOptions,
    ) -> Result<Manifest, Error> {
        let bytes = bytes.into();
        if bytes.len() > options.max_size {
            return Err(Error::ManifestTooLarge {
                size: bytes.len(),
                limit: options.max_size,
            });
        }
        let header = content_type
            .filter(|ct| !media_types::is_generic(ct))
            .map(media_types::essence);
        if let Some(header) = header {
            refuse_withdrawn(header)?;
        }
        let Some(first) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Err(Error::EmptyManifest);
        };
        if bytes[first] != b'{' {
            // serde would read a JSON array positionally into a struct; a manifest is an object.
            let (line, column) = line_and_column(&bytes[..=first]);
            return Err(Error::InvalidManifest {
                media_type: header.map(clip),
                reason: "a manifest is a JSON object".to_owned(),
                line,
                column,
            });
        }
        let probe: Probe =
            serde_json::from_slice(&bytes).map_err(|e| invalid(header.map(clip), &e))?;
        let body = probe.media_type.as_deref().filter(|t| !t.is_empty());
        if let Some(body) = body {
            refuse_withdrawn(body)?;
            if let Some(header) = header
                && body != header
            {
                return Err(Error::MediaTypeMismatch {
                    body: clip(body),
                    content_type: clip(header),
                });
            }
        }
        check_schema_version(probe.schema_version.as_ref())?;
        let media_type = match body.or(header) {
            Some(media_type) => media_type,
            None => media_type_by_shape(&probe)?,
        };
        match media_type {
            media_types::OCI_IMAGE_MANIFEST => Ok(Manifest::OciImage(typed(bytes, media_type)?)),
            media_types::OCI_IMAGE_INDEX => Ok(Manifest::OciIndex(typed(bytes, media_type)?)),
            media_types::DOCKER_MANIFEST_V2 => Ok(Manifest::DockerImage(typed(bytes, media_type)?)),
            media_types::DOCKER_MANIFEST_LIST => {
                Ok(Manifest::DockerList(typed(bytes, media_type)?))
            }
            other => Err(Error::UnsupportedMediaType {
                media_type: clip(other),
            }),
        }
    }

    /// The manifest's media type (one of the four constants in [`media_types`]).
    pub fn media_type(&self) -> &'static str {
        match self {
            Manifest::OciImage(_) => media_types::OCI_IMAGE_MANIFEST,
            Manifest::OciIndex(_) => media_types::OCI_IMAGE_INDEX,
            Manifest::DockerImage(_) => media_types::DOCKER_MANIFEST_V2,
            Manifest::DockerList(_) => media_types::DOCKER_MANIFEST_LIST,
        }
    }

    /// The bytes the manifest was parsed from.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => p.bytes(),
            Manifest::OciIndex(p) | Manifest::DockerList(p) => p.bytes(),
        }
    }

    /// The sha256 digest of [`Manifest::bytes`].
    pub fn digest(&self) -> &Digest {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => p.digest(),
            Manifest::OciIndex(p) | Manifest::DockerList(p) => p.digest(),
        }
    }

    /// The size of [`Manifest::bytes`].
    pub fn size(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Check that the bytes received have the digest `expected` (for example the digest a
    /// manifest was fetched by; sha512 works too).
    ///
    /// # Errors
    ///
    /// [`Error::DigestMismatch`], or [`Error::UnsupportedAlgorithm`] when orca cannot
    /// compute `expected`'s algorithm.
    pub fn verify(&self, expected: &Digest) -> Result<(), Error> {
        if expected == self.digest() {
            return Ok(());
        }
        expected.verify(self.bytes())
    }

    /// The descriptor that points at this manifest: media type, digest, size and its
    /// [`Manifest::artifact_type`]. What a push announces and what an index lists.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = Descriptor::new(self.media_type(), self.digest().clone(), self.size());
        descriptor.artifact_type = self.artifact_type().map(str::to_owned);
        descriptor
    }

    /// The descriptor a registry lists for this manifest in a referrers response
    /// (distribution-spec 1.1): media type, digest, size, the manifest's annotations, and
    /// `artifactType` — the manifest's, or for an image manifest without one, its config's
    /// media type (see [`ImageManifest::referrers_artifact_type`]).
    pub fn referrer_descriptor(&self) -> Descriptor {
        let mut descriptor = Descriptor::new(self.media_type(), self.digest().clone(), self.size());
        descriptor.annotations = self.annotations().clone();
        descriptor.artifact_type = match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => p.referrers_artifact_type(),
            Manifest::OciIndex(p) | Manifest::DockerList(p) => p.artifact_type(),
        }
        .map(str::to_owned);
        descriptor
    }

    /// The manifest's subject, if it refers to another manifest.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => p.subject.as_ref(),
            Manifest::OciIndex(p) | Manifest::DockerList(p) => p.subject.as_ref(),
        }
    }

    /// The artifact type: see [`ImageManifest::artifact_type`] for the fallback to the
    /// config's media type, and [`ImageIndex::artifact_type`].
    pub fn artifact_type(&self) -> Option<&str> {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => p.artifact_type(),
            Manifest::OciIndex(p) | Manifest::DockerList(p) => p.artifact_type(),
        }
    }

    /// The manifest's annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => &p.annotations,
            Manifest::OciIndex(p) | Manifest::DockerList(p) => &p.annotations,
        }
    }

    /// The config descriptor of an image manifest; `None` for an index.
    pub fn config(&self) -> Option<&Descriptor> {
        self.as_image().map(|m| &m.config)
    }

    /// The layers of an image manifest; empty for an index.
    pub fn layers(&self) -> &[Descriptor] {
        self.as_image().map_or(&[], |m| &m.layers)
    }

    /// The manifests an index lists; empty for an image manifest.
    pub fn manifests(&self) -> &[Descriptor] {
        self.as_index().map_or(&[], |i| &i.manifests)
    }

    /// The first manifest an index lists for `platform` (see [`Platform::matches`]);
    /// `None` for an image manifest, or when no entry matches.
    pub fn manifest_for(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests()
            .iter()
            .find(|entry| entry.platform.as_ref().is_some_and(|p| p.matches(platform)))
    }

    /// What this manifest points at, the subject excepted: the config and then the layers of
    /// an image manifest, or the manifests an index lists. What a copy must transfer first and
    /// what a registry checks exists before accepting the manifest.
    pub fn children(&self) -> impl Iterator<Item = &Descriptor> {
        self.config()
            .into_iter()
            .chain(self.layers())
            .chain(self.manifests())
    }

    /// Whether this is an index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.as_index().is_some()
    }

    /// The image manifest (OCI or Docker), if this is one.
    pub fn as_image(&self) -> Option<&ImageManifest> {
        match self {
            Manifest::OciImage(p) | Manifest::DockerImage(p) => Some(p.value()),
            Manifest::OciIndex(_) | Manifest::DockerList(_) => None,
        }
    }

    /// The index (OCI index or Docker manifest list), if this is one.
    pub fn as_index(&self) -> Option<&ImageIndex> {
        match self {
            Manifest::OciIndex(p) | Manifest::DockerList(p) => Some(p.value()),
            Manifest::OciImage(_) | Manifest::DockerImage(_) => None,
        }
    }
}

/// Refuse, by name, the two manifest formats orca knows but does not read.
fn refuse_withdrawn(media_type: &str) -> Result<(), Error> {
    match media_type {
        media_types::DOCKER_MANIFEST_V1 | media_types::DOCKER_MANIFEST_V1_SIGNED => {
            Err(Error::DockerSchema1 {
                identified_by: clip(media_type),
            })
        }
        media_types::OCI_ARTIFACT_MANIFEST => Err(Error::OciArtifactManifest),
        _ => Ok(()),
    }
}

fn check_schema_version(found: Option<&serde_json::Value>) -> Result<(), Error> {
    let Some(found) = found else {
        return Err(Error::SchemaVersion { found: None });
    };
    match found.as_u64() {
        Some(2) => Ok(()),
        Some(1) => Err(Error::DockerSchema1 {
            identified_by: "schemaVersion 1".to_owned(),
        }),
        _ => Err(Error::SchemaVersion {
            found: Some(clip(&found.to_string())),
        }),
    }
}

fn media_type_by_shape(probe: &Probe) -> Result<&'static str, Error> {
    let image_fields = probe.config.is_some() || probe.layers.is_some();
    match (probe.manifests.is_some(), image_fields) {
        (true, false) => Ok(media_types::OCI_IMAGE_INDEX),
        (false, true) => Ok(media_types::OCI_IMAGE_MANIFEST),
        (true, true) => Err(Error::UndeterminedMediaType {
            reason: "the body has both `manifests` (an index's) and `config`/`layers` (an image manifest's)",
        }),
        (false, false) => Err(Error::UndeterminedMediaType {
            reason: "the body has neither `manifests` (an index's) nor `config`/`layers` (an image manifest's)",
        }),
    }
}

fn typed<T: DeserializeOwned>(bytes: Bytes, media_type: &str) -> Result<Parsed<T>, Error> {
    let value = serde_json::from_slice(&bytes).map_err(|e| invalid(Some(clip(media_type)), &e))?;
    let digest = Digest::sha256(&bytes);
    Ok(Parsed {
        value,
        bytes,
        digest,
    })
}

/// The 1-based line and column of the last byte of `prefix`.
fn line_and_column(prefix: &[u8]) -> (usize, usize) {
    let line = prefix.split(|&b| b == b'\n').count();
    let column = prefix.len()
        - prefix
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    (line, column)
}

/// A JSON error as [`Error::InvalidManifest`], without exposing `serde_json`'s type.
pub(crate) fn invalid(media_type: Option<String>, err: &serde_json::Error) -> Error {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let reason = clip(text.strip_suffix(&position).unwrap_or(&text));
    Error::InvalidManifest {
        media_type,
        reason,
        line: err.line(),
        column: err.column(),
    }
}
