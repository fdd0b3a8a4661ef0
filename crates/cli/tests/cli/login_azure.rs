//! `orca login REGISTRY --azure`: what `az acr login` does, against the embedded registry in
//! ACR mode and a stand-in Entra ID on 127.0.0.1 — then commands use the stored login
//! without `--azure`.

use std::fs;

use base64::Engine as _;

use crate::entra::Entra;
use crate::harness::{Home, Served};

const PLAIN: &str = "--plain-http";
const AAD_TOKEN: &str = "aad-token-for-login-tests";
const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// The stored `auths` entry for `host`.
fn stored_entry(home: &Home, host: &str) -> serde_json::Value {
    let text = fs::read_to_string(home.join("docker/config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["auths"][host].clone()
}

/// The stored login is what `az acr login` leaves: the null-GUID user without a password,
/// and the refresh token as `identitytoken`. Returns the token.
fn assert_acr_login(home: &Home, host: &str) -> String {
    let entry = stored_entry(home, host);
    let auth = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(auth).unwrap(), format!("{NULL_GUID}:"));
    let token = entry["identitytoken"].as_str().unwrap().to_owned();
    assert!(!token.is_empty() && token != AAD_TOKEN, "{entry}");
    token
}

/// Push and pull through the stored login, with no Azure variable set and no `--azure`.
fn push_and_pull_with_the_stored_login(home: &Home, reg: &Served, secrets: &[&str]) {
    let file = home.join("payload.txt");
    fs::write(&file, b"pushed after orca login --azure\n").unwrap();
    let reference = reg.at("azure/login:v1");
    let pushed = home.run(&[
        "push",
        PLAIN,
        &reference,
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    pushed.success();
    let out = home.join("pulled");
    let pulled = home.run(&[
        "pull",
        PLAIN,
        &reference,
        "-o",
        out.to_str().unwrap(),
        "--output",
        "json",
    ]);
    pulled.success();
    assert_eq!(
        fs::read(out.join("payload.txt")).unwrap(),
        fs::read(&file).unwrap()
    );
    for run in [&pushed, &pulled] {
        for secret in secrets {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "a secret was printed: {}{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

/// skopeo reads the stored login (the identity token, traded at `/oauth2/token` as a
/// refresh token), as it reads one `az acr login` left; skipped without skopeo.
fn skopeo_uses_the_login(home: &Home, reference: &str) {
    let found = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("skipped: skopeo is not installed");
        return;
    }
    let out = std::process::Command::new("skopeo")
        .env("HOME", home.join(""))
        .env("TMPDIR", home.join(""))
        .args(["inspect", "--raw", "--tls-verify=false", "--authfile"])
        .arg(home.join("docker/config.json"))
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo with orca's ACR login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "payload.txt"
    );
}

#[test]
fn client_secret_through_the_authority_host() {
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "acr", "--aad-token", AAD_TOKEN]);
    let entra = Entra::start(true, AAD_TOKEN, 4);
    let ca = home.join("entra-ca.pem");
    fs::write(&ca, entra.ca_pem.as_deref().unwrap()).unwrap();
    let login = |extra: &[&str]| {
        let mut args = vec!["login", PLAIN, &reg.host, "--azure", "--output", "json"];
        args.extend_from_slice(extra);
        let out = home
            .orca()
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_CLIENT_ID", "client-1")
            .env("AZURE_CLIENT_SECRET", "client-s3cret")
            .env("AZURE_AUTHORITY_HOST", &entra.url)
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Entra ID's certificate is not trusted without --ca-file: nothing is stored.
    let (code, stdout, stderr) = login(&[]);
    assert_ne!(code, Some(0), "{stdout}{stderr}");
    assert!(!home.join("docker/config.json").exists(), "{stdout}");
    assert!(!stdout.contains("client-s3cret") && !stderr.contains("client-s3cret"));

    let ca_arg = ca.to_str().unwrap();
    let (code, stdout, stderr) = login(&["--ca-file", ca_arg]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["status"], "Login Succeeded", "{printed}");
    let token = assert_acr_login(&home, &reg.host);
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // One client-credentials request to the tenant's token endpoint, the secret in the form.
    let seen: Vec<_> = entra
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/tenant-1/oauth2/v2.0/token");
    assert!(
        seen[0].body.contains("grant_type=client_credentials")
            && seen[0].body.contains("client_id=client-1")
            && seen[0].body.contains("client_secret=client-s3cret"),
        "{}",
        seen[0].body
    );

    push_and_pull_with_the_stored_login(&home, &reg, &["client-s3cret", &token, AAD_TOKEN]);
    skopeo_uses_the_login(&home, &reg.at("azure/login:v1"));

    // Logout forgets it; the registry then refuses.
    home.json(&["logout", &reg.host]);
    home.run(&[
        "resolve",
        PLAIN,
        &reg.at("azure/login:v1"),
        "--output",
        "json",
    ])
    .fails_with(4, "Unauthorized");
}

#[test]
fn app_service_managed_identity() {
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "acr", "--aad-token", AAD_TOKEN]);
    // App Service's identity endpoint is plain HTTP on loopback by nature.
    let identity = Entra::start(false, AAD_TOKEN, 2);
    let login = |home: &Home, reg: &str| {
        home.orca()
            .env("IDENTITY_ENDPOINT", format!("{}/msi/token", identity.url))
            .env("IDENTITY_HEADER", "identity-header-s3cret")
            .args(["login", PLAIN, reg, "--azure", "--output", "json"])
            .output()
            .unwrap()
    };
    let out = login(&home, &reg.host);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = assert_acr_login(&home, &reg.host);

    let seen = identity.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert!(
        seen[0]
            .target
            .starts_with("/msi/token?api-version=2019-08-01&resource="),
        "{}",
        seen[0].target
    );
    assert_eq!(
        seen[0].header("x-identity-header"),
        Some("identity-header-s3cret")
    );

    push_and_pull_with_the_stored_login(
        &home,
        &reg,
        &[&token, AAD_TOKEN, "identity-header-s3cret"],
    );

    // A registry that hands out no refresh token (no ACR exchange): refused, nothing stored.
    let other = Home::new();
    let open = Served::start(&other, &[]);
    let out = login(&other, &open.host);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("handed out no refresh token"),
        "{v}"
    );
    assert!(!other.join("docker/config.json").exists());
}

/// With a credential helper configured (`credsStore`), the refresh token goes to the
/// helper as docker's native store sends it (the user `<token>`), not into config.json.
#[cfg(unix)]
#[test]
fn through_the_configured_credential_helper() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "acr", "--aad-token", AAD_TOKEN]);
    let identity = Entra::start(false, AAD_TOKEN, 2);
    let bin = home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let store = home.join("helper-store");
    // A file-backed helper: `store` keeps the JSON, `get` gives it back.
    let helper = format!(
        "#!/bin/sh\ncase \"$1\" in\n  store) cat > '{0}' ;;\n  get) cat > /dev/null; if [ -f '{0}' ]; then cat '{0}'; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) cat > /dev/null; rm -f '{0}' ;;\nesac\n",
        store.display()
    );
    let path = bin.join("docker-credential-testhelper");
    fs::write(&path, helper).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(home.join("docker")).unwrap();
    fs::write(
        home.join("docker/config.json"),
        r#"{"credsStore":"testhelper"}"#,
    )
    .unwrap();
    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = home
        .orca()
        .env("PATH", &path_env)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", identity.url))
        .env("IDENTITY_HEADER", "h")
        .args(["login", PLAIN, &reg.host, "--azure", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(stored["Username"], "<token>", "{stored}");
    let token = stored["Secret"].as_str().unwrap();
    assert!(!token.is_empty());
    let config = fs::read_to_string(home.join("docker/config.json")).unwrap();
    assert!(!config.contains(token), "{config}");
    assert_eq!(stored_entry(&home, &reg.host), serde_json::json!({}));

    // The helper's login is used.
    let reference = reg.at("azure/helper:v1");
    let file = home.join("f.txt");
    fs::write(&file, b"helper").unwrap();
    let out = home
        .orca()
        .env("PATH", &path_env)
        .args(["push", PLAIN, &reference, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workload_identity_through_the_authority_host() {
    let home = Home::new();
    let reg = Served::start(&home, &["--auth", "acr", "--aad-token", AAD_TOKEN]);
    let entra = Entra::start(true, AAD_TOKEN, 2);
    let ca = home.join("entra-ca.pem");
    fs::write(&ca, entra.ca_pem.as_deref().unwrap()).unwrap();
    let token_file = home.join("federated-token");
    fs::write(&token_file, "federated-assertion-jwt").unwrap();
    let out = home
        .orca()
        .env("AZURE_TENANT_ID", "tenant-2")
        .env("AZURE_CLIENT_ID", "client-2")
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
        .env("AZURE_AUTHORITY_HOST", &entra.url)
        .args(["login", PLAIN, &reg.host, "--azure", "--output", "json"])
        .args(["--ca-file", ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let token = assert_acr_login(&home, &reg.host);
    let seen = entra.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/tenant-2/oauth2/v2.0/token");
    assert!(
        seen[0]
            .body
            .contains("client_assertion=federated-assertion-jwt")
            && seen[0].body.contains("client_id=client-2"),
        "{}",
        seen[0].body
    );
    push_and_pull_with_the_stored_login(&home, &reg, &[&token, "federated-assertion-jwt"]);
}
