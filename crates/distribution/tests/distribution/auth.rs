//! Authentication as it holds on an ACR-like flow (issue 11): one negotiation for many
//! concurrent 401s, credential lookups off the runtime, managed identity over plain HTTP
//! without opening it for anything else, and errors that say who refused what.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use orca_auth::{AuthOptions, Authenticator, Credential, StaticCredentials};
use orca_credentials::azure::{ClientSecretCredential, ManagedIdentityCredential};
use orca_credentials::{DockerConfig, SystemCommandRunner};
use orca_distribution::{
    AuthOutcome, Client, ClientConfig, Event, Observer, PushOptions, RetryPolicy,
};
use orca_manifest::{Descriptor, Digest, media_types};
use orca_mock_registry::{AuthMode, Config, MockRegistry, TokenService, User};
use orca_reference::Reference;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AAD_TOKEN: &str = "aad-token-for-the-mock";

fn config(plain: &[&str]) -> ClientConfig {
    let mut config = ClientConfig::default().with_retry(
        RetryPolicy::builder()
            .max_retries(2)
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(10))
            .build(),
    );
    for host in plain {
        config = config.with_plain_http(*host);
    }
    config.read_timeout = Duration::from_secs(20);
    config
}

fn client(mock: &MockRegistry, credential: Credential) -> Client {
    observed_client(mock, credential, None)
}

fn observed_client(
    mock: &MockRegistry,
    credential: Credential,
    observer: Option<Arc<dyn Observer>>,
) -> Client {
    let auth = Authenticator::new(
        StaticCredentials::new().with(mock.host(), credential),
        AuthOptions::default(),
    );
    let mut config = config(&[mock.host()]);
    config.observer = observer;
    Client::with_authenticator(config, auth).expect("client")
}

/// The outcomes of the negotiations a client reported.
#[derive(Default)]
struct AuthOutcomes(std::sync::Mutex<Vec<AuthOutcome>>);

impl Observer for AuthOutcomes {
    fn event(&self, event: &Event<'_>) {
        if let Event::Auth { outcome, .. } = event {
            self.0.lock().expect("lock").push(*outcome);
        }
    }
}

fn reference(mock: &MockRegistry, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", mock.host())).expect("reference")
}

fn blob(i: usize) -> (Descriptor, Bytes) {
    let bytes = Bytes::from(format!("layer number {i} of sixteen"));
    let descriptor = Descriptor::new(
        media_types::OCI_LAYER_TAR_GZIP,
        Digest::sha256(&bytes),
        bytes.len() as u64,
    );
    (descriptor, bytes)
}

/// Pushes sixteen blobs, then pulls them all at once with a client whose cache is cold:
/// returns the paths of the token requests the registry saw during the pulls, and the
/// negotiation outcomes the client reported.
async fn sixteen_parallel_pulls(
    auth: AuthMode,
    credential: Credential,
) -> (Vec<String>, Vec<AuthOutcome>) {
    let mock = MockRegistry::start(Config::default().with_auth(auth))
        .await
        .expect("mock");
    let repository = reference(&mock, "team/layers:latest");
    let pusher = client(&mock, credential.clone());
    let blobs: Vec<_> = (0..16).map(blob).collect();
    for (descriptor, bytes) in &blobs {
        pusher
            .push_blob(
                &repository,
                descriptor,
                bytes.clone(),
                &PushOptions::default(),
            )
            .await
            .expect("push");
    }
    mock.clear_requests();
    let outcomes = Arc::new(AuthOutcomes::default());
    let puller = observed_client(&mock, credential, Some(outcomes.clone()));
    let pulls = blobs.iter().map(|(descriptor, bytes)| {
        let (puller, repository) = (puller.clone(), repository.clone());
        async move {
            let got = puller
                .fetch_blob(&repository, descriptor)
                .await
                .expect("fetch")
                .bytes()
                .await
                .expect("body");
            assert_eq!(&got, bytes);
        }
    });
    futures_util::future::join_all(pulls).await;
    let token_requests = mock
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.starts_with("/token") || p.starts_with("/oauth2/"))
        .map(|p| p.split('?').next().unwrap_or_default().to_owned())
        .collect();
    let outcomes = outcomes.0.lock().expect("lock").clone();
    (token_requests, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_pulls_share_one_token_request() {
    let (bearer, outcomes) = sixteen_parallel_pulls(
        AuthMode::bearer("puller", "puller-pw"),
        Credential::basic("puller", "puller-pw"),
    )
    .await;
    assert_eq!(bearer, ["/token"], "one token request for sixteen pulls");
    // One negotiation granted; the requests that waited for it say they shared it.
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == AuthOutcome::Granted)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, AuthOutcome::Granted | AuthOutcome::Shared)),
        "{outcomes:?}"
    );

    let (acr, _) = sixteen_parallel_pulls(
        AuthMode::acr(AAD_TOKEN, "admin", "admin-pw"),
        Credential::AzureAccessToken {
            token: AAD_TOKEN.into(),
            tenant: None,
        },
    )
    .await;
    assert_eq!(
        acr,
        ["/oauth2/exchange", "/oauth2/token"],
        "one exchange and one token request for sixteen pulls"
    );
}

/// A docker credential helper that says it started, then waits (bounded) for the test to
/// release it; it answers only when released, so it fails if the runtime was stalled.
const SLOW_HELPER: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
cat > /dev/null
: > "$dir/started"
i=0
while [ ! -e "$dir/release" ]; do
  i=$((i + 1))
  if [ "$i" -gt 400 ]; then echo "timed out waiting for release" >&2; exit 1; fi
  sleep 0.05
done
printf '{"Username":"helper-user","Secret":"helper-pw"}'
"#;

#[test]
fn a_slow_credential_helper_does_not_stall_other_requests() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let helper = dir.path().join("docker-credential-slow");
    std::fs::write(&helper, SLOW_HELPER).expect("write helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // One thread only: were the helper run on it, nothing else could progress.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let guarded = MockRegistry::start(
            Config::default().with_auth(AuthMode::bearer("helper-user", "helper-pw")),
        )
        .await
        .expect("mock");
        let open = MockRegistry::start(Config::default()).await.expect("mock");
        let docker = DockerConfig::from_json(
            format!(r#"{{"credHelpers":{{"{}":"slow"}}}}"#, guarded.host()).as_bytes(),
            None,
        )
        .expect("config")
        .with_runner(Arc::new(SystemCommandRunner::with_search_path(
            dir.path().as_os_str(),
        )));
        let client = Client::with_authenticator(
            config(&[guarded.host(), open.host()]),
            Authenticator::new(docker, AuthOptions::default()),
        )
        .expect("client");

        let slow = tokio::spawn({
            let client = client.clone();
            let host = guarded.host().to_owned();
            async move { client.ping(&host).await }
        });
        // Wait (bounded) until the helper runs, then use the same runtime meanwhile.
        for _ in 0..400 {
            if dir.path().join("started").exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            dir.path().join("started").exists(),
            "the helper never started"
        );
        client
            .ping(open.host())
            .await
            .expect("another registry answers while the helper runs");
        assert!(!slow.is_finished(), "the helper is still waiting");
        std::fs::write(dir.path().join("release"), b"").expect("release");
        slow.await
            .expect("task")
            .expect("the helper's credential got through once released");
        let seen = guarded.requests();
        assert!(
            seen.iter().any(|r| r.path.starts_with("/token")),
            "the helper's credential was traded for a token"
        );
    });
}

#[tokio::test]
async fn managed_identity_works_without_plain_http_for_it() {
    let mock = MockRegistry::start(
        Config::default().with_auth(AuthMode::acr(AAD_TOKEN, "admin", "admin-pw")),
    )
    .await
    .expect("mock");
    let imds = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/metadata/identity/oauth2/token"))
        .and(header("metadata", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(r#"{{"access_token":"{AAD_TOKEN}","expires_in":"86399"}}"#),
            "application/json",
        ))
        .expect(1)
        .mount(&imds)
        .await;
    let managed = ManagedIdentityCredential::new()
        .with_endpoint(&format!("{}/metadata/identity/oauth2/token", imds.uri()));
    // Plain HTTP is configured for the registry only, not for the IMDS address.
    let client = client(&mock, Credential::Azure(Arc::new(managed)));
    client.ping(mock.host()).await.expect("managed identity");
    // Plain HTTP is still refused for anything else at that address.
    let err = client
        .ping(&imds.address().to_string())
        .await
        .expect_err("not configured for plain HTTP");
    assert!(err.to_string().contains("plain"), "{err}");
}

#[tokio::test]
async fn errors_say_who_refused() {
    // Entra ID refuses the client secret.
    let mock = MockRegistry::start(
        Config::default().with_auth(AuthMode::acr(AAD_TOKEN, "admin", "admin-pw")),
    )
    .await
    .expect("mock");
    let entra = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: 5f2c8d0e-1234-4abc-9def-0123456789ab"}"#,
            "application/json",
        ))
        .mount(&entra)
        .await;
    let provider =
        ClientSecretCredential::new(&entra.uri(), "tenant-1", "client-1", "wrong".into());
    let auth = Authenticator::new(
        StaticCredentials::new().with(mock.host(), Credential::Azure(Arc::new(provider))),
        AuthOptions::default(),
    );
    let entra_host = entra.address().to_string();
    let entra_client =
        Client::with_authenticator(config(&[mock.host(), &entra_host]), auth).expect("client");
    let err = entra_client
        .ping(mock.host())
        .await
        .expect_err("Entra ID refuses");
    let shown = err.to_string();
    assert!(
        shown.contains("Entra ID refused the client secret credential"),
        "{shown}"
    );
    assert!(
        shown.contains("Trace ID: 5f2c8d0e-1234-4abc-9def-0123456789ab"),
        "the provider's message keeps whole identifiers: {shown}"
    );

    // The registry refuses a token without the right asked for.
    let reader_only =
        MockRegistry::start(Config::default().with_auth(AuthMode::Bearer(TokenService {
            users: vec![User::pull_only("reader", "reader-pw")],
            ..TokenService::default()
        })))
        .await
        .expect("mock");
    let reader = client(&reader_only, Credential::basic("reader", "reader-pw"));
    let (descriptor, bytes) = blob(0);
    let err = reader
        .push_blob(
            &reference(&reader_only, "team/app:1"),
            &descriptor,
            bytes,
            &PushOptions::default(),
        )
        .await
        .expect_err("a reader cannot push");
    let shown = err.to_string();
    assert!(
        shown.contains("the registry refused the token it was given: the token lacks")
            && shown.contains("push")
            && shown.contains("on repository team/app"),
        "{shown}"
    );
}
