//! What a [`MockRegistry`](crate::MockRegistry) serves and how.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::FaultPlan;

/// Everything [`MockRegistry::start`](crate::MockRegistry::start) needs.
///
/// Build it from [`Config::default`] (loopback port 0, memory storage, no auth, no faults)
/// with struct update syntax or the `with_*` methods.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:0` (a free port).
    pub addr: SocketAddr,
    /// Who may do what.
    pub auth: AuthMode,
    /// Where content lives.
    pub storage: Storage,
    /// Misbehaviour to inject from the first request on; more can be added at run time
    /// through [`MockRegistry::faults`](crate::MockRegistry::faults).
    pub faults: FaultPlan,
    /// Minimum length of every chunk of a chunked upload except the last, advertised as
    /// `OCI-Chunk-Min-Length` and enforced (a `PATCH` after a short chunk gets 416).
    /// Default: none.
    pub chunk_min_length: Option<u64>,
    /// Largest manifest accepted; larger `PUT`s get 413 `SIZE_INVALID`. Default 4 MiB.
    pub max_manifest_size: usize,
    /// Serve the referrers API (`GET /v2/<name>/referrers/<digest>`). Default true; false
    /// answers 404 like a registry without it (distribution 2.8), for client fallback tests.
    pub referrers_api: bool,
    /// Directory storage: flush each blob and each new `state.json` to disk before it is
    /// renamed into place and acknowledged, as distribution does for blobs. Default true;
    /// false keeps them in the page cache
    /// only (they survive a restart of the registry but perhaps not of the machine), for
    /// benchmarks that measure the network and hashing rather than the disk.
    pub fsync: bool,
    /// Serve HTTPS (both listeners) with this certificate and key instead of plain HTTP.
    /// Default none. Needs the `tls` feature: without it, [`MockRegistry::start`] refuses a
    /// config that sets it.
    ///
    /// [`MockRegistry::start`]: crate::MockRegistry::start
    pub tls: Option<TlsIdentity>,
    /// How long a client has to send a request's headers (HTTP/1), and to finish the TLS
    /// handshake, before its connection is closed, so that idle or trickling connections
    /// do not pile up in `orca serve`. Default 30 s.
    pub header_read_timeout: Duration,
    /// How many connections each listener serves at once (512; 0 counts as 1); beyond it,
    /// new ones wait in the backlog until one ends, so a flood of clients cannot exhaust
    /// `orca serve`'s file descriptors.
    pub max_connections: usize,
}

/// A PEM certificate chain and its private key, for [`Config::tls`].
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, leaf first, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: Secret,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &self.key_pem)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            auth: AuthMode::None,
            storage: Storage::Memory,
            faults: FaultPlan::default(),
            chunk_min_length: None,
            max_manifest_size: 4 * 1024 * 1024,
            referrers_api: true,
            fsync: true,
            tls: None,
            header_read_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

impl Config {
    /// This config with `auth`.
    #[must_use]
    pub fn with_auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }

    /// This config with `storage`.
    #[must_use]
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// This config with [`Config::fsync`] set to `fsync`.
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// This config serving HTTPS with `identity` (feature `tls`).
    #[must_use]
    pub fn with_tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// This config with `faults` active from the start.
    #[must_use]
    pub fn with_faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }
}

/// Where a registry keeps its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// In memory, gone when the registry stops.
    #[default]
    Memory,
    /// In a directory: blobs content-addressed under `blobs/<algorithm>/<encoded>`, written
    /// to `uploads/` first and renamed into place when complete and verified, and the
    /// repositories' tags and links in `state.json` (also replaced by rename). A registry
    /// started on the same directory again serves the same content.
    Directory(PathBuf),
}

/// A password or token that must never be printed. `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    ///
    /// # Security
    ///
    /// Do not log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// A user who may log in with a name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: Secret,
    /// What the user may do.
    pub access: Access,
}

impl User {
    /// A user who may pull, push and delete everywhere and list the catalog.
    pub fn new(name: impl Into<String>, password: impl Into<Secret>) -> User {
        User {
            name: name.into(),
            password: password.into(),
            access: Access::Full,
        }
    }

    /// A user who may only pull (and list tags and referrers).
    pub fn pull_only(name: impl Into<String>, password: impl Into<Secret>) -> User {
        User {
            access: Access::Pull,
            ..User::new(name, password)
        }
    }

    /// Whether `password` is this user's: compared in constant time, or, when the stored
    /// password is a bcrypt hash (`$2a$`, `$2b$`, `$2y$`: an htpasswd line's), verified
    /// against it with the `htpasswd` feature (without it, such a user never matches).
    pub fn verify(&self, password: &str) -> bool {
        let stored = self.password.expose();
        if is_bcrypt(stored) {
            #[cfg(feature = "htpasswd")]
            return bcrypt::verify(password, stored).unwrap_or(false);
            #[cfg(not(feature = "htpasswd"))]
            return false;
        }
        let (a, b) = (stored.as_bytes(), password.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }

    /// Whether the password is stored as a bcrypt hash (slow to verify: callers that check
    /// every request may remember a success).
    pub fn has_hashed_password(&self) -> bool {
        is_bcrypt(self.password.expose())
    }

    /// Parse `name:password` (the binary's `--user`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) without a `:` or with an
    /// empty name.
    pub fn parse(spec: &str) -> Result<User, crate::Error> {
        match spec.split_once(':') {
            Some((name, password)) if !name.is_empty() => Ok(User::new(name, password)),
            _ => Err(crate::Error::InvalidConfig {
                field: "user",
                reason: "expected NAME:PASSWORD with a non-empty name".to_owned(),
            }),
        }
    }
}

/// A bcrypt hash as htpasswd writes it: `$2a$`, `$2b$` or `$2y$`, 60 characters.
fn is_bcrypt(text: &str) -> bool {
    text.len() == 60 && ["$2a$", "$2b$", "$2y$"].iter().any(|p| text.starts_with(p))
}

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Pull, push and delete in every repository, and list the catalog.
    Full,
    /// Pull only.
    Pull,
}

/// How a registry authenticates and authorises requests. Every request is checked.
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Everything is allowed to everyone.
    #[default]
    None,
    /// HTTP Basic on every request (`WWW-Authenticate: Basic realm="orca-mock-registry"`),
    /// like distribution with `htpasswd`.
    Basic {
        /// Who may log in.
        users: Vec<User>,
    },
    /// A Docker-style token service at `<base>/token` (`GET` with optional Basic, `POST`
    /// with `grant_type=password|refresh_token`). Challenges are
    /// `Bearer realm="<base>/token",service="<host>",scope="repository:<name>:<actions>"`;
    /// responses carry `token`, `access_token`, `expires_in` and `issued_at`.
    Bearer(TokenService),
    /// Azure Container Registry's flavour: `POST /oauth2/exchange` trades an Azure AD
    /// token for a refresh token, `POST /oauth2/token` trades a refresh token (or a user's
    /// password) for an access token, `GET /oauth2/token` serves anonymous and Basic
    /// callers. Access tokens are JWT-shaped with an `exp` claim and the token responses
    /// carry no `expires_in`, as ACR's do. The challenge realm is `<base>/oauth2/token`.
    Acr(AcrService),
}

impl AuthMode {
    /// Basic auth with one user with full access.
    pub fn basic(name: &str, password: &str) -> AuthMode {
        AuthMode::Basic {
            users: vec![User::new(name, password)],
        }
    }

    /// A bearer token service with one user with full access and no anonymous pull.
    pub fn bearer(name: &str, password: &str) -> AuthMode {
        AuthMode::Bearer(TokenService {
            users: vec![User::new(name, password)],
            ..TokenService::default()
        })
    }

    /// ACR-style auth accepting `aad_token` at `/oauth2/exchange` and one user.
    pub fn acr(aad_token: &str, name: &str, password: &str) -> AuthMode {
        AuthMode::Acr(AcrService {
            aad_tokens: vec![Secret::new(aad_token)],
            users: vec![User::new(name, password)],
            ..AcrService::default()
        })
    }

    /// The users who may log in with a password in this mode.
    pub(crate) fn users(&self) -> &[User] {
        match self {
            AuthMode::None => &[],
            AuthMode::Basic { users } => users,
            AuthMode::Bearer(service) => &service.users,
            AuthMode::Acr(service) => &service.users,
        }
    }
}

/// Settings of the Docker-style token service ([`AuthMode::Bearer`]).
#[derive(Debug, Clone)]
pub struct TokenService {
    /// Who may log in.
    pub users: Vec<User>,
    /// Whether a token requested without credentials may pull.
    pub anonymous_pull: bool,
    /// Lifetime of issued access tokens (`expires_in`). Default 300 s.
    pub token_lifetime: Duration,
}

impl Default for TokenService {
    fn default() -> Self {
        TokenService {
            users: Vec::new(),
            anonymous_pull: false,
            token_lifetime: Duration::from_secs(300),
        }
    }
}

/// Settings of the ACR-style token service ([`AuthMode::Acr`]).
#[derive(Debug, Clone)]
pub struct AcrService {
    /// Azure AD access tokens accepted at `/oauth2/exchange`; each stands for a principal
    /// with full access.
    pub aad_tokens: Vec<Secret>,
    /// The tenant `/oauth2/exchange` requires, if any.
    pub tenant: Option<String>,
    /// Users (for example admin users or tokens with passwords) who may log in with Basic
    /// or `grant_type=password`.
    pub users: Vec<User>,
    /// Whether anonymous `GET /oauth2/token` may get a pull token.
    pub anonymous_pull: bool,
    /// Lifetime of issued access tokens (the JWT's `exp`). Default 300 s.
    pub token_lifetime: Duration,
}

impl Default for AcrService {
    fn default() -> Self {
        AcrService {
            aad_tokens: Vec::new(),
            tenant: None,
            users: Vec::new(),
            anonymous_pull: false,
            token_lifetime: Duration::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let modes = [
            AuthMode::basic("u", "hunter2"),
            AuthMode::bearer("u", "hunter2"),
            AuthMode::acr("hunter2", "u", "hunter2"),
        ];
        assert_eq!(modes.len(), 3);
        for mode in modes {
            let debug = format!("{:?}", Config::default().with_auth(mode));
            assert!(!debug.contains("hunter2"), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
    }

    #[test]
    fn user_specs() {
        let u = User::parse("alice:pa:ss").unwrap();
        assert_eq!((u.name.as_str(), u.password.expose()), ("alice", "pa:ss"));
        assert_eq!(u.access, Access::Full);
        for bad in ["nocolon", ":pw"] {
            let err = User::parse(bad).unwrap_err().to_string();
            assert!(err.contains("NAME:PASSWORD"), "{err}");
            assert!(
                !err.contains(bad) || bad.is_empty(),
                "the spec is not echoed: {err}"
            );
        }
    }

    #[test]
    fn passwords_are_verified_plain_or_as_an_htpasswd_bcrypt_hash() {
        let plain = User::new("u", "pw");
        assert!(!plain.has_hashed_password());
        assert!(plain.verify("pw"));
        assert!(!plain.verify("pW") && !plain.verify("pw ") && !plain.verify(""));
        // `htpasswd -nbB -C 4 puller front-s3cret`.
        let hashed =
            User::parse("puller:$2y$04$DC4NA9An6SMu/uJXAid93eQs5U5WvBfujMdzVQLczOlGyQ0Dq940O")
                .unwrap();
        assert!(hashed.has_hashed_password());
        assert!(!hashed.verify("wrong"));
        // The hash itself is never a password.
        assert!(!hashed.verify(hashed.password.expose()));
        assert_eq!(hashed.verify("front-s3cret"), cfg!(feature = "htpasswd"));
    }
}
