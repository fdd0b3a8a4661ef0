//! `login` and `logout`: docker's `config.json`, so docker, skopeo and ORAS share the login.

use std::sync::Arc;

use orca::auth::{ACR_REFRESH_TOKEN_USER, Credential, Secret, StaticCredentials};
use orca::credentials::DockerConfig;
use orca::{ArtifactStore, Store, StoreRegistry};
use serde_json::json;

use crate::args::{LoginArgs, LogoutArgs};
use crate::context::{Access, Context, given_credential};
use crate::exit::{Failure, chain};

/// `host[:port]` from what a user may type (`https://myacr.azurecr.io/`).
fn registry_name(input: &str) -> String {
    let trimmed = input
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    trimmed
        .split('/')
        .next()
        .unwrap_or(trimmed)
        .to_ascii_lowercase()
}

/// Check the credential against the registry before storing it, as `docker login` does
/// (`GET /v2/`, authenticating when asked). The secret stays in memory.
async fn check(
    ctx: &Context,
    registry: &str,
    username: &str,
    secret: &Secret,
) -> Result<(), Failure> {
    let credential = Credential::from_username_secret(username, secret.clone());
    let source = StaticCredentials::new().with(registry, credential);
    let mut store = Store::new(registry)
        .map_err(|e| Failure::usage(format!("login: {}", chain(&e))))?
        .with_plain_http(ctx.global.plain_http);
    if let Some(ca) = &ctx.global.ca_file {
        store = store.with_ca_file(ca.clone());
    }
    let artifacts = ArtifactStore::builder(StoreRegistry::new().with(store))
        .client_config(ctx.client_config(&[registry.to_owned()]))
        .credential_source(Arc::new(source))
        .build()?;
    artifacts.check_registry(registry).await?;
    Ok(())
}

/// `login --azure`: the environment's Azure AD token exchanged at the registry's
/// `/oauth2/exchange`; returns the ACR refresh token (checked: the registry accepted it).
async fn exchange(ctx: &Context, registry: &str) -> Result<Secret, Failure> {
    let (artifacts, _) = ctx.artifact_store(&[registry], Access::Terminal, None, false)?;
    Ok(artifacts.login_refresh_token(registry).await?)
}

/// `orca login`.
pub(crate) async fn login(ctx: &Context, args: &LoginArgs) -> Result<(), Failure> {
    let registry = registry_name(&args.registry);
    let path = ctx.docker_config_path().ok_or_else(|| {
        Failure::usage("no docker config (HOME is not set): give --registry-config FILE")
    })?;
    let (username, secret, identity) = if ctx.global.azure {
        if args.credentials.given() {
            return Err(Failure::usage(
                "--azure takes its credential from the environment: give no -u, -p, \
                 --password-stdin or --identity-token with it",
            ));
        }
        let token = exchange(ctx, &registry).await?;
        (ACR_REFRESH_TOKEN_USER.to_owned(), token, true)
    } else {
        let (username, secret) = given_credential(&args.credentials)?.ok_or_else(|| {
            Failure::usage("give -u USER with -p PASSWORD or --password-stdin, or --identity-token")
        })?;
        check(ctx, &registry, &username, &secret).await?;
        (username, secret, false)
    };
    let stored = tokio::task::spawn_blocking({
        let path = path.clone();
        let registry = registry.clone();
        move || {
            let mut config = DockerConfig::from_path(&path)?;
            if identity {
                config.store_identity_token(&registry, &username, &secret)
            } else {
                config.store(&registry, &username, &secret)
            }
        }
    })
    .await
    .map_err(|e| Failure::other(format!("saving the login: {e}")))?;
    stored.map_err(|e| {
        Failure::other(format!(
            "saving the login in {}: {}",
            path.display(),
            chain(&e)
        ))
    })?;
    ctx.printer.result(
        "Login Succeeded",
        &json!({"registry": registry, "configFile": path, "status": "Login Succeeded"}),
    )
}

/// `orca logout`.
pub(crate) fn logout(ctx: &Context, args: &LogoutArgs) -> Result<(), Failure> {
    let registry = registry_name(&args.registry);
    let path = ctx.docker_config_path().ok_or_else(|| {
        Failure::usage("no docker config (HOME is not set): give --registry-config FILE")
    })?;
    let found = DockerConfig::from_path(&path)
        .and_then(|mut config| {
            let found = !matches!(config.lookup(&registry)?, Credential::Anonymous);
            config.erase(&registry)?;
            Ok(found)
        })
        .map_err(|e| {
            Failure::other(format!(
                "removing the login from {}: {}",
                path.display(),
                chain(&e)
            ))
        })?;
    let text = if found {
        format!("Removed login credentials for {registry}")
    } else {
        format!("Not logged in to {registry}")
    };
    ctx.printer.result(
        &text,
        &json!({"registry": registry, "configFile": path, "removed": found}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_hosts() {
        assert_eq!(
            registry_name("https://MyACR.azurecr.io/"),
            "myacr.azurecr.io"
        );
        assert_eq!(registry_name("localhost:5000"), "localhost:5000");
    }
}
