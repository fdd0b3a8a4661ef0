//! Trusting a registry's certificate through `with_root_certificate` (`--ca-file`),
//! including the self-signed CA certificate `openssl req -x509` makes.

use orca_distribution::{Client, ClientConfig, ErrorKind, FetchOptions, RetryPolicy};
use orca_mock_registry::{Config, MockRegistry, Secret, TlsIdentity};
use orca_reference::Reference;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A self-signed certificate for `names`, marked a CA when `ca`: (PEM, key PEM).
fn certificate(names: &[&str], ca: bool) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

async fn registry(cert: &str, key: &str) -> MockRegistry {
    MockRegistry::start(Config::default().with_tls(TlsIdentity {
        cert_pem: cert.as_bytes().to_vec(),
        key_pem: Secret::new(key),
    }))
    .await
    .expect("registry")
}

/// `GET /v2/` through the manifest fetch of a missing tag: 404 means TLS went through.
async fn reach(registry: &MockRegistry, roots: &[&std::path::Path]) -> Result<(), ErrorKind> {
    let mut config = ClientConfig::default().with_retry(RetryPolicy::none());
    for root in roots {
        config = config.with_root_certificate(*root);
    }
    let client = Client::new(config).expect("client");
    let reference: Reference = format!("{}/app:1", registry.host()).parse().expect("ref");
    match client
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
    {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.kind()),
        Ok(_) => Ok(()),
    }
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_root_is_trusted_as_the_servers_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write");
        path
    };
    // What `openssl req -x509 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1` makes.
    let (cert, key) = certificate(&["127.0.0.1"], true);
    let server = registry(&cert, &key).await;
    let given = write("given.pem", &cert);
    assert_eq!(reach(&server, &[&given]).await, Ok(()));
    // Not given: refused as before.
    assert_eq!(reach(&server, &[]).await, Err(ErrorKind::Connect));
    // Another certificate given: refused.
    let (other, _) = certificate(&["127.0.0.1"], true);
    let other = write("other.pem", &other);
    assert_eq!(reach(&server, &[&other]).await, Err(ErrorKind::Connect));

    // The same certificate for another name: pinned or not, the name must match.
    let (wrong_name, wrong_key) = certificate(&["registry.example"], true);
    let server = registry(&wrong_name, &wrong_key).await;
    let given = write("wrong-name.pem", &wrong_name);
    assert_eq!(reach(&server, &[&given]).await, Err(ErrorKind::Connect));

    // A leaf certificate (not a CA) given as its own root works as it always did.
    let (leaf, leaf_key) = certificate(&["127.0.0.1"], false);
    let server = registry(&leaf, &leaf_key).await;
    let given = write("leaf.pem", &leaf);
    assert_eq!(reach(&server, &[&given]).await, Ok(()));
}

/// A pinned CA certificate presented as the server's own must be within its dates too:
/// webpki checks them before it refuses a CA as an end entity, so an expired one never
/// reaches the pinned path.
#[tokio::test]
async fn an_expired_self_signed_ca_certificate_is_refused_even_when_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert").pem();
    let server = registry(&cert, &key.serialize_pem()).await;
    let given = dir.path().join("expired.pem");
    std::fs::write(&given, &cert).expect("write");

    let client = Client::new(
        ClientConfig::default()
            .with_retry(RetryPolicy::none())
            .with_root_certificate(&given),
    )
    .expect("client");
    let reference: Reference = format!("{}/app:1", server.host()).parse().expect("ref");
    let e = client
        .fetch_manifest(&reference, &FetchOptions::default())
        .await
        .expect_err("an expired certificate");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    let chain = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(chain.to_lowercase().contains("expired"), "{chain}");
}
