//! `orca serve`: the embedded registry (the mock registry's server) until interrupted;
//! with `--cache-rules`, the caching front (`orca::front`) instead.

use std::sync::Arc;
use std::time::Duration;

use orca::front::{BackingOptions, DirStorage, Front, Options, registry_storage};

use orca::registry::{
    AcrService, AuthMode, Config, MockRegistry, Secret, Storage, TlsIdentity, TokenService, User,
};
use serde_json::json;

use crate::args::{ServeArgs, ServeAuth};
use crate::context::Context;
use crate::exit::{Failure, Kind, chain};

/// The users of `--user` and `--users-file`, checked against `--auth`: basic and bearer
/// need one, and users without authentication would be a silent mistake.
fn users(args: &ServeArgs) -> Result<Vec<User>, Failure> {
    let mut users = args
        .users
        .iter()
        .map(|u| User::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(format!("--user: {}", chain(&e))))?;
    if let Some(path) = &args.users_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "--users-file {}: cannot read it: {e}",
                path.display()
            ))
        })?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The line may hold a password: say where, never what.
            users.push(User::parse(line).map_err(|_| {
                Failure::usage(format!(
                    "--users-file {}: line {} is not NAME:PASSWORD",
                    path.display(),
                    number + 1
                ))
            })?);
        }
    }
    match args.auth {
        ServeAuth::Basic | ServeAuth::Bearer if users.is_empty() => Err(Failure::usage(
            "--auth basic and --auth bearer need at least one user (--user NAME:PASSWORD or --users-file FILE)",
        )),
        ServeAuth::None if !users.is_empty() => Err(Failure::usage(
            "users were given but --auth is none: add --auth basic (or bearer, acr) for them to be asked for",
        )),
        _ => Ok(users),
    }
}

fn config(args: &ServeArgs) -> Result<Config, Failure> {
    let users = users(args)?;
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
    config.max_connections = args.max_connections as usize;
    if let Some(identity) = tls_identity(args)? {
        config = config.with_tls(identity);
    }
    Ok(config)
}

/// The certificate and key of `--tls-cert` and `--tls-key`, read; `None` without them.
fn tls_identity(args: &ServeArgs) -> Result<Option<TlsIdentity>, Failure> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| Failure::usage(format!("{flag} {}: cannot read it: {e}", path.display())))
    };
    let key_pem = String::from_utf8(read("--tls-key", key)?)
        .map_err(|_| Failure::usage(format!("--tls-key {}: not a PEM file", key.display())))?;
    Ok(Some(TlsIdentity {
        cert_pem: read("--tls-cert", cert)?,
        key_pem: Secret::new(key_pem),
    }))
}

/// `90s`, `5m`, `1h`, `250ms`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::usage(format!(
            "--revalidate: {text:?} is not a duration (like 90s, 5m, 1h)"
        ))
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// `orca serve --cache-rules`: the caching front over `--storage`, its upstreams from the
/// store registry's cache rules and credential sets.
async fn serve_front(ctx: &Context, args: &ServeArgs) -> Result<(), Failure> {
    if matches!(args.auth, ServeAuth::Bearer | ServeAuth::Acr) {
        return Err(Failure::usage(
            "--cache-rules asks its clients for Basic credentials (--auth basic) or none; --auth bearer and acr do not apply",
        ));
    }
    let mut options = Options::default()
        .with_addr(args.addr)
        .with_max_connections(args.max_connections as usize);
    options.users = users(args)?;
    let user_count = options.users.len();
    if let Some(identity) = tls_identity(args)? {
        options = options.with_tls(identity);
    }
    if let Some(text) = &args.revalidate {
        options = options.with_revalidate_after(parse_duration(text)?);
    }
    let stores = ctx.load_stores()?;
    if stores.cache_rules().is_empty() {
        tracing::warn!(
            "the store registry has no cache rules: only what --storage holds is served (add rules with `orca cache rule add`)"
        );
    }
    let upstreams = orca::pull_through::Upstreams::new(&stores, ctx.client_config(&[]))
        .map_err(Failure::from)?;
    let rules = upstreams.rules().len();
    let (storage, kept_in): (Arc<dyn orca::front::Storage>, String) =
        match (&args.storage, &args.backing) {
            (Some(dir), _) => {
                let opening = |e: std::io::Error| {
                    Failure::other(format!(
                        "opening --storage {}: {}",
                        dir.display(),
                        chain(&e)
                    ))
                };
                let mut storage = DirStorage::open(dir).map_err(opening)?;
                if let Some(max) = args.max_size {
                    storage = storage.with_max_bytes(max).map_err(opening)?;
                }
                (Arc::new(storage), dir.display().to_string())
            }
            (None, Some(location)) => {
                // The global --plain-http and --insecure apply to the backing registry too.
                let host = location.split('/').next().unwrap_or_default().to_owned();
                let storage = registry_storage(
                    &stores,
                    ctx.client_config(&[host]),
                    location,
                    BackingOptions::default(),
                )
                .map_err(Failure::from)?;
                let kept_in = storage.location().to_string();
                (Arc::new(storage), kept_in)
            }
            (None, None) => {
                return Err(Failure::usage(
                    "--cache-rules needs --storage DIR or --backing REGISTRY[/PREFIX]",
                ));
            }
        };
    let front = Front::start(storage, Arc::new(upstreams), options)
        .await
        .map_err(|e| {
            let kind = if matches!(e, orca::front::Error::Tls { .. }) {
                Kind::Usage
            } else {
                Kind::Failure
            };
            Failure::new(
                kind,
                format!("starting the pull-through cache: {}", chain(&e)),
            )
        })?;
    if ctx.printer.json() {
        println!(
            "{}",
            json!({"listening": front.base_url(), "host": front.host(), "cache_rules": rules, "storage": kept_in, "users": user_count})
        );
    } else {
        let who = if user_count == 0 {
            "anyone who can connect may pull".to_owned()
        } else {
            format!("{user_count} user(s) may pull, with Basic credentials")
        };
        println!(
            "orca serve: pull-through cache with {rules} rule(s) keeping content in {kept_in}, listening on {}; {who} (Ctrl-C to stop)",
            front.base_url()
        );
    }
    wait_for_shutdown().await;
    // Let in-flight transfers finish.
    front.shutdown().await;
    Ok(())
}

/// `orca serve`: prints where it listens (text, or one JSON line) and serves until Ctrl-C
/// or SIGTERM.
pub(crate) async fn serve(ctx: &Context, args: &ServeArgs) -> Result<(), Failure> {
    if args.cache_rules {
        return serve_front(ctx, args).await;
    }
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
