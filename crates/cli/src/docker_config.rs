//! Writing logins to docker's `config.json`, as `docker login` and `docker logout` do.
//!
//! Reading is the facade's (a `DockerConfig` credential source); this module only writes:
//! through the credential helper `credHelpers` or `credsStore` names (with an empty `auths`
//! entry marking the login, as docker does), else into `auths` (`auth` = base64 of
//! `user:password`, or `identitytoken` for an identity token). Keys it does not know are
//! kept. The file is replaced atomically through a private (0600) temporary file.
//!
//! Once `orca-credentials` (which has the same writer) is reachable through the facade, this
//! module should give way to it.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::exit::Failure;

/// The user name docker writes for an identity (refresh) token.
pub(crate) const IDENTITY_TOKEN_USER: &str = "<token>";

/// The key docker uses for Docker Hub.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The `auths` key and helper server name for `registry`.
fn server_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_owned(),
        other => other.to_owned(),
    }
}

/// The host a key names (`https://host/v1/` → `host`).
fn key_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

fn read(path: &Path) -> Result<Map<String, Value>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Failure::other(format!(
                "{}: not a JSON object",
                path.display()
            ))),
            Err(e) => Err(Failure::other(format!("{}: not JSON: {e}", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(Failure::io("reading", path, &e)),
    }
}

fn write(path: &Path, document: &Map<String, Value>) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::io("creating", dir, &e))?;
    let mut text = serde_json::to_vec_pretty(document)
        .map_err(|e| Failure::other(format!("writing {}: {e}", path.display())))?;
    text.push(b'\n');
    // tempfile creates the file readable by its owner only.
    let mut file = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(|e| Failure::io("creating a temporary file in", dir, &e))?;
    file.write_all(&text)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| Failure::io("writing", file.path(), &e))?;
    file.persist(path)
        .map_err(|e| Failure::io("replacing", path, &e.error))?;
    Ok(())
}

/// The helper for `registry`: `credHelpers[registry]`, else `credsStore`.
fn helper_for(document: &Map<String, Value>, registry: &str) -> Option<String> {
    let key = server_key(registry);
    document
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| helpers.get(registry).or_else(|| helpers.get(&key)))
        .or_else(|| document.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// Run `docker-credential-<helper> <action>` with `input` on stdin.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<String, Failure> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::other(format!("running {program} {action}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| Failure::other(format!("writing to {program} {action}: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Failure::other(format!("running {program} {action}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        // Helpers print their error on stdout; neither stream holds the secret we sent.
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(Failure::other(format!(
            "{program} {action} failed: {}",
            if stdout.is_empty() { stderr } else { stdout }
        )))
    }
}

fn auths(document: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, Failure> {
    document
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Failure::other("config.json: \"auths\" is not an object"))
}

/// Save a login for `registry` in the file at `path`.
///
/// # Security
///
/// The secret goes to the helper's stdin or into the file (mode 0600); never to an
/// argument, a log or an error.
pub(crate) fn store(
    path: &Path,
    registry: &str,
    username: &str,
    secret: &str,
) -> Result<(), Failure> {
    let mut document = read(path)?;
    let key = server_key(registry);
    let entry = if let Some(helper) = helper_for(&document, registry) {
        let input = json!({"ServerURL": key, "Username": username, "Secret": secret});
        run_helper(&helper, "store", input.to_string().as_bytes())?;
        json!({})
    } else if username == IDENTITY_TOKEN_USER {
        json!({"identitytoken": secret})
    } else {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
        json!({"auth": auth})
    };
    let auths = auths(&mut document)?;
    let host = key_host(&key);
    auths.retain(|k, _| key_host(k) != host);
    auths.insert(key, entry);
    write(path, &document)
}

/// Remove the login for `registry` from the file at `path` (and its helper). Returns
/// whether there was one.
pub(crate) fn erase(path: &Path, registry: &str) -> Result<bool, Failure> {
    let mut document = read(path)?;
    let key = server_key(registry);
    let mut found = false;
    if let Some(helper) = helper_for(&document, registry) {
        match run_helper(&helper, "erase", key.as_bytes()) {
            Ok(_) => found = true,
            Err(e) if e.message.to_ascii_lowercase().contains("not found") => {}
            Err(e) => return Err(e),
        }
    }
    let host = key_host(&key);
    let auths = auths(&mut document)?;
    let before = auths.len();
    auths.retain(|k, _| key_host(k) != host);
    found |= auths.len() != before;
    write(path, &document)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_erase_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths": {"https://other.example/v1/": {"auth": "eDp5"}}, "experimental": "enabled"}"#,
        )
        .unwrap();
        store(&path, "localhost:5000", "admin", "s3cret").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auths"]["localhost:5000"]["auth"], "YWRtaW46czNjcmV0");
        assert_eq!(v["auths"]["https://other.example/v1/"]["auth"], "eDp5");
        assert_eq!(v["experimental"], "enabled");

        store(&path, "localhost:5000", IDENTITY_TOKEN_USER, "refresh").unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v["auths"]["localhost:5000"],
            json!({"identitytoken": "refresh"})
        );

        assert!(erase(&path, "localhost:5000").unwrap());
        assert!(!erase(&path, "localhost:5000").unwrap());
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(v["auths"].get("localhost:5000").is_none());
        assert_eq!(v["auths"]["https://other.example/v1/"]["auth"], "eDp5");

        store(&path, "docker.io", "u", "p").unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(v["auths"].get(DOCKER_HUB_KEY).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        store(&path, "r.example", "u", "p").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    #[test]
    fn helpers_are_chosen_per_registry() {
        let doc: Map<String, Value> = serde_json::from_str(
            r#"{"credsStore": "desktop", "credHelpers": {"myacr.azurecr.io": "acr-env"}}"#,
        )
        .unwrap();
        assert_eq!(
            helper_for(&doc, "myacr.azurecr.io").as_deref(),
            Some("acr-env")
        );
        assert_eq!(helper_for(&doc, "ghcr.io").as_deref(), Some("desktop"));
        assert_eq!(helper_for(&Map::new(), "ghcr.io"), None);
    }
}
