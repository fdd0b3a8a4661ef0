//! Replays the `manifest` fuzz target's corpus (`fuzz/corpus/manifest/`) through the same
//! check the target runs, and pins what each named seed parses as.

use std::path::PathBuf;

use orca_manifest::fuzzing::check_manifest;
use orca_manifest::media_types;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/manifest")
}

#[test]
fn every_corpus_file_holds_the_invariants() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 18,
        "the seed corpus has {} files",
        files.len()
    );
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let _ = check_manifest(&data);
    }
}

#[test]
fn seeds_parse_as_expected() {
    let seeds: [(&str, Result<&str, &str>); 19] = [
        (
            "oci_image_5_layers.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        (
            "oci_index_multiplatform.json",
            Ok(media_types::OCI_IMAGE_INDEX),
        ),
        ("docker_v2.json", Ok(media_types::DOCKER_MANIFEST_V2)),
        ("docker_list.json", Ok(media_types::DOCKER_MANIFEST_LIST)),
        (
            "oras_artifact_annotations.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        (
            "referrer_with_subject.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        (
            "oras_legacy_no_media_type.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        ("helm_chart.json", Ok(media_types::OCI_IMAGE_MANIFEST)),
        (
            "artifact_no_content.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        ("referrers_index.json", Ok(media_types::OCI_IMAGE_INDEX)),
        ("index_with_subject.json", Ok(media_types::OCI_IMAGE_INDEX)),
        ("unknown_fields.json", Ok(media_types::OCI_IMAGE_MANIFEST)),
        (
            "unicode_annotations.json",
            Ok(media_types::OCI_IMAGE_MANIFEST),
        ),
        ("docker_schema1_refused.json", Err("DockerSchema1")),
        (
            "oci_artifact_manifest_refused.json",
            Err("OciArtifactManifest"),
        ),
        ("schema_version_3.json", Err("SchemaVersion")),
        ("ambiguous_shape.json", Err("UndeterminedMediaType")),
        ("array_not_object.json", Err("InvalidManifest")),
        ("empty_object.json", Err("SchemaVersion")),
    ];
    assert_eq!(seeds.len(), 19);
    for (name, expected) in seeds {
        let data = std::fs::read(corpus_dir().join(name)).unwrap();
        match (check_manifest(&data), expected) {
            (Ok(m), Ok(mt)) => assert_eq!(m.media_type(), mt, "{name}"),
            (Err(e), Err(k)) => assert_eq!(crate::kind(&e), k, "{name}: {e}"),
            (got, _) => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn seeds_say_what_orca_relies_on() {
    let read = |name: &str| std::fs::read(corpus_dir().join(name)).unwrap();
    let oras = check_manifest(&read("oras_artifact_annotations.json")).unwrap();
    assert_eq!(oras.artifact_type(), Some("application/vnd.example.config"));
    assert_eq!(
        oras.layers()[1].annotation(orca_manifest::annotations::ORAS_CONTENT_UNPACK),
        Some("true")
    );
    assert_eq!(oras.layers()[0].title(), Some("README.md"));

    let referrer = check_manifest(&read("referrer_with_subject.json")).unwrap();
    assert!(referrer.subject().is_some());

    let legacy = check_manifest(&read("oras_legacy_no_media_type.json")).unwrap();
    assert_eq!(
        legacy.artifact_type(),
        Some(media_types::ORAS_UNKNOWN_CONFIG)
    );

    let image = check_manifest(&read("oci_image_5_layers.json")).unwrap();
    assert_eq!((image.layers().len(), image.artifact_type()), (5, None));
    let list = check_manifest(&read("docker_list.json")).unwrap();
    let windows = list.manifests()[2].platform.as_ref().unwrap();
    assert_eq!(windows.os_version.as_deref(), Some("10.0.17763.5329"));
}
