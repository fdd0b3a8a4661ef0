//! Third-party clients against the mock's binary, and the reference registry over TLS with
//! htpasswd auth. Each test prints `skipped: <reason>` and returns when its tool is absent.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use orca_manifest::Digest;
use orca_mock_registry::Secret;
use orca_mock_registry::reference_registry::{ReferenceOptions, ReferenceRegistry};

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The binary running on a free port; killed on drop.
struct Binary {
    child: Child,
    host: String,
}

impl Binary {
    fn start(extra: &[&str]) -> Binary {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_orca-mock-registry"))
            .args(["--addr", &host])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start orca-mock-registry");
        // Bounded: 200 tries 25 ms apart.
        for _ in 0..200 {
            if TcpStream::connect(&host).is_ok() {
                return Binary { child, host };
            }
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "binary exited"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("orca-mock-registry did not listen on {host}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write a `dir:` transport image: `version`, `manifest.json` and one file per blob.
fn write_dir_image(dir: &Path) -> Vec<u8> {
    let layer: Vec<u8> = (0..10_000u32).map(|i| (i % 241) as u8).collect();
    let layer_digest = Digest::sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.as_str()]}
    }))
    .expect("json");
    let config_digest = Digest::sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.as_str(), "size": layer.len()}]
    }))
    .expect("json");
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n").expect("version");
    std::fs::write(dir.join("manifest.json"), &manifest).expect("manifest");
    std::fs::write(dir.join(config_digest.encoded()), &config).expect("config");
    std::fs::write(dir.join(layer_digest.encoded()), &layer).expect("layer");
    manifest
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skopeo_copies_to_and_from_the_binary() {
    if !tool("skopeo") {
        println!("skipped: skopeo not on PATH");
        return;
    }
    let cases: [(&[&str], Option<&str>); 3] = [
        (&[], None),
        (&["--auth", "basic", "--user", "u:p"], Some("u:p")),
        (&["--auth", "bearer", "--user", "u:p"], Some("u:p")),
    ];
    assert_eq!(cases.len(), 3);
    for (flags, creds) in cases {
        let work = tempfile::tempdir().expect("tempdir");
        let src = work.path().join("src");
        let manifest = write_dir_image(&src);
        let storage = work.path().join("storage");
        let mut args = flags.to_vec();
        let storage_arg = storage.to_str().expect("utf-8 path").to_owned();
        args.extend(["--storage", &storage_arg]);
        let binary = Binary::start(&args);
        let dest = format!("docker://{}/x:1", binary.host);
        let src_arg = format!("dir:{}", src.display());
        let mut push = vec!["copy", "--preserve-digests", "--dest-tls-verify=false"];
        if let Some(c) = creds {
            push.extend(["--dest-creds", c]);
        }
        push.extend([src_arg.as_str(), dest.as_str()]);
        skopeo(&push);
        let out = work.path().join("out");
        let out_arg = format!("dir:{}", out.display());
        let mut pull = vec!["copy", "--src-tls-verify=false"];
        if let Some(c) = creds {
            pull.extend(["--src-creds", c]);
        }
        pull.extend([dest.as_str(), out_arg.as_str()]);
        skopeo(&pull);
        assert_eq!(
            std::fs::read(out.join("manifest.json")).expect("manifest"),
            manifest,
            "{flags:?}"
        );
        for entry in std::fs::read_dir(&src).expect("src") {
            let name = entry.expect("entry").file_name();
            assert_eq!(
                std::fs::read(src.join(&name)).expect("src file"),
                std::fs::read(out.join(&name)).expect("copied file"),
                "{flags:?} {name:?}"
            );
        }
    }
}

/// A hyper client trusting only `ca_pem`.
fn tls_client(ca_pem: &str) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM certificate")).expect("add root");
    }
    assert_eq!(roots.len(), 1);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

#[tokio::test]
async fn the_mock_over_tls() {
    use orca_mock_registry::{Config, MockRegistry, TlsIdentity};
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let identity = TlsIdentity {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: Secret::new(cert.signing_key.serialize_pem()),
    };
    let mock = MockRegistry::start(Config::default().with_tls(identity.clone()))
        .await
        .expect("starts");
    assert!(mock.base_url().starts_with("https://127.0.0.1:"));
    assert!(mock.blob_storage_url().starts_with("https://127.0.0.1:"));
    let client = tls_client(&cert.cert.pem());
    let req = http::Request::get(format!("{}/v2/", mock.base_url()))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let status = client.request(req).await.expect("TLS request").status();
    assert_eq!(status.as_u16(), 200);
    // A key that is not one: refused, naming the field, never quoting the PEM.
    let bad = TlsIdentity {
        cert_pem: identity.cert_pem.clone(),
        key_pem: Secret::new(String::from_utf8(identity.cert_pem).expect("PEM is text")),
    };
    let err = MockRegistry::start(Config::default().with_tls(bad))
        .await
        .expect_err("no private key");
    assert!(err.to_string().contains("tls"), "{err}");
    assert!(format!("{err:?}").len() < 2000, "{err:?}");
}

#[tokio::test]
async fn reference_registry_over_tls_with_htpasswd() {
    let options = ReferenceOptions {
        tls: true,
        users: vec![("alice".to_owned(), Secret::new("s3cret"))],
    };
    let Some(reference) = ReferenceRegistry::start(options)
        .await
        .expect("reference starts")
    else {
        return;
    };
    assert!(reference.base_url().starts_with("https://127.0.0.1:"));
    let client = tls_client(reference.ca_pem().expect("ca"));
    let url = format!("{}/v2/", reference.base_url());
    let status = |auth: Option<String>| {
        let mut req = http::Request::get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let req = req.body(Full::new(Bytes::new())).expect("request");
        let client = client.clone();
        async move {
            client
                .request(req)
                .await
                .expect("TLS request")
                .status()
                .as_u16()
        }
    };
    let basic = |c: &str| format!("Basic {}", STANDARD.encode(c));
    assert_eq!(status(None).await, 401, "{}", reference.log_tail());
    assert_eq!(status(Some(basic("alice:wrong"))).await, 401);
    assert_eq!(
        status(Some(basic("alice:s3cret"))).await,
        200,
        "{}",
        reference.log_tail()
    );
    // A client that does not trust the certificate cannot connect.
    let plain: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
            .https_only()
            .enable_http1()
            .build(),
    );
    let req = http::Request::get(&url)
        .body(Full::new(Bytes::new()))
        .expect("request");
    assert!(
        plain.request(req).await.is_err(),
        "an untrusted certificate is refused"
    );
}

#[test]
fn binary_rejects_bad_flags_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_orca-mock-registry"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "basic",
            "--user",
            "secretwithoutcolon",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NAME:PASSWORD"), "{stderr}");
    assert!(
        !stderr.contains("secretwithoutcolon"),
        "the value is not echoed: {stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_orca-mock-registry"))
        .args(["--auth", "kerberos"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("kerberos"));
}
