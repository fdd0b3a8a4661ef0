//! OCI image indexes and Docker manifest lists, and the index builder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Descriptor, Digest, Error, Manifest, media_types};

/// An OCI image index (`application/vnd.oci.image.index.v1+json`), also used for Docker
/// manifest lists (`application/vnd.docker.distribution.manifest.list.v2+json`), whose JSON is
/// the same subset.
///
/// The fields serialise in the spec's order (`schemaVersion`, `mediaType`, `artifactType`,
/// `manifests`, `subject`, `annotations`) without white space: see [`ImageIndex::to_bytes`].
/// Unknown fields are ignored when parsing.
///
/// orca builds indexes for the referrers tag-schema fallback: an index whose `manifests` are
/// the descriptors of the manifests that refer to a subject ([`Manifest::referrer_descriptor`]),
/// stored under the tag `<alg>-<hex>` of the subject's digest.
///
/// Parse received indexes with [`Manifest::parse`], which checks `schemaVersion`, the media
/// type and the size and keeps the bytes; deserialising this type directly checks none of
/// that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2 in an index that [`Manifest::parse`] accepted.
    pub schema_version: u32,
    /// The index's media type; optional in OCI indexes, required in Docker lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type, when the index packages an artifact (image-spec 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests listed, each with its platform when it is an image for one.
    #[serde(deserialize_with = "crate::object::objects")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this index refers to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::optional_object"
    )]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::object::null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    /// An OCI image index listing `manifests`, nothing else set.
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Set the artifact type (builder style).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMediaType`] when `artifact_type` is not a valid media type.
    pub fn with_artifact_type(mut self, artifact_type: impl Into<String>) -> Result<Self, Error> {
        let artifact_type = artifact_type.into();
        media_types::validate(&artifact_type)?;
        self.artifact_type = Some(artifact_type);
        Ok(self)
    }

    /// Set the subject (builder style).
    #[must_use]
    pub fn with_subject(mut self, subject: Descriptor) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Add an index annotation (builder style).
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Add `descriptor` to `manifests`, replacing an entry with the same digest in place
    /// (so that updating a referrers index never lists a manifest twice). Returns whether an
    /// entry was replaced.
    pub fn upsert_manifest(&mut self, descriptor: Descriptor) -> bool {
        if let Some(existing) = self
            .manifests
            .iter_mut()
            .find(|d| d.digest == descriptor.digest)
        {
            *existing = descriptor;
            true
        } else {
            self.manifests.push(descriptor);
            false
        }
    }

    /// Remove every entry with `digest` from `manifests`. Returns whether one was there.
    pub fn remove_manifest(&mut self, digest: &Digest) -> bool {
        let before = self.manifests.len();
        self.manifests.retain(|d| &d.digest != digest);
        self.manifests.len() != before
    }

    /// The artifact type: `artifactType` when set and not empty. An index has no config, so
    /// there is no fallback (distribution-spec 1.1 omits it in referrers lists too).
    pub fn artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().filter(|t| !t.is_empty())
    }

    /// The canonical serialisation: fields in the spec's order, no white space, optional
    /// fields omitted when absent or empty, annotation keys sorted. Serialising, parsing and
    /// serialising again gives the same bytes.
    ///
    /// # Panics
    ///
    /// Never: the value has only string keys and plain fields, which always serialise.
    pub fn to_bytes(&self) -> Vec<u8> {
        #[allow(clippy::expect_used)] // serialising string-keyed plain data cannot fail
        serde_json::to_vec(self).expect("an ImageIndex always serialises")
    }

    /// Serialise ([`ImageIndex::to_bytes`]) and parse the result as a [`Manifest`], which
    /// gives its digest, descriptor and bytes for pushing.
    ///
    /// # Errors
    ///
    /// What [`Manifest::parse`] finds wrong: a `schemaVersion` other than 2, a media type
    /// that is not an index's, an index above the default size limit.
    pub fn to_manifest(&self) -> Result<Manifest, Error> {
        let content_type = self
            .media_type
            .as_deref()
            .unwrap_or(media_types::OCI_IMAGE_INDEX);
        Manifest::parse_own(self.to_bytes(), content_type, |m| m.as_index().is_some())
    }
}
