//! `orca serve --tls-cert --tls-key`: the embedded registry over HTTPS, trusted by the
//! client through `--ca-file`.

use std::fs;

use crate::harness::{Home, Served};

/// A self-signed certificate for 127.0.0.1, written under the home: (cert, key) paths.
pub(crate) fn certificate(home: &Home) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (home.join("cert.pem"), home.join("key.pem"));
    fs::write(&cert_path, cert.cert.pem()).unwrap();
    fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert_path.to_str().unwrap().to_owned(),
        key_path.to_str().unwrap().to_owned(),
    )
}

#[test]
fn https_with_basic_auth_and_a_ca_file() {
    https_with_a_ca_file("basic");
}

/// In bearer mode the token realm is the same HTTPS server: --ca-file must reach it too.
#[test]
fn https_with_bearer_auth_and_a_ca_file() {
    https_with_a_ca_file("bearer");
}

fn https_with_a_ca_file(auth: &str) {
    let home = Home::new();
    let (cert, key) = certificate(&home);
    let reg = Served::start(
        &home,
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--auth",
            auth,
            "--user",
            "admin:s3cret",
        ],
    );
    let reference = reg.at("tls/app:v1");

    // The certificate is not trusted without --ca-file.
    let untrusted = home.run(&["resolve", &reference, "--output", "json"]);
    assert_ne!(untrusted.code, 0, "{}", untrusted.stdout);
    assert!(
        untrusted.stdout.contains("certificate") || untrusted.stderr.contains("certificate"),
        "the failure names the certificate: {}{}",
        untrusted.stdout,
        untrusted.stderr
    );

    home.json(&[
        "login",
        &reg.host,
        "-u",
        "admin",
        "-p",
        "s3cret",
        "--ca-file",
        &cert,
    ]);
    let file = home.join("payload.txt");
    fs::write(&file, b"over TLS\n").unwrap();
    home.json(&[
        "push",
        &reference,
        file.to_str().unwrap(),
        "--ca-file",
        &cert,
    ]);
    let out = home.join("pulled");
    home.json(&[
        "pull",
        &reference,
        "-o",
        out.to_str().unwrap(),
        "--ca-file",
        &cert,
    ]);
    assert_eq!(
        fs::read(out.join("payload.txt")).unwrap(),
        fs::read(&file).unwrap()
    );

    // SSL_CERT_FILE is honoured as well as --ca-file, as by curl and docker.
    let by_env = home
        .orca()
        .args(["resolve", &reference, "--output", "json"])
        .env("SSL_CERT_FILE", &cert)
        .output()
        .unwrap();
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
}

#[test]
fn unusable_tls_files_are_usage_errors() {
    let home = Home::new();
    let (cert, _) = certificate(&home);
    // The certificate given as its own key: no private key in it.
    let run = home.run(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &cert,
        "--output",
        "json",
    ]);
    let v = run.fails_with(2, "InvalidArgument");
    assert!(
        v["message"].as_str().unwrap().contains("private key"),
        "{v}"
    );
    let run = home.run(&["serve", "--tls-cert", &cert]);
    assert_eq!(run.code, 2, "--tls-cert needs --tls-key: {}", run.stderr);
}

/// A blob `GET` the registry redirects to its storage (another HTTPS origin, as ACR and
/// S3-backed registries do) trusts `--ca-file` there too.
#[test]
fn a_storage_redirect_trusts_the_ca_file() {
    use orca_mock_registry::{Config, Fault, MockRegistry, Secret, TlsIdentity};

    let home = Home::new();
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = home.join("cert.pem").to_str().unwrap().to_owned();
    fs::write(&cert, generated.cert.pem()).unwrap();
    let identity = TlsIdentity {
        cert_pem: generated.cert.pem().into_bytes(),
        key_pem: Secret::new(generated.signing_key.serialize_pem()),
    };
    // The mock serves from the runtime's worker while the test runs the CLI.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = rt
        .block_on(MockRegistry::start(Config::default().with_tls(identity)))
        .unwrap();
    assert!(mock.blob_storage_url().starts_with("https://127.0.0.1:"));
    let reference = format!("{}/redirected/app:v1", mock.host());
    let file = home.join("app.toml");
    fs::write(&file, b"level = 4\n").unwrap();
    home.json(&[
        "push",
        "--ca-file",
        &cert,
        &reference,
        file.to_str().unwrap(),
    ]);

    mock.faults().add(Fault::redirect_blobs());
    mock.clear_requests();
    let out = home.join("out");
    home.json(&[
        "pull",
        "--ca-file",
        &cert,
        &reference,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(out.join("app.toml")).unwrap(), b"level = 4\n");
    let storage_gets = mock
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/storage/") && r.status == 200)
        .count();
    assert_eq!(storage_gets, 1, "the layer came from the storage listener");

    // --insecure covers the registry named (here as localhost, and TLS tells servers by
    // host name), not the storage it redirects to (127.0.0.1): there the certificate is
    // checked, and without --ca-file not trusted.
    let by_name = reference.replace("127.0.0.1", "localhost");
    mock.clear_requests();
    let insecure = home.run(&[
        "pull",
        "--no-cache",
        "--insecure",
        &by_name,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_ne!(insecure.code, 0, "{}", insecure.stdout);
    assert!(
        insecure.stderr.contains("certificate"),
        "{}",
        insecure.stderr
    );
    let requests = mock.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path.contains("/blobs/") && r.status.is_redirection()),
        "the registry (trusted by --insecure) answered the blob GET with a redirect"
    );
    assert!(
        !requests.iter().any(|r| r.path.starts_with("/storage/")),
        "the untrusted storage was not read"
    );
}
