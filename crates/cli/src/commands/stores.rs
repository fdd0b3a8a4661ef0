//! `store add|list|remove` and `cache ls|prune`: the local files orca keeps.

use std::fmt::Write as _;
use std::path::Path;

use orca::store::{format_size, parse_size};
use orca::{CacheOptions, ContentCache, CredentialSource, Store};
use serde_json::{Value, json};

use crate::args::{CachePruneArgs, StoreAddArgs, StoreRemoveArgs};
use crate::context::Context;
use crate::exit::{Failure, Kind, chain};

/// A store-crate error as a failure.
pub(super) fn store_failure(context: &str, e: &orca::store::Error) -> Failure {
    let kind = match e {
        orca::store::Error::NotRegistered { .. } => Kind::NotRegistered,
        orca::store::Error::InvalidRegistry { .. }
        | orca::store::Error::InvalidSize { .. }
        | orca::store::Error::InvalidReference(_) => Kind::Usage,
        _ => Kind::Failure,
    };
    Failure::new(kind, format!("{context}: {}", chain(e)))
}

/// `orca store add`.
pub(crate) fn add(ctx: &Context, args: &StoreAddArgs) -> Result<(), Failure> {
    let mut store = Store::new(&args.registry).map_err(|e| store_failure("store add", &e))?;
    let credentials = if ctx.global.azure {
        crate::azure::credential_source()?
    } else if args.docker_config {
        CredentialSource::DockerConfig {
            path: ctx
                .global
                .registry_config
                .as_deref()
                .map(absolute)
                .transpose()?,
        }
    } else if let Some(password_env) = &args.password_env {
        // Only names are recorded: both variables are read when the store is used.
        match (&args.username, &args.username_env) {
            (Some(name), _) => CredentialSource::BasicEnv {
                username: name.clone(),
                password_env: password_env.clone(),
            },
            (None, Some(var)) => CredentialSource::BasicEnvVars {
                username_env: var.clone(),
                password_env: password_env.clone(),
            },
            (None, None) => {
                return Err(Failure::usage(
                    "--password-env needs --username NAME or --username-env VAR",
                ));
            }
        }
    } else {
        CredentialSource::Anonymous
    };
    store = store
        .with_credentials(credentials)
        .with_plain_http(ctx.global.plain_http);
    if let Some(ca) = &ctx.global.ca_file {
        store = store.with_ca_file(absolute(ca)?);
    }
    for limit in &args.limits {
        let (operation, size) = limit
            .split_once('=')
            .filter(|(op, _)| !op.is_empty())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--limit {limit:?}: expected OPERATION=SIZE, e.g. anonymization=10MiB"
                ))
            })?;
        let bytes = parse_size(size).map_err(|e| store_failure("--limit", &e))?;
        store = if operation == "*" {
            store.with_default_limit(bytes)
        } else {
            store.with_limit(operation, bytes)
        };
    }
    let path = ctx.stores_path()?;
    let mut stores = ctx.load_stores()?;
    let replaced = stores.add(store.clone()).is_some();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::io("creating the directory", parent, &e))?;
    }
    stores
        .save(&path)
        .map_err(|e| store_failure(&format!("saving {}", path.display()), &e))?;
    let verb = if replaced { "Replaced" } else { "Added" };
    ctx.printer.result(
        &format!("{verb} {} in {}", store.registry(), path.display()),
        &json!({"added": store_json(&store), "replaced": replaced, "file": path}),
    )
}

/// `orca store list`.
pub(crate) fn list(ctx: &Context) -> Result<(), Failure> {
    let path = ctx.stores_path()?;
    let stores = ctx.load_stores()?;
    let mut text = String::new();
    if !stores.is_empty() {
        let width = stores
            .iter()
            .map(|s| s.registry().len())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            text,
            "{:width$}  {:22}  {:10}  LIMITS",
            "REGISTRY", "CREDENTIALS", "TRANSPORT"
        );
        for s in stores.iter() {
            let transport = if s.tls().plain_http { "http" } else { "https" };
            let _ = writeln!(
                text,
                "{:width$}  {:22}  {:10}  {}",
                s.registry(),
                s.credentials().kind(),
                transport,
                limits_text(s)
            );
        }
    }
    let list: Vec<Value> = stores.iter().map(store_json).collect();
    ctx.printer
        .result(&text, &json!({"file": path, "stores": list}))
}

/// `orca store remove`.
pub(crate) fn remove(ctx: &Context, args: &StoreRemoveArgs) -> Result<(), Failure> {
    let path = ctx.stores_path()?;
    let mut stores = ctx.load_stores()?;
    if stores.remove(&args.registry).is_none() {
        return Err(Failure::new(
            Kind::NotRegistered,
            format!("{} is not in {}", args.registry, path.display()),
        )
        .with_hint("orca store list shows the registered registries"));
    }
    stores
        .save(&path)
        .map_err(|e| store_failure(&format!("saving {}", path.display()), &e))?;
    ctx.printer.result(
        &format!("Removed {} from {}", args.registry, path.display()),
        &json!({"removed": args.registry, "file": path}),
    )
}

fn limits_text(store: &Store) -> String {
    let limits = store.limits();
    let mut parts: Vec<String> = limits
        .operations
        .iter()
        .map(|(op, bytes)| format!("{op}={}", format_size(*bytes)))
        .collect();
    if let Some(d) = limits.default {
        parts.push(format!("*={}", format_size(d)));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(",")
    }
}

fn store_json(store: &Store) -> Value {
    json!({
        "registry": store.registry(),
        "credentials": serde_json::to_value(store.credentials()).unwrap_or(Value::Null),
        "plainHttp": store.tls().plain_http,
        "caFile": store.tls().ca_file,
        "limits": store.limits().operations,
        "defaultLimit": store.limits().default,
    })
}

pub(super) fn absolute(path: &Path) -> Result<std::path::PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| Failure::io("resolving", path, &e))
}

fn open_cache(ctx: &Context) -> Result<ContentCache, Failure> {
    let dir = ctx.cache_dir().ok_or_else(|| {
        Failure::usage("no cache: --no-cache was given, or there is no cache directory (HOME is not set; use --cache DIR)")
    })?;
    ContentCache::open(&dir, CacheOptions::default().with_max_bytes(None))
        .map_err(|e| store_failure(&format!("opening the cache {}", dir.display()), &e))
}

/// `orca cache ls`.
pub(crate) fn cache_ls(ctx: &Context) -> Result<(), Failure> {
    let cache = open_cache(ctx)?;
    let entries = cache
        .entries()
        .map_err(|e| store_failure("reading the cache", &e))?;
    let stats = cache
        .stats()
        .map_err(|e| store_failure("reading the cache", &e))?;
    let mut text = String::new();
    for e in &entries {
        let _ = writeln!(
            text,
            "{}  {}  {}",
            e.descriptor.digest, e.descriptor.size, e.name
        );
    }
    let _ = write!(
        text,
        "{} blobs, {} bytes, {} entries in {}",
        stats.blobs,
        stats.bytes,
        stats.entries,
        cache.root().display()
    );
    let list: Vec<Value> = entries
        .iter()
        .map(|e| json!({"name": e.name, "descriptor": e.descriptor}))
        .collect();
    ctx.printer.result(
        &text,
        &json!({
            "root": cache.root(),
            "blobs": stats.blobs,
            "bytes": stats.bytes,
            "entries": list,
        }),
    )
}

/// `orca cache prune`.
pub(crate) fn cache_prune(ctx: &Context, args: &CachePruneArgs) -> Result<(), Failure> {
    let max = parse_size(&args.max_size).map_err(|e| store_failure("--max-size", &e))?;
    let cache = open_cache(ctx)?;
    let freed = cache
        .evict_to(max)
        .map_err(|e| store_failure("pruning the cache", &e))?;
    ctx.printer.result(
        &format!("Freed {freed} bytes in {}", cache.root().display()),
        &json!({"root": cache.root(), "freedBytes": freed}),
    )
}
