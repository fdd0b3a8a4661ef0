//! Docker `config.json` fixtures and the credential-helper protocol, with a fake helper
//! script found through a search path of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orca_auth::{AuthOptions, Authenticator, CredentialSource, Secret};
use orca_credentials::{CredentialHelper, DockerConfig, Error, SystemCommandRunner};

use crate::{describe, drive, form_value, now, reply, unauthorized, uri};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn auths_fixture() {
    let config = DockerConfig::from_path(&fixture("config-auths.json")).expect("fixture parses");
    let cases = [
        ("docker.io", "basic hubuser:hub-password"),
        ("registry-1.docker.io", "basic hubuser:hub-password"),
        ("index.docker.io", "basic hubuser:hub-password"),
        ("localhost:5000", "basic local:local-password"),
        ("registry.example", "basic example:example-password"),
        ("REGISTRY.example", "basic example:example-password"),
        (
            "contoso.azurecr.io",
            "identity Some(\"00000000-0000-0000-0000-000000000000\") acr-refresh-token",
        ),
        (
            "identity.example",
            "identity Some(\"ident\") identity-token-value",
        ),
        ("token.example", "registry-token registry-token-value"),
        ("empty.example", "anonymous"),
        ("unknown.example", "anonymous"),
        ("localhost:5001", "anonymous"),
    ];
    assert_eq!(cases.len(), 12);
    for (registry, expected) in cases {
        let credential = config.credential(registry).expect("lookup");
        assert_eq!(describe(&credential), expected, "{registry}");
    }
    assert_eq!(config.path(), Some(fixture("config-auths.json").as_path()));
}

#[test]
fn config_location_from_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture("config-auths.json"), dir.path().join("config.json")).expect("copy");
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(home.path().join(".docker")).expect("mkdir");
    std::fs::write(
        home.path().join(".docker/config.json"),
        r#"{"auths":{"home.example":{"auth":"aDpw"}}}"#,
    )
    .expect("write");

    let env = |pairs: &[(&str, &Path)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.display().to_string()))
            .collect()
    };
    let with_docker_config = env(&[("DOCKER_CONFIG", dir.path()), ("HOME", home.path())]);
    let config = DockerConfig::load(&with_docker_config).expect("loads");
    assert_eq!(
        describe(&config.credential("docker.io").expect("lookup")),
        "basic hubuser:hub-password"
    );

    let home_only = env(&[("HOME", home.path())]);
    let config = DockerConfig::load(&home_only).expect("loads");
    assert_eq!(
        describe(&config.credential("home.example").expect("lookup")),
        "basic h:p"
    );
    assert_eq!(
        DockerConfig::default_path(&home_only),
        Some(home.path().join(".docker/config.json"))
    );

    // Nothing set, or a directory without a config: an empty config.
    let config = DockerConfig::load(&HashMap::new()).expect("empty");
    assert!(
        config
            .credential("docker.io")
            .expect("lookup")
            .is_anonymous()
    );
    let empty_dir = tempfile::tempdir().expect("temp dir");
    let config =
        DockerConfig::load(&env(&[("DOCKER_CONFIG", empty_dir.path())])).expect("missing file");
    assert!(
        config
            .credential("docker.io")
            .expect("lookup")
            .is_anonymous()
    );
}

#[test]
fn malformed_configs_are_errors() {
    let mut messages = Vec::new();
    for name in ["config-malformed-auth.json", "config-not-json.json"] {
        let err = DockerConfig::from_path(&fixture(name)).expect_err(name);
        assert!(matches!(err, Error::DockerConfig { .. }), "{err}");
        messages.push(
            err.to_string()
                .replace(env!("CARGO_MANIFEST_DIR"), "<crate>"),
        );
    }
    for (json, what) in [
        (r#"{"auths":{"a":{"auth":"bm9jb2xvbg=="}}}"#, "no colon"),
        (r#"{"auths":{"a":{"username":"u"}}}"#, "no password"),
        (
            r#"{"auths":{"a":{"password":"only-a-password"}}}"#,
            "no username",
        ),
    ] {
        let err = DockerConfig::from_json(json.as_bytes(), None).expect_err(what);
        assert!(!err.to_string().contains("only-a-password"));
        messages.push(err.to_string());
    }
    assert_eq!(messages.len(), 5);
    insta::assert_snapshot!(messages.join("\n"));
}

const FAKE_HELPER: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
input="$(cat)"
case "$1" in
get)
  case "$input" in
    helper.example) printf '{"ServerURL":"%s","Username":"<token>","Secret":"helper-identity-token"}' "$input" ;;
    https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubhelper","Secret":"hub-helper-password"}' "$input" ;;
    garbage.example) printf 'not json' ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
store) printf '%s' "$input" > "$dir/stored.json" ;;
erase) printf '%s' "$input" > "$dir/erased.txt" ;;
list) printf '{"helper.example":"<token>","https://index.docker.io/v1/":"hubhelper"}' ;;
*) echo "unknown verb $1" >&2; exit 2 ;;
esac
"#;

/// Writes the fake `docker-credential-fake` into a temp dir; returns the dir and a runner
/// that finds programs only there.
fn fake_helper() -> (tempfile::TempDir, Arc<SystemCommandRunner>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("docker-credential-fake");
    std::fs::write(&path, FAKE_HELPER).expect("write helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let runner = Arc::new(SystemCommandRunner::with_search_path(
        dir.path().as_os_str(),
    ));
    (dir, runner)
}

#[test]
fn credential_helper_protocol_with_a_fake_script() {
    let (dir, runner) = fake_helper();
    let helper = CredentialHelper::new("fake", runner);
    assert_eq!(helper.program(), "docker-credential-fake");

    let got = helper.get("helper.example").expect("get").expect("found");
    assert_eq!(describe(&got), "identity None helper-identity-token");
    let got = helper
        .get("https://index.docker.io/v1/")
        .expect("get")
        .expect("found");
    assert_eq!(describe(&got), "basic hubhelper:hub-helper-password");
    assert!(
        helper
            .get("nothing.example")
            .expect("not found is not an error")
            .is_none()
    );
    let err = helper.get("garbage.example").expect_err("bad JSON");
    assert!(err.to_string().contains("no credential JSON"), "{err}");

    helper
        .store("new.example", "newuser", &Secret::new("stored-secret"))
        .expect("store");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stored.json")).expect("stored"))
            .expect("JSON");
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": "new.example", "Username": "newuser", "Secret": "stored-secret"})
    );
    helper.erase("new.example").expect("erase");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("erased.txt")).expect("erased"),
        "new.example"
    );
    let list = helper.list().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list["helper.example"], "<token>");

    let missing = CredentialHelper::new(
        "absent",
        Arc::new(SystemCommandRunner::with_search_path(
            dir.path().as_os_str(),
        )),
    );
    let err = missing.get("x").expect_err("no such helper");
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
}

#[test]
fn docker_config_helpers_and_store() {
    let (_dir, runner) = fake_helper();
    let config = DockerConfig::from_path(&fixture("config-helpers.json"))
        .expect("fixture")
        .with_runner(runner);
    assert_eq!(config.helper_for("helper.example"), Some("fake"));
    assert_eq!(config.helper_for("broken.example"), Some("absent"));
    assert_eq!(
        config.helper_for("other.example"),
        Some("fake"),
        "credsStore"
    );
    assert_eq!(
        describe(&config.credential("helper.example").expect("lookup")),
        "identity None helper-identity-token"
    );
    // Docker Hub is asked as https://index.docker.io/v1/ through the store.
    assert_eq!(
        describe(&config.credential("docker.io").expect("lookup")),
        "basic hubhelper:hub-helper-password"
    );
    // With a store, the file's auths are not used (docker does the same).
    assert!(
        config
            .credential("plain.example")
            .expect("lookup")
            .is_anonymous()
    );
    assert!(
        config
            .credential("missing.example")
            .expect("lookup")
            .is_anonymous()
    );
    // A helper that cannot run is an error, not anonymous access.
    let err = config.lookup("broken.example").expect_err("absent helper");
    assert!(matches!(err, Error::CredentialHelper { .. }), "{err}");
    let err = config
        .credential("broken.example")
        .expect_err("absent helper");
    assert!(
        matches!(err, orca_auth::Error::CredentialLookup { .. }),
        "{err}"
    );

    // The helper's identity token drives a refresh-token negotiation.
    let auth = Authenticator::new(config, AuthOptions::default());
    let negotiation = auth
        .challenge(
            &uri("https://helper.example/v2/a/manifests/latest"),
            &unauthorized(&[
                r#"Bearer realm="https://helper.example/token",service="helper.example""#,
            ]),
            &[orca_auth::Scope::repository(
                "a",
                &[orca_auth::Action::Pull],
            )],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![reply(200, r#"{"access_token":"from-helper"}"#)],
    );
    assert_eq!(
        form_value(&outcome.requests[0], "refresh_token").as_deref(),
        Some("helper-identity-token")
    );
    assert_eq!(
        outcome.result.expect("token").header_value(),
        "Bearer from-helper"
    );
}

#[test]
fn store_and_erase_in_auths_keep_unknown_keys() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("docker").join("config.json");
    // A missing file is an empty config that can be saved (the directory is created).
    let mut config = DockerConfig::from_path(&path).expect("missing file");
    config
        .store("Reg.Example:5000", "alice", &Secret::new("alice-pw"))
        .expect("store");
    config
        .store("docker.io", "hub", &Secret::new("hub-pw"))
        .expect("store");
    config
        .store("tok.example", "<token>", &Secret::new("identity-tok"))
        .expect("store");
    config
        .store_identity_token(
            "contoso.azurecr.io",
            "00000000-0000-0000-0000-000000000000",
            &Secret::new("acr-refresh"),
        )
        .expect("store");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    assert_eq!(
        written,
        serde_json::json!({"auths": {
            "reg.example:5000": {"auth": "YWxpY2U6YWxpY2UtcHc="},
            "https://index.docker.io/v1/": {"auth": "aHViOmh1Yi1wdw=="},
            "tok.example": {"identitytoken": "identity-tok"},
            // What `az acr login` leaves: the null-GUID user without a password.
            "contoso.azurecr.io": {
                "auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==",
                "identitytoken": "acr-refresh",
            },
        }})
    );
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the config holds secrets: private");
    // Read back through a fresh load.
    let again = DockerConfig::from_path(&path).expect("reads back");
    assert_eq!(
        describe(&again.lookup("registry-1.docker.io").expect("lookup")),
        "basic hub:hub-pw"
    );
    assert_eq!(
        describe(&again.lookup("tok.example").expect("lookup")),
        "identity None identity-tok"
    );
    assert_eq!(
        describe(&again.lookup("contoso.azurecr.io").expect("lookup")),
        "identity Some(\"00000000-0000-0000-0000-000000000000\") acr-refresh"
    );

    // Unknown keys, and unknown fields of entries, survive a store and an erase.
    std::fs::write(
        &path,
        r#"{"auths":{"https://reg.example/v2/":{"auth":"b2xkOm9sZA==","email":"x@y"},"keep.example":{"auth":"azpr"}},"psFormat":"table","proxies":{"default":{"httpProxy":"http://p:3128"}}}"#,
    )
    .expect("write");
    let mut config = DockerConfig::from_path(&path).expect("reads");
    config
        .store("reg.example", "new", &Secret::new("new-pw"))
        .expect("store");
    config.erase("keep.example").expect("erase");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    assert_eq!(
        written,
        serde_json::json!({
            "auths": {"https://reg.example/v2/": {"auth": "bmV3Om5ldy1wdw=="}},
            "psFormat": "table",
            "proxies": {"default": {"httpProxy": "http://p:3128"}},
        })
    );
    assert_eq!(
        describe(&config.lookup("reg.example").expect("lookup")),
        "basic new:new-pw"
    );
    // Only the config file is left in the directory: no temporary file behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("config.json")]);

    // A config not read from a file cannot be saved.
    let mut in_memory = DockerConfig::from_json(b"{}", None).expect("empty");
    let err = in_memory
        .store("a.example", "u", &Secret::new("p-value"))
        .expect_err("no file");
    assert!(err.to_string().contains("cannot be saved"), "{err}");
}

#[test]
fn store_and_erase_through_helpers() {
    let (helper_dir, runner) = fake_helper();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"credHelpers":{"helper.example":"fake"},"auths":{"plain.example":{"auth":"cDpw"}}}"#,
    )
    .expect("write");
    let mut config = DockerConfig::from_path(&path)
        .expect("reads")
        .with_runner(runner);
    config
        .store("helper.example", "hu", &Secret::new("helper-secret"))
        .expect("store through the helper");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(helper_dir.path().join("stored.json")).expect("the helper stored it"),
    )
    .expect("JSON");
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": "helper.example", "Username": "hu", "Secret": "helper-secret"})
    );
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(!text.contains("helper-secret"), "{text}");
    let written: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(written["auths"]["helper.example"], serde_json::json!({}));
    assert_eq!(written["credHelpers"]["helper.example"], "fake");

    config
        .store_identity_token(
            "helper.example",
            "00000000-0000-0000-0000-000000000000",
            &Secret::new("acr-refresh"),
        )
        .expect("an identity token through the helper");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(helper_dir.path().join("stored.json")).expect("the helper stored it"),
    )
    .expect("JSON");
    // Docker's native store: an identity token goes to helpers as the user `<token>`.
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": "helper.example", "Username": "<token>", "Secret": "acr-refresh"})
    );
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(!text.contains("acr-refresh"), "{text}");

    config
        .erase("helper.example")
        .expect("erase through the helper");
    assert_eq!(
        std::fs::read_to_string(helper_dir.path().join("erased.txt")).expect("erased"),
        "helper.example"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    assert_eq!(
        written["auths"],
        serde_json::json!({"plain.example": {"auth": "cDpw"}})
    );
}

#[test]
fn a_helper_that_hangs_is_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("docker-credential-hang");
    std::fs::write(&path, "#!/bin/sh\ncat > /dev/null\nexec sleep 30\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let runner = SystemCommandRunner::with_search_path(dir.path().as_os_str())
        .with_timeout(std::time::Duration::from_millis(200));
    let helper = CredentialHelper::new("hang", Arc::new(runner));
    let err = helper.get("reg.example").expect_err("stopped");
    assert!(
        err.to_string().contains("did not finish within 200 ms"),
        "{err}"
    );
}
