//! Azure AD providers for ACR: every request they add to the negotiation, against a
//! local authority host (`AZURE_AUTHORITY_HOST`) and an overridden IMDS endpoint.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use orca_auth::azure::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential, authority_host, provider_from_env,
};
use orca_auth::{
    Action, AuthOptions, Authenticator, AzureTokenProvider, CommandOutput, CommandRunner,
    Credential, Error, Scope, StaticCredentials,
};

use crate::{Outcome, drive, form_value, now, reply, unauthorized, uri};

const ACR: &str =
    r#"Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io""#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
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
    let vars = env(&[
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_CLIENT_SECRET", "client-secret-value"),
        ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8400"),
    ]);
    let provider = provider_from_env(&vars).expect("client secret provider");
    assert_eq!(provider.name(), "client secret");
    let outcome = acr_flow(
        provider,
        Some(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"aad-from-secret"}"#),
    );
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
}

#[test]
fn workload_identity_flow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, "federated-jwt-value\n").expect("write");
    let vars = env(&[
        ("AZURE_TENANT_ID", "tenant-2"),
        ("AZURE_CLIENT_ID", "client-2"),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            token_file.to_str().expect("UTF-8 path"),
        ),
        ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8400"),
        ("AZURE_CLIENT_SECRET", "ignored-when-federated"),
    ]);
    let provider = provider_from_env(&vars).expect("workload identity provider");
    assert_eq!(provider.name(), "workload identity");
    let outcome = acr_flow(provider, Some(r#"{"access_token":"aad-from-federation"}"#));
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "client_assertion").as_deref(),
        Some("federated-jwt-value")
    );
    outcome.result.expect("token");

    // The file is read on each use: a missing file is an error naming it.
    std::fs::remove_file(&token_file).expect("remove");
    let provider = WorkloadIdentityCredential::from_env(&vars).expect("env");
    let err = provider.begin().expect_err("missing file");
    assert!(matches!(err, Error::Io { .. }), "{err}");
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
    assert_eq!(
        form_value(&outcome.requests[1], "access_token").as_deref(),
        Some("aad-from-imds")
    );
    outcome.result.expect("token");
    // The default endpoint is the instance metadata service.
    let Ok(orca_auth::AzureStep::Send(request)) = ManagedIdentityCredential::new().begin() else {
        panic!("IMDS sends a request");
    };
    assert_eq!(request.uri().host(), Some("169.254.169.254"));
}

/// A fake `az` that records its arguments.
struct FakeAz {
    output: CommandOutput,
    calls: Mutex<Vec<(String, Vec<String>)>>,
}

impl CommandRunner for FakeAz {
    fn run(&self, program: &str, args: &[&str], _stdin: &[u8]) -> io::Result<CommandOutput> {
        self.calls.lock().expect("lock").push((
            program.to_owned(),
            args.iter().map(|a| (*a).to_owned()).collect(),
        ));
        Ok(self.output.clone())
    }
}

#[test]
fn azure_cli_flow() {
    let az = Arc::new(FakeAz {
        output: CommandOutput {
            success: true,
            stdout: br#"{"accessToken":"aad-from-cli","expiresOn":"2027-01-15 09:00:00.000000","tenant":"tenant-3","tokenType":"Bearer"}"#.to_vec(),
            stderr: Vec::new(),
        },
        calls: Mutex::new(Vec::new()),
    });
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
}

#[test]
fn provider_failures() {
    let mut messages = Vec::new();
    messages.push(
        provider_from_env(&env(&[]))
            .err()
            .expect("nothing configured")
            .to_string(),
    );
    messages.push(
        ClientSecretCredential::from_env(&env(&[("AZURE_TENANT_ID", "t")]))
            .expect_err("no client id")
            .to_string(),
    );
    let failing_az = AzureCliCredential::new(Arc::new(FakeAz {
        output: CommandOutput {
            success: false,
            stdout: Vec::new(),
            stderr: b"ERROR: Please run 'az login' to setup account.\n".to_vec(),
        },
        calls: Mutex::new(Vec::new()),
    }));
    messages.push(failing_az.begin().expect_err("az fails").to_string());
    // AAD refuses the client secret: the negotiation ends with the AAD error.
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
    let outcome = drive(
        negotiation,
        vec![reply(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )],
    );
    messages.push(outcome.result.expect_err("refused").to_string());
    assert_eq!(messages.len(), 4);
    for message in &messages {
        assert!(!message.contains("wrong-secret-value"), "{message}");
    }
    insta::assert_snapshot!(messages.join("\n"));
}
