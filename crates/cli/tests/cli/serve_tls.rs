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
