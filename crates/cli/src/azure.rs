//! `--azure`: which Azure AD credential the environment offers, chosen the way the Azure
//! SDKs' default credential chain does.

use std::path::Path;

use orca::CredentialSource;

/// The environment's Azure AD credential, first match wins:
///
/// 1. a client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` set;
/// 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE` set (tenant and client id from
///    `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`);
/// 3. managed identity: `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` set (App Service, Functions,
///    Arc), or no `az` on `PATH` (a VM's metadata service); `AZURE_CLIENT_ID` selects a
///    user-assigned identity;
/// 4. the Azure CLI's signed-in account.
///
/// `AZURE_AUTHORITY_HOST` is honoured by the credential itself.
pub(crate) fn credential_source() -> CredentialSource {
    choose(
        &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        az_on_path(),
    )
}

fn choose(env: &dyn Fn(&str) -> Option<String>, az_on_path: bool) -> CredentialSource {
    if let (Some(tenant_id), Some(client_id), Some(_)) = (
        env("AZURE_TENANT_ID"),
        env("AZURE_CLIENT_ID"),
        env("AZURE_CLIENT_SECRET"),
    ) {
        return CredentialSource::AzureClientSecret {
            tenant_id,
            client_id,
            secret_env: "AZURE_CLIENT_SECRET".to_owned(),
        };
    }
    if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return CredentialSource::AzureWorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        };
    }
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() || !az_on_path {
        return CredentialSource::AzureManagedIdentity {
            client_id: env("AZURE_CLIENT_ID"),
        };
    }
    CredentialSource::AzureCli {
        tenant_id: env("AZURE_TENANT_ID"),
    }
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
        assert_eq!(choose(&secret, true).kind(), "azure-client-secret");
        let workload = env(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]);
        assert_eq!(choose(&workload, true).kind(), "azure-workload-identity");
        let app_service = env(&[("IDENTITY_ENDPOINT", "http://x")]);
        assert_eq!(choose(&app_service, true).kind(), "azure-managed-identity");
        let nothing = env(&[]);
        assert_eq!(choose(&nothing, true).kind(), "azure-cli");
        assert_eq!(choose(&nothing, false).kind(), "azure-managed-identity");
    }
}
