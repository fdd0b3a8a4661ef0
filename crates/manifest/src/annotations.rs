//! Annotation keys from the OCI image spec and the ORAS tools.

/// The file or folder name of a layer (`org.opencontainers.image.title`). ORAS writes a
/// pulled layer to this relative path.
pub const TITLE: &str = "org.opencontainers.image.title";
/// When the content was created, RFC 3339 (`org.opencontainers.image.created`).
pub const CREATED: &str = "org.opencontainers.image.created";
/// The content's description (`org.opencontainers.image.description`).
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// The content's version (`org.opencontainers.image.version`).
pub const VERSION: &str = "org.opencontainers.image.version";
/// The source revision (`org.opencontainers.image.revision`).
pub const REVISION: &str = "org.opencontainers.image.revision";
/// The source repository URL (`org.opencontainers.image.source`).
pub const SOURCE: &str = "org.opencontainers.image.source";
/// Set to `true` by ORAS on a layer that is a packed folder to extract on pull.
pub const ORAS_CONTENT_UNPACK: &str = "io.deis.oras.content.unpack";
/// The digest of a packed folder's uncompressed tar stream, set by ORAS.
pub const ORAS_CONTENT_DIGEST: &str = "io.deis.oras.content.digest";
