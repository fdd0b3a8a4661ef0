//! Pull-through cache rules and the credential sets they name.
//!
//! A [`CacheRule`] maps a target repository of the cache registry (static `library/nginx`,
//! or wildcard `library/*`, `*`) to an upstream (`docker.io/library/nginx`,
//! `docker.io/library/*`). [`CacheRules::resolve`] picks the rule for a repository and
//! substitutes the wildcard's suffix into the upstream.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use orca_reference::{Reference, Registry, Repository};

use crate::Error;

/// The most rules one [`CacheRules`] holds (ACR's limit per registry).
pub const MAX_CACHE_RULES: usize = 1000;

/// The longest credential-set name.
pub const MAX_CREDENTIAL_SET_NAME: usize = 64;

/// A rule's target: the repositories of the cache registry it covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    /// Exactly this repository.
    Static(Repository),
    /// Every repository below `prefix/` (`None`: every repository, written `*`).
    Wildcard(Option<Repository>),
}

impl Target {
    fn parse(text: &str) -> Result<Target, String> {
        if text == "*" {
            return Ok(Target::Wildcard(None));
        }
        if let Some(prefix) = text.strip_suffix("/*") {
            if prefix.contains('*') {
                return Err(WILDCARD_RULE.to_owned());
            }
            return Repository::parse(prefix)
                .map(|r| Target::Wildcard(Some(r)))
                .map_err(|e| format!("the part before `/*` is not a repository: {e}"));
        }
        if text.contains('*') {
            return Err(WILDCARD_RULE.to_owned());
        }
        if text.is_empty() {
            return Err("it is empty".to_owned());
        }
        Repository::parse(text)
            .map(Target::Static)
            .map_err(|e| format!("it is not a repository: {e}"))
    }

    /// The fixed part a wildcard matches below (`""` for `*`).
    fn prefix(&self) -> &str {
        match self {
            Target::Static(r) | Target::Wildcard(Some(r)) => r.as_str(),
            Target::Wildcard(None) => "",
        }
    }

    fn is_wildcard(&self) -> bool {
        matches!(self, Target::Wildcard(_))
    }

    /// The suffix a wildcard substitutes for `repository`, when it matches.
    fn suffix<'a>(&self, repository: &'a str) -> Option<&'a str> {
        match self {
            Target::Static(_) => None,
            Target::Wildcard(None) => Some(repository),
            Target::Wildcard(Some(prefix)) => repository
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|rest| !rest.is_empty()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Static(r) => f.write_str(r),
            Target::Wildcard(Some(r)) => write!(f, "{r}/*"),
            Target::Wildcard(None) => f.write_str("*"),
        }
    }
}

const WILDCARD_RULE: &str = "a wildcard is the whole name `*` or a last component `/*` (`library/*`); no other `*` is allowed";

/// One pull-through cache rule: a target repository (static or wildcard) of the cache
/// registry, the upstream it is fetched from, and the credential set used upstream.
///
/// | target | upstream | `library/nginx` resolves to |
/// |---|---|---|
/// | `library/nginx` | `docker.io/library/nginx` | `docker.io/library/nginx` |
/// | `library/*` | `docker.io/library/*` | `docker.io/library/nginx` |
/// | `*` | `ghcr.io/mirror/*` | `ghcr.io/mirror/library/nginx` |
///
/// A static target takes a static upstream, a wildcard target a wildcard upstream
/// (`registry/*` or `registry/prefix/*`). Both are checked against the reference grammar
/// (`orca-reference`); upstream names are taken as written (`docker.io/nginx` is not
/// rewritten to `docker.io/library/nginx`: write the `library/` Docker Hub wants).
///
/// An upstream's TLS settings (plain HTTP, CA file) come from its registry's entry in the
/// [`StoreRegistry`](crate::StoreRegistry) (`orca store add`); without one it is reached
/// over HTTPS with the usual roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRule {
    target: Target,
    upstream_registry: Registry,
    upstream: Target,
    credential_set: Option<String>,
}

impl CacheRule {
    /// A rule from `target` (`library/nginx`, `library/*`, `*`) to `upstream`
    /// (`docker.io/library/nginx`, `docker.io/library/*`), pulling anonymously.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCacheRule`] naming what is wrong: a target or upstream outside the
    /// reference grammar, a `*` anywhere but as the whole target or a last component, an
    /// upstream without a registry or with a tag or digest, a static target with a
    /// wildcard upstream or the reverse.
    pub fn new(target: &str, upstream: &str) -> Result<CacheRule, Error> {
        let invalid = |reason: String| Error::InvalidCacheRule {
            target: target.to_owned(),
            upstream: upstream.to_owned(),
            reason,
        };
        let parsed_target = Target::parse(target).map_err(|e| invalid(format!("target: {e}")))?;
        let (registry, path) = upstream.split_once('/').ok_or_else(|| {
            invalid("upstream: it names no repository; write `registry/repository` (`docker.io/library/nginx`) or `registry/prefix/*`".to_owned())
        })?;
        if path.contains('@')
            || path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(invalid(
                "upstream: a tag or digest is not allowed; a rule maps repositories".to_owned(),
            ));
        }
        let upstream_registry = Registry::parse(registry)
            .map_err(|e| invalid(format!("upstream: `{registry}` is not a registry: {e}")))?;
        let parsed_upstream = Target::parse(path).map_err(|e| invalid(format!("upstream: {e}")))?;
        if let Target::Static(repo) = &parsed_upstream {
            // The whole name must fit the grammar's length bound too.
            Reference::new(upstream_registry.as_str(), repo)
                .map_err(|e| invalid(format!("upstream: {e}")))?;
        }
        match (parsed_target.is_wildcard(), parsed_upstream.is_wildcard()) {
            (true, false) => {
                return Err(invalid(
                    "upstream: a wildcard target needs a wildcard upstream (`docker.io/library/*`)"
                        .to_owned(),
                ));
            }
            (false, true) => {
                return Err(invalid(
                    "upstream: a static target needs a static upstream (`docker.io/library/nginx`)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        Ok(CacheRule {
            target: parsed_target,
            upstream_registry,
            upstream: parsed_upstream,
            credential_set: None,
        })
    }

    /// Authenticate upstream with the credential set `name` (builder style).
    #[must_use]
    pub fn with_credential_set(mut self, name: impl Into<String>) -> CacheRule {
        self.credential_set = Some(name.into());
        self
    }

    /// The target as written in the rules file (`library/nginx`, `library/*`, `*`).
    pub fn target(&self) -> String {
        self.target.to_string()
    }

    /// Whether the target is a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.target.is_wildcard()
    }

    /// The fixed part of the target: the repository of a static rule, the part before
    /// `/*` of a wildcard, `""` for `*`. Among matching wildcards the longest wins.
    pub fn fixed_prefix(&self) -> &str {
        self.target.prefix()
    }

    /// The upstream registry, normalised.
    pub fn upstream_registry(&self) -> &Registry {
        &self.upstream_registry
    }

    /// The upstream as written in the rules file (`docker.io/library/*`).
    pub fn upstream(&self) -> String {
        format!("{}/{}", self.upstream_registry, self.upstream)
    }

    /// The credential set used upstream; `None` pulls anonymously.
    pub fn credential_set(&self) -> Option<&str> {
        self.credential_set.as_deref()
    }

    /// The upstream repository for `repository` when this rule covers it.
    fn map(&self, repository: &str) -> Option<Repository> {
        match &self.target {
            Target::Static(r) => (r.as_str() == repository).then(|| match &self.upstream {
                Target::Static(u) => Some(u.clone()),
                Target::Wildcard(_) => None,
            })?,
            Target::Wildcard(_) => {
                let suffix = self.target.suffix(repository)?;
                let text = match self.upstream.prefix() {
                    "" => suffix.to_owned(),
                    prefix => format!("{prefix}/{suffix}"),
                };
                // Over-long names (prefix plus suffix) match nothing.
                Reference::new(self.upstream_registry.as_str(), &text)
                    .ok()
                    .map(|r| r.repository().clone())
            }
        }
    }

    /// Whether both are wildcards one of which covers a repository the other covers.
    fn overlaps(&self, other: &CacheRule) -> bool {
        if !(self.is_wildcard() && other.is_wildcard()) {
            return false;
        }
        let (a, b) = (self.fixed_prefix(), other.fixed_prefix());
        a.is_empty() || b.is_empty() || is_component_prefix(a, b) || is_component_prefix(b, a)
    }
}

/// Whether `prefix` is `name` or a leading run of its components.
fn is_component_prefix(prefix: &str, name: &str) -> bool {
    name == prefix
        || name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl fmt::Display for CacheRule {
    /// `library/* -> docker.io/library/*`, with ` (credential set NAME)` when it has one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.target, self.upstream())?;
        if let Some(set) = &self.credential_set {
            write!(f, " (credential set {set})")?;
        }
        Ok(())
    }
}

/// What [`CacheRules::resolve`] found for a repository: the rule and the upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<'a> {
    rule: &'a CacheRule,
    upstream: Reference,
}

impl<'a> Resolved<'a> {
    /// The rule that matched.
    pub fn rule(&self) -> &'a CacheRule {
        self.rule
    }

    /// The upstream repository (registry and repository, no tag or digest), the wildcard's
    /// suffix substituted: add the tag or digest asked for.
    pub fn upstream(&self) -> &Reference {
        &self.upstream
    }

    /// The upstream registry.
    pub fn registry(&self) -> &Registry {
        self.upstream.registry()
    }

    /// The upstream repository.
    pub fn repository(&self) -> &Repository {
        self.upstream.repository()
    }
}

/// A username for a [`CredentialSet`]: written in the file, or read from a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Username {
    /// The user name itself (not a secret).
    Literal(String),
    /// The environment variable holding it.
    Env(String),
}

/// Where a [`CredentialSet`]'s password or token is read, each time it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (surrounding whitespace trimmed; re-read at each use, so rotation works).
    File(PathBuf),
    /// A docker credential helper, `docker-credential-NAME get` asked for the upstream
    /// registry; it answers the user name too.
    Helper(String),
}

/// Named credentials for upstream registries: a user name and where the password or token
/// is read. It holds references (variable names, a path, a helper's name), never a secret,
/// so it can be written to the rules file and printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSet {
    name: String,
    username: Option<Username>,
    secret: SecretSource,
}

impl CredentialSet {
    /// A set named `name` with `username` and the password or token from `secret`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCredentialSet`] for a name outside `[A-Za-z0-9][A-Za-z0-9_-]{0,63}`,
    /// an empty or control-character user name, an environment variable name outside
    /// `[A-Za-z_][A-Za-z0-9_]*`, an empty path.
    pub fn new(
        name: &str,
        username: Username,
        secret: SecretSource,
    ) -> Result<CredentialSet, Error> {
        let set = CredentialSet {
            name: name.to_owned(),
            username: Some(username),
            secret,
        };
        set.check()?;
        Ok(set)
    }

    /// A set named `name` whose user name and secret come from the docker credential
    /// helper `docker-credential-HELPER`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCredentialSet`] for a bad name or helper name (`[A-Za-z0-9._-]+`).
    pub fn helper(name: &str, helper: &str) -> Result<CredentialSet, Error> {
        let set = CredentialSet {
            name: name.to_owned(),
            username: None,
            secret: SecretSource::Helper(helper.to_owned()),
        };
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| Error::InvalidCredentialSet {
            name: self.name.clone(),
            reason,
        };
        check_set_name(&self.name).map_err(|r| invalid(r.to_owned()))?;
        match &self.username {
            Some(Username::Literal(u)) if u.is_empty() || u.chars().any(char::is_control) => {
                return Err(invalid(
                    "the user name is empty or holds control characters".to_owned(),
                ));
            }
            Some(Username::Literal(_)) | None => {}
            Some(Username::Env(var)) => check_env_name(var).map_err(invalid)?,
        }
        match &self.secret {
            SecretSource::Env(var) => check_env_name(var).map_err(invalid)?,
            SecretSource::File(path) if path.as_os_str().is_empty() => {
                return Err(invalid("the password file path is empty".to_owned()));
            }
            SecretSource::File(_) => {}
            SecretSource::Helper(helper) => {
                if helper.is_empty()
                    || !helper
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                {
                    return Err(invalid(format!(
                        "the credential helper name {helper:?} is not `[A-Za-z0-9._-]+` (the part after `docker-credential-`)"
                    )));
                }
            }
        }
        match (&self.username, &self.secret) {
            (None, SecretSource::Env(_) | SecretSource::File(_)) => Err(invalid(
                "a password from a variable or file needs a user name (`username` or `username_env`)"
                    .to_owned(),
            )),
            (Some(_), SecretSource::Helper(_)) => Err(invalid(
                "a credential helper answers the user name too; give no `username`".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the user name comes from (`None` with a credential helper).
    pub fn username(&self) -> Option<&Username> {
        self.username.as_ref()
    }

    /// Where the password or token comes from.
    pub fn secret(&self) -> &SecretSource {
        &self.secret
    }
}

impl fmt::Display for CredentialSet {
    /// `hub: username me, password from $HUB_TOKEN`: references only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match &self.username {
            Some(Username::Literal(u)) => write!(f, "username {u}, ")?,
            Some(Username::Env(v)) => write!(f, "username from ${v}, ")?,
            None => {}
        }
        match &self.secret {
            SecretSource::Env(v) => write!(f, "password from ${v}"),
            SecretSource::File(p) => write!(f, "password from the file {}", p.display()),
            SecretSource::Helper(h) => write!(f, "from docker-credential-{h}"),
        }
    }
}

fn check_set_name(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok
        || name.len() > MAX_CREDENTIAL_SET_NAME
        || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(
            "a credential-set name is 1 to 64 of `A-Z a-z 0-9 _ -`, starting with a letter or digit",
        );
    }
    Ok(())
}

fn check_env_name(var: &str) -> Result<(), String> {
    let mut bytes = var.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{var:?} is not an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`)"
        ))
    }
}

/// The pull-through cache configuration of a store registry: rules (at most
/// [`MAX_CACHE_RULES`]), the credential sets they name, the strict-overlap option and the
/// cache registry the facade and `orca fetch` resolve through.
///
/// # Invariants
///
/// Every rule's target is unique; every credential set a rule names exists; with
/// [`CacheRules::strict_overlap`], no two wildcard targets overlap.
///
/// # Precedence
///
/// [`CacheRules::resolve`]: a static target equal to the repository wins; else, among
/// wildcards covering it, the longest fixed prefix (`library/team/*` over `library/*`
/// over `*`); of equal rank the rule added first. (Two wildcards covering one repository
/// with prefixes of equal length have the same target, which [`CacheRules::add`] refuses
/// as a duplicate, so the last rule only makes the order explicit; a too-long substituted
/// name passes to the next-ranked rule.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheRules {
    rules: Vec<CacheRule>,
    credential_sets: BTreeMap<String, CredentialSet>,
    strict_overlap: bool,
    registry: Option<Registry>,
}

impl CacheRules {
    /// No rules, no credential sets, overlapping wildcards allowed.
    pub fn new() -> CacheRules {
        CacheRules::default()
    }

    /// The rules, in the order added.
    pub fn rules(&self) -> &[CacheRule] {
        &self.rules
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether there is neither a rule, a credential set, an option nor a cache registry
    /// (nothing to write in the `[cache]` section).
    pub fn is_unset(&self) -> bool {
        *self == CacheRules::default()
    }

    /// The credential sets, by name.
    pub fn credential_sets(&self) -> &BTreeMap<String, CredentialSet> {
        &self.credential_sets
    }

    /// The credential set `name`.
    pub fn credential_set(&self, name: &str) -> Option<&CredentialSet> {
        self.credential_sets.get(name)
    }

    /// Whether overlapping wildcard targets are refused (ACR's behaviour).
    pub fn strict_overlap(&self) -> bool {
        self.strict_overlap
    }

    /// Refuse (`true`) or allow overlapping wildcard targets.
    ///
    /// # Errors
    ///
    /// [`Error::OverlappingCacheRule`] when turning it on while two rules overlap.
    pub fn set_strict_overlap(&mut self, strict: bool) -> Result<(), Error> {
        if strict {
            for (i, rule) in self.rules.iter().enumerate() {
                if let Some(other) = self.rules[..i].iter().find(|o| o.overlaps(rule)) {
                    return Err(Error::OverlappingCacheRule {
                        rule: rule.to_string(),
                        existing: other.to_string(),
                    });
                }
            }
        }
        self.strict_overlap = strict;
        Ok(())
    }

    /// The cache registry: the registry whose repositories the rules name, which
    /// `orca fetch` and the facade's pull-through resolve through.
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Set (or clear) the cache registry.
    pub fn set_registry(&mut self, registry: Option<Registry>) {
        self.registry = registry;
    }

    /// Add `rule` after the others.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyCacheRules`] past [`MAX_CACHE_RULES`];
    /// [`Error::DuplicateCacheRule`] naming the rule with the same target;
    /// [`Error::UnknownCredentialSet`] when its credential set is not defined;
    /// [`Error::OverlappingCacheRule`] naming the overlapping rule with
    /// [`CacheRules::strict_overlap`].
    pub fn add(&mut self, rule: CacheRule) -> Result<(), Error> {
        if let Some(existing) = self.rules.iter().find(|r| r.target == rule.target) {
            return Err(Error::DuplicateCacheRule {
                target: rule.target(),
                existing: existing.to_string(),
            });
        }
        if self.rules.len() >= MAX_CACHE_RULES {
            return Err(Error::TooManyCacheRules {
                target: rule.target(),
                limit: MAX_CACHE_RULES,
            });
        }
        if let Some(set) = rule.credential_set()
            && !self.credential_sets.contains_key(set)
        {
            return Err(Error::UnknownCredentialSet {
                name: set.to_owned(),
                rule: rule.to_string(),
            });
        }
        if self.strict_overlap
            && let Some(existing) = self.rules.iter().find(|r| r.overlaps(&rule))
        {
            return Err(Error::OverlappingCacheRule {
                rule: rule.to_string(),
                existing: existing.to_string(),
            });
        }
        self.rules.push(rule);
        Ok(())
    }

    /// Remove the rule whose target is `target` (as written: `library/*`), returning it.
    pub fn remove(&mut self, target: &str) -> Option<CacheRule> {
        let target = Target::parse(target).ok()?;
        let at = self.rules.iter().position(|r| r.target == target)?;
        Some(self.rules.remove(at))
    }

    /// The rule whose target is `target`.
    pub fn get(&self, target: &str) -> Option<&CacheRule> {
        let target = Target::parse(target).ok()?;
        self.rules.iter().find(|r| r.target == target)
    }

    /// Add or replace the credential set of `set`'s name, returning the one replaced.
    pub fn add_credential_set(&mut self, set: CredentialSet) -> Option<CredentialSet> {
        self.credential_sets.insert(set.name.clone(), set)
    }

    /// Remove the credential set `name`, returning it (`None` when there is none).
    ///
    /// # Errors
    ///
    /// [`Error::CredentialSetInUse`] naming a rule that uses it.
    pub fn remove_credential_set(&mut self, name: &str) -> Result<Option<CredentialSet>, Error> {
        if let Some(rule) = self.rules.iter().find(|r| r.credential_set() == Some(name)) {
            return Err(Error::CredentialSetInUse {
                name: name.to_owned(),
                rule: rule.to_string(),
            });
        }
        Ok(self.credential_sets.remove(name))
    }

    /// The rule for `repository` of the cache registry and the upstream it maps to (see
    /// the precedence above). `None` when no rule covers it, or `repository` is not a
    /// valid repository name. A wildcard whose substituted upstream name would be too long
    /// does not cover it (the next-ranked rule is tried).
    pub fn resolve(&self, repository: &str) -> Option<Resolved<'_>> {
        if Repository::parse(repository).is_err() {
            return None;
        }
        let resolved = |rule| resolved(rule, repository);
        if let Some(found) = self
            .rules
            .iter()
            .filter(|r| !r.is_wildcard())
            .find_map(resolved)
        {
            return Some(found);
        }
        let mut wildcards: Vec<&CacheRule> = self
            .rules
            .iter()
            .filter(|r| r.target.suffix(repository).is_some())
            .collect();
        // Stable: equal prefixes keep the order added.
        wildcards.sort_by_key(|r| std::cmp::Reverse(r.fixed_prefix().len()));
        wildcards.into_iter().find_map(resolved)
    }
}

fn resolved<'r>(rule: &'r CacheRule, repository: &str) -> Option<Resolved<'r>> {
    let upstream = rule.map(repository)?;
    Some(Resolved {
        rule,
        upstream: Reference::from_parts(rule.upstream_registry.clone(), upstream),
    })
}
