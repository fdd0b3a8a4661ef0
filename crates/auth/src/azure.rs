//! The Azure AD side of ACR authentication, without its IO: the [`AzureTokenProvider`]
//! trait the negotiation drives, and the reading of Entra ID (or IMDS) token responses.
//!
//! The providers themselves (client secret, workload identity, managed identity, the Azure
//! CLI, and automatic detection) live in `orca-credentials`.

use bytes::Bytes;
use http::{Request, Response};

use crate::error::Error;
use crate::secret::Secret;

/// The scope of an Azure AD token for ACR.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// The resource of an Azure AD token for ACR (IMDS and the Azure CLI use resources, not scopes).
pub const ACR_RESOURCE: &str = "https://containerregistry.azure.net";

/// The first thing a provider does.
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // moved once per token request; matches `Step::Send`
pub enum AzureStep {
    /// Send this request; its response is read by the negotiation (a refusal names
    /// Entra ID) and then by [`AzureTokenProvider::finish`].
    Send(Request<Bytes>),
    /// The token is already in hand (the Azure CLI printed it).
    Token(Secret),
}

/// Marks a provider's token request to a local identity endpoint that is plain HTTP by
/// nature: the instance metadata service (`169.254.169.254`) or App Service's
/// `IDENTITY_ENDPOINT` (a loopback address).
///
/// A provider puts it in the request's extensions; the negotiation keeps it only when the
/// request's host is a loopback or link-local address, and a client may then send that one
/// request over plain HTTP without plain HTTP being configured for anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalIdentityEndpoint;

/// A source of Azure AD access tokens for ACR, driven by the negotiation.
///
/// Call order: [`begin`](Self::begin) (handed to the caller as a
/// [`Step::Lookup`](crate::Step::Lookup), since it may block); if it returns
/// [`AzureStep::Send`], the successful response to that request goes to
/// [`finish`](Self::finish).
pub trait AzureTokenProvider: Send + Sync {
    /// A short name for messages (`client secret`, `workload identity`, …).
    fn name(&self) -> &'static str;

    /// The AAD tenant, when known (sent to ACR's exchange).
    fn tenant(&self) -> Option<String>;

    /// Starts getting a token. May block: reading the federated token file, running `az`,
    /// probing for a managed identity endpoint.
    ///
    /// # Errors
    ///
    /// When the request cannot be built (a missing file) or the CLI fails.
    fn begin(&self) -> Result<AzureStep, Error>;

    /// The secrets this provider sends (a client secret), so that an error never shows
    /// them if Entra ID echoes them back. Default: none.
    fn secrets(&self) -> Vec<Secret> {
        Vec::new()
    }

    /// Reads the token out of the successful response to the request from
    /// [`begin`](Self::begin). The default reads `access_token` (Entra ID, IMDS and App
    /// Service all send it).
    ///
    /// # Errors
    ///
    /// [`Error::Azure`] when the response has no `access_token`.
    fn finish(&self, response: &Response<Bytes>) -> Result<Secret, Error> {
        read_token_response(self.name(), response.body())
    }
}

/// Reads the `access_token` of a successful Entra ID, IMDS or App Service token response.
///
/// # Errors
///
/// [`Error::Azure`] when the body is not JSON or has no `access_token`.
pub fn read_token_response(provider: &'static str, body: &[u8]) -> Result<Secret, Error> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| Error::Azure {
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
