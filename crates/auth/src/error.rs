//! The crate's one error type.

use std::fmt;

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
    /// The registry's token service (its realm, or ACR's `/oauth2/exchange`) refused the
    /// request.
    #[error(
        "the registry's token service at {endpoint} refused the {credential} credential for {registry} (scopes {scopes:?}) with HTTP {status}{}",
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
        /// The server's `error`/`error_description`/`errors[].message`, as a sanitized
        /// excerpt (see [`excerpt::sanitize`](crate::excerpt::sanitize)).
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
    /// An Azure AD token provider failed before or after its request (no `access_token`).
    #[error("Azure AD token provider ({provider}) failed: {detail}")]
    Azure {
        /// The provider (`client secret`, `workload identity`, `managed identity`, `Azure CLI`).
        provider: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Entra ID (or the managed identity endpoint) refused to issue an Azure AD token.
    #[error(
        "Entra ID refused the {provider} credential at {endpoint} with HTTP {status}{}",
        detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    IdentityProviderRefused {
        /// The provider (`client secret`, `workload identity`, `managed identity`).
        provider: &'static str,
        /// The URL asked, without its query.
        endpoint: String,
        /// The HTTP status received.
        status: u16,
        /// What Entra ID said (`error: error_description`), as a sanitized excerpt.
        detail: Option<String>,
    },
    /// Looking up the credential failed (a docker config, a credential helper, a
    /// federated token file, `az`): the source's own error.
    #[error("{what}: {source}")]
    CredentialLookup {
        /// What was being looked up (`the credential for reg.example`, …).
        what: String,
        /// The source's error (an `orca_credentials::Error`, for orca's sources).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// Who refused a credential or a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refuser {
    /// Entra ID (Azure AD) or a managed identity endpoint.
    IdentityProvider,
    /// The registry's token service (its realm, or ACR's exchange).
    TokenService,
}

impl Error {
    /// Wraps a credential source's error.
    pub fn credential_lookup(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::CredentialLookup {
            what: what.into(),
            source: source.into(),
        }
    }

    /// Who refused, when a remote service did.
    pub fn refused_by(&self) -> Option<Refuser> {
        match self {
            Error::IdentityProviderRefused { .. } => Some(Refuser::IdentityProvider),
            Error::TokenRejected { .. } => Some(Refuser::TokenService),
            _ => None,
        }
    }
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
