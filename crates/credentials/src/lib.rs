//! Where registry credentials come from: docker `config.json` (read and write, `auths`,
//! `credHelpers`, `credsStore`), the docker credential-helper protocol, the environment,
//! and Azure AD (client secret, workload identity, managed identity, the Azure CLI, and
//! automatic detection).
//!
//! This is the IO that `orca-auth` leaves out: files are read and written, helpers and
//! `az` run, IMDS is probed. Every lookup here blocks; `orca-auth`'s negotiation hands it
//! to the client as a `Step::Lookup`, which `orca-distribution` runs on a blocking thread
//! (`tokio::task::spawn_blocking`), never on its async runtime. The crate has no `unsafe`.
//!
//! ```
//! use std::sync::Arc;
//! use orca_auth::{AuthOptions, Authenticator, ChainCredentials, CredentialSource};
//! use orca_credentials::{DockerConfig, EnvironmentCredentials};
//!
//! let env: std::collections::HashMap<String, String> =
//!     [("ORCA_USERNAME".into(), "me".into()), ("ORCA_PASSWORD".into(), "pw".into())].into();
//! let docker = DockerConfig::from_json(br#"{"auths":{}}"#, None)?;
//! let source = ChainCredentials::new()
//!     .then(docker)
//!     .then(EnvironmentCredentials::new(Arc::new(env)));
//! assert!(!source.credential("reg.example")?.is_anonymous());
//! let auth = Authenticator::new(source, AuthOptions::default());
//! # let _ = auth;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod azure;
mod command;
pub mod docker;
mod env;
mod error;

pub use azure::{AcrCredentials, DefaultAzureCredential};
pub use command::{CommandOutput, CommandRunner, DEFAULT_COMMAND_TIMEOUT, SystemCommandRunner};
pub use docker::{CredentialHelper, DockerConfig};
pub use env::{Environment, EnvironmentCredentials, ProcessEnvironment};
pub use error::Error;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
