//! `--azure`: which Azure AD credential the environment offers, chosen the way the Azure
//! SDKs' default credential chain does.

use std::path::Path;

use orca::CredentialSource;

use crate::exit::Failure;

/// The environment's Azure AD credential, first match wins:
///
/// 1. a client secret: `AZURE_CLIENT_SECRET` set (then `AZURE_TENANT_ID` and
///    `AZURE_CLIENT_ID` must be too, as `DefaultAzureCredential` requires: a half-set
///    client secret is an error, not a silent fall to the next source);
/// 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE` set (tenant and client id from
///    `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`);
/// 3. managed identity: `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` set (App Service, Functions,
///    Arc), or no `az` on `PATH` (a VM's metadata service); `AZURE_CLIENT_ID` selects a
///    user-assigned identity;
/// 4. the Azure CLI's signed-in account.
///
/// `AZURE_AUTHORITY_HOST` is honoured by the credential itself.
///
/// # Errors
///
/// A usage error naming the variable missing beside `AZURE_CLIENT_SECRET`.
pub(crate) fn credential_source() -> Result<CredentialSource, Failure> {
    choose(
        &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        az_on_path(),
    )
    .map_err(Failure::usage)
}

fn choose(
    env: &dyn Fn(&str) -> Option<String>,
    az_on_path: bool,
) -> Result<CredentialSource, String> {
    if env("AZURE_CLIENT_SECRET").is_some() {
        let needed = |name: &str| {
            env(name).ok_or_else(|| {
                format!(
                    "--azure: AZURE_CLIENT_SECRET is set but {name} is not (a client secret needs AZURE_TENANT_ID and AZURE_CLIENT_ID too)"
                )
            })
        };
        return Ok(CredentialSource::AzureClientSecret {
            tenant_id: needed("AZURE_TENANT_ID")?,
            client_id: needed("AZURE_CLIENT_ID")?,
            secret_env: "AZURE_CLIENT_SECRET".to_owned(),
        });
    }
    if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok(CredentialSource::AzureWorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        });
    }
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() || !az_on_path {
        return Ok(CredentialSource::AzureManagedIdentity {
            client_id: env("AZURE_CLIENT_ID"),
        });
    }
    Ok(CredentialSource::AzureCli {
        tenant_id: env("AZURE_TENANT_ID"),
    })
}

fn az_on_path() -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    let names: &[&str] = if cfg!(windows) {
        &["az.cmd", "az.exe"]
    } else {
        &["az"]
    };
    std::env::split_paths(&path).any(|dir| names.iter().any(|n| is_file(&dir.join(n))))
}

fn is_file(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_chain_picks_the_first_available() {
        let secret = env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ]);
        let kind = |env: &dyn Fn(&str) -> Option<String>, az| choose(env, az).unwrap().kind();
        assert_eq!(kind(&secret, true), "azure-client-secret");
        let workload = env(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]);
        assert_eq!(kind(&workload, true), "azure-workload-identity");
        let app_service = env(&[("IDENTITY_ENDPOINT", "http://x")]);
        assert_eq!(kind(&app_service, true), "azure-managed-identity");
        let nothing = env(&[]);
        assert_eq!(kind(&nothing, true), "azure-cli");
        assert_eq!(kind(&nothing, false), "azure-managed-identity");
    }

    #[test]
    fn a_half_set_client_secret_is_an_error_not_the_next_source() {
        let half = env(&[
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ]);
        let message = choose(&half, true).unwrap_err();
        assert!(message.contains("AZURE_TENANT_ID"), "{message}");
        assert!(!message.contains("\"s\""), "{message}");
    }
}
