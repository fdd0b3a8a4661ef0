//! Invariant checks shared by the `manifest` fuzz target (`fuzz/fuzz_targets/manifest.rs`)
//! and the test that replays its corpus. Not meant for other uses: the functions panic when
//! an invariant is broken, which is how a fuzzer learns of it.

use crate::{Digest, Manifest, media_types};

/// The `Content-Type`s every input is parsed with: none, a generic one, and each manifest
/// media type orca reads.
pub const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some(media_types::OCI_IMAGE_MANIFEST),
    Some(media_types::OCI_IMAGE_INDEX),
    Some(media_types::DOCKER_MANIFEST_V2),
    Some(media_types::DOCKER_MANIFEST_LIST),
];

/// Parse `data` with every [`CONTENT_TYPES`] entry and check, for each parse that succeeds:
///
/// - the manifest keeps exactly `data` and reports its sha256 digest and size;
/// - a non-generic `Content-Type` it was accepted with is its media type;
/// - serialising the parsed manifest or index, parsing that and serialising again gives
///   an equal value and identical bytes.
///
/// Returns the result of the parse without a `Content-Type`.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn check_manifest(data: &[u8]) -> Result<Manifest, crate::Error> {
    let mut first = None;
    for content_type in CONTENT_TYPES {
        let result = Manifest::parse(data.to_vec(), content_type);
        if let Ok(manifest) = &result {
            check_parsed(data, content_type, manifest);
        }
        if first.is_none() {
            first = Some(result);
        }
    }
    first.unwrap_or(Err(crate::Error::EmptyManifest))
}

fn check_parsed(data: &[u8], content_type: Option<&str>, manifest: &Manifest) {
    assert_eq!(
        manifest.bytes().as_ref(),
        data,
        "the bytes are kept as received"
    );
    assert_eq!(
        manifest.digest(),
        &Digest::sha256(data),
        "digest over the input"
    );
    assert_eq!(manifest.size(), data.len() as u64);
    assert_eq!(manifest.descriptor().digest, Digest::sha256(data));
    if let Some(content_type) = content_type.filter(|ct| !media_types::is_generic(ct)) {
        assert_eq!(
            manifest.media_type(),
            content_type,
            "accepted under another type"
        );
    }
    if let Some(image) = manifest.as_image() {
        let bytes = image.to_bytes();
        let again = Manifest::parse(bytes.clone(), Some(manifest.media_type()))
            .unwrap_or_else(|e| panic!("re-serialised manifest does not parse: {e}"));
        assert_eq!(again.as_image(), Some(image), "re-parses equal");
        assert_eq!(again.media_type(), manifest.media_type());
        let reparsed = again.as_image().map(crate::ImageManifest::to_bytes);
        assert_eq!(
            reparsed.as_ref(),
            Some(&bytes),
            "serialise, parse, serialise is stable"
        );
    }
    if let Some(index) = manifest.as_index() {
        let bytes = index.to_bytes();
        let again = Manifest::parse(bytes.clone(), Some(manifest.media_type()))
            .unwrap_or_else(|e| panic!("re-serialised index does not parse: {e}"));
        assert_eq!(again.as_index(), Some(index), "re-parses equal");
        assert_eq!(again.media_type(), manifest.media_type());
        let reparsed = again.as_index().map(crate::ImageIndex::to_bytes);
        assert_eq!(
            reparsed.as_ref(),
            Some(&bytes),
            "serialise, parse, serialise is stable"
        );
    }
}
