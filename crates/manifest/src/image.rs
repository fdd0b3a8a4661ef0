//! OCI image manifests and Docker schema 2 manifests, and the builder for the artifact
//! manifests orca pushes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Descriptor, Error, Manifest, media_types};

/// An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`), also used for Docker
/// schema 2 manifests (`application/vnd.docker.distribution.manifest.v2+json`), whose JSON is
/// the same subset.
///
/// The fields serialise in the spec's order (`schemaVersion`, `mediaType`, `artifactType`,
/// `config`, `layers`, `subject`, `annotations`) without white space, absent optional fields
/// omitted: see [`ImageManifest::to_bytes`]. Unknown fields are ignored when parsing.
///
/// Parse received manifests with [`Manifest::parse`], which checks `schemaVersion`, the
/// media type and the size and keeps the bytes; deserialising this type directly checks none
/// of that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2 in a manifest that [`Manifest::parse`] accepted.
    pub schema_version: u32,
    /// The manifest's media type; optional in OCI manifests, required in Docker ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type, when the manifest packages an artifact (image-spec 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The configuration blob (for artifacts often the empty descriptor).
    #[serde(deserialize_with = "crate::object::object")]
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(deserialize_with = "crate::object::objects")]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (a signature, SBOM, … of that manifest).
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

impl ImageManifest {
    /// An OCI image manifest with `config` and `layers` and nothing else set.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_MANIFEST.to_owned()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// An artifact manifest as image-spec 1.1 recommends and ORAS pushes: `artifactType` set,
    /// the empty descriptor (`application/vnd.oci.empty.v1+json`, content `{}`) as config,
    /// and `layers` — or, when `layers` is empty, the empty descriptor as the one layer, as
    /// the spec asks for artifacts without content.
    ///
    /// Whoever pushes the manifest must push the `{}` blob ([`crate::EMPTY_JSON`]) first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMediaType`] when `artifact_type` is not a valid media type.
    pub fn artifact(
        artifact_type: impl Into<String>,
        layers: Vec<Descriptor>,
    ) -> Result<ImageManifest, Error> {
        let artifact_type = artifact_type.into();
        media_types::validate(&artifact_type)?;
        let layers = if layers.is_empty() {
            vec![Descriptor::empty()]
        } else {
            layers
        };
        let mut manifest = ImageManifest::new(Descriptor::empty(), layers);
        manifest.artifact_type = Some(artifact_type);
        Ok(manifest)
    }

    /// Set the subject (builder style): the manifest this one refers to.
    #[must_use]
    pub fn with_subject(mut self, subject: Descriptor) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Replace the config descriptor (builder style), for artifacts with a config of their
    /// own.
    #[must_use]
    pub fn with_config(mut self, config: Descriptor) -> Self {
        self.config = config;
        self
    }

    /// Add a manifest annotation (builder style).
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The artifact type, with image-spec 1.1's fallback.
    ///
    /// The rule: `artifactType` when it is set and not empty; otherwise the config's media
    /// type, which image-spec 1.1 says is "specific to the artifact type" when a manifest
    /// packages an artifact; except when the config is the empty descriptor
    /// (`application/vnd.oci.empty.v1+json`, which the spec only allows together with
    /// `artifactType`) or an image config (`application/vnd.oci.image.config.v1+json` or
    /// Docker's `application/vnd.docker.container.image.v1+json`): such a manifest is a
    /// container image, not an artifact, and the answer is `None`.
    ///
    /// # Deviation
    ///
    /// The distribution spec's referrers API falls back to the config media type
    /// unconditionally, image configs included; [`ImageManifest::referrers_artifact_type`]
    /// follows that rule.
    pub fn artifact_type(&self) -> Option<&str> {
        if let Some(explicit) = self.explicit_artifact_type() {
            return Some(explicit);
        }
        match self.config.media_type.as_str() {
            media_types::OCI_EMPTY | media_types::OCI_IMAGE_CONFIG | media_types::DOCKER_CONFIG => {
                None
            }
            "" => None,
            other => Some(other),
        }
    }

    /// The artifact type a registry reports for this manifest in a referrers list
    /// (distribution-spec 1.1): `artifactType` when set, else the config's media type.
    pub fn referrers_artifact_type(&self) -> Option<&str> {
        self.explicit_artifact_type()
            .or(Some(self.config.media_type.as_str()).filter(|t| !t.is_empty()))
    }

    fn explicit_artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().filter(|t| !t.is_empty())
    }

    /// The sum of the sizes of the config and the layers: what pulling the content costs
    /// (saturating; sizes come from the manifest and are not verified until downloaded).
    pub fn total_size(&self) -> u64 {
        self.layers.iter().fold(self.config.size, |sum, layer| {
            sum.saturating_add(layer.size)
        })
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
        serde_json::to_vec(self).expect("an ImageManifest always serialises")
    }

    /// Serialise ([`ImageManifest::to_bytes`]) and parse the result as a [`Manifest`], which
    /// gives its digest, descriptor and bytes for pushing.
    ///
    /// # Errors
    ///
    /// What [`Manifest::parse`] finds wrong: a `schemaVersion` other than 2, a media type
    /// that is not an image manifest's, a manifest above the default size limit.
    pub fn to_manifest(&self) -> Result<Manifest, Error> {
        let content_type = self
            .media_type
            .as_deref()
            .unwrap_or(media_types::OCI_IMAGE_MANIFEST);
        Manifest::parse_own(self.to_bytes(), content_type, |m| m.as_image().is_some())
    }
}
