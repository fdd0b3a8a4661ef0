//! The authentication driver: after a 401, run an `orca-auth` negotiation to its end,
//! sending the requests it builds (token service, ACR exchange) through the pool.

use std::time::SystemTime;

use bytes::Bytes;
use http::Request;
use http::header::HeaderMap;
use http_body_util::{BodyExt, Full};
use orca_auth::{Authorization, Scope, Step};

use super::call::parse_url;
use super::{Deadline, Transport};
use crate::error::Error;
use crate::sanitize::{Secrets, excerpt};

/// The most bytes of a token-service response read during negotiation.
const AUTH_BODY_LIMIT: u64 = 1024 * 1024;
/// The most steps one authentication negotiation may take.
const MAX_AUTH_STEPS: usize = 8;

impl Transport {
    /// Drive an `orca-auth` negotiation after a 401.
    pub(super) async fn negotiate(
        &self,
        registry: &str,
        scopes: &[Scope],
        request_url: &str,
        headers: &HeaderMap,
        deadline: &Deadline,
    ) -> Result<Authorization, Error> {
        let auth = self.auth.as_ref().ok_or_else(|| Error::Auth {
            registry: registry.to_owned(),
            message: "no authenticator".into(),
            source: None,
        })?;
        let auth_error = |message: &str, e: Option<orca_auth::Error>| Error::Auth {
            registry: registry.to_owned(),
            message: message.to_owned(),
            source: e.map(Box::new),
        };
        let uri: http::Uri = request_url
            .parse()
            .map_err(|e| auth_error(&format!("the request URL is not a URI: {e}"), None))?;
        let mut negotiation = auth
            .challenge(&uri, headers, scopes, SystemTime::now())
            .map_err(|e| auth_error("cannot answer the registry's challenge", Some(e)))?;
        // What the token requests carried, kept out of any refusal that echoes it.
        let mut secrets = Secrets::default();
        for _ in 0..MAX_AUTH_STEPS {
            match negotiation
                .next(SystemTime::now())
                .map_err(|e| auth_error("negotiation failed", Some(e)))?
            {
                Step::Authorize(a) => return Ok(a),
                Step::Send(request) => {
                    secrets.extend(Secrets::from_request(&request));
                    let reply = self.send_auth_request(registry, request, deadline).await?;
                    negotiation
                        .receive(reply, SystemTime::now())
                        .map_err(|e| refused(registry, e, &secrets))?;
                }
                _ => {
                    return Err(auth_error(
                        "orca-auth asked for a step this client does not know",
                        None,
                    ));
                }
            }
        }
        Err(auth_error(
            &format!("negotiation took more than {MAX_AUTH_STEPS} steps"),
            None,
        ))
    }

    /// Send a request built by `orca-auth` (token service, ACR exchange) and collect its
    /// (small) response.
    async fn send_auth_request(
        &self,
        registry: &str,
        request: Request<Bytes>,
        deadline: &Deadline,
    ) -> Result<http::Response<Bytes>, Error> {
        let (parts, body) = request.into_parts();
        let url = parse_url(&parts.method, &parts.uri.to_string())?;
        self.check_scheme(&parts.method, registry, &url)?;
        let body = Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send_once(&parts.method, &url, parts.headers, body, deadline)
            .await?;
        let (rparts, rbody) = response.into_parts();
        let bytes = self
            .collect(rbody, AUTH_BODY_LIMIT, &parts.method, url.as_str())
            .await?;
        Ok(http::Response::from_parts(rparts, bytes))
    }
}

/// The error for a token service's (or ACR exchange's) answer that the negotiation did
/// not accept: a 401 to a credential is [`Error::CredentialsRejected`], naming the user.
///
/// # Security
/// The service's own words (`detail`) are remote text: they are made an excerpt with
/// control characters escaped and the request's `secrets` (and any `Basic …`/`Bearer …`
/// value) replaced by `REDACTED`, since a hostile service echoes what it was sent.
fn refused(registry: &str, mut e: orca_auth::Error, secrets: &Secrets) -> Error {
    if let orca_auth::Error::TokenRejected { detail, .. } = &mut e {
        *detail = detail.take().map(|d| excerpt(&d, secrets));
    }
    if let orca_auth::Error::TokenRejected {
        endpoint,
        credential,
        status: 401,
        ..
    } = &e
    {
        let user = match credential.as_ref() {
            orca_auth::CredentialKind::Basic { username } => Some(username.clone()),
            orca_auth::CredentialKind::IdentityToken { username } => username.clone(),
            _ => None,
        };
        return Error::CredentialsRejected {
            registry: registry.to_owned(),
            user,
            by: crate::error::redact_url(endpoint),
            status: 401,
            source: Some(Box::new(e)),
        };
    }
    Error::Auth {
        registry: registry.to_owned(),
        message: "the token service's answer was refused".to_owned(),
        source: Some(Box::new(e)),
    }
}
