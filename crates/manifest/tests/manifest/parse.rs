//! `Manifest::parse`: media type resolution, refusals, schemaVersion, size cap, digests.

use orca_manifest::{
    Algorithm, DEFAULT_MAX_MANIFEST_SIZE, Digest, Manifest, ParseOptions, media_types,
};

use crate::{EMPTY_DESC, kind};

const OCI_IMAGE: &str = media_types::OCI_IMAGE_MANIFEST;
const OCI_INDEX: &str = media_types::OCI_IMAGE_INDEX;
const DOCKER: &str = media_types::DOCKER_MANIFEST_V2;
const LIST: &str = media_types::DOCKER_MANIFEST_LIST;

/// The empty descriptor written as a JSON array, which serde alone would read positionally.
const ARRAY_DESC: &str = r#"["application/vnd.oci.empty.v1+json","sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",2]"#;

fn image(media_type: Option<&str>) -> String {
    let mt = media_type.map_or(String::new(), |m| format!(r#""mediaType":"{m}","#));
    format!(r#"{{"schemaVersion":2,{mt}"config":{EMPTY_DESC},"layers":[{EMPTY_DESC}]}}"#)
}

fn index(media_type: Option<&str>) -> String {
    let mt = media_type.map_or(String::new(), |m| format!(r#""mediaType":"{m}","#));
    format!(r#"{{"schemaVersion":2,{mt}"manifests":[{EMPTY_DESC}]}}"#)
}

/// (name, body, Content-Type, the media type parsed or the error variant).
type Case = (
    &'static str,
    String,
    Option<&'static str>,
    Result<&'static str, &'static str>,
);

/// (artifactType, config mediaType, `artifact_type()`, referrers' artifactType).
type FallbackCase = (
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
#[allow(clippy::too_many_lines)] // one row per rule: the table reads best in one place
fn media_type_resolution_table() {
    let mt_img = Some(OCI_IMAGE);
    let cases: Vec<Case> = vec![
        ("body type, no header", image(mt_img), None, Ok(OCI_IMAGE)),
        (
            "body type equals header",
            image(mt_img),
            Some(OCI_IMAGE),
            Ok(OCI_IMAGE),
        ),
        (
            "generic header",
            image(mt_img),
            Some("application/json; charset=utf-8"),
            Ok(OCI_IMAGE),
        ),
        (
            "header with parameters",
            image(mt_img),
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            Ok(OCI_IMAGE),
        ),
        (
            "octet-stream header",
            index(Some(OCI_INDEX)),
            Some("application/octet-stream"),
            Ok(OCI_INDEX),
        ),
        (
            "body OCI, header Docker",
            image(mt_img),
            Some(DOCKER),
            Err("MediaTypeMismatch"),
        ),
        (
            "body Docker, header OCI",
            image(Some(DOCKER)),
            Some(OCI_IMAGE),
            Err("MediaTypeMismatch"),
        ),
        (
            "body index, header image",
            index(Some(OCI_INDEX)),
            Some(OCI_IMAGE),
            Err("MediaTypeMismatch"),
        ),
        (
            "body OCI, header text/html",
            image(mt_img),
            Some("text/html"),
            Err("MediaTypeMismatch"),
        ),
        (
            "Docker v2 from header",
            image(None),
            Some(DOCKER),
            Ok(DOCKER),
        ),
        ("Docker v2 from body", image(Some(DOCKER)), None, Ok(DOCKER)),
        ("Docker list from header", index(None), Some(LIST), Ok(LIST)),
        (
            "Docker list from body",
            index(Some(LIST)),
            Some(LIST),
            Ok(LIST),
        ),
        (
            "empty body type, header decides",
            image(Some("")),
            Some(DOCKER),
            Ok(DOCKER),
        ),
        ("image by shape", image(None), None, Ok(OCI_IMAGE)),
        ("index by shape", index(None), None, Ok(OCI_INDEX)),
        (
            "index by shape, generic header",
            index(None),
            Some("application/json"),
            Ok(OCI_INDEX),
        ),
        (
            "both shapes",
            r#"{"schemaVersion":2,"manifests":[],"config":{}}"#.into(),
            None,
            Err("UndeterminedMediaType"),
        ),
        (
            "no shape",
            r#"{"schemaVersion":2}"#.into(),
            None,
            Err("UndeterminedMediaType"),
        ),
        (
            "header says image, body is an index",
            index(None),
            Some(OCI_IMAGE),
            Err("InvalidManifest"),
        ),
        (
            "unknown body type",
            image(Some("application/vnd.example+json")),
            None,
            Err("UnsupportedMediaType"),
        ),
        (
            "config type as header",
            image(None),
            Some(media_types::OCI_IMAGE_CONFIG),
            Err("UnsupportedMediaType"),
        ),
        (
            "schema 1 header",
            image(None),
            Some(media_types::DOCKER_MANIFEST_V1_SIGNED),
            Err("DockerSchema1"),
        ),
        (
            "schema 1 body type",
            image(Some(media_types::DOCKER_MANIFEST_V1)),
            None,
            Err("DockerSchema1"),
        ),
        (
            "schema 1 body",
            r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#.into(),
            None,
            Err("DockerSchema1"),
        ),
        (
            "artifact manifest body",
            format!(
                r#"{{"mediaType":"{}","blobs":[]}}"#,
                media_types::OCI_ARTIFACT_MANIFEST
            ),
            None,
            Err("OciArtifactManifest"),
        ),
        (
            "artifact manifest header",
            "{}".into(),
            Some(media_types::OCI_ARTIFACT_MANIFEST),
            Err("OciArtifactManifest"),
        ),
        (
            "schemaVersion missing",
            image(mt_img).replace(r#""schemaVersion":2,"#, ""),
            None,
            Err("SchemaVersion"),
        ),
        (
            "schemaVersion 3",
            image(mt_img).replace(r#""schemaVersion":2"#, r#""schemaVersion":3"#),
            None,
            Err("SchemaVersion"),
        ),
        (
            "schemaVersion string",
            image(mt_img).replace(r#""schemaVersion":2"#, r#""schemaVersion":"2""#),
            None,
            Err("SchemaVersion"),
        ),
        (
            "schemaVersion float",
            image(mt_img).replace(r#""schemaVersion":2"#, r#""schemaVersion":2.5"#),
            None,
            Err("SchemaVersion"),
        ),
        (
            "empty body",
            String::new(),
            Some(OCI_IMAGE),
            Err("EmptyManifest"),
        ),
        (
            "white space body",
            " \n\t".into(),
            None,
            Err("EmptyManifest"),
        ),
        ("not JSON", "{nope".into(), None, Err("InvalidManifest")),
        (
            "a JSON array",
            format!("[2,\"{OCI_INDEX}\",null,[]]"),
            None,
            Err("InvalidManifest"),
        ),
        (
            "config as an array",
            image(mt_img).replacen(EMPTY_DESC, ARRAY_DESC, 1),
            None,
            Err("InvalidManifest"),
        ),
        (
            "layer as an array",
            image(mt_img).replace(&format!("[{EMPTY_DESC}]"), &format!("[{ARRAY_DESC}]")),
            None,
            Err("InvalidManifest"),
        ),
        (
            "index entry as an array",
            index(Some(OCI_INDEX)).replace(&format!("[{EMPTY_DESC}]"), &format!("[{ARRAY_DESC}]")),
            None,
            Err("InvalidManifest"),
        ),
        (
            "platform as an array",
            index(Some(OCI_INDEX))
                .replace(r#""size":2}"#, r#""size":2,"platform":["amd64","linux"]}"#),
            None,
            Err("InvalidManifest"),
        ),
        (
            "subject as an array",
            image(mt_img).replace(
                r#""schemaVersion":2"#,
                &format!(r#""schemaVersion":2,"subject":{ARRAY_DESC}"#),
            ),
            None,
            Err("InvalidManifest"),
        ),
        (
            "null subject and platform",
            index(Some(OCI_INDEX))
                .replace(r#""size":2}"#, r#""size":2,"platform":null}"#)
                .replace(
                    r#""schemaVersion":2"#,
                    r#""schemaVersion":2,"subject":null"#,
                ),
            None,
            Ok(OCI_INDEX),
        ),
        (
            "null layers and annotations, as Go writes nil",
            image(mt_img)
                .replace(&format!("[{EMPTY_DESC}]"), "null")
                .replace(
                    r#""schemaVersion":2"#,
                    r#""schemaVersion":2,"annotations":null"#,
                ),
            None,
            Ok(OCI_IMAGE),
        ),
        (
            "layers missing",
            image(mt_img).replace(&format!(r#","layers":[{EMPTY_DESC}]"#), ""),
            None,
            Err("InvalidManifest"),
        ),
        (
            "trailing data",
            format!("{} x", image(mt_img)),
            None,
            Err("InvalidManifest"),
        ),
        (
            "config missing",
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_IMAGE}","layers":[]}}"#),
            None,
            Err("InvalidManifest"),
        ),
        (
            "manifests missing",
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#),
            None,
            Err("InvalidManifest"),
        ),
        (
            "bad layer digest",
            image(mt_img).replacen("sha256:4413", "sha256:XX13", 2),
            None,
            Err("InvalidManifest"),
        ),
        (
            "negative size",
            image(mt_img).replace(r#""size":2"#, r#""size":-2"#),
            None,
            Err("InvalidManifest"),
        ),
        (
            "duplicate field",
            image(mt_img).replace(r#""layers":"#, r#""layers":[],"layers":"#),
            None,
            Err("InvalidManifest"),
        ),
        (
            "unknown fields everywhere",
            image(mt_img)
                .replace(
                    r#""schemaVersion":2"#,
                    r#""schemaVersion":2,"x-future":{"a":[1,{"b":null}]}"#,
                )
                .replace(r#""size":2"#, r#""size":2,"x-more":true"#),
            None,
            Ok(OCI_IMAGE),
        ),
        (
            "index fields ignored in an image",
            image(mt_img).replace(
                r#""schemaVersion":2"#,
                r#""schemaVersion":2,"manifests":"whatever""#,
            ),
            None,
            Ok(OCI_IMAGE),
        ),
    ];
    assert_eq!(cases.len(), 51);
    for (name, body, content_type, expected) in cases {
        let got = Manifest::parse(body.clone(), content_type);
        match (&got, expected) {
            (Ok(m), Ok(mt)) => {
                assert_eq!(m.media_type(), mt, "{name}");
                assert_eq!(m.bytes().as_ref(), body.as_bytes(), "{name}");
            }
            (Err(e), Err(k)) => assert_eq!(kind(e), k, "{name}: {e}"),
            _ => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn error_messages() {
    let bodies: [(String, Option<&str>); 10] = [
        (image(Some(OCI_IMAGE)), Some(DOCKER)),
        (
            image(None).replace(r#""schemaVersion":2"#, r#""schemaVersion":3"#),
            None,
        ),
        (image(None).replace(r#""schemaVersion":2,"#, ""), None),
        (r#"{"schemaVersion":1,"fsLayers":[]}"#.into(), None),
        ("{}".into(), Some(media_types::DOCKER_MANIFEST_V1_SIGNED)),
        ("{}".into(), Some(media_types::OCI_ARTIFACT_MANIFEST)),
        (image(Some("application/vnd.example+json")), None),
        (r#"{"schemaVersion":2}"#.into(), None),
        (
            format!("{{\"schemaVersion\":2,\n\"mediaType\":\"{OCI_IMAGE}\",\n\"layers\":[]}}"),
            None,
        ),
        ("  [1]".into(), Some(OCI_INDEX)),
    ];
    let mut messages: Vec<String> = bodies
        .into_iter()
        .map(|(body, ct)| Manifest::parse(body, ct).unwrap_err().to_string())
        .collect();
    messages.push(
        Manifest::parse_with(image(None), None, &ParseOptions { max_size: 10 })
            .unwrap_err()
            .to_string(),
    );
    messages.push(
        orca_manifest::ImageManifest::artifact("not a type", vec![])
            .unwrap_err()
            .to_string(),
    );
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn errors_quote_untrusted_text_briefly() {
    let long = "x".repeat(100_000);
    let bodies = [
        image(Some(&format!("application/{long}"))),
        image(Some(OCI_IMAGE)).replace(r#""size":2"#, &format!(r#""size":"{long}""#)),
        image(Some(OCI_IMAGE)).replace(
            r#""schemaVersion":2"#,
            &format!(r#""schemaVersion":"{long}""#),
        ),
    ];
    assert_eq!(bodies.len(), 3);
    for body in bodies {
        let message = Manifest::parse(body, None).unwrap_err().to_string();
        assert!(
            message.len() < 1000,
            "{} bytes: {}",
            message.len(),
            &message[..200]
        );
        assert!(message.contains("xxx…"), "{message}");
    }
    let header = format!("application/{long}");
    let message = Manifest::parse(image(Some(OCI_IMAGE)), Some(&header))
        .unwrap_err()
        .to_string();
    assert!(
        message.len() < 1000 && message.contains(OCI_IMAGE),
        "{message}"
    );
}

#[test]
fn size_cap_is_checked_first_and_exactly() {
    let body = image(Some(OCI_IMAGE));
    let at_limit = ParseOptions {
        max_size: body.len(),
    };
    assert!(Manifest::parse_with(body.clone(), None, &at_limit).is_ok());
    let below = ParseOptions {
        max_size: body.len() - 1,
    };
    let err = Manifest::parse_with(body.clone(), None, &below).unwrap_err();
    assert_eq!(kind(&err), "ManifestTooLarge");

    assert_eq!(ParseOptions::default().max_size, 4 * 1024 * 1024);
    assert_eq!(DEFAULT_MAX_MANIFEST_SIZE, 4 * 1024 * 1024);
    // Valid JSON padded with white space to one byte over the default: refused unparsed.
    let mut big = body.into_bytes();
    big.resize(DEFAULT_MAX_MANIFEST_SIZE + 1, b' ');
    match Manifest::parse(big, None) {
        Err(orca_manifest::Error::ManifestTooLarge { size, limit }) => {
            assert_eq!(
                (size, limit),
                (DEFAULT_MAX_MANIFEST_SIZE + 1, DEFAULT_MAX_MANIFEST_SIZE)
            );
        }
        other => panic!("expected ManifestTooLarge, got {other:?}"),
    }
}

#[test]
fn digest_is_over_the_bytes_received() {
    let pretty = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{OCI_IMAGE}\",\n   \"config\": {EMPTY_DESC},\n   \"layers\": []\n}}\n"
    );
    let m = Manifest::parse(pretty.clone(), None).unwrap();
    assert_eq!(m.digest(), &Digest::sha256(pretty.as_bytes()));
    assert_eq!(m.size(), pretty.len() as u64);
    let reserialised = m.as_image().unwrap().to_bytes();
    assert_ne!(m.digest(), &Digest::sha256(&reserialised));

    m.verify(&Digest::sha256(pretty.as_bytes())).unwrap();
    let sha512 = Digest::compute(&Algorithm::Sha512, pretty.as_bytes()).unwrap();
    m.verify(&sha512).unwrap();
    let err = m.verify(&Digest::sha256(b"other")).unwrap_err();
    assert_eq!(kind(&err), "DigestMismatch");
}

#[test]
fn accessors_for_images_and_indexes() {
    let subject = format!(
        r#""subject":{{"mediaType":"{OCI_IMAGE}","digest":"{}","size":7}}"#,
        Digest::sha256(b"subject")
    );
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_IMAGE}","artifactType":"application/spdx+json","config":{EMPTY_DESC},"layers":[{EMPTY_DESC},{EMPTY_DESC}],{subject},"annotations":{{"k":"v"}}}}"#
    );
    let m = Manifest::parse(body.clone(), Some(OCI_IMAGE)).unwrap();
    assert!(matches!(m, Manifest::OciImage(_)));
    assert!(!m.is_index());
    assert_eq!(m.layers().len(), 2);
    assert!(m.manifests().is_empty());
    assert_eq!(m.config().unwrap().media_type, media_types::OCI_EMPTY);
    assert_eq!(m.subject().unwrap().digest, Digest::sha256(b"subject"));
    assert_eq!(m.artifact_type(), Some("application/spdx+json"));
    assert_eq!(m.annotations().get("k").map(String::as_str), Some("v"));

    let d = m.descriptor();
    assert_eq!(
        (d.media_type.as_str(), &d.digest, d.size),
        (OCI_IMAGE, m.digest(), body.len() as u64)
    );
    assert_eq!(d.artifact_type.as_deref(), Some("application/spdx+json"));
    assert!(d.annotations.is_empty());
    let r = m.referrer_descriptor();
    assert_eq!(r.annotations.get("k").map(String::as_str), Some("v"));
    assert_eq!(r.artifact_type.as_deref(), Some("application/spdx+json"));

    let list = Manifest::parse(index(Some(LIST)), None).unwrap();
    let Manifest::DockerList(parsed) = &list else {
        panic!("expected a Docker list, got {list:?}");
    };
    assert_eq!(parsed.manifests.len(), 1);
    assert_eq!(parsed.digest(), list.digest());
    assert!(list.is_index());
    assert!(list.layers().is_empty() && list.config().is_none() && list.subject().is_none());
    assert_eq!(list.manifests().len(), 1);
    assert_eq!(
        list.children().collect::<Vec<_>>(),
        list.manifests().iter().collect::<Vec<_>>()
    );
    let children: Vec<_> = m.children().map(|d| &d.media_type).collect();
    assert_eq!(children.len(), 3, "config then two layers");
    assert_eq!(list.artifact_type(), None);
    assert_eq!(list.referrer_descriptor().artifact_type, None);
}

#[test]
fn artifact_type_fallback_rule() {
    let cases: [FallbackCase; 8] = [
        // (artifactType, config mediaType, artifact_type(), referrers artifactType)
        (
            Some("application/vnd.a"),
            media_types::OCI_EMPTY,
            Some("application/vnd.a"),
            Some("application/vnd.a"),
        ),
        (
            Some("application/vnd.a"),
            "application/vnd.b",
            Some("application/vnd.a"),
            Some("application/vnd.a"),
        ),
        (
            None,
            "application/vnd.cncf.helm.config.v1+json",
            Some("application/vnd.cncf.helm.config.v1+json"),
            Some("application/vnd.cncf.helm.config.v1+json"),
        ),
        (
            None,
            media_types::ORAS_UNKNOWN_CONFIG,
            Some(media_types::ORAS_UNKNOWN_CONFIG),
            Some(media_types::ORAS_UNKNOWN_CONFIG),
        ),
        (
            None,
            media_types::OCI_EMPTY,
            None,
            Some(media_types::OCI_EMPTY),
        ),
        (
            None,
            media_types::OCI_IMAGE_CONFIG,
            None,
            Some(media_types::OCI_IMAGE_CONFIG),
        ),
        (
            None,
            media_types::DOCKER_CONFIG,
            None,
            Some(media_types::DOCKER_CONFIG),
        ),
        (
            Some(""),
            "application/vnd.b",
            Some("application/vnd.b"),
            Some("application/vnd.b"),
        ),
    ];
    assert_eq!(cases.len(), 8);
    for (explicit, config, expected, referrers) in cases {
        let mut m = orca_manifest::ImageManifest::new(
            orca_manifest::Descriptor::new(config, Digest::sha256(b"{}"), 2),
            vec![],
        );
        m.artifact_type = explicit.map(str::to_owned);
        assert_eq!(m.artifact_type(), expected, "{explicit:?} {config}");
        assert_eq!(
            m.referrers_artifact_type(),
            referrers,
            "{explicit:?} {config}"
        );
        let parsed = m.to_manifest().unwrap();
        assert_eq!(parsed.artifact_type(), expected);
        assert_eq!(parsed.descriptor().artifact_type.as_deref(), expected);
        assert_eq!(
            parsed.referrer_descriptor().artifact_type.as_deref(),
            referrers
        );
    }
}
