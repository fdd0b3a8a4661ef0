//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while authenticating.
///
/// # Security
///
/// No variant holds a password, token or form body; user names, registries, realms
/// and scopes are not secret and are included so that a failure says what was tried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `WWW-Authenticate` header does not parse.
    #[error("invalid WWW-Authenticate header {input:?} at byte {position}: {kind}")]
    Challenge {
        /// The header value (cut to 256 characters).
        input: String,
        /// What is wrong.
        kind: ChallengeErrorKind,
        /// Byte offset of the problem in `input`.
        position: usize,
    },
    /// A scope string does not parse.
    #[error("invalid scope {input:?} at byte {position}: {kind}")]
    Scope {
        /// The scope text.
        input: String,
        /// What is wrong.
        kind: ScopeErrorKind,
        /// Byte offset of the problem in `input`.
        position: usize,
    },
    /// The response carried no challenge this crate can answer, and no earlier challenge
    /// from this registry is remembered.
    #[error("{registry} sent no supported authentication challenge (schemes offered: {schemes:?})")]
    NoSupportedChallenge {
        /// The registry (`host[:port]`).
        registry: String,
        /// The schemes the response offered, possibly none.
        schemes: Vec<String>,
    },
    /// A Bearer challenge has no `realm`.
    #[error("the Bearer challenge from {registry} has no realm")]
    MissingRealm {
        /// The registry (`host[:port]`).
        registry: String,
    },
    /// The token realm was refused by the realm safety rules.
    #[error("refusing token realm {realm:?} offered by {registry}: {reason}")]
    UnsafeRealm {
        /// The registry (`host[:port]`).
        registry: String,
        /// The realm as offered.
        realm: String,
        /// Why it was refused.
        reason: RealmRejection,
    },
    /// The challenge needs a credential and the source has none for this registry.
    #[error("{registry} requires {scheme} authentication and no credential is configured for it")]
    CredentialRequired {
        /// The registry (`host[:port]`).
        registry: String,
        /// The challenge scheme (`Basic`, `Bearer`).
        scheme: String,
    },
    /// The configured credential cannot answer this kind of challenge.
    #[error("the {credential} credential for {registry} cannot answer a {scheme} challenge")]
    CredentialMismatch {
        /// The registry (`host[:port]`).
        registry: String,
        /// The credential that was configured.
        credential: CredentialKind,
        /// The challenge scheme.
        scheme: String,
    },
    /// A token endpoint (or the ACR exchange) refused the request.
    #[error(
        "{endpoint} refused the {credential} credential for {registry} (scopes {scopes:?}) with HTTP {status}{}",
        detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    TokenRejected {
        /// The registry (`host[:port]`).
        registry: String,
        /// The URL asked, redacted by [`redact_url`](crate::redact_url).
        endpoint: String,
        /// The credential that was tried (boxed to keep `Error` small).
        credential: Box<CredentialKind>,
        /// The scopes asked for, space-separated.
        scopes: String,
        /// The HTTP status received.
        status: u16,
        /// The server's `error`/`error_description`/`errors[].message`, cut short.
        detail: Option<String>,
    },
    /// A token response body is not a usable token response.
    #[error("invalid token response from {endpoint}: {kind}")]
    TokenResponse {
        /// The URL asked, redacted by [`redact_url`](crate::redact_url).
        endpoint: String,
        /// What is wrong.
        kind: TokenResponseErrorKind,
    },
    /// A docker `config.json` is malformed.
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
    /// An Azure AD token provider failed.
    #[error("Azure AD token provider ({provider}) failed: {detail}")]
    Azure {
        /// The provider (`client secret`, `workload identity`, `managed identity`, `Azure CLI`).
        provider: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A required environment variable is not set.
    #[error("environment variable {variable} is not set (needed by {needed_by})")]
    MissingEnvironment {
        /// The variable's name.
        variable: &'static str,
        /// What needed it.
        needed_by: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A URI given to or built by the negotiator is not valid.
    #[error("invalid URI {uri:?}: {detail}")]
    InvalidUri {
        /// The URI text, redacted by [`redact_url`](crate::redact_url).
        uri: String,
        /// What is wrong.
        detail: String,
    },
    /// [`Negotiation`](crate::Negotiation) methods were called out of order.
    #[error("negotiation used out of order: {detail}")]
    OutOfOrder {
        /// What was expected.
        detail: &'static str,
    },
}

/// What is wrong with a `WWW-Authenticate` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeErrorKind {
    /// The header holds no challenge.
    Empty,
    /// An auth scheme (an HTTP token) was expected.
    ExpectedScheme,
    /// A parameter name was expected.
    ExpectedParameter,
    /// A parameter value (token or quoted string) was expected after `=`.
    ExpectedValue,
    /// A quoted string has no closing quote.
    UnterminatedQuotedString,
    /// A character not allowed here.
    InvalidCharacter,
}

impl fmt::Display for ChallengeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChallengeErrorKind::Empty => "no challenge",
            ChallengeErrorKind::ExpectedScheme => "expected an auth scheme",
            ChallengeErrorKind::ExpectedParameter => "expected a parameter name",
            ChallengeErrorKind::ExpectedValue => "expected a parameter value",
            ChallengeErrorKind::UnterminatedQuotedString => "unterminated quoted string",
            ChallengeErrorKind::InvalidCharacter => "unexpected character",
        })
    }
}

/// What is wrong with a scope string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeErrorKind {
    /// Fewer than two `:` separators.
    MissingSeparator,
    /// The resource type is empty.
    EmptyType,
    /// The resource name is empty.
    EmptyName,
    /// An action in the list is empty (`pull,,push`).
    EmptyAction,
    /// Whitespace, a control character, or a character not allowed in a resource type.
    InvalidCharacter,
    /// The parts given do not format to a scope that parses back to the same parts.
    NotCanonical,
}

impl fmt::Display for ScopeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeErrorKind::MissingSeparator => "expected type:name:actions",
            ScopeErrorKind::EmptyType => "empty resource type",
            ScopeErrorKind::EmptyName => "empty resource name",
            ScopeErrorKind::EmptyAction => "empty action",
            ScopeErrorKind::InvalidCharacter => "character not allowed in a scope",
            ScopeErrorKind::NotCanonical => "parts do not round-trip through the scope syntax",
        })
    }
}

/// Why a token realm was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RealmRejection {
    /// The realm is not an http(s) URL, or cannot be resolved.
    NotHttpUrl,
    /// The registry was reached over https and the realm is plain http.
    NotHttps,
    /// The realm is on another host that is a loopback, private, link-local or
    /// unspecified address, and the registry is not; allow it with
    /// [`AuthOptions::trust_realm_host`](crate::AuthOptions::trust_realm_host).
    PrivateHost {
        /// The realm's host.
        host: String,
    },
}

impl fmt::Display for RealmRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealmRejection::NotHttpUrl => f.write_str("not an http or https URL"),
            RealmRejection::NotHttps => {
                f.write_str("the registry uses https but the realm is plain http")
            }
            RealmRejection::PrivateHost { host } => write!(
                f,
                "realm host {host} is a loopback or private address and the registry is not (trust it explicitly to allow)"
            ),
        }
    }
}

/// What is wrong with a token response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenResponseErrorKind {
    /// The body is not JSON (or not a JSON object), at this line and column.
    NotJson {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// Neither `token` nor `access_token` (nor `refresh_token` for an exchange) is a non-empty string.
    MissingToken,
    /// `expires_in` is neither a number nor a string of digits.
    InvalidExpiresIn,
    /// A token is not a valid header value.
    InvalidTokenCharacters,
}

impl fmt::Display for TokenResponseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenResponseErrorKind::NotJson { line, column } => {
                write!(f, "not a JSON object (line {line}, column {column})")
            }
            TokenResponseErrorKind::MissingToken => f.write_str("no token in the response"),
            TokenResponseErrorKind::InvalidExpiresIn => f.write_str("expires_in is not a number"),
            TokenResponseErrorKind::InvalidTokenCharacters => {
                f.write_str("the token has characters not allowed in an HTTP header")
            }
        }
    }
}

/// Which kind of credential was tried, for error messages: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKind {
    /// No credential.
    Anonymous,
    /// User name and password.
    Basic {
        /// The user name.
        username: String,
    },
    /// An identity (refresh) token, with the user name it came with, if any.
    IdentityToken {
        /// The user name, if any.
        username: Option<String>,
    },
    /// A registry (bearer) token used as is.
    RegistryToken,
    /// An Azure AD access token to exchange at ACR.
    AzureAccessToken,
    /// An Azure AD token provider.
    Azure {
        /// The provider's name.
        provider: String,
    },
    /// A refresh token cached from an earlier exchange.
    CachedRefreshToken,
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialKind::Anonymous => f.write_str("anonymous"),
            CredentialKind::Basic { username } => write!(f, "basic (user {username:?})"),
            CredentialKind::IdentityToken { username: Some(u) } => {
                write!(f, "identity token (user {u:?})")
            }
            CredentialKind::IdentityToken { username: None } => f.write_str("identity token"),
            CredentialKind::RegistryToken => f.write_str("registry token"),
            CredentialKind::AzureAccessToken => f.write_str("Azure AD access token"),
            CredentialKind::Azure { provider } => write!(f, "Azure AD ({provider})"),
            CredentialKind::CachedRefreshToken => f.write_str("cached refresh token"),
        }
    }
}
