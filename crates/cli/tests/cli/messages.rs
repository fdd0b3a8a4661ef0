//! What a new user reads when something is wrong: the messages of common mistakes, run
//! against Debian's `docker-registry` (plain, and TLS with Basic auth) and the embedded
//! registry, snapshotted with addresses and digests redacted.

use std::fmt::Write as _;
use std::fs;

use orca_mock_registry::Secret;
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};

use crate::harness::{Home, Served, closed_port};

/// stderr of a run, with `hosts` replaced by names and digests shortened.
fn redact(text: &str, hosts: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (host, name) in hosts {
        out = out.replace(host, name);
    }
    let mut redacted = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("sha256:") {
        redacted.push_str(&rest[..at]);
        let tail = &rest[at + 7..];
        let hex = tail.chars().take_while(char::is_ascii_hexdigit).count();
        redacted.push_str("sha256:<digest>");
        rest = &tail[hex..];
    }
    redacted.push_str(rest);
    redacted
}

/// `orca args…` in text mode: its exit code and stderr, as one snapshot entry.
fn entry(home: &Home, title: &str, args: &[&str], hosts: &[(&str, &str)]) -> String {
    let run = home.run(args);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "## {title}\n$ orca {}\nexit {}",
        redact(&args.join(" "), hosts),
        run.code
    );
    text.push_str(&redact(&run.stderr, hosts));
    text.push('\n');
    text
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn mistakes_against_docker_registry() {
    let rt = runtime();
    let Some(plain) = rt
        .block_on(ReferenceRegistry::start(ReferenceOptions::default()))
        .unwrap()
    else {
        return; // printed "skipped: …"
    };
    let Some(tls) = rt
        .block_on(ReferenceRegistry::start(ReferenceOptions {
            tls: true,
            users: vec![("admin".to_owned(), Secret::new("s3cret"))],
        }))
        .unwrap()
    else {
        return;
    };
    let home = Home::new();
    let ca = home.join("ca.pem");
    fs::write(&ca, tls.ca_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap();
    let file = home.join("notes.txt");
    fs::write(&file, b"notes").unwrap();
    let file = file.to_str().unwrap();
    let down = format!("127.0.0.1:{}", closed_port());
    let home_dir = home.join("");
    let hosts = [
        (plain.host(), "PLAIN-REGISTRY"),
        (tls.host(), "TLS-REGISTRY"),
        (down.as_str(), "DOWN-REGISTRY"),
        (home_dir.to_str().unwrap(), "$HOME/"),
    ];
    let p = |path: &str| format!("{}/{path}", plain.host());
    let t = |path: &str| format!("{}/{path}", tls.host());
    let d = format!("{down}/app:v1");
    let mut all = String::new();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "a plain-HTTP registry contacted over TLS",
            vec!["push".into(), p("app:v1"), file.into()],
        ),
        (
            "a TLS registry contacted in plain HTTP",
            vec!["pull".into(), "--plain-http".into(), t("app:v1")],
        ),
        (
            "a self-signed certificate not trusted",
            vec!["pull".into(), t("app:v1")],
        ),
        (
            "a wrong password",
            vec![
                "login".into(),
                tls.host().into(),
                "-u".into(),
                "admin".into(),
                "-p".into(),
                "wrong".into(),
                "--ca-file".into(),
                ca.into(),
            ],
        ),
        (
            "no login",
            vec!["pull".into(), t("app:v1"), "--ca-file".into(), ca.into()],
        ),
        (
            "a registry that is down",
            vec!["pull".into(), "--plain-http".into(), d.clone()],
        ),
        (
            "an artifact that does not exist",
            vec!["pull".into(), "--plain-http".into(), p("nothing:v1")],
        ),
        (
            "a registry not in the store registry",
            vec![
                "fetch".into(),
                p("app:v1"),
                "--operation".into(),
                "export".into(),
                "-o".into(),
                "out".into(),
            ],
        ),
        (
            "an unknown store removed",
            vec!["store".into(), "remove".into(), "nowhere.example".into()],
        ),
    ];
    for (title, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push_str(&entry(&home, title, &args, &hosts));
    }
    insta::assert_snapshot!("docker_registry", all);
}

#[test]
fn mistakes_against_the_embedded_registry() {
    let home = Home::new();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (home.join("cert.pem"), home.join("key.pem"));
    fs::write(&cert_path, cert.cert.pem()).unwrap();
    fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let tls = Served::start(
        &home,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let bearer = Served::start(&home, &["--auth", "bearer", "--user", "admin:s3cret"]);
    let home_dir = home.join("");
    let hosts = [
        (tls.host.as_str(), "TLS-REGISTRY"),
        (bearer.host.as_str(), "BEARER-REGISTRY"),
        (home_dir.to_str().unwrap(), "$HOME/"),
    ];
    let mut all = String::new();
    let plain_to_tls = ["resolve", "--plain-http", &tls.at("app:v1")];
    all.push_str(&entry(
        &home,
        "a TLS registry (rustls) contacted in plain HTTP",
        &plain_to_tls,
        &hosts,
    ));
    let wrong = [
        "login",
        "--plain-http",
        &bearer.host,
        "-u",
        "admin",
        "-p",
        "wrong",
    ];
    all.push_str(&entry(
        &home,
        "a wrong password at a token service",
        &wrong,
        &hosts,
    ));
    let no_login = ["resolve", "--plain-http", &bearer.at("app:v1")];
    all.push_str(&entry(
        &home,
        "no login at a token service",
        &no_login,
        &hosts,
    ));
    // `login --azure` with Azure AD's authority down.
    let acr = Served::start(&home, &["--auth", "acr", "--aad-token", "aad-token"]);
    let authority = format!("127.0.0.1:{}", closed_port());
    let hosts = [
        (acr.host.as_str(), "ACR-REGISTRY"),
        (authority.as_str(), "AUTHORITY"),
        (home_dir.to_str().unwrap(), "$HOME/"),
    ];
    let run = home
        .orca()
        .env("AZURE_TENANT_ID", "tenant")
        .env("AZURE_CLIENT_ID", "client")
        .env("AZURE_CLIENT_SECRET", "client-s3cret")
        .env("AZURE_AUTHORITY_HOST", format!("https://{authority}"))
        .args(["login", "--plain-http", &acr.host, "--azure"])
        .output()
        .unwrap();
    let _ = writeln!(
        all,
        "## login --azure with the Azure AD authority down\n$ AZURE_AUTHORITY_HOST=https://AUTHORITY orca login --plain-http ACR-REGISTRY --azure\nexit {}",
        run.status.code().unwrap_or(-1)
    );
    all.push_str(&redact(&String::from_utf8_lossy(&run.stderr), &hosts));
    assert!(!all.contains("s3cret"), "{all}");
    insta::assert_snapshot!("embedded_registry", all);
}
