//! What every command needs: the global flags turned into paths, a store registry, an
//! [`ArtifactStore`], progress bars and the printer.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orca::auth::{Credential, IDENTITY_TOKEN_USER, Secret, StaticCredentials};
use orca::pull_through::PullThrough;
use orca::reference::Registry;
use orca::{ArtifactStore, CacheOptions, ClientConfig, CredentialSource, StoreRegistry};

use crate::args::{CredentialArgs, Global};
use crate::exit::{Failure, Kind};
use crate::output::Printer;
use crate::progress::Progress;
use crate::transfer::ProgressObserver;

/// How a command may use registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A person at a terminal: any registry, with the docker config's logins (or
    /// `--azure`); registered stores keep their own settings.
    Terminal,
    /// The service path (`fetch`): registered stores only, their limits enforced.
    Service,
}

/// The global flags and what is derived from them.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) global: Global,
    pub(crate) printer: Printer,
    pub(crate) progress: Progress,
    /// The command's `-u/-p` (or identity token) and `copy`'s `--from-*/--to-*`.
    credentials: GivenCredentials,
}

/// Credentials given on the command line, for this run only.
#[derive(Debug, Default)]
pub(crate) struct GivenCredentials {
    /// `-u/-p` (or an identity token): for every registry the command names.
    pub(crate) all: Option<Credential>,
    /// For one registry alone (`copy --from-*/--to-*`); each wins over `all` there.
    pub(crate) by_registry: Vec<(String, Credential)>,
}

impl GivenCredentials {
    /// The credential given for `registry`, if any.
    fn for_registry(&self, registry: &str) -> Option<&Credential> {
        self.by_registry
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(registry))
            .map(|(_, c)| c)
            .or(self.all.as_ref())
    }
}

impl Context {
    pub(crate) fn new(global: Global, printer: Printer, credentials: GivenCredentials) -> Context {
        let progress = Progress::new(!global.no_progress && !printer.json());
        Context {
            global,
            printer,
            progress,
            credentials,
        }
    }

    /// The store-registry file: `--stores`, `$ORCA_STORES`, else `orca/stores.toml` under the
    /// user's config directory.
    pub(crate) fn stores_path(&self) -> Result<PathBuf, Failure> {
        if let Some(path) = &self.global.stores {
            return Ok(path.clone());
        }
        config_dir()
            .map(|d| d.join("orca").join("stores.toml"))
            .ok_or_else(|| {
                Failure::usage(
                    "no config directory (HOME is not set): give the store registry with --stores FILE or ORCA_STORES",
                )
            })
    }

    /// The store registry; empty when its file does not exist yet.
    pub(crate) fn load_stores(&self) -> Result<StoreRegistry, Failure> {
        let path = self.stores_path()?;
        if !path.exists() {
            return Ok(StoreRegistry::new());
        }
        StoreRegistry::load(&path).map_err(|e| {
            Failure::other(format!(
                "reading the store registry {}: {}",
                path.display(),
                crate::exit::chain(&e)
            ))
        })
    }

    /// The docker-style auth file: `--registry-config`, else `$DOCKER_CONFIG/config.json`,
    /// else `~/.docker/config.json`.
    pub(crate) fn docker_config_path(&self) -> Option<PathBuf> {
        if let Some(path) = &self.global.registry_config {
            return Some(path.clone());
        }
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        home_dir().map(|h| h.join(".docker").join("config.json"))
    }

    /// The content cache directory, unless `--no-cache`: `--cache`, else `orca/` under the
    /// user's cache directory (`None` when there is none).
    pub(crate) fn cache_dir(&self) -> Option<PathBuf> {
        if self.global.no_cache {
            return None;
        }
        if let Some(dir) = &self.global.cache {
            return Some(dir.clone());
        }
        cache_dir().map(|d| d.join("orca"))
    }

    /// The credential source for registries that are not registered: `--azure`'s, else the
    /// docker config.
    fn terminal_credentials(&self) -> Result<CredentialSource, Failure> {
        if self.global.azure {
            crate::azure::credential_source()
        } else {
            Ok(CredentialSource::DockerConfig {
                path: self.global.registry_config.clone(),
            })
        }
    }

    /// Client options from the global flags; `registries` are the registries the command
    /// names, which `--plain-http` and `--insecure` apply to.
    pub(crate) fn client_config(&self, registries: &[String]) -> ClientConfig {
        let mut builder = ClientConfig::builder().use_native_roots(true);
        if let Some(ca) = &self.global.ca_file {
            builder = builder.root_certificate(ca.clone());
        }
        // A name that is not a registry is reported when the reference is parsed.
        for registry in registries.iter().filter_map(|r| Registry::parse(r).ok()) {
            if self.global.plain_http {
                builder = builder.plain_http(registry.clone());
            }
            if self.global.insecure {
                builder = builder.insecure_skip_verify(registry);
            }
        }
        builder.build()
    }

    /// An [`ArtifactStore`] for a command that names `references` (whose registries get
    /// `--plain-http`/`--insecure`), with progress bars and, when `cached`, the content
    /// cache.
    pub(crate) fn artifact_store(
        &self,
        references: &[&str],
        access: Access,
        concurrency: Option<u16>,
        cached: bool,
    ) -> Result<(ArtifactStore, Arc<ProgressObserver>), Failure> {
        let mut stores = self.load_stores()?;
        let registries: Vec<String> = references.iter().filter_map(|r| registry_of(r)).collect();
        if access == Access::Terminal && self.global.azure {
            // `--azure` overrides a registered store's credentials for this command.
            for registry in &registries {
                if let Some(store) = stores.get(registry).cloned() {
                    stores.add(store.with_credentials(self.terminal_credentials()?));
                }
            }
        }
        let observer = Arc::new(ProgressObserver::new(self.progress.clone()));
        // The pull-through cache: fetches of the cache registry go through the rules.
        let pull_through = match stores.cache_rules().registry() {
            Some(registry) if stores.cache_rules().is_empty() => {
                tracing::debug!(%registry, "the cache registry has no rules");
                None
            }
            Some(registry) if stores.get_registry(registry).is_none() => {
                tracing::warn!(%registry, "the cache registry is not a registered store; its cache rules are not used");
                None
            }
            Some(registry) => Some(PullThrough::for_registry(registry.clone())),
            None => None,
        };
        let mut builder = ArtifactStore::builder(stores)
            .client_config(self.client_config(&registries))
            .observer(observer.clone());
        // Asked before the docker config or a registered store's own credentials.
        let mut given = StaticCredentials::new();
        let mut any = false;
        for registry in &registries {
            if let Some(credential) = self.credentials.for_registry(registry) {
                given.insert(registry, credential.clone());
                any = true;
            }
        }
        if any {
            builder = builder.credential_source(Arc::new(given));
        }
        if let Some(n) = concurrency {
            builder = builder.concurrency(usize::from(n));
        }
        if access == Access::Terminal {
            builder = builder.allow_unregistered(self.terminal_credentials()?);
        }
        if let Some(pull_through) = pull_through {
            builder = builder.pull_through(pull_through);
        }
        if cached && let Some(dir) = self.cache_dir() {
            builder = builder.cache(dir, CacheOptions::default());
        }
        let store = builder.build().map_err(Failure::from)?;
        Ok((store, observer))
    }
}

/// One line from stdin, without its line ending; `flag` is the option that asked for it
/// (`--password-stdin`), `what` what it is (`password`).
fn read_stdin_secret(flag: &str, what: &str) -> Result<Secret, Failure> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::usage(format!(
            "{flag}: stdin is a terminal; pipe the {what} in (echo \"$SECRET\" | orca …)"
        )));
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|e| Failure::other(format!("reading the {what} from stdin: {e}")))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        return Err(Failure::usage(format!("{flag}: stdin was empty")));
    }
    Ok(Secret::new(line))
}

/// The user name and secret given with `-u/-p`, `--password-stdin` or an identity token
/// (whose user name is docker's `<token>`); `None` when no credential flag was given.
pub(crate) fn given_credential(args: &CredentialArgs) -> Result<Option<(String, Secret)>, Failure> {
    given_credential_with(args, None)
}

/// As [`given_credential`], for the flags `--PREFIX-username` and so on when `prefix` is
/// given (`copy --from-*`), which the messages then name.
pub(crate) fn given_credential_with(
    args: &CredentialArgs,
    prefix: Option<&str>,
) -> Result<Option<(String, Secret)>, Failure> {
    let flag = |name: &str, short: &str| match prefix {
        Some(prefix) => format!("--{prefix}-{name}"),
        None if short.is_empty() => format!("--{name}"),
        None => format!("-{short}"),
    };
    if let Some(token) = &args.identity_token {
        return Ok(Some((IDENTITY_TOKEN_USER.to_owned(), token.clone())));
    }
    if args.identity_token_stdin {
        let secret = read_stdin_secret(&flag("identity-token-stdin", ""), "identity token")?;
        return Ok(Some((IDENTITY_TOKEN_USER.to_owned(), secret)));
    }
    if !args.given() {
        return Ok(None);
    }
    let username = args.username.clone().ok_or_else(|| {
        Failure::usage(format!(
            "a password needs its user name: give {} USER with it",
            flag("username", "u")
        ))
    })?;
    let password = if let Some(p) = &args.password {
        p.clone()
    } else if args.password_stdin {
        read_stdin_secret(&flag("password-stdin", ""), "password")?
    } else {
        return Err(Failure::usage(format!(
            "no password: give {} PASSWORD or {} (or {})",
            flag("password", "p"),
            flag("password-stdin", ""),
            flag("identity-token", ""),
        )));
    };
    Ok(Some((username, password)))
}

/// The registry part of a reference-like argument (`host[:port]/...`), when it has one.
pub(crate) fn registry_of(reference: &str) -> Option<String> {
    let first = reference.split('/').next()?;
    let first = first.split('@').next()?;
    let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
    looks_like_host.then(|| first.to_owned())
}

/// The user's home directory.
pub(crate) fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The user's config directory: `$XDG_CONFIG_HOME` or `~/.config` (`%APPDATA%` on
/// Windows, `~/Library/Application Support` on macOS).
fn config_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return std::env::var_os("APPDATA").map(PathBuf::from);
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Some(PathBuf::from(dir));
    }
    let home = home_dir()?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library").join("Application Support")
    } else {
        home.join(".config")
    })
}

/// The user's cache directory: `$XDG_CACHE_HOME` or `~/.cache` (`%LOCALAPPDATA%` on
/// Windows, `~/Library/Caches` on macOS).
fn cache_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return std::env::var_os("LOCALAPPDATA").map(PathBuf::from);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Some(PathBuf::from(dir));
    }
    let home = home_dir()?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library").join("Caches")
    } else {
        home.join(".cache")
    })
}

impl From<orca::Error> for Failure {
    fn from(e: orca::Error) -> Failure {
        let kind = match &e {
            orca::Error::ArtifactNotFound { .. } => Kind::NotFound,
            orca::Error::Unauthorized { .. } => Kind::Unauthorized,
            orca::Error::TooLargeArtifacts { .. } => Kind::TooLarge,
            orca::Error::ArtifactStoreIsNotRegistered { .. } => Kind::NotRegistered,
            orca::Error::FailedToConnectToArtifactStore { .. } => Kind::Unreachable,
            orca::Error::InvalidReference { .. } => Kind::Usage,
            _ => Kind::Failure,
        };
        Failure {
            code: e.code().to_owned(),
            http_status: e.http_status(),
            message: e.full_message(),
            hint: hint(&e),
            kind,
        }
    }
}

/// The client error behind a facade error, if any.
fn distribution_error(e: &orca::Error) -> Option<&orca::distribution::Error> {
    let mut source = std::error::Error::source(e);
    // Bounded: error chains are short.
    for _ in 0..16 {
        let cause = source?;
        if let Some(found) = cause.downcast_ref::<orca::distribution::Error>() {
            return Some(found);
        }
        source = cause.source();
    }
    None
}

/// The registry (`host[:port]`) of a URL in an error.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// What to try for the common mistakes a new user meets.
fn hint(e: &orca::Error) -> Option<String> {
    use orca::distribution::Error as Client;
    if let orca::Error::ArtifactStoreIsNotRegistered {
        registry: Some(registry),
        ..
    } = e
    {
        return Some(format!(
            "fetch uses registered stores only: orca store add {registry} [--plain-http] \
             --limit OPERATION=SIZE (orca store list shows them)"
        ));
    }
    let client = distribution_error(e)?;
    match client {
        Client::PlainHttpAnswer { url, .. } => Some(format!(
            "{} speaks plain HTTP: add --plain-http (a registered store: orca store add {} \
             --plain-http)",
            url_host(url),
            url_host(url)
        )),
        Client::Tls { url, .. } if e.full_message().contains("certificate") => Some(format!(
            "{}'s certificate is not trusted: give its CA certificate with --ca-file FILE \
                 (or skip verification for it with --insecure)",
            url_host(url)
        )),
        // A TLS server answering a plain-HTTP request: Go's (docker-registry) with a bare
        // 400, rustls's with a TLS alert that is not HTTP at all.
        Client::Status {
            url,
            status: 400,
            errors,
            ..
        } if url.starts_with("http://") && errors.is_empty() => Some(plain_to_tls(url)),
        Client::Protocol { url, .. } if url.starts_with("http://") => Some(plain_to_tls(url)),
        // A refusal the registry explained itself (ACR's network rules, a pull-through
        // front whose upstream refused it): its words stand; a login hint would mislead.
        Client::Status {
            status: 403,
            errors,
            ..
        } if errors
            .iter()
            .any(|r| !r.message.is_empty() && Some(r.message.as_str()) != r.code.message()) =>
        {
            None
        }
        Client::Connect { url, .. } if e.full_message().contains("Connection refused") => {
            Some(if url.contains("/oauth2/v2.0/token") {
                format!(
                    "nothing accepts connections at {}, the Azure AD authority: check \
                     AZURE_AUTHORITY_HOST",
                    url_host(url)
                )
            } else {
                format!(
                    "nothing accepts connections at {}: is the registry running, and is the \
                     port right?",
                    url_host(url)
                )
            })
        }
        _ => match e {
            // The Azure AD side refused (or was unreachable): the credential is the
            // environment's.
            orca::Error::Unauthorized { .. } if e.full_message().contains("Entra ID") => Some(
                "--azure takes the Azure AD credential from the environment: a client secret \
                 (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), workload identity \
                 (AZURE_FEDERATED_TOKEN_FILE), a managed identity, else `az login`"
                    .to_owned(),
            ),
            // The store's credentials name an environment variable that is not set.
            orca::Error::Unauthorized { .. } if e.full_message().contains("is not set") => Some(
                "the stores file names that environment variable for these credentials: set \
                 it, or change the entry (`orca store add`, `orca cache credential-set add`)"
                    .to_owned(),
            ),
            // Refused without credentials (none configured, or an anonymous token that
            // lacks the right): say how to log in. A refused login says so itself.
            orca::Error::Unauthorized { reference, .. }
                if !e.full_message().contains("rejected the credentials") =>
            {
                let registry = registry_of(reference).unwrap_or_else(|| "REGISTRY".to_owned());
                Some(format!(
                    "if you have not logged in: orca login {registry} -u USER --password-stdin \
                     (or --azure for Azure Container Registry)"
                ))
            }
            _ => None,
        },
    }
}

fn plain_to_tls(url: &str) -> String {
    format!(
        "{} did not answer plain HTTP as a registry does; if it serves HTTPS, drop --plain-http",
        url_host(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_references() {
        assert_eq!(
            registry_of("localhost:5000/a/b:v1").as_deref(),
            Some("localhost:5000")
        );
        assert_eq!(
            registry_of("myacr.azurecr.io/a@sha256:00").as_deref(),
            Some("myacr.azurecr.io")
        );
        assert_eq!(
            registry_of("myacr.azurecr.io").as_deref(),
            Some("myacr.azurecr.io")
        );
        assert_eq!(registry_of("localhost").as_deref(), Some("localhost"));
        assert_eq!(registry_of("library/nginx"), None);
        assert_eq!(registry_of("nginx"), None);
    }

    #[test]
    fn facade_errors_keep_their_code_and_status() {
        let e = orca::Error::TooLargeArtifacts {
            reference: "r".into(),
            operation: "op".into(),
            size: 10,
            limit: 5,
        };
        let f = Failure::from(e);
        assert_eq!(f.code, "TooLargeArtifacts");
        assert_eq!(f.http_status, 400);
        assert_eq!(f.kind, Kind::TooLarge);
        let e = orca::Error::ArtifactStoreIsNotRegistered {
            reference: "r".into(),
            registry: None,
        };
        assert_eq!(Failure::from(e).kind, Kind::NotRegistered);
    }
}
