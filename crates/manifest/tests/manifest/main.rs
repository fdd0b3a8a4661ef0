//! Integration tests for orca-manifest: parsing rules, builders and their canonical bytes,
//! round-trip properties, and the fuzz corpus replay.

mod build;
mod corpus;
mod parse;
mod roundtrip;

use orca_manifest::Error;

/// The empty descriptor as JSON, for hand-written bodies.
pub(crate) const EMPTY_DESC: &str = r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;

/// A variant's name, so that tables can say which error they expect.
pub(crate) fn kind(err: &Error) -> &'static str {
    match err {
        Error::ManifestTooLarge { .. } => "ManifestTooLarge",
        Error::EmptyManifest => "EmptyManifest",
        Error::InvalidManifest { .. } => "InvalidManifest",
        Error::MediaTypeMismatch { .. } => "MediaTypeMismatch",
        Error::SchemaVersion { .. } => "SchemaVersion",
        Error::DockerSchema1 { .. } => "DockerSchema1",
        Error::OciArtifactManifest => "OciArtifactManifest",
        Error::UnsupportedMediaType { .. } => "UnsupportedMediaType",
        Error::UndeterminedMediaType { .. } => "UndeterminedMediaType",
        Error::InvalidMediaType { .. } => "InvalidMediaType",
        Error::DigestMismatch { .. } => "DigestMismatch",
        Error::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
        _ => "other",
    }
}
