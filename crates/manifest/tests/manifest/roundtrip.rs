//! Properties: serialise → parse → serialise is byte-identical and keeps the value; parsing
//! never panics, whatever the bytes.

use std::collections::BTreeMap;

use orca_manifest::fuzzing::check_manifest;
use orca_manifest::{
    Descriptor, Digest, ImageIndex, ImageManifest, Manifest, Platform, media_types,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn media_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(media_types::OCI_LAYER_TAR_GZIP.to_owned()),
        Just(media_types::OCI_EMPTY.to_owned()),
        Just(media_types::DOCKER_LAYER_GZIP.to_owned()),
        "[a-z]{1,8}/[a-z0-9.+-]{1,20}",
    ]
}

fn digest() -> impl Strategy<Value = Digest> {
    any::<[u8; 8]>().prop_map(|seed| Digest::sha256(&seed))
}

/// Any text, including quotes, back slashes, control characters and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[\"\\\\\u{0}-\u{1f}a\u{e9}\u{2603}\u{1f600}]{0,6}"
    ]
}

fn annotations() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

fn platform() -> impl Strategy<Value = Platform> {
    (
        text(),
        text(),
        option::of(text()),
        vec(text(), 0..2),
        option::of(text()),
    )
        .prop_map(
            |(architecture, os, os_version, os_features, variant)| Platform {
                architecture,
                os,
                os_version,
                os_features,
                variant,
                features: Vec::new(),
            },
        )
}

fn descriptor() -> impl Strategy<Value = Descriptor> {
    (
        media_type(),
        digest(),
        any::<u64>(),
        vec(text(), 0..2),
        annotations(),
        option::of("[A-Za-z0-9+/]{0,8}"),
        option::of(media_type()),
        option::of(platform()),
    )
        .prop_map(
            |(media_type, digest, size, urls, annotations, data, artifact_type, platform)| {
                let mut d = Descriptor::new(media_type, digest, size);
                d.urls = urls;
                d.annotations = annotations;
                d.data = data;
                d.artifact_type = artifact_type;
                d.platform = platform;
                d
            },
        )
}

fn image_manifest() -> impl Strategy<Value = ImageManifest> {
    (
        prop_oneof![
            Just(None),
            Just(Some(media_types::OCI_IMAGE_MANIFEST.to_owned())),
            Just(Some(media_types::DOCKER_MANIFEST_V2.to_owned())),
        ],
        option::of(media_type()),
        descriptor(),
        vec(descriptor(), 0..4),
        option::of(descriptor()),
        annotations(),
    )
        .prop_map(
            |(media_type, artifact_type, config, layers, subject, annotations)| {
                let mut m = ImageManifest::new(config, layers);
                m.media_type = media_type;
                m.artifact_type = artifact_type;
                m.subject = subject;
                m.annotations = annotations;
                m
            },
        )
}

fn image_index() -> impl Strategy<Value = ImageIndex> {
    (
        prop_oneof![
            Just(None),
            Just(Some(media_types::OCI_IMAGE_INDEX.to_owned())),
            Just(Some(media_types::DOCKER_MANIFEST_LIST.to_owned())),
        ],
        option::of(media_type()),
        vec(descriptor(), 0..4),
        option::of(descriptor()),
        annotations(),
    )
        .prop_map(
            |(media_type, artifact_type, manifests, subject, annotations)| {
                let mut i = ImageIndex::new(manifests);
                i.media_type = media_type;
                i.artifact_type = artifact_type;
                i.subject = subject;
                i.annotations = annotations;
                i
            },
        )
}

proptest! {
    #[test]
    fn image_manifests_round_trip_byte_identical(m in image_manifest()) {
        let bytes = m.to_bytes();
        let content_type = m.media_type.as_deref().unwrap_or(media_types::OCI_IMAGE_MANIFEST);
        let parsed = Manifest::parse(bytes.clone(), Some(content_type)).unwrap();
        prop_assert_eq!(parsed.media_type(), content_type);
        prop_assert_eq!(parsed.as_image(), Some(&m));
        prop_assert_eq!(parsed.digest(), &Digest::sha256(&bytes));
        prop_assert_eq!(parsed.as_image().unwrap().to_bytes(), bytes.clone());
        // Without a Content-Type, the body (or its shape) decides the same way.
        let untyped = Manifest::parse(bytes.clone(), None).unwrap();
        prop_assert_eq!(untyped.media_type(), content_type);
        check_manifest(&bytes).unwrap();
    }

    #[test]
    fn image_indexes_round_trip_byte_identical(i in image_index()) {
        let bytes = i.to_bytes();
        let content_type = i.media_type.as_deref().unwrap_or(media_types::OCI_IMAGE_INDEX);
        let parsed = Manifest::parse(bytes.clone(), Some(content_type)).unwrap();
        prop_assert_eq!(parsed.media_type(), content_type);
        prop_assert_eq!(parsed.as_index(), Some(&i));
        prop_assert_eq!(parsed.as_index().unwrap().to_bytes(), bytes.clone());
        check_manifest(&bytes).unwrap();
    }

    #[test]
    fn body_media_type_and_content_type_must_agree(m in image_manifest()) {
        let bytes = m.to_bytes();
        let headers = media_types::MANIFEST_ACCEPT;
        prop_assert_eq!(headers.len(), 4);
        for header in headers {
            let result = Manifest::parse(bytes.clone(), Some(header));
            match (m.media_type.as_deref(), result) {
                (Some(body), Err(orca_manifest::Error::MediaTypeMismatch { body: b, content_type })) => {
                    prop_assert_ne!(body, *header);
                    prop_assert_eq!((b.as_str(), content_type.as_str()), (body, *header));
                }
                (Some(body), Ok(parsed)) => {
                    prop_assert_eq!(body, *header);
                    prop_assert_eq!(parsed.media_type(), body);
                }
                // Without a body type the header decides: image types parse, index types
                // miss `manifests`.
                (None, Ok(parsed)) => {
                    prop_assert!(media_types::is_image_manifest(header));
                    prop_assert_eq!(parsed.media_type(), *header);
                }
                (None, Err(e)) => {
                    prop_assert!(media_types::is_index(header), "{}: {}", header, e);
                    prop_assert_eq!(crate::kind(&e), "InvalidManifest");
                }
                (Some(_), Err(e)) => prop_assert!(false, "unexpected error {}", e),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        let _ = check_manifest(&data);
    }

    #[test]
    fn mutated_manifests_never_break_invariants(
        m in image_manifest(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = m.to_bytes();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        let _ = check_manifest(&bytes);
    }
}
