//! `orca serve`: the embedded registry (the mock registry's server) until interrupted.

use orca::registry::{
    AcrService, AuthMode, Config, MockRegistry, Secret, Storage, TlsIdentity, TokenService, User,
};
use serde_json::json;

use crate::args::{ServeArgs, ServeAuth};
use crate::context::Context;
use crate::exit::{Failure, Kind, chain};

fn config(args: &ServeArgs) -> Result<Config, Failure> {
    let users = args
        .users
        .iter()
        .map(|u| User::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(format!("--user: {}", chain(&e))))?;
    if users.is_empty() && matches!(args.auth, ServeAuth::Basic | ServeAuth::Bearer) {
        return Err(Failure::usage(
            "--auth basic and --auth bearer need at least one --user NAME:PASSWORD",
        ));
    }
    let auth = match args.auth {
        ServeAuth::None => AuthMode::None,
        ServeAuth::Basic => AuthMode::Basic { users },
        ServeAuth::Bearer => AuthMode::Bearer(TokenService {
            users,
            anonymous_pull: args.anonymous_pull,
            ..TokenService::default()
        }),
        ServeAuth::Acr => AuthMode::Acr(AcrService {
            users,
            aad_tokens: args.aad_tokens.iter().cloned().map(Secret::new).collect(),
            anonymous_pull: args.anonymous_pull,
            ..AcrService::default()
        }),
    };
    let storage = args
        .storage
        .clone()
        .map_or(Storage::Memory, Storage::Directory);
    let mut config = Config::default()
        .with_auth(auth)
        .with_storage(storage)
        .with_fsync(!args.no_fsync);
    config.addr = args.addr;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| {
                Failure::usage(format!("{flag} {}: cannot read it: {e}", path.display()))
            })
        };
        let key_pem = String::from_utf8(read("--tls-key", key)?)
            .map_err(|_| Failure::usage(format!("--tls-key {}: not a PEM file", key.display())))?;
        config = config.with_tls(TlsIdentity {
            cert_pem: read("--tls-cert", cert)?,
            key_pem: Secret::new(key_pem),
        });
    }
    Ok(config)
}

/// `orca serve`: prints where it listens (text, or one JSON line) and serves until Ctrl-C
/// or SIGTERM.
pub(crate) async fn serve(ctx: &Context, args: &ServeArgs) -> Result<(), Failure> {
    let registry = MockRegistry::start(config(args)?).await.map_err(|e| {
        let kind = if matches!(e, orca::registry::Error::InvalidConfig { .. }) {
            Kind::Usage
        } else {
            Kind::Failure
        };
        Failure::new(kind, format!("starting the registry: {}", chain(&e)))
    })?;
    let host = registry.host().to_owned();
    if ctx.printer.json() {
        // One line, so a script can read it before the command ends.
        println!(
            "{}",
            json!({"listening": registry.base_url(), "host": host})
        );
    } else {
        println!(
            "orca serve: listening on {} (Ctrl-C to stop)",
            registry.base_url()
        );
    }
    wait_for_shutdown().await;
    drop(registry);
    Ok(())
}

#[cfg(unix)]
async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_shutdown() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
