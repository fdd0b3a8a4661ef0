//! `orca-mock-registry`: serve the mock registry on a given address until interrupted.
//!
//! ```text
//! orca-mock-registry --addr 127.0.0.1:5000 [--storage DIR [--no-fsync]] [--auth none|basic|bearer|acr] [--user U:P]...
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use orca_mock_registry::{
    AcrService, AuthMode, Config, MockRegistry, Secret, Storage, TokenService, User,
};

/// A spec-faithful OCI registry for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "orca-mock-registry", version)]
struct Args {
    /// Address to listen on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Keep content in this directory instead of memory.
    #[arg(long)]
    storage: Option<PathBuf>,
    /// With --storage: do not fsync blobs before acknowledging them (faster; content may
    /// not survive a crash of the machine).
    #[arg(long)]
    no_fsync: bool,
    /// Authentication mode.
    #[arg(long, value_enum, default_value_t = AuthArg::None)]
    auth: AuthArg,
    /// A user `NAME:PASSWORD` with full access (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// In bearer and acr modes, let anonymous callers pull.
    #[arg(long)]
    anonymous_pull: bool,
    /// In acr mode, an Azure AD token accepted at /oauth2/exchange (repeatable).
    #[arg(long = "aad-token")]
    aad_tokens: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthArg {
    None,
    Basic,
    Bearer,
    Acr,
}

fn config(args: Args) -> Result<Config, orca_mock_registry::Error> {
    let users = args
        .users
        .iter()
        .map(|u| User::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    let auth = match args.auth {
        AuthArg::None => AuthMode::None,
        AuthArg::Basic => AuthMode::Basic { users },
        AuthArg::Bearer => AuthMode::Bearer(TokenService {
            users,
            anonymous_pull: args.anonymous_pull,
            ..TokenService::default()
        }),
        AuthArg::Acr => AuthMode::Acr(AcrService {
            users,
            aad_tokens: args.aad_tokens.into_iter().map(Secret::new).collect(),
            anonymous_pull: args.anonymous_pull,
            ..AcrService::default()
        }),
    };
    Ok(Config {
        addr: args.addr,
        auth,
        storage: args.storage.map_or(Storage::Memory, Storage::Directory),
        fsync: !args.no_fsync,
        ..Config::default()
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = async {
        let reg = MockRegistry::start(config(args)?).await?;
        println!("orca-mock-registry listening on {}", reg.base_url());
        // Wait for Ctrl-C; if signals cannot be watched, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Ok::<(), orca_mock_registry::Error>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orca-mock-registry: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
