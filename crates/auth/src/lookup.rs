//! [`Lookup`]: the one kind of work a negotiation hands out that may block.

use std::fmt;
use std::sync::Arc;

use crate::azure::{AzureStep, AzureTokenProvider};
use crate::credential::{Credential, CredentialSource};
use crate::error::Error;

/// A lookup the negotiation needs: ask a [`CredentialSource`] for a registry's credential,
/// or start an [`AzureTokenProvider`]. Either may block (read a file, run a helper or
/// `az`), so the negotiation never runs it: the caller calls [`run`](Self::run) where
/// blocking is fine — an async client on a blocking thread
/// (`tokio::task::spawn_blocking`) — and hands the result to
/// [`Negotiation::resume`](crate::Negotiation::resume).
#[must_use = "a lookup does nothing until it is run and its result resumed"]
pub struct Lookup {
    pub(crate) job: Job,
}

pub(crate) enum Job {
    Credential {
        source: Arc<dyn CredentialSource>,
        registry: String,
    },
    AzureToken {
        provider: Arc<dyn AzureTokenProvider>,
    },
}

impl Lookup {
    /// Runs the lookup. May block.
    pub fn run(self) -> LookupResult {
        LookupResult {
            outcome: match self.job {
                Job::Credential { source, registry } => {
                    Outcome::Credential(source.credential(&registry))
                }
                Job::AzureToken { provider } => Outcome::AzureToken(provider.begin()),
            },
        }
    }

    /// What is looked up, for logs (`credential for reg.example`, `Azure AD token
    /// (workload identity)`).
    pub fn describe(&self) -> String {
        match &self.job {
            Job::Credential { registry, .. } => format!("credential for {registry}"),
            Job::AzureToken { provider } => format!("Azure AD token ({})", provider.name()),
        }
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lookup").field(&self.describe()).finish()
    }
}

/// What a [`Lookup`] found; give it to [`Negotiation::resume`](crate::Negotiation::resume).
pub struct LookupResult {
    pub(crate) outcome: Outcome,
}

pub(crate) enum Outcome {
    Credential(Result<Credential, Error>),
    AzureToken(Result<AzureStep, Error>),
}

impl fmt::Debug for LookupResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.outcome {
            Outcome::Credential(Ok(c)) => format!("credential {}", c.kind()),
            Outcome::Credential(Err(e)) | Outcome::AzureToken(Err(e)) => format!("error {e}"),
            Outcome::AzureToken(Ok(AzureStep::Send(r))) => {
                format!("send {} {}", r.method(), r.uri())
            }
            Outcome::AzureToken(Ok(_)) => "Azure AD token".to_owned(),
        };
        f.debug_tuple("LookupResult").field(&what).finish()
    }
}
