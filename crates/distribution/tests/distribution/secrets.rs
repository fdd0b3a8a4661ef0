//! No secret (password, token, pre-signed URL signature) appears in an error, its sources,
//! its `Debug` output, or any log line, even at TRACE level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_distribution::{Client, FetchOptions};
use orca_manifest::{Descriptor, Digest, media_types};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{config_for, host, reference};

const PASSWORD: &str = "pw-SECRET-4711";
const TOKEN: &str = "tok-SECRET-0815";
const SIGNATURE: &str = "sig-SECRET-42";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn describe(e: &orca_distribution::Error) -> String {
    let mut text = format!("{e} | {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text} | {s} | {s:?}");
        source = s.source();
    }
    text
}

#[tokio::test]
async fn no_secret_in_errors_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let challenge =
        format!(r#"Bearer realm="{realm}",service="mock",scope="repository:team/app:pull""#);
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token": TOKEN, "expires_in": 300})),
        )
        .mount(&server)
        .await;
    // Everything with the token fails: denied, then a redirect to a signed URL that fails.
    let blob_digest = Digest::sha256(b"blob");
    Mock::given(method("GET"))
        .and(path(format!("/v2/team/app/blobs/{blob_digest}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(307).insert_header(
                "Location",
                format!(
                    "{}/signed?sig={SIGNATURE}&X-Amz-Signature={SIGNATURE}",
                    server.uri()
                )
                .as_str(),
            ),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/signed"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string(format!("<Error>bad {SIGNATURE}</Error>")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/1.0"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"errors":[{"code":"UNKNOWN","message":"boom"}]})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .mount(&server)
        .await;

    let credentials =
        StaticCredentials::new().with(&host(&server), Credential::basic("user", PASSWORD));
    let client = Client::with_authenticator(
        config_for(&server),
        Authenticator::new(credentials, AuthOptions::default()),
    )
    .expect("client");
    let mut errors = Vec::new();
    let e = client
        .fetch_manifest(
            &reference(&server, "team/app:1.0"),
            &FetchOptions::default(),
        )
        .await
        .expect_err("500");
    errors.push(describe(&e));
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR, blob_digest, 4);
    let e = client
        .fetch_blob(&reference(&server, "team/app"), &descriptor)
        .await
        .expect_err("403 from storage");
    errors.push(describe(&e));
    errors.push(format!("{client:?}"));
    // A registry with a failing token service.
    let e = client
        .ping("127.0.0.1:1")
        .await
        .expect_err("nothing listens there");
    errors.push(describe(&e));

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8 logs");
    assert!(!logs.is_empty(), "the test must capture something");
    assert!(errors.len() == 4);
    let basic = base64_of(&format!("user:{PASSWORD}"));
    for text in errors.iter().chain(std::iter::once(&logs)) {
        for secret in [PASSWORD, TOKEN, SIGNATURE, basic.as_str()] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} leaked in: {text}"
            );
        }
    }
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
