//! Media type constants for OCI and Docker manifests, configs and layers.

/// OCI image manifest.
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty descriptor's media type; its content is `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI artifact manifest (draft of image-spec 1.1, removed before release). Recognised so
/// that it can be refused by name.
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
/// OCI uncompressed tar layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip-compressed tar layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd-compressed tar layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI layout's `index.json` / `oci-layout` version.
pub const OCI_LAYOUT_VERSION: &str = "1.0.0";

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform), schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 manifest (unsigned). Recognised so that it can be refused by name.
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1 manifest (signed). Recognised so that it can be refused by name.
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker container config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip-compressed tar layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign (non-distributable) gzip-compressed tar layer.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The config media type the ORAS CLI used for artifacts before `artifactType` existed.
pub const ORAS_UNKNOWN_CONFIG: &str = "application/vnd.unknown.config.v1+json";
/// The layer media type the ORAS CLI gives files pushed without one.
pub const ORAS_DEFAULT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// The manifest media types orca can parse, in order of preference, for an `Accept` header.
pub const MANIFEST_ACCEPT: &[&str] = &[
    OCI_IMAGE_MANIFEST,
    OCI_IMAGE_INDEX,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` names an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_IMAGE_INDEX | DOCKER_MANIFEST_LIST)
}

/// Whether `media_type` names an image manifest (OCI or Docker schema 2).
pub fn is_image_manifest(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_IMAGE_MANIFEST | DOCKER_MANIFEST_V2)
}

/// The media type without parameters and surrounding white space, as used for comparison
/// (`application/json; charset=utf-8` → `application/json`).
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_drops_parameters() {
        assert_eq!(
            essence("application/json; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence(" a/b "), "a/b");
        assert!(is_index(&format!("{OCI_IMAGE_INDEX}; x=y")));
        assert!(is_image_manifest(DOCKER_MANIFEST_V2));
        assert!(!is_image_manifest(OCI_IMAGE_INDEX));
    }
}
