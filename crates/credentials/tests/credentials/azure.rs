//! Azure AD providers for ACR: every request they add to the negotiation, against a
//! local authority host (`AZURE_AUTHORITY_HOST`) and local managed identity endpoints, and
//! the automatic detection order.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orca_auth::{
    Action, AuthOptions, Authenticator, AzureStep, AzureTokenProvider, Credential, Error,
    LocalIdentityEndpoint, Refuser, Scope, StaticCredentials,
};
use orca_credentials::azure::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential, authority_host,
};
use orca_credentials::{CommandOutput, CommandRunner, DefaultAzureCredential};

use crate::{Outcome, drive, form_value, now, reply, unauthorized, uri};

const ACR: &str =
    r#"Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io""#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A fake `az` that records its arguments; `None` output means "not installed".
struct FakeAz {
    output: Option<CommandOutput>,
    calls: Mutex<Vec<(String, Vec<String>)>>,
}

impl FakeAz {
    fn new(output: Option<CommandOutput>) -> Arc<FakeAz> {
        Arc::new(FakeAz {
            output,
            calls: Mutex::new(Vec::new()),
        })
    }
}

impl CommandRunner for FakeAz {
    fn run(&self, program: &str, args: &[&str], _stdin: &[u8]) -> io::Result<CommandOutput> {
        self.calls.lock().expect("lock").push((
            program.to_owned(),
            args.iter().map(|a| (*a).to_owned()).collect(),
        ));
        self.output
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "az not found"))
    }
}

fn cli_token(token: &str) -> CommandOutput {
    CommandOutput {
        success: true,
        stdout: format!(r#"{{"accessToken":"{token}","tenant":"tenant-3","tokenType":"Bearer"}}"#)
            .into_bytes(),
        stderr: Vec::new(),
    }
}

/// An address where nothing listens (a port just released).
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

fn detect(vars: &[(&str, &str)], az: Arc<FakeAz>) -> DefaultAzureCredential {
    let mut vars = env(vars);
    vars.entry("AZURE_POD_IDENTITY_AUTHORITY_HOST".to_owned())
        .or_insert_with(closed_address);
    DefaultAzureCredential::new(Arc::new(vars), az).with_probe_timeout(Duration::from_secs(2))
}

/// Runs a full ACR negotiation with `provider`: AAD token (unless the CLI), exchange,
/// access token.
fn acr_flow(provider: Arc<dyn AzureTokenProvider>, aad_reply: Option<&str>) -> Outcome {
    let auth = Authenticator::new(
        StaticCredentials::new().with("contoso.azurecr.io", Credential::Azure(provider)),
        AuthOptions::default(),
    );
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/configs/app/manifests/default"),
            &unauthorized(&[ACR]),
            &[Scope::repository("configs/app", &[Action::Pull])],
            now(),
        )
        .expect("negotiation");
    let mut replies = Vec::new();
    if let Some(body) = aad_reply {
        replies.push(reply(200, body));
    }
    replies.push(reply(200, r#"{"refresh_token":"acr-refresh"}"#));
    replies.push(reply(200, r#"{"access_token":"acr-access"}"#));
    drive(negotiation, replies)
}

#[test]
fn authority_host_from_environment() {
    assert_eq!(
        authority_host(&env(&[])),
        "https://login.microsoftonline.com"
    );
    assert_eq!(
        authority_host(&env(&[("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8400/")])),
        "http://127.0.0.1:8400"
    );
}

#[test]
fn client_secret_flow() {
    let az = FakeAz::new(Some(cli_token("unused")));
    let provider = Arc::new(detect(
        &[
            ("AZURE_TENANT_ID", "tenant-1"),
            ("AZURE_CLIENT_ID", "client-1"),
            ("AZURE_CLIENT_SECRET", "client-secret-value"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/also-set"),
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8400"),
        ],
        az.clone(),
    ));
    let outcome = acr_flow(
        provider.clone(),
        Some(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"aad-from-secret"}"#),
    );
    // The client secret comes first, even with a federated token file configured.
    assert_eq!(provider.name(), "client secret");
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "client_secret").as_deref(),
        Some("client-secret-value")
    );
    assert_eq!(
        form_value(&outcome.requests[1], "access_token").as_deref(),
        Some("aad-from-secret")
    );
    assert_eq!(
        outcome.result.expect("token").header_value(),
        "Bearer acr-access"
    );
    assert!(az.calls.lock().expect("lock").is_empty(), "az never ran");
}

#[test]
fn workload_identity_flow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, "federated-jwt-value\n").expect("write");
    let vars = [
        ("AZURE_TENANT_ID", "tenant-2"),
        ("AZURE_CLIENT_ID", "client-2"),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            token_file.to_str().expect("UTF-8 path"),
        ),
        ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8400"),
    ];
    let provider = Arc::new(detect(&vars, FakeAz::new(None)));
    let outcome = acr_flow(
        provider.clone(),
        Some(r#"{"access_token":"aad-from-federation"}"#),
    );
    assert_eq!(provider.name(), "workload identity");
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "client_assertion").as_deref(),
        Some("federated-jwt-value")
    );
    outcome.result.expect("token");

    // The file is read on each use: a missing file is an error naming it.
    std::fs::remove_file(&token_file).expect("remove");
    let provider = WorkloadIdentityCredential::from_env(&env(&vars)).expect("env");
    let err = provider.begin().expect_err("missing file");
    assert!(matches!(err, Error::CredentialLookup { .. }), "{err}");
    assert!(err.to_string().contains("azure-identity-token"), "{err}");
}

#[test]
fn managed_identity_flow() {
    let provider = ManagedIdentityCredential::new()
        .with_endpoint("http://127.0.0.1:8401/metadata/identity/oauth2/token")
        .with_client_id("user-assigned-id");
    let outcome = acr_flow(
        Arc::new(provider),
        Some(r#"{"access_token":"aad-from-imds","expires_in":"86399","token_type":"Bearer"}"#),
    );
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(outcome.requests[0].headers()["metadata"], "true");
    assert!(
        outcome.requests[0]
            .extensions()
            .get::<LocalIdentityEndpoint>()
            .is_some(),
        "an IMDS request may go over plain HTTP"
    );
    assert_eq!(
        form_value(&outcome.requests[1], "access_token").as_deref(),
        Some("aad-from-imds")
    );
    outcome.result.expect("token");
    // The default endpoint is the instance metadata service.
    let Ok(AzureStep::Send(request)) = ManagedIdentityCredential::new().begin() else {
        panic!("IMDS sends a request");
    };
    assert_eq!(request.uri().host(), Some("169.254.169.254"));
    // A marker on a request to a public host is dropped by the negotiation.
    let public = ManagedIdentityCredential::new().with_endpoint("http://imds.example/token");
    let outcome = acr_flow(Arc::new(public), Some(r#"{"access_token":"x"}"#));
    assert!(
        outcome.requests[0]
            .extensions()
            .get::<LocalIdentityEndpoint>()
            .is_none()
    );
}

#[test]
fn managed_identity_settings_from_the_environment() {
    // App Service: IDENTITY_ENDPOINT with its header secret.
    let app_service = ManagedIdentityCredential::from_env(&env(&[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:41234/msi/token"),
        ("IDENTITY_HEADER", "identity-header-secret"),
        ("AZURE_CLIENT_ID", "user-assigned-id"),
    ]));
    let Ok(AzureStep::Send(request)) = app_service.begin() else {
        panic!("App Service sends a request");
    };
    assert_eq!(
        request.uri(),
        "http://127.0.0.1:41234/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fcontainerregistry.azure.net&client_id=user-assigned-id"
    );
    assert_eq!(
        request.headers()["x-identity-header"],
        "identity-header-secret"
    );
    assert!(request.headers()["x-identity-header"].is_sensitive());
    assert!(!format!("{app_service:?}").contains("identity-header-secret"));
    // IMDS at an overridden host (AKS pod identity, tests).
    let imds = ManagedIdentityCredential::from_env(&env(&[(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "http://127.0.0.1:8402/",
    )]));
    assert_eq!(
        imds.endpoint(),
        "http://127.0.0.1:8402/metadata/identity/oauth2/token"
    );
}

#[test]
fn detection_finds_managed_identity_by_probing_imds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("http://{}", listener.local_addr().expect("address"));
    let provider = detect(
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &host)],
        FakeAz::new(Some(cli_token("unused"))),
    );
    let Ok(AzureStep::Send(request)) = provider.begin() else {
        panic!("IMDS sends a request");
    };
    assert_eq!(provider.name(), "managed identity");
    assert!(
        request.uri().to_string().starts_with(&host),
        "{}",
        request.uri()
    );
}

#[test]
fn azure_cli_flow() {
    let az = FakeAz::new(Some(cli_token("aad-from-cli")));
    let provider = AzureCliCredential::new(az.clone()).with_tenant("tenant-3");
    let outcome = acr_flow(Arc::new(provider), None);
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "access_token").as_deref(),
        Some("aad-from-cli")
    );
    outcome.result.expect("token");
    let calls = az.calls.lock().expect("lock");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "az");
    assert_eq!(
        calls[0].1,
        [
            "account",
            "get-access-token",
            "--resource",
            "https://containerregistry.azure.net",
            "--output",
            "json",
            "--tenant",
            "tenant-3"
        ]
    );
    // Detection ends with the CLI, which runs once.
    let az = FakeAz::new(Some(cli_token("aad-detected")));
    let detected = Arc::new(detect(&[], az.clone()));
    let outcome = acr_flow(detected.clone(), None);
    assert_eq!(detected.name(), "Azure CLI");
    assert_eq!(
        form_value(&outcome.requests[0], "access_token").as_deref(),
        Some("aad-detected")
    );
    assert_eq!(az.calls.lock().expect("lock").len(), 1);
}

#[test]
fn provider_failures() {
    let mut messages = Vec::new();
    // Nothing available: one message naming each provider tried, in order.
    let none = detect(&[], FakeAz::new(None));
    let err = none.begin().expect_err("nothing configured");
    messages.push(err.to_string().replace(
        none_endpoint(&none).as_str(),
        "http://127.0.0.1:<port>/metadata/identity/oauth2/token",
    ));
    messages.push(
        ClientSecretCredential::from_env(&env(&[("AZURE_TENANT_ID", "t")]))
            .expect_err("no client id")
            .to_string(),
    );
    let failing_az = AzureCliCredential::new(FakeAz::new(Some(CommandOutput {
        success: false,
        stdout: Vec::new(),
        stderr: b"ERROR: Please run 'az login' to setup account.\n".to_vec(),
    })));
    messages.push(failing_az.begin().expect_err("az fails").to_string());
    // Entra ID refuses the client secret: the error says Entra ID refused, and its
    // message keeps whole identifiers.
    let provider = ClientSecretCredential::new(
        "http://127.0.0.1:8400",
        "tenant-1",
        "client-1",
        "wrong-secret-value".into(),
    );
    let auth = Authenticator::new(
        StaticCredentials::new().with("contoso.azurecr.io", Credential::Azure(Arc::new(provider))),
        AuthOptions::default(),
    );
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/"),
            &unauthorized(&[ACR]),
            &[],
            now(),
        )
        .expect("negotiation");
    let long = "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-1111-2222-3333-444444444444'.\r\nTrace ID: 5f2c8d0e-1234-4abc-9def-0123456789ab\r\nCorrelation ID: 0d6e7b1c-aaaa-bbbb-cccc-ddddeeeeffff\r\nTimestamp: 2026-12-04 17:00:00Z wrong-secret-value";
    let outcome = drive(
        negotiation,
        vec![reply(
            401,
            &serde_json::json!({"error": "invalid_client", "error_description": long}).to_string(),
        )],
    );
    let err = outcome.result.expect_err("refused");
    assert_eq!(err.refused_by(), Some(Refuser::IdentityProvider));
    messages.push(err.to_string());
    assert_eq!(messages.len(), 4);
    for message in &messages {
        assert!(!message.contains("wrong-secret-value"), "{message}");
    }
    insta::assert_snapshot!(messages.join("\n"));
}

fn none_endpoint(provider: &DefaultAzureCredential) -> String {
    let text = provider.begin().expect_err("none").to_string();
    let start = text.find("http://127.0.0.1:").expect("endpoint named");
    text[start..]
        .split(')')
        .next()
        .expect("endpoint")
        .to_owned()
}
