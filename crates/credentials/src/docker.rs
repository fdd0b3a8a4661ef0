//! Docker `config.json` (read and write) and the docker credential-helper protocol.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use orca_auth::{Credential, CredentialSource, IDENTITY_TOKEN_USER, Secret};
use serde::Deserialize;

use crate::command::{CommandOutput, CommandRunner, SystemCommandRunner};
use crate::env::Environment;
use crate::error::Error;

/// The server URL docker uses for Docker Hub in `config.json` and with helpers.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The host a `config.json` key or registry names: scheme and path removed, lower-cased
/// (`https://index.docker.io/v1/` → `index.docker.io`, `host:5000/v2/` → `host:5000`).
pub fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES.contains(&host)
}

/// Whether two hosts name the same registry (Docker Hub's aliases count as one).
fn same_registry(a: &str, b: &str) -> bool {
    a == b || (is_docker_hub(a) && is_docker_hub(b))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// A docker `config.json`: `auths`, `credHelpers` and `credsStore`, as a
/// [`CredentialSource`].
///
/// Lookup order for a registry follows docker: a `credHelpers` entry for its host, else
/// the `credsStore` helper, else the `auths` entry. Keys match with or without scheme and
/// with `/v1/`/`/v2/` suffixes; `docker.io`, `index.docker.io` and `registry-1.docker.io`
/// are one registry (asked of helpers as `https://index.docker.io/v1/`).
///
/// [`store`](Self::store) and [`erase`](Self::erase) change it the way `docker login` and
/// `docker logout` do, keeping every key orca does not know.
pub struct DockerConfig {
    path: Option<PathBuf>,
    /// The whole document, unknown keys included, for writing back.
    document: serde_json::Map<String, serde_json::Value>,
    auths: Vec<(String, String, Credential)>,
    cred_helpers: Vec<(String, String)>,
    creds_store: Option<String>,
    runner: Arc<dyn CommandRunner>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field(
                "auths",
                &self
                    .auths
                    .iter()
                    .map(|(_, key, c)| (key, c))
                    .collect::<Vec<_>>(),
            )
            .field("cred_helpers", &self.cred_helpers)
            .field("creds_store", &self.creds_store)
            .finish_non_exhaustive()
    }
}

impl DockerConfig {
    /// Parses `config.json` text; `path` is only used in messages.
    ///
    /// # Errors
    ///
    /// [`Error::DockerConfig`] when the JSON is malformed or an `auth` value is not
    /// base64 of `user:password`.
    pub fn from_json(bytes: &[u8], path: Option<&Path>) -> Result<DockerConfig, Error> {
        let error = |detail: String| Error::DockerConfig {
            path: path.map(Path::to_path_buf),
            detail,
        };
        let document: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|err| {
                error(format!(
                    "not a docker config object (line {}, column {})",
                    err.line(),
                    err.column()
                ))
            })?;
        let raw: RawConfig = serde_json::from_value(serde_json::Value::Object(document.clone()))
            .map_err(|err| error(format!("not a docker config object: {err}")))?;
        let mut auths = Vec::new();
        for (key, entry) in raw.auths {
            let credential = entry_credential(&key, entry).map_err(error)?;
            auths.push((normalize_host(&key), key, credential));
        }
        Ok(DockerConfig {
            path: path.map(Path::to_path_buf),
            document,
            auths,
            cred_helpers: raw
                .cred_helpers
                .into_iter()
                .map(|(k, v)| (normalize_host(&k), v))
                .collect(),
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
            runner: Arc::new(SystemCommandRunner::new()),
        })
    }

    /// Reads a `config.json` file; a missing file is an empty config.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file exists but cannot be read, [`Error::DockerConfig`]
    /// when it is malformed.
    ///
    /// Reads a file: blocks. An async caller runs it off its runtime.
    pub fn from_path(path: &Path) -> Result<DockerConfig, Error> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_json(&bytes, Some(path)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut empty = Self::from_json(b"{}", Some(path))?;
                empty.path = Some(path.to_path_buf());
                Ok(empty)
            }
            Err(source) => Err(Error::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Reads `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; with neither
    /// variable set, an empty config.
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path).
    pub fn load(env: &dyn Environment) -> Result<DockerConfig, Error> {
        match Self::default_path(env) {
            Some(path) => Self::from_path(&path),
            None => Self::from_json(b"{}", None),
        }
    }

    /// Where [`load`](Self::load) looks.
    pub fn default_path(env: &dyn Environment) -> Option<PathBuf> {
        if let Some(dir) = env.var("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        env.var("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// Runs credential helpers through `runner` (a fake in tests, a search path of its own).
    #[must_use]
    pub fn with_runner(mut self, runner: Arc<dyn CommandRunner>) -> Self {
        self.runner = runner;
        self
    }

    /// The file this config came from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The helper that serves `registry`: its `credHelpers` entry, else `credsStore`.
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        let host = normalize_host(registry);
        self.cred_helpers
            .iter()
            .find(|(h, _)| same_registry(h, &host))
            .map(|(_, helper)| helper.as_str())
            .or(self.creds_store.as_deref())
    }

    /// The server URL to ask a helper about for `registry`.
    pub fn helper_server(registry: &str) -> String {
        let host = normalize_host(registry);
        if is_docker_hub(&host) {
            DOCKER_HUB_SERVER.to_owned()
        } else {
            host
        }
    }
}

fn entry_credential(key: &str, entry: RawAuth) -> Result<Credential, String> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let (mut username, mut password) = (non_empty(entry.username), non_empty(entry.password));
    if let Some(auth) = non_empty(entry.auth) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| format!("auths[{key:?}].auth is not base64 of user:password"))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths[{key:?}].auth has no ':' between user and password"))?;
        username = Some(user.to_owned());
        password = Some(pass.trim_end_matches('\0').to_owned());
    }
    if let Some(token) = non_empty(entry.identitytoken) {
        return Ok(Credential::IdentityToken {
            username: username.filter(|u| u != IDENTITY_TOKEN_USER),
            token: Secret::new(token),
        });
    }
    if let Some(token) = non_empty(entry.registrytoken) {
        return Ok(Credential::RegistryToken(Secret::new(token)));
    }
    match (username, password) {
        (Some(user), Some(pass)) => Ok(Credential::from_username_secret(&user, pass)),
        (Some(_), None) => Err(format!("auths[{key:?}] has a username but no password")),
        (None, Some(_)) => Err(format!("auths[{key:?}] has a password but no username")),
        (None, None) => Ok(Credential::Anonymous),
    }
}

impl DockerConfig {
    /// The credential for `registry`: its helper's answer, else its `auths` entry.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails (never turned into anonymous).
    pub fn lookup(&self, registry: &str) -> Result<Credential, Error> {
        if let Some(helper) = self.helper_for(registry) {
            let helper = CredentialHelper::new(helper, Arc::clone(&self.runner));
            return Ok(helper
                .get(&Self::helper_server(registry))?
                .unwrap_or(Credential::Anonymous));
        }
        let host = normalize_host(registry);
        // An exact key wins over an alias (`docker.io` vs `index.docker.io`).
        let found = self
            .auths
            .iter()
            .find(|(h, _, _)| *h == host)
            .or_else(|| self.auths.iter().find(|(h, _, _)| same_registry(h, &host)));
        Ok(found.map_or(Credential::Anonymous, |(_, _, c)| c.clone()))
    }

    /// Saves a credential for `registry`, as `docker login` does: through its helper
    /// (`credHelpers`, else `credsStore`) with an empty `auths` entry marking the login,
    /// else in `auths` (`auth` = base64 of `user:secret`, or `identitytoken` when the user
    /// is `<token>`). Then writes the file (see [`save`](Self::save)).
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails; as [`save`](Self::save).
    pub fn store(&mut self, registry: &str, username: &str, secret: &Secret) -> Result<(), Error> {
        let entry = if let Some(helper) = self.helper_for(registry) {
            CredentialHelper::new(helper, Arc::clone(&self.runner)).store(
                &Self::helper_server(registry),
                username,
                secret,
            )?;
            serde_json::json!({})
        } else if username == IDENTITY_TOKEN_USER {
            serde_json::json!({ "identitytoken": secret.expose() })
        } else {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", secret.expose()));
            serde_json::json!({ "auth": auth })
        };
        let key = self.auths_key(registry);
        let auths = self.auths_object()?;
        auths.insert(key, entry);
        self.save()
    }

    /// Saves an identity (refresh) token for `registry`, as `docker login` does when the
    /// registry's token service answers the login with one, and so as `az acr login` leaves
    /// it (with `username` `00000000-0000-0000-0000-000000000000`): through its helper as the
    /// user `<token>` with the token as secret (an empty `auths` entry marking the login),
    /// else in `auths` as `auth` = base64 of `username:` (no password) and `identitytoken`.
    /// Then writes the file (see [`save`](Self::save)).
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails; as [`save`](Self::save).
    pub fn store_identity_token(
        &mut self,
        registry: &str,
        username: &str,
        token: &Secret,
    ) -> Result<(), Error> {
        let entry = if let Some(helper) = self.helper_for(registry) {
            CredentialHelper::new(helper, Arc::clone(&self.runner)).store(
                &Self::helper_server(registry),
                IDENTITY_TOKEN_USER,
                token,
            )?;
            serde_json::json!({})
        } else {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:"));
            serde_json::json!({ "auth": auth, "identitytoken": token.expose() })
        };
        let key = self.auths_key(registry);
        let auths = self.auths_object()?;
        auths.insert(key, entry);
        self.save()
    }

    /// Forgets the credential for `registry`, as `docker logout` does: through its helper
    /// (a helper that has none is not an error), and from `auths` (every key naming the
    /// registry). Then writes the file.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails; as [`save`](Self::save).
    pub fn erase(&mut self, registry: &str) -> Result<(), Error> {
        if let Some(helper) = self.helper_for(registry) {
            let helper = CredentialHelper::new(helper, Arc::clone(&self.runner));
            if let Err(err) = helper.erase(&Self::helper_server(registry))
                && !err.to_string().to_ascii_lowercase().contains("not found")
            {
                return Err(err);
            }
        }
        let host = normalize_host(registry);
        let auths = self.auths_object()?;
        auths.retain(|key, _| !same_registry(&normalize_host(key), &host));
        self.save()
    }

    /// Writes the document back to its file atomically: a private (0600) temporary file
    /// beside it, flushed to disk, then renamed over it, so a reader never sees half a
    /// file and a crash leaves the old one. Keys orca does not know are kept.
    ///
    /// # Errors
    ///
    /// [`Error::DockerConfig`] when the config has no file; [`Error::Io`] when the
    /// directory or file cannot be written.
    pub fn save(&mut self) -> Result<(), Error> {
        let path = self.path.clone().ok_or_else(|| Error::DockerConfig {
            path: None,
            detail: "this config was not read from a file, so it cannot be saved".to_owned(),
        })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let io = |action, source| Error::Io {
            action,
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        let mut text =
            serde_json::to_vec_pretty(&self.document).map_err(|e| Error::DockerConfig {
                path: Some(path.clone()),
                detail: format!("cannot serialise: {e}"),
            })?;
        text.push(b'\n');
        let mut file = tempfile::Builder::new()
            .prefix(".config.json.")
            .tempfile_in(dir)
            .map_err(|e| io("write", e))?;
        file.write_all(&text).map_err(|e| io("write", e))?;
        file.as_file().sync_all().map_err(|e| io("write", e))?;
        file.persist(&path).map_err(|e| io("replace", e.error))?;
        let runner = Arc::clone(&self.runner);
        *self = Self::from_json(&text, Some(&path))?.with_runner(runner);
        Ok(())
    }

    /// The `auths` key to write for `registry`: the existing key that names it, else its
    /// host (Docker Hub: `https://index.docker.io/v1/`, as docker writes it).
    fn auths_key(&self, registry: &str) -> String {
        let host = normalize_host(registry);
        self.auths
            .iter()
            .find(|(h, _, _)| *h == host)
            .map_or_else(|| Self::helper_server(registry), |(_, key, _)| key.clone())
    }

    fn auths_object(&mut self) -> Result<&mut serde_json::Map<String, serde_json::Value>, Error> {
        let path = self.path.clone();
        let auths = self
            .document
            .entry("auths")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        auths.as_object_mut().ok_or(Error::DockerConfig {
            path,
            detail: "\"auths\" is not an object".to_owned(),
        })
    }
}

impl CredentialSource for DockerConfig {
    /// Blocks when a helper runs: the negotiation hands this to the caller as a lookup.
    fn credential(&self, registry: &str) -> Result<Credential, orca_auth::Error> {
        self.lookup(registry).map_err(|err| {
            orca_auth::Error::credential_lookup(
                format!("cannot get the credential for {registry} from the docker config"),
                err,
            )
        })
    }
}

/// A docker credential helper, `docker-credential-<name>`, speaking JSON on stdin/stdout.
pub struct CredentialHelper {
    name: String,
    runner: Arc<dyn CommandRunner>,
}

impl fmt::Debug for CredentialHelper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialHelper")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCredential {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

impl CredentialHelper {
    /// The helper `docker-credential-<name>`, run through `runner`.
    pub fn new(name: &str, runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            name: name.to_owned(),
            runner,
        }
    }

    /// The program name.
    pub fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    fn fail(&self, server: &str, detail: String) -> Error {
        Error::CredentialHelper {
            helper: self.name.clone(),
            server: server.to_owned(),
            detail,
        }
    }

    fn run(&self, verb: &str, server: &str, stdin: &[u8]) -> Result<CommandOutput, Error> {
        self.runner
            .run(&self.program(), &[verb], stdin)
            .map_err(|err| {
                self.fail(
                    server,
                    format!("cannot run {} {verb}: {err}", self.program()),
                )
            })
    }

    fn message(output: &CommandOutput) -> String {
        let text = if output.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &output.stderr
        } else {
            &output.stdout
        };
        String::from_utf8_lossy(text)
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect()
    }

    /// `get`: the credential stored for `server`, `None` when the helper has none.
    /// A user name `<token>` means the secret is an identity token.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails or prints something unusable.
    pub fn get(&self, server: &str) -> Result<Option<Credential>, Error> {
        let output = self.run("get", server, server.as_bytes())?;
        if !output.success {
            let message = Self::message(&output);
            if message
                .to_ascii_lowercase()
                .contains("credentials not found")
            {
                return Ok(None);
            }
            return Err(self.fail(server, format!("get failed: {message}")));
        }
        let parsed: HelperCredential = serde_json::from_slice(&output.stdout).map_err(|err| {
            self.fail(
                server,
                format!(
                    "get printed no credential JSON (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            )
        })?;
        if parsed.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential::from_username_secret(
            &parsed.username,
            parsed.secret,
        )))
    }

    /// `store`: saves a user name and secret for `server`.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails.
    pub fn store(&self, server: &str, username: &str, secret: &Secret) -> Result<(), Error> {
        let body = serde_json::json!({
            "ServerURL": server,
            "Username": username,
            "Secret": secret.expose(),
        });
        let output = self.run("store", server, body.to_string().as_bytes())?;
        if output.success {
            Ok(())
        } else {
            Err(self.fail(server, format!("store failed: {}", Self::message(&output))))
        }
    }

    /// `erase`: forgets the credential for `server`.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails.
    pub fn erase(&self, server: &str) -> Result<(), Error> {
        let output = self.run("erase", server, server.as_bytes())?;
        if output.success {
            Ok(())
        } else {
            Err(self.fail(server, format!("erase failed: {}", Self::message(&output))))
        }
    }

    /// `list`: server URL → user name for every stored credential.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper fails or prints something unusable.
    pub fn list(&self) -> Result<HashMap<String, String>, Error> {
        let output = self.run("list", "*", b"")?;
        if !output.success {
            return Err(self.fail("*", format!("list failed: {}", Self::message(&output))));
        }
        serde_json::from_slice(&output.stdout).map_err(|err| {
            self.fail(
                "*",
                format!(
                    "list printed no JSON object (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn host_normalization() {
        let cases = [
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("http://localhost:5000", "localhost:5000"),
            ("registry.example/v2/", "registry.example"),
            ("MyACR.azurecr.io", "myacr.azurecr.io"),
            ("ghcr.io", "ghcr.io"),
        ];
        assert_eq!(cases.len(), 5);
        for (key, host) in cases {
            assert_eq!(normalize_host(key), host);
        }
    }
}
