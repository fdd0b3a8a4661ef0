//! `cache rule add|list|remove` and `cache credential-set add|list|remove`: the
//! pull-through cache's rules and credential sets in the store-registry file.

use std::fmt::Write as _;

use orca::store::{CacheRule, CredentialSet, SecretSource, StoreRegistry, Username};
use serde_json::{Value, json};

use super::stores::{absolute, store_failure};
use crate::args::{
    CacheRuleAddArgs, CacheRuleConfigArgs, CacheRuleRemoveArgs, CredentialSetAddArgs,
    CredentialSetRemoveArgs,
};
use crate::context::Context;
use crate::exit::{Failure, Kind, chain};

/// A rules error: bad input is a usage error, the rest (duplicates, limits, overlaps,
/// sets in use) a plain failure naming the rule.
fn rule_failure(context: &str, e: &orca::store::Error) -> Failure {
    let kind = match e {
        orca::store::Error::InvalidCacheRule { .. }
        | orca::store::Error::InvalidCredentialSet { .. }
        | orca::store::Error::InvalidRegistry { .. } => Kind::Usage,
        _ => return store_failure(context, e),
    };
    Failure::new(kind, format!("{context}: {}", chain(e)))
}

fn save(ctx: &Context, stores: &StoreRegistry) -> Result<std::path::PathBuf, Failure> {
    let path = ctx.stores_path()?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::io("creating the directory", parent, &e))?;
    }
    stores
        .save(&path)
        .map_err(|e| store_failure(&format!("saving {}", path.display()), &e))?;
    Ok(path)
}

fn rule_json(rule: &CacheRule) -> Value {
    json!({
        "target": rule.target(),
        "upstream": rule.upstream(),
        "credentialSet": rule.credential_set(),
    })
}

fn set_json(set: &CredentialSet) -> Value {
    let mut v = json!({"name": set.name()});
    match set.username() {
        Some(Username::Literal(u)) => v["username"] = json!(u),
        Some(Username::Env(var)) => v["usernameEnv"] = json!(var),
        _ => {}
    }
    match set.secret() {
        SecretSource::Env(var) => v["passwordEnv"] = json!(var),
        SecretSource::File(path) => v["passwordFile"] = json!(path),
        SecretSource::Helper(helper) => v["helper"] = json!(helper),
        _ => {}
    }
    v
}

/// The cache registry `registry` names, which must be a registered store.
fn cache_registry(
    stores: &StoreRegistry,
    registry: &str,
    context: &str,
) -> Result<orca::reference::Registry, Failure> {
    stores
        .get(registry)
        .map(|store| store.registry().clone())
        .ok_or_else(|| {
            Failure::new(
                Kind::NotRegistered,
                format!(
                    "{context} --registry {registry}: register the cache registry first (orca store add {registry})"
                ),
            )
        })
}

/// `orca cache rule config`.
pub(crate) fn config(ctx: &Context, args: &CacheRuleConfigArgs) -> Result<(), Failure> {
    let mut stores = ctx.load_stores()?;
    let changing = args.registry.is_some() || args.no_registry || args.strict_overlap.is_some();
    if let Some(registry) = &args.registry {
        let registry = cache_registry(&stores, registry, "cache rule config")?;
        stores.cache_rules_mut().set_registry(Some(registry));
    }
    if args.no_registry {
        stores.cache_rules_mut().set_registry(None);
    }
    if let Some(strict) = args.strict_overlap {
        stores
            .cache_rules_mut()
            .set_strict_overlap(strict)
            .map_err(|e| rule_failure("cache rule config --strict-overlap", &e))?;
    }
    let path = if changing {
        save(ctx, &stores)?
    } else {
        ctx.stores_path()?
    };
    let cache = stores.cache_rules();
    ctx.printer.result(
        &format!(
            "Cache registry: {}\nOverlapping wildcards: {}",
            cache.registry().map_or("(none)", |r| r.as_str()),
            if cache.strict_overlap() {
                "refused"
            } else {
                "allowed"
            }
        ),
        &json!({
            "file": path,
            "registry": cache.registry(),
            "strictOverlap": cache.strict_overlap(),
        }),
    )
}

/// `orca cache rule add`.
pub(crate) fn add(ctx: &Context, args: &CacheRuleAddArgs) -> Result<(), Failure> {
    let mut stores = ctx.load_stores()?;
    let mut rule = CacheRule::new(&args.target, &args.upstream)
        .map_err(|e| rule_failure("cache rule add", &e))?;
    if let Some(set) = &args.credential_set {
        rule = rule.with_credential_set(set);
    }
    if let Some(registry) = &args.registry {
        let registry = cache_registry(&stores, registry, "cache rule add")?;
        stores.cache_rules_mut().set_registry(Some(registry));
    }
    stores
        .add_cache_rule(rule.clone())
        .map_err(|e| rule_failure("cache rule add", &e))?;
    let path = save(ctx, &stores)?;
    let mut text = format!("Added the cache rule {rule} in {}", path.display());
    match stores.cache_rules().registry() {
        Some(r) => {
            let _ = write!(text, "\nFetches of {r} go through the rules.");
        }
        None => text.push_str(
            "\nNo cache registry is set yet: give --registry REGISTRY for fetches to go through the rules.",
        ),
    }
    ctx.printer.result(
        &text,
        &json!({
            "added": rule_json(&rule),
            "registry": stores.cache_rules().registry(),
            "file": path,
        }),
    )
}

/// `orca cache rule list`.
pub(crate) fn list(ctx: &Context) -> Result<(), Failure> {
    let path = ctx.stores_path()?;
    let stores = ctx.load_stores()?;
    let cache = stores.cache_rules();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Cache registry: {}{}",
        cache.registry().map_or("(none)", |r| r.as_str()),
        if cache.strict_overlap() {
            ", overlapping wildcards refused"
        } else {
            ""
        }
    );
    if !cache.is_empty() {
        let width = cache
            .rules()
            .iter()
            .map(|r| r.target().len())
            .max()
            .unwrap_or(6)
            .max(6);
        let up_width = cache
            .rules()
            .iter()
            .map(|r| r.upstream().len())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            text,
            "{:width$}  {:up_width$}  CREDENTIAL SET",
            "TARGET", "UPSTREAM"
        );
        for rule in cache.rules() {
            let _ = writeln!(
                text,
                "{:width$}  {:up_width$}  {}",
                rule.target(),
                rule.upstream(),
                rule.credential_set().unwrap_or("-")
            );
        }
    }
    let rules: Vec<Value> = cache.rules().iter().map(rule_json).collect();
    ctx.printer.result(
        text.trim_end(),
        &json!({
            "file": path,
            "registry": cache.registry(),
            "strictOverlap": cache.strict_overlap(),
            "rules": rules,
        }),
    )
}

/// `orca cache rule remove`.
pub(crate) fn remove(ctx: &Context, args: &CacheRuleRemoveArgs) -> Result<(), Failure> {
    let mut stores = ctx.load_stores()?;
    let Some(rule) = stores.remove_cache_rule(&args.target) else {
        return Err(Failure::new(
            Kind::NotFound,
            format!("there is no cache rule for the target {}", args.target),
        ));
    };
    let path = save(ctx, &stores)?;
    ctx.printer.result(
        &format!("Removed the cache rule {rule} from {}", path.display()),
        &json!({"removed": rule_json(&rule), "file": path}),
    )
}

/// `orca cache credential-set add`.
pub(crate) fn add_set(ctx: &Context, args: &CredentialSetAddArgs) -> Result<(), Failure> {
    let secret = match (&args.password_env, &args.password_file, &args.helper) {
        (Some(var), None, None) => SecretSource::Env(var.clone()),
        (None, Some(file), None) => SecretSource::File(absolute(file)?),
        (None, None, Some(helper)) => SecretSource::Helper(helper.clone()),
        _ => {
            return Err(Failure::usage(
                "give one of --password-env VAR, --password-file PATH, --helper NAME",
            ));
        }
    };
    let set = match (&args.username, &args.username_env, secret) {
        (None, None, SecretSource::Helper(helper)) => CredentialSet::helper(&args.name, &helper),
        (Some(name), None, secret) => {
            CredentialSet::new(&args.name, Username::Literal(name.clone()), secret)
        }
        (None, Some(var), secret) => {
            CredentialSet::new(&args.name, Username::Env(var.clone()), secret)
        }
        _ => {
            return Err(Failure::usage(
                "--password-env and --password-file need --username NAME or --username-env VAR",
            ));
        }
    }
    .map_err(|e| rule_failure("cache credential-set add", &e))?;
    let mut stores = ctx.load_stores()?;
    let replaced = stores.add_credential_set(set.clone()).is_some();
    let path = save(ctx, &stores)?;
    let verb = if replaced { "Replaced" } else { "Added" };
    ctx.printer.result(
        &format!("{verb} the credential set {set} in {}", path.display()),
        &json!({"added": set_json(&set), "replaced": replaced, "file": path}),
    )
}

/// `orca cache credential-set list`.
pub(crate) fn list_sets(ctx: &Context) -> Result<(), Failure> {
    let path = ctx.stores_path()?;
    let stores = ctx.load_stores()?;
    let sets = stores.cache_rules().credential_sets();
    let text: Vec<String> = sets.values().map(ToString::to_string).collect();
    let list: Vec<Value> = sets.values().map(set_json).collect();
    ctx.printer.result(
        &text.join("\n"),
        &json!({"file": path, "credentialSets": list}),
    )
}

/// `orca cache credential-set remove`.
pub(crate) fn remove_set(ctx: &Context, args: &CredentialSetRemoveArgs) -> Result<(), Failure> {
    let mut stores = ctx.load_stores()?;
    let removed = stores
        .remove_credential_set(&args.name)
        .map_err(|e| rule_failure("cache credential-set remove", &e))?;
    if removed.is_none() {
        return Err(Failure::new(
            Kind::NotFound,
            format!("there is no credential set {}", args.name),
        ));
    }
    let path = save(ctx, &stores)?;
    ctx.printer.result(
        &format!(
            "Removed the credential set {} from {}",
            args.name,
            path.display()
        ),
        &json!({"removed": args.name, "file": path}),
    )
}
