//! Azure AD token providers for ACR: client secret, workload identity, managed identity
//! (IMDS and App Service) and the Azure CLI, and [`DefaultAzureCredential`], which picks
//! one from the environment.
//!
//! Each provider's token request is a step of the `orca-auth` negotiation, so the client
//! sends it like any other request. [`AzureTokenProvider::begin`] is where the IO is —
//! workload identity reads its federated token file, the Azure CLI provider runs `az`,
//! detection probes for IMDS — and the negotiation hands it to the client as a lookup to
//! run off its async runtime.

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use orca_auth::azure::{ACR_RESOURCE, ACR_SCOPE, read_token_response};
use orca_auth::{AzureStep, AzureTokenProvider, LocalIdentityEndpoint, Secret};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::command::{CommandRunner, SystemCommandRunner};
use crate::env::{Environment, ProcessEnvironment, non_empty};
use crate::error::Error;

/// The Azure AD authority used when `AZURE_AUTHORITY_HOST` is not set.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The instance metadata service's token endpoint.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// Characters left as they are in a form value (RFC 3986 unreserved).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An `application/x-www-form-urlencoded` body or query.
fn form_body(pairs: &[(&str, &str)]) -> Bytes {
    let text = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, FORM),
                utf8_percent_encode(v, FORM)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    Bytes::from(text)
}

/// A provider error as the negotiation reports it.
fn lookup_error(err: Error) -> orca_auth::Error {
    orca_auth::Error::credential_lookup("cannot get an Azure AD token", err)
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
    non_empty(env, variable).ok_or(Error::MissingEnvironment {
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
) -> Result<Request<Bytes>, orca_auth::Error> {
    Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(form_body(pairs))
        .map_err(|err| {
            lookup_error(Error::Azure {
                provider,
                detail: format!(
                    "cannot build the token request for {}: {err}",
                    orca_auth::redact_url(url)
                ),
            })
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

    fn secrets(&self) -> Vec<Secret> {
        vec![self.secret.clone()]
    }

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
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

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
        let assertion = std::fs::read_to_string(&self.token_file).map_err(|source| {
            lookup_error(Error::Io {
                action: "read the federated token file",
                path: self.token_file.clone(),
                source,
            })
        })?;
        let assertion = assertion.trim();
        if assertion.is_empty() {
            return Err(lookup_error(Error::Azure {
                provider: Self::NAME,
                detail: format!(
                    "the federated token file {} is empty",
                    self.token_file.display()
                ),
            }));
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
}

/// Where a managed identity's tokens come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ManagedEndpoint {
    /// The instance metadata service (VMs, AKS): `GET` with `Metadata: true`.
    Imds(String),
    /// App Service and Functions: `IDENTITY_ENDPOINT` with the `X-IDENTITY-HEADER` secret.
    AppService { endpoint: String, header: Secret },
}

/// Managed identity: the instance metadata service (IMDS), or App Service's
/// `IDENTITY_ENDPOINT`, optionally for a user-assigned identity's client id.
///
/// Both endpoints are plain HTTP on a link-local or loopback address by nature: the
/// requests carry [`LocalIdentityEndpoint`], so a client sends them without plain HTTP
/// being allowed for anything else.
#[derive(Clone)]
pub struct ManagedIdentityCredential {
    endpoint: ManagedEndpoint,
    client_id: Option<String>,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = match &self.endpoint {
            ManagedEndpoint::Imds(url) => format!("IMDS {url}"),
            ManagedEndpoint::AppService { endpoint, .. } => format!("App Service {endpoint}"),
        };
        f.debug_struct("ManagedIdentityCredential")
            .field("endpoint", &endpoint)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl ManagedIdentityCredential {
    const NAME: &'static str = "managed identity";

    /// The system-assigned identity at [`DEFAULT_IMDS_ENDPOINT`].
    pub fn new() -> Self {
        Self {
            endpoint: ManagedEndpoint::Imds(DEFAULT_IMDS_ENDPOINT.to_owned()),
            client_id: None,
        }
    }

    /// From the environment, as the Azure SDKs read it: App Service when
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, else IMDS (at
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set); a user-assigned identity when
    /// `AZURE_CLIENT_ID` is set.
    pub fn from_env(env: &dyn Environment) -> Self {
        let endpoint = match (
            non_empty(env, "IDENTITY_ENDPOINT"),
            non_empty(env, "IDENTITY_HEADER"),
        ) {
            (Some(endpoint), Some(header)) => ManagedEndpoint::AppService {
                endpoint,
                header: Secret::new(header),
            },
            _ => ManagedEndpoint::Imds(
                non_empty(env, "AZURE_POD_IDENTITY_AUTHORITY_HOST").map_or_else(
                    || DEFAULT_IMDS_ENDPOINT.to_owned(),
                    |host| {
                        format!(
                            "{}/metadata/identity/oauth2/token",
                            host.trim_end_matches('/')
                        )
                    },
                ),
            ),
        };
        Self {
            endpoint,
            client_id: non_empty(env, "AZURE_CLIENT_ID"),
        }
    }

    /// A user-assigned identity.
    #[must_use]
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// The system-assigned identity, whatever `AZURE_CLIENT_ID` said to
    /// [`from_env`](Self::from_env).
    #[must_use]
    pub fn system_assigned(mut self) -> Self {
        self.client_id = None;
        self
    }

    /// Another IMDS token endpoint (a local test server, a proxy).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = ManagedEndpoint::Imds(endpoint.to_owned());
        self
    }

    /// The token endpoint's URL.
    pub fn endpoint(&self) -> &str {
        match &self.endpoint {
            ManagedEndpoint::Imds(url) | ManagedEndpoint::AppService { endpoint: url, .. } => url,
        }
    }

    /// Whether the IMDS endpoint accepts TCP connections within `timeout` (App Service's
    /// endpoint is taken as present). Blocks up to `timeout` per address.
    pub fn probe(&self, timeout: Duration) -> bool {
        let ManagedEndpoint::Imds(url) = &self.endpoint else {
            return true;
        };
        let Ok(uri) = url.parse::<http::Uri>() else {
            return false;
        };
        let Some(host) = uri.host() else { return false };
        let port = uri.port_u16().unwrap_or(80);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default();
        addresses
            .iter()
            .any(|a| TcpStream::connect_timeout(a, timeout).is_ok())
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

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
        let (endpoint, api_version) = match &self.endpoint {
            ManagedEndpoint::Imds(url) => (url, "2018-02-01"),
            ManagedEndpoint::AppService { endpoint, .. } => (endpoint, "2019-08-01"),
        };
        let mut query = vec![("api-version", api_version), ("resource", ACR_RESOURCE)];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id));
        }
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!(
            "{endpoint}{separator}{}",
            String::from_utf8_lossy(&form_body(&query))
        );
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header(http::header::ACCEPT, "application/json")
            .extension(LocalIdentityEndpoint);
        builder = match &self.endpoint {
            ManagedEndpoint::Imds(_) => builder.header("Metadata", "true"),
            ManagedEndpoint::AppService { header, .. } => {
                let mut value = http::HeaderValue::from_str(header.expose()).map_err(|_| {
                    lookup_error(Error::Azure {
                        provider: Self::NAME,
                        detail: "IDENTITY_HEADER is not a valid header value".to_owned(),
                    })
                })?;
                value.set_sensitive(true);
                builder.header("X-IDENTITY-HEADER", value)
            }
        };
        builder
            .body(Bytes::new())
            .map(AzureStep::Send)
            .map_err(|err| {
                lookup_error(Error::Azure {
                    provider: Self::NAME,
                    detail: format!(
                        "cannot build the token request for {}: {err}",
                        orca_auth::redact_url(endpoint)
                    ),
                })
            })
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

    /// Runs `az`: blocks.
    fn token(&self) -> Result<Result<Secret, Error>, std::io::Error> {
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
        let output = self.runner.run("az", &args, b"")?;
        if !output.success {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Ok(Err(fail(format!(
                "az failed: {}",
                orca_auth::excerpt::sanitize(&stderr, &[], 300)
            ))));
        }
        let value: serde_json::Value = match serde_json::from_slice(&output.stdout) {
            Ok(v) => v,
            Err(err) => {
                return Ok(Err(fail(format!(
                    "az printed no JSON (line {}, column {})",
                    err.line(),
                    err.column()
                ))));
            }
        };
        Ok(value
            .get("accessToken")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| fail("az printed no accessToken".to_owned())))
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

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
        match self.token() {
            Ok(Ok(token)) => Ok(AzureStep::Token(token)),
            Ok(Err(err)) => Err(lookup_error(err)),
            Err(err) => Err(lookup_error(Error::Azure {
                provider: Self::NAME,
                detail: format!("cannot run az: {err}"),
            })),
        }
    }

    fn finish(&self, _response: &Response<Bytes>) -> Result<Secret, orca_auth::Error> {
        Err(orca_auth::Error::OutOfOrder {
            detail: "the Azure CLI provider sends no request",
        })
    }
}

/// Picks the Azure AD provider the environment offers, trying in this order, as the Azure
/// SDKs do:
///
/// 1. a client secret (`AZURE_CLIENT_SECRET`, with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`);
/// 2. workload identity (`AZURE_FEDERATED_TOKEN_FILE`, with the same two);
/// 3. managed identity: App Service (`IDENTITY_ENDPOINT`), else IMDS when something
///    accepts connections at its address within [`with_probe_timeout`](Self::with_probe_timeout);
/// 4. the Azure CLI, when `az` can be run.
///
/// Detection runs on first use (in [`begin`](AzureTokenProvider::begin), off the async
/// runtime) and its choice is kept. With none available, the error lists each provider and
/// why it was not usable.
pub struct DefaultAzureCredential {
    env: Arc<dyn Environment>,
    runner: Arc<dyn CommandRunner>,
    probe_timeout: Duration,
    chosen: Mutex<Option<Arc<dyn AzureTokenProvider>>>,
}

impl fmt::Debug for DefaultAzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultAzureCredential")
            .field("chosen", &self.chosen().map(|p| p.name()))
            .finish_non_exhaustive()
    }
}

impl Default for DefaultAzureCredential {
    fn default() -> Self {
        Self::new(
            Arc::new(ProcessEnvironment),
            Arc::new(SystemCommandRunner::new()),
        )
    }
}

impl DefaultAzureCredential {
    const NAME: &'static str = "automatic detection";

    /// Detection over `env`, running `az` through `runner`.
    pub fn new(env: Arc<dyn Environment>, runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            env,
            runner,
            probe_timeout: Duration::from_secs(1),
            chosen: Mutex::new(None),
        }
    }

    /// How long the IMDS probe waits for a connection (default 1 s).
    #[must_use]
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    fn chosen(&self) -> Option<Arc<dyn AzureTokenProvider>> {
        self.chosen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Finds the provider (blocks: probes IMDS, may run `az`). The Azure CLI's token, when
    /// it was the one found, comes back with it so `az` runs once.
    fn detect(&self) -> Result<(Arc<dyn AzureTokenProvider>, Option<Secret>), Error> {
        let env = &*self.env;
        let mut tried = Vec::new();
        if non_empty(env, "AZURE_CLIENT_SECRET").is_some() {
            return Ok((Arc::new(ClientSecretCredential::from_env(env)?), None));
        }
        tried.push("client secret (AZURE_CLIENT_SECRET is not set)".to_owned());
        if non_empty(env, "AZURE_FEDERATED_TOKEN_FILE").is_some() {
            return Ok((Arc::new(WorkloadIdentityCredential::from_env(env)?), None));
        }
        tried.push("workload identity (AZURE_FEDERATED_TOKEN_FILE is not set)".to_owned());
        let managed = ManagedIdentityCredential::from_env(env);
        if managed.probe(self.probe_timeout) {
            return Ok((Arc::new(managed), None));
        }
        tried.push(format!(
            "managed identity (IDENTITY_ENDPOINT is not set and nothing answers at {})",
            managed.endpoint()
        ));
        let cli = AzureCliCredential::new(Arc::clone(&self.runner));
        match cli.token() {
            Ok(Ok(token)) => return Ok((Arc::new(cli), Some(token))),
            Ok(Err(err)) => tried.push(format!("Azure CLI ({err})")),
            Err(err) => tried.push(format!("Azure CLI (cannot run az: {err})")),
        }
        Err(Error::NoAzureCredential { tried })
    }
}

impl AzureTokenProvider for DefaultAzureCredential {
    fn name(&self) -> &'static str {
        self.chosen().map_or(Self::NAME, |p| p.name())
    }

    fn tenant(&self) -> Option<String> {
        self.chosen().and_then(|p| p.tenant())
    }

    fn secrets(&self) -> Vec<Secret> {
        self.chosen().map(|p| p.secrets()).unwrap_or_default()
    }

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
        if let Some(provider) = self.chosen() {
            return provider.begin();
        }
        let (provider, token) = self.detect().map_err(lookup_error)?;
        *self.chosen.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&provider));
        match token {
            Some(token) => Ok(AzureStep::Token(token)),
            None => provider.begin(),
        }
    }

    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, orca_auth::Error> {
        match self.chosen() {
            Some(provider) => provider.finish(response),
            None => read_token_response(Self::NAME, response.body()),
        }
    }
}

/// The registry suffixes of Azure Container Registry in the public and sovereign clouds.
pub const ACR_SUFFIXES: [&str; 4] = [".azurecr.io", ".azurecr.cn", ".azurecr.us", ".azurecr.de"];

/// Azure AD for every Azure Container Registry (`*.azurecr.io` and the sovereign clouds'
/// suffixes), anonymous for any other registry: put it first in a
/// [`ChainCredentials`](orca_auth::ChainCredentials) so ACR logins need no per-registry
/// setup.
pub struct AcrCredentials {
    provider: Arc<dyn AzureTokenProvider>,
}

impl AcrCredentials {
    /// ACR through `provider` (usually a [`DefaultAzureCredential`]).
    pub fn new(provider: Arc<dyn AzureTokenProvider>) -> Self {
        Self { provider }
    }

    /// Whether `registry` (`host[:port]`) is an Azure Container Registry.
    pub fn is_acr(registry: &str) -> bool {
        let host = registry
            .rsplit_once(':')
            .map_or(registry, |(host, _)| host)
            .to_ascii_lowercase();
        ACR_SUFFIXES
            .iter()
            .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix))
    }
}

impl fmt::Debug for AcrCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcrCredentials")
            .field("provider", &self.provider.name())
            .finish()
    }
}

impl orca_auth::CredentialSource for AcrCredentials {
    fn credential(&self, registry: &str) -> Result<orca_auth::Credential, orca_auth::Error> {
        Ok(if Self::is_acr(registry) {
            orca_auth::Credential::Azure(Arc::clone(&self.provider))
        } else {
            orca_auth::Credential::Anonymous
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orca_auth::CredentialSource;

    #[test]
    fn acr_registries_get_the_azure_provider() {
        let source = AcrCredentials::new(Arc::new(ManagedIdentityCredential::new()));
        let cases = [
            ("contoso.azurecr.io", true),
            ("Contoso.AzureCR.io:443", true),
            ("gov.azurecr.us", true),
            ("azurecr.io", false),
            (".azurecr.io", false),
            ("evil-azurecr.io", false),
            ("contoso.azurecr.io.evil.example", false),
            ("ghcr.io", false),
        ];
        assert_eq!(cases.len(), 8);
        for (registry, acr) in cases {
            let credential = source.credential(registry).expect("lookup");
            assert_eq!(!credential.is_anonymous(), acr, "{registry}");
        }
    }
}
