//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while finding or saving a credential.
///
/// # Security
///
/// No variant holds a password, token or secret; helper output is cut short and stripped
/// of control characters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A docker `config.json` is malformed, or cannot be saved as asked.
    #[error("invalid docker config{}: {detail}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    DockerConfig {
        /// The file, when it was read from one.
        path: Option<PathBuf>,
        /// What is wrong (never a credential value).
        detail: String,
    },
    /// A docker credential helper failed or answered something unusable.
    #[error("credential helper docker-credential-{helper} failed for {server}: {detail}")]
    CredentialHelper {
        /// The helper's name (`desktop`, `ecr-login`, …).
        helper: String,
        /// The server URL asked about.
        server: String,
        /// What went wrong (the helper's stderr, cut short, or the reason).
        detail: String,
    },
    /// An Azure AD token provider could not start (a missing file, `az` failing).
    #[error("Azure AD token provider ({provider}) failed: {detail}")]
    Azure {
        /// The provider (`client secret`, `workload identity`, `managed identity`, `Azure CLI`).
        provider: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Automatic Azure detection found no usable credential.
    #[error("no Azure credential is available; tried, in order: {}", tried.join("; "))]
    NoAzureCredential {
        /// Each provider tried, with why it was not usable.
        tried: Vec<String>,
    },
    /// A required environment variable is not set.
    #[error("environment variable {variable} is not set (needed by {needed_by})")]
    MissingEnvironment {
        /// The variable's name.
        variable: &'static str,
        /// What needed it.
        needed_by: &'static str,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `write`, …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<Error> for orca_auth::Error {
    fn from(err: Error) -> orca_auth::Error {
        orca_auth::Error::credential_lookup("looking up a credential failed", err)
    }
}
