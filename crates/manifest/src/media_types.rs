//! Media type constants for OCI and Docker manifests, configs and layers.

use crate::Error;

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

/// Whether a `Content-Type` says nothing about which manifest a body is
/// (`application/json`, `application/octet-stream`, `text/plain`, `*/*`, empty), so that the
/// body decides. Parameters are ignored; the comparison is ASCII case-insensitive.
pub fn is_generic(content_type: &str) -> bool {
    const GENERIC: &[&str] = &[
        "",
        "application/json",
        "application/octet-stream",
        "binary/octet-stream",
        "text/plain",
        "*/*",
    ];
    let essence = essence(content_type);
    GENERIC.iter().any(|g| g.eq_ignore_ascii_case(essence))
}

/// Check that `value` is a media type as OCI descriptors and `artifactType` need it: RFC 6838
/// `type/subtype`, each part 1 to 127 characters, starting with a letter or digit and then
/// letters, digits and `!#$&-^_.+`, without parameters.
///
/// # Errors
///
/// [`Error::InvalidMediaType`] naming the value and what is wrong with it.
pub fn validate(value: &str) -> Result<(), Error> {
    let fail = |reason| {
        Err(Error::InvalidMediaType {
            value: crate::error::clip(value),
            reason,
        })
    };
    let Some((kind, subtype)) = value.split_once('/') else {
        return fail("expected type/subtype");
    };
    for part in [kind, subtype] {
        let mut chars = part.chars();
        match chars.next() {
            None => return fail("the type and the subtype must not be empty"),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return fail("the type and the subtype must start with a letter or digit");
            }
            Some(_) => {}
        }
        if part.len() > 127 {
            return fail("the type and the subtype are at most 127 characters each");
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c)) {
            return fail(
                "only letters, digits and !#$&-^_.+ are allowed (no parameters, no spaces)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_content_types() {
        let generic = [
            "",
            "application/json; charset=utf-8",
            "Application/Octet-Stream",
            "*/*",
            "text/plain",
        ];
        assert_eq!(generic.len(), 5);
        for g in generic {
            assert!(is_generic(g), "{g}");
        }
        assert!(!is_generic(OCI_IMAGE_MANIFEST));
        assert!(!is_generic("text/html"));
    }

    #[test]
    fn media_type_validation_table() {
        let long = format!("application/{}", "a".repeat(128));
        let ok_at_limit = format!("application/{}", "a".repeat(127));
        let cases: [(&str, bool); 12] = [
            (OCI_IMAGE_MANIFEST, true),
            ("application/vnd.example+type", true),
            ("a/b", true),
            (&ok_at_limit, true),
            ("application/x-a!#$&^_.+-", true),
            (&long, false),
            ("", false),
            ("application", false),
            ("application/", false),
            ("/json", false),
            ("application/json; charset=utf-8", false),
            ("application/.json", false),
        ];
        for (value, ok) in cases {
            assert_eq!(validate(value).is_ok(), ok, "{value:?}");
        }
        let err = validate("a b/c").unwrap_err().to_string();
        assert!(err.contains("\"a b/c\""), "{err}");
    }

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
