//! Azure AD token providers for ACR: client secret, workload identity, managed identity
//! (IMDS) and the Azure CLI.
//!
//! Each provider's token request is a step of the [`Negotiation`](crate::Negotiation), so
//! the client sends it like any other request; only the Azure CLI provider runs a process
//! (through a [`CommandRunner`]) and only workload identity reads a file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::credential::{CommandRunner, Environment};
use crate::error::Error;
use crate::secret::Secret;
use crate::token::{error_detail, form_body};

/// The scope of an Azure AD token for ACR.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// The resource of an Azure AD token for ACR (IMDS and the Azure CLI use resources, not scopes).
pub const ACR_RESOURCE: &str = "https://containerregistry.azure.net";
/// The Azure AD authority used when `AZURE_AUTHORITY_HOST` is not set.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The instance metadata service's token endpoint.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// The first thing a provider does.
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // moved once per token request; matches `Step::Send`
pub enum AzureStep {
    /// Send this request; give its response to [`AzureTokenProvider::finish`].
    Send(Request<Bytes>),
    /// The token is already in hand (the Azure CLI printed it).
    Token(Secret),
}

/// A source of Azure AD access tokens for ACR, driven by the negotiation.
///
/// Call order: [`begin`](Self::begin); if it returns [`AzureStep::Send`], the response to
/// that request goes to [`finish`](Self::finish).
pub trait AzureTokenProvider: Send + Sync {
    /// A short name for messages (`client secret`, `workload identity`, …).
    fn name(&self) -> &'static str;

    /// The AAD tenant, when known (sent to ACR's exchange).
    fn tenant(&self) -> Option<String>;

    /// Starts getting a token.
    ///
    /// # Errors
    ///
    /// When the request cannot be built (a missing file) or the CLI fails.
    fn begin(&self) -> Result<AzureStep, Error>;

    /// Reads the token out of the response to the request from [`begin`](Self::begin).
    ///
    /// # Errors
    ///
    /// [`Error::Azure`] when the response is an error or has no `access_token`.
    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, Error>;
}

/// The authority host: `AZURE_AUTHORITY_HOST` or [`DEFAULT_AUTHORITY_HOST`], without a
/// trailing slash.
pub fn authority_host(env: &dyn Environment) -> String {
    env.var("AZURE_AUTHORITY_HOST")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

fn required(
    env: &dyn Environment,
    variable: &'static str,
    needed_by: &'static str,
) -> Result<String, Error> {
    env.var(variable)
        .filter(|v| !v.is_empty())
        .ok_or(Error::MissingEnvironment {
            variable,
            needed_by,
        })
}

fn token_endpoint(authority: &str, tenant: &str) -> String {
    format!("{authority}/{tenant}/oauth2/v2.0/token")
}

fn post_form(
    provider: &'static str,
    url: &str,
    pairs: &[(&str, &str)],
) -> Result<Request<Bytes>, Error> {
    Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(form_body(pairs))
        .map_err(|err| Error::Azure {
            provider,
            detail: format!(
                "cannot build the token request for {}: {err}",
                crate::redact_url(url)
            ),
        })
}

/// Reads an AAD (or IMDS) token response: `access_token` on success, the `error` /
/// `error_description` otherwise.
fn read_aad_response(provider: &'static str, response: &Response<Bytes>) -> Result<Secret, Error> {
    if !response.status().is_success() {
        return Err(Error::Azure {
            provider,
            detail: format!(
                "HTTP {}{}",
                response.status().as_u16(),
                error_detail(response.body())
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(response.body()).map_err(|err| Error::Azure {
            provider,
            detail: format!(
                "the token response is not JSON (line {}, column {})",
                err.line(),
                err.column()
            ),
        })?;
    value
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or(Error::Azure {
            provider,
            detail: "the token response has no access_token".to_owned(),
        })
}

/// A service principal with a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
/// `AZURE_CLIENT_SECRET`).
pub struct ClientSecretCredential {
    authority: String,
    tenant: String,
    client_id: String,
    secret: Secret,
}

impl ClientSecretCredential {
    const NAME: &'static str = "client secret";

    /// From explicit values; `authority` like [`DEFAULT_AUTHORITY_HOST`].
    pub fn new(authority: &str, tenant: &str, client_id: &str, secret: Secret) -> Self {
        Self {
            authority: authority.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            secret,
        }
    }

    /// From `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and `AZURE_AUTHORITY_HOST`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnvironment`] naming the first variable missing.
    pub fn from_env(env: &dyn Environment) -> Result<Self, Error> {
        Ok(Self::new(
            &authority_host(env),
            &required(env, "AZURE_TENANT_ID", "the Azure client secret provider")?,
            &required(env, "AZURE_CLIENT_ID", "the Azure client secret provider")?,
            Secret::new(required(
                env,
                "AZURE_CLIENT_SECRET",
                "the Azure client secret provider",
            )?),
        ))
    }
}

impl fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .finish()
    }
}

impl AzureTokenProvider for ClientSecretCredential {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tenant(&self) -> Option<String> {
        Some(self.tenant.clone())
    }

    fn begin(&self) -> Result<AzureStep, Error> {
        post_form(
            Self::NAME,
            &token_endpoint(&self.authority, &self.tenant),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.secret.expose()),
                ("scope", ACR_SCOPE),
            ],
        )
        .map(AzureStep::Send)
    }

    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, Error> {
        read_aad_response(Self::NAME, response)
    }
}

/// Workload identity: a federated token in `AZURE_FEDERATED_TOKEN_FILE` (re-read on each
/// use, since it rotates) traded as a client assertion, with `AZURE_TENANT_ID` and
/// `AZURE_CLIENT_ID`.
#[derive(Debug)]
pub struct WorkloadIdentityCredential {
    authority: String,
    tenant: String,
    client_id: String,
    token_file: PathBuf,
}

impl WorkloadIdentityCredential {
    const NAME: &'static str = "workload identity";

    /// From explicit values.
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        token_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            authority: authority.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            token_file: token_file.into(),
        }
    }

    /// From `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and
    /// `AZURE_AUTHORITY_HOST`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnvironment`] naming the first variable missing.
    pub fn from_env(env: &dyn Environment) -> Result<Self, Error> {
        Ok(Self::new(
            &authority_host(env),
            &required(
                env,
                "AZURE_TENANT_ID",
                "the Azure workload identity provider",
            )?,
            &required(
                env,
                "AZURE_CLIENT_ID",
                "the Azure workload identity provider",
            )?,
            required(
                env,
                "AZURE_FEDERATED_TOKEN_FILE",
                "the Azure workload identity provider",
            )?,
        ))
    }
}

impl AzureTokenProvider for WorkloadIdentityCredential {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tenant(&self) -> Option<String> {
        Some(self.tenant.clone())
    }

    fn begin(&self) -> Result<AzureStep, Error> {
        let assertion = std::fs::read_to_string(&self.token_file).map_err(|source| Error::Io {
            path: self.token_file.clone(),
            source,
        })?;
        let assertion = assertion.trim();
        if assertion.is_empty() {
            return Err(Error::Azure {
                provider: Self::NAME,
                detail: format!(
                    "the federated token file {} is empty",
                    self.token_file.display()
                ),
            });
        }
        post_form(
            Self::NAME,
            &token_endpoint(&self.authority, &self.tenant),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", ACR_SCOPE),
            ],
        )
        .map(AzureStep::Send)
    }

    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, Error> {
        read_aad_response(Self::NAME, response)
    }
}

/// Managed identity through the instance metadata service (IMDS): `GET` with
/// `Metadata: true`, optionally for a user-assigned identity's client id.
#[derive(Clone, Debug)]
pub struct ManagedIdentityCredential {
    endpoint: String,
    client_id: Option<String>,
}

impl ManagedIdentityCredential {
    const NAME: &'static str = "managed identity";

    /// The system-assigned identity at [`DEFAULT_IMDS_ENDPOINT`].
    pub fn new() -> Self {
        Self {
            endpoint: DEFAULT_IMDS_ENDPOINT.to_owned(),
            client_id: None,
        }
    }

    /// A user-assigned identity.
    #[must_use]
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// Another token endpoint (a local test server, a proxy).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: &str) -> Self {
        endpoint.clone_into(&mut self.endpoint);
        self
    }
}

impl Default for ManagedIdentityCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl AzureTokenProvider for ManagedIdentityCredential {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tenant(&self) -> Option<String> {
        None
    }

    fn begin(&self) -> Result<AzureStep, Error> {
        let mut query = vec![("api-version", "2018-02-01"), ("resource", ACR_RESOURCE)];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id));
        }
        let separator = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{separator}{}",
            self.endpoint,
            String::from_utf8_lossy(&form_body(&query))
        );
        Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("Metadata", "true")
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map(AzureStep::Send)
            .map_err(|err| Error::Azure {
                provider: Self::NAME,
                detail: format!("cannot build the IMDS request for {url}: {err}"),
            })
    }

    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, Error> {
        read_aad_response(Self::NAME, response)
    }
}

/// The Azure CLI: `az account get-access-token --resource https://containerregistry.azure.net`.
pub struct AzureCliCredential {
    runner: Arc<dyn CommandRunner>,
    tenant: Option<String>,
}

impl AzureCliCredential {
    const NAME: &'static str = "Azure CLI";

    /// Runs `az` through `runner`.
    pub fn new(runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            runner,
            tenant: None,
        }
    }

    /// Asks for a token of this tenant (`--tenant`).
    #[must_use]
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }
}

impl fmt::Debug for AzureCliCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCliCredential")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl AzureTokenProvider for AzureCliCredential {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }

    fn begin(&self) -> Result<AzureStep, Error> {
        let mut args = vec![
            "account",
            "get-access-token",
            "--resource",
            ACR_RESOURCE,
            "--output",
            "json",
        ];
        if let Some(tenant) = &self.tenant {
            args.extend(["--tenant", tenant]);
        }
        let fail = |detail: String| Error::Azure {
            provider: Self::NAME,
            detail,
        };
        let output = self
            .runner
            .run("az", &args, b"")
            .map_err(|err| fail(format!("cannot run az: {err}")))?;
        if !output.success {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(fail(format!(
                "az failed: {}",
                stderr.trim().chars().take(200).collect::<String>()
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|err| {
            fail(format!(
                "az printed no JSON (line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        value
            .get("accessToken")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| AzureStep::Token(Secret::new(t)))
            .ok_or_else(|| fail("az printed no accessToken".to_owned()))
    }

    fn finish(&self, _response: &Response<Bytes>) -> Result<Secret, Error> {
        Err(Error::OutOfOrder {
            detail: "the Azure CLI provider sends no request",
        })
    }
}

/// Picks a provider from the environment: workload identity when
/// `AZURE_FEDERATED_TOKEN_FILE` is set, else a client secret when `AZURE_CLIENT_SECRET`
/// is set.
///
/// # Errors
///
/// [`Error::MissingEnvironment`] when neither is configured (managed identity and the
/// Azure CLI cannot be detected without IO: choose them explicitly).
pub fn provider_from_env(env: &dyn Environment) -> Result<Arc<dyn AzureTokenProvider>, Error> {
    if env
        .var("AZURE_FEDERATED_TOKEN_FILE")
        .is_some_and(|v| !v.is_empty())
    {
        return Ok(Arc::new(WorkloadIdentityCredential::from_env(env)?));
    }
    if env
        .var("AZURE_CLIENT_SECRET")
        .is_some_and(|v| !v.is_empty())
    {
        return Ok(Arc::new(ClientSecretCredential::from_env(env)?));
    }
    Err(Error::MissingEnvironment {
        variable: "AZURE_FEDERATED_TOKEN_FILE",
        needed_by: "Azure provider detection, which also accepts AZURE_CLIENT_SECRET",
    })
}
