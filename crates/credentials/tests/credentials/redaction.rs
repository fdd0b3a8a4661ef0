//! Every source and provider built with a recognisable secret: the secret appears in no
//! `Debug` or `Display` output.

use std::sync::Arc;

use orca_auth::Credential;
use orca_credentials::azure::{AzureCliCredential, ClientSecretCredential};
use orca_credentials::{
    CommandOutput, DefaultAzureCredential, DockerConfig, EnvironmentCredentials,
    SystemCommandRunner,
};

const SECRET: &str = "S3CR3T-canary-7f1d";

#[test]
fn no_secret_in_debug_or_display() {
    let mut outputs: Vec<(&str, String)> = Vec::new();
    outputs.push((
        "ClientSecretCredential",
        format!(
            "{:?}",
            ClientSecretCredential::new("https://login.example", "t", "c", SECRET.into())
        ),
    ));
    outputs.push((
        "Credential::Azure",
        format!(
            "{:?}",
            Credential::Azure(Arc::new(ClientSecretCredential::new(
                "https://login.example",
                "t",
                "c",
                SECRET.into()
            )))
        ),
    ));
    outputs.push((
        "AzureCliCredential",
        format!(
            "{:?}",
            AzureCliCredential::new(Arc::new(SystemCommandRunner::new()))
        ),
    ));
    let env: std::collections::HashMap<String, String> = [
        ("ORCA_USERNAME".to_owned(), "user".to_owned()),
        ("ORCA_PASSWORD".to_owned(), SECRET.to_owned()),
        ("AZURE_CLIENT_SECRET".to_owned(), SECRET.to_owned()),
    ]
    .into();
    let env = Arc::new(env);
    outputs.push((
        "EnvironmentCredentials",
        format!("{:?}", EnvironmentCredentials::new(env.clone())),
    ));
    outputs.push((
        "DefaultAzureCredential",
        format!(
            "{:?}",
            DefaultAzureCredential::new(env, Arc::new(SystemCommandRunner::new()))
        ),
    ));
    let docker = DockerConfig::from_json(
        format!(r#"{{"auths":{{"reg.example":{{"username":"user","password":"{SECRET}"}}}}}}"#)
            .as_bytes(),
        None,
    )
    .expect("config");
    outputs.push(("DockerConfig", format!("{docker:?}")));
    outputs.push((
        "CommandOutput",
        format!(
            "{:?}",
            CommandOutput {
                success: true,
                stdout: SECRET.as_bytes().to_vec(),
                stderr: Vec::new(),
            }
        ),
    ));
    let bad_config = DockerConfig::from_json(
        format!(r#"{{"auths":{{"a":{{"password":"{SECRET}"}}}}}}"#).as_bytes(),
        None,
    )
    .expect_err("no username");
    outputs.push(("DockerConfig error", format!("{bad_config} {bad_config:?}")));
    assert_eq!(outputs.len(), 8);
    for (what, text) in &outputs {
        assert!(!text.contains("canary"), "{what} leaks the secret: {text}");
    }
}
