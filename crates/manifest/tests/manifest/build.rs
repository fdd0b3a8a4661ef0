//! Builders and the canonical bytes of what orca pushes, pinned with insta snapshots.

use orca_manifest::{
    Descriptor, Digest, EMPTY_JSON, ImageIndex, ImageManifest, Manifest, annotations, media_types,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("canonical JSON is UTF-8")
}

fn subject() -> Descriptor {
    Descriptor::new(
        media_types::OCI_IMAGE_MANIFEST,
        Digest::sha256(b"subject manifest"),
        1234,
    )
}

#[test]
fn artifact_with_layers_subject_and_annotations() {
    let layers = vec![
        Descriptor::for_bytes(media_types::OCI_LAYER_TAR, b"hello world\n")
            .with_annotation(annotations::TITLE, "hello.txt"),
        Descriptor::for_bytes(media_types::OCI_LAYER_TAR_GZIP, b"pretend this is a tar.gz")
            .with_annotation(annotations::TITLE, "configs")
            .with_annotation(annotations::ORAS_CONTENT_UNPACK, "true")
            .with_annotation(
                annotations::ORAS_CONTENT_DIGEST,
                Digest::sha256(b"tar").as_str(),
            ),
    ];
    let manifest = ImageManifest::artifact("application/vnd.example.config.v1", layers)
        .unwrap()
        .with_subject(subject())
        .with_annotation(annotations::CREATED, "2025-01-01T00:00:00Z")
        .with_annotation("com.example.b", "second")
        .with_annotation("com.example.a", "first, sorted before b");
    let bytes = manifest.to_bytes();
    insta::assert_snapshot!(text(&bytes));

    assert_eq!(manifest.config, Descriptor::empty());
    assert_eq!(manifest.config.digest, Digest::sha256(EMPTY_JSON));
    let parsed = manifest.to_manifest().unwrap();
    assert_eq!(parsed.bytes().as_ref(), bytes.as_slice());
    assert_eq!(parsed.digest(), &Digest::sha256(&bytes));
    assert_eq!(parsed.as_image(), Some(&manifest));
    assert_eq!(parsed.subject(), Some(&subject()));
    assert_eq!(
        parsed.artifact_type(),
        Some("application/vnd.example.config.v1")
    );
    assert_eq!(manifest.total_size(), 2 + 12 + 24);
}

#[test]
fn artifact_without_content_gets_the_empty_layer() {
    let manifest = ImageManifest::artifact("application/vnd.example.marker", vec![]).unwrap();
    assert_eq!(manifest.layers, vec![Descriptor::empty()]);
    insta::assert_snapshot!(text(&manifest.to_bytes()));
}

#[test]
fn artifact_type_is_validated() {
    let bad = ["", "application", "application/x; a=b", "a b/c"];
    assert_eq!(bad.len(), 4);
    for value in bad {
        let err = ImageManifest::artifact(value, vec![]).unwrap_err();
        assert_eq!(crate::kind(&err), "InvalidMediaType", "{value:?}");
        let err = ImageIndex::new(vec![])
            .with_artifact_type(value)
            .unwrap_err();
        assert_eq!(crate::kind(&err), "InvalidMediaType", "{value:?}");
    }
}

#[test]
fn docker_manifest_serialises_with_its_media_type() {
    let mut manifest = ImageManifest::new(
        Descriptor::for_bytes(media_types::DOCKER_CONFIG, b"{\"architecture\":\"amd64\"}"),
        vec![Descriptor::for_bytes(
            media_types::DOCKER_LAYER_GZIP,
            b"layer",
        )],
    );
    manifest.media_type = Some(media_types::DOCKER_MANIFEST_V2.to_owned());
    insta::assert_snapshot!(text(&manifest.to_bytes()));
    let parsed = manifest.to_manifest().unwrap();
    assert!(matches!(parsed, Manifest::DockerImage(_)));
    assert_eq!(parsed.artifact_type(), None);
}

#[test]
fn to_manifest_refuses_a_foreign_media_type() {
    let mut manifest = ImageManifest::artifact("application/vnd.a", vec![]).unwrap();
    manifest.media_type = Some(media_types::OCI_IMAGE_INDEX.to_owned());
    // The body says "index" but has an image's fields: the parse names the missing field.
    assert_eq!(
        crate::kind(&manifest.to_manifest().unwrap_err()),
        "InvalidManifest"
    );
    manifest.schema_version = 3;
    manifest.media_type = None;
    assert_eq!(
        crate::kind(&manifest.to_manifest().unwrap_err()),
        "SchemaVersion"
    );
}

#[test]
fn referrers_index_for_the_tag_schema_fallback() {
    let signature = ImageManifest::artifact(
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        vec![Descriptor::for_bytes(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            b"sig",
        )],
    )
    .unwrap()
    .with_subject(subject())
    .with_annotation(annotations::CREATED, "2025-01-01T00:00:00Z")
    .to_manifest()
    .unwrap();
    let sbom = ImageManifest::artifact("application/spdx+json", vec![])
        .unwrap()
        .with_subject(subject())
        .to_manifest()
        .unwrap();

    let mut index = ImageIndex::new(vec![]);
    assert!(!index.upsert_manifest(signature.referrer_descriptor()));
    assert!(!index.upsert_manifest(sbom.referrer_descriptor()));
    // Pushing the same referrer again replaces it in place.
    assert!(index.upsert_manifest(signature.referrer_descriptor()));
    assert_eq!(index.manifests.len(), 2);
    insta::assert_snapshot!(text(&index.to_bytes()));

    let parsed = index.to_manifest().unwrap();
    assert!(matches!(parsed, Manifest::OciIndex(_)));
    assert_eq!(
        parsed.manifests()[0].artifact_type.as_deref(),
        signature.artifact_type()
    );
    assert_eq!(parsed.manifests()[0].annotations, *signature.annotations());

    assert!(index.remove_manifest(sbom.digest()));
    assert!(!index.remove_manifest(sbom.digest()));
    assert_eq!(index.manifests.len(), 1);
}

#[test]
fn index_with_artifact_type_subject_and_annotations() {
    let index = ImageIndex::new(vec![Descriptor::new(
        media_types::OCI_IMAGE_MANIFEST,
        Digest::sha256(b"one"),
        10,
    )])
    .with_artifact_type("application/vnd.example.bundle")
    .unwrap()
    .with_subject(subject())
    .with_annotation(annotations::DESCRIPTION, "a bundle");
    insta::assert_snapshot!(text(&index.to_bytes()));
    let parsed = index.to_manifest().unwrap();
    assert_eq!(
        parsed.artifact_type(),
        Some("application/vnd.example.bundle")
    );
    assert_eq!(parsed.subject(), Some(&subject()));
    assert_eq!(parsed.as_index(), Some(&index));
}
