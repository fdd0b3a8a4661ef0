//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// # Security
///
/// No variant holds a secret: a [`crate::CredentialSource`] only names where a secret
/// lives, and those names are all an error ever shows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference's registry is not registered (or the reference names no registry).
    #[error("{reference}: {}", match registry {
        Some(r) => format!("the artifact store {r} is not registered"),
        None => "the reference names no registry, and only registered artifact stores are used".to_owned(),
    })]
    NotRegistered {
        /// The reference as given.
        reference: String,
        /// The registry it names, if it names one.
        registry: Option<String>,
    },
    /// The reference does not parse.
    #[error("invalid reference: {0}")]
    InvalidReference(#[source] orca_reference::Error),
    /// A registry name given to [`crate::Store::new`] is not a `host[:port]`.
    #[error("invalid registry {registry:?}: {reason}")]
    InvalidRegistry {
        /// The name as given.
        registry: String,
        /// What is wrong.
        reason: String,
    },
    /// A stores file is not valid.
    #[error("{}:{line}:{column}: {}{message}", path.as_ref().map_or_else(|| "<stores>".to_owned(), |p| p.display().to_string()), key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Parse {
        /// The file, when it came from one.
        path: Option<PathBuf>,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The key whose value is wrong (or which is unknown), when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A size such as `1MiB` does not parse.
    #[error("invalid size {input:?}: {reason}")]
    InvalidSize {
        /// The text as given.
        input: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The registry cannot be written as TOML (never expected).
    #[error("cannot write the stores as TOML: {0}")]
    Serialize(String),
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Content written to the cache does not match its descriptor.
    #[error("cache: content for {expected} {problem}")]
    CacheVerification {
        /// The digest the content should have.
        expected: String,
        /// What was wrong (`hashes to sha256:…`, `has 12 bytes, not 10`).
        problem: String,
    },
    /// A cache file (`index.json`, `oci-layout`, a manifest) is not what it should be.
    #[error("cache {}: {message}", path.display())]
    CorruptCache {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A cache rule's target or upstream is not valid.
    #[error("invalid cache rule {target} -> {upstream}: {reason}")]
    InvalidCacheRule {
        /// The target as given.
        target: String,
        /// The upstream as given.
        upstream: String,
        /// What is wrong.
        reason: String,
    },
    /// A rule with the same target exists.
    #[error("a cache rule for the target {target} exists already: {existing}")]
    DuplicateCacheRule {
        /// The target refused.
        target: String,
        /// The rule it collides with.
        existing: String,
    },
    /// With the strict-overlap option, a wildcard rule overlaps another.
    #[error(
        "the cache rule {rule} overlaps {existing}, and overlapping wildcards are refused (strict_overlap)"
    )]
    OverlappingCacheRule {
        /// The rule refused.
        rule: String,
        /// The rule it overlaps.
        existing: String,
    },
    /// The rules are at their limit.
    #[error("cannot add a cache rule for {target}: at most {limit} cache rules are allowed")]
    TooManyCacheRules {
        /// The target refused.
        target: String,
        /// The limit ([`crate::MAX_CACHE_RULES`]).
        limit: usize,
    },
    /// A credential set is not valid.
    #[error("invalid credential set {name:?}: {reason}")]
    InvalidCredentialSet {
        /// The set's name as given.
        name: String,
        /// What is wrong (never a secret: sets hold only references).
        reason: String,
    },
    /// A rule names a credential set that is not defined.
    #[error("the cache rule {rule} names the credential set {name}, which is not defined")]
    UnknownCredentialSet {
        /// The missing set.
        name: String,
        /// The rule naming it.
        rule: String,
    },
    /// A credential set cannot be removed while a rule uses it.
    #[error(
        "the credential set {name} is used by the cache rule {rule}; remove or change that rule first"
    )]
    CredentialSetInUse {
        /// The set.
        name: String,
        /// A rule using it.
        rule: String,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
