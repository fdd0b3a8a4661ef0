//! Which upstream serves a requested repository: the [`Upstreams`] trait and
//! [`StaticUpstreams`].

use orca_distribution::Client;
use orca_reference::Reference;

/// Where a repository's misses are fetched: a client configured for the upstream registry
/// (TLS, plain HTTP, credentials) and the upstream repository.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The client that talks to the upstream registry, with the rule's credentials.
    pub client: Client,
    /// The upstream repository (registry and repository; no tag, no digest).
    pub repository: Reference,
}

impl Upstream {
    /// `client` fetching from `repository` (its tag or digest, if any, is ignored).
    pub fn new(client: Client, repository: &Reference) -> Upstream {
        let repository = Reference::from_parts(
            repository.registry().clone(),
            repository.repository().clone(),
        );
        Upstream { client, repository }
    }
}

/// Maps a requested repository to its upstream: the front's view of the cache rules.
///
/// `Ok(None)` means no rule matches: the front serves what storage has, else 404. `Err`
/// means a rule matches but cannot be used (a credential set that is missing, say): the
/// front answers 502 with the message, and logs it. The message must hold no secret.
pub trait Upstreams: Send + Sync + 'static {
    /// The upstream of `repository` (a valid repository name).
    fn resolve(&self, repository: &str) -> Result<Option<Upstream>, String>;
}

/// A fixed table of rules, for tests and simple setups: exact targets (`library/nginx`)
/// beat wildcards (`library/*`, `*`), a longer wildcard prefix beats a shorter one, and
/// among equals the first added wins.
///
/// ```
/// use orca_distribution::{Client, ClientConfig};
/// use orca_pull_through::{StaticUpstreams, Upstreams};
///
/// let client = Client::new(ClientConfig::default())?;
/// let rules = StaticUpstreams::new()
///     .with("library/*", client.clone(), "docker.io/library/*")?
///     .with("ghcr/*", client, "ghcr.io/*")?;
/// let upstream = rules.resolve("library/nginx")?.expect("a rule matches");
/// assert_eq!(upstream.repository.to_string(), "docker.io/library/nginx");
/// let upstream = rules.resolve("ghcr/org/tool")?.expect("a rule matches");
/// assert_eq!(upstream.repository.to_string(), "ghcr.io/org/tool");
/// assert!(rules.resolve("other")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct StaticUpstreams {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    /// The target without its `*` (`library/` for `library/*`, empty for `*`), or the
    /// exact repository.
    target: String,
    wildcard: bool,
    client: Client,
    /// `registry/path` without its `*`, or the exact upstream repository.
    upstream: String,
}

impl StaticUpstreams {
    /// No rules.
    pub fn new() -> StaticUpstreams {
        StaticUpstreams::default()
    }

    /// Add a rule: `target` is a repository (`library/nginx`) or a wildcard (`library/*`,
    /// `*`); `upstream` is `registry/repository`, ending in `/*` exactly when the target is
    /// a wildcard (the matched rest replaces the `*`).
    ///
    /// # Errors
    /// When one side is a wildcard and the other not, or the upstream is not
    /// `registry/repository`.
    pub fn with(
        mut self,
        target: &str,
        client: Client,
        upstream: &str,
    ) -> Result<StaticUpstreams, String> {
        let (target_fixed, wildcard) = match target.strip_suffix('*') {
            Some(fixed) if fixed.is_empty() || fixed.ends_with('/') => (fixed, true),
            Some(_) => return Err(format!("target {target:?}: `*` must be a whole component")),
            None => (target, false),
        };
        let upstream_fixed = match (upstream.strip_suffix("/*"), wildcard) {
            (Some(fixed), true) => format!("{fixed}/"),
            (None, false) => {
                Reference::parse(&format!("{upstream}:latest"))
                    .map_err(|e| format!("upstream {upstream:?}: {e}"))?;
                upstream.to_owned()
            }
            _ => {
                return Err(format!(
                    "target {target:?} and upstream {upstream:?}: both or neither must end in `*`"
                ));
            }
        };
        self.rules.push(Rule {
            target: target_fixed.to_owned(),
            wildcard,
            client,
            upstream: upstream_fixed,
        });
        Ok(self)
    }
}

impl Upstreams for StaticUpstreams {
    fn resolve(&self, repository: &str) -> Result<Option<Upstream>, String> {
        let exact = self
            .rules
            .iter()
            .find(|r| !r.wildcard && r.target == repository);
        let rule = exact.or_else(|| {
            self.rules
                .iter()
                .filter(|r| r.wildcard && repository.starts_with(&r.target))
                // max_by_key keeps the last of equals; rev() makes it the first added.
                .rev()
                .max_by_key(|r| r.target.len())
        });
        let Some(rule) = rule else { return Ok(None) };
        let upstream = if rule.wildcard {
            format!("{}{}", rule.upstream, &repository[rule.target.len()..])
        } else {
            rule.upstream.clone()
        };
        let reference = Reference::parse(&format!("{upstream}:latest"))
            .map_err(|e| format!("upstream of {repository}: {e}"))?;
        Ok(Some(Upstream::new(rule.client.clone(), &reference)))
    }
}

#[cfg(test)]
mod tests {
    use orca_distribution::ClientConfig;

    use super::*;

    #[test]
    fn precedence() {
        let c = Client::new(ClientConfig::default()).unwrap();
        let rules = StaticUpstreams::new()
            .with("*", c.clone(), "r.example/all/*")
            .unwrap()
            .with("a/*", c.clone(), "r.example/first/*")
            .unwrap()
            .with("a/*", c.clone(), "r.example/second/*")
            .unwrap()
            .with("a/b/*", c.clone(), "r.example/deep/*")
            .unwrap()
            .with("a/b/c", c.clone(), "r.example/exact")
            .unwrap();
        let cases = [
            ("x", "r.example/all/x"),
            ("a/x", "r.example/first/x"),
            ("a/b/x", "r.example/deep/x"),
            ("a/b/c", "r.example/exact"),
            ("a/b/c/d", "r.example/deep/c/d"),
        ];
        assert_eq!(cases.len(), 5);
        for (repo, want) in cases {
            let got = rules.resolve(repo).unwrap().unwrap();
            assert_eq!(got.repository.to_string(), want, "{repo}");
        }
        assert!(StaticUpstreams::new().resolve("x").unwrap().is_none());
        assert!(
            StaticUpstreams::new()
                .with("a/*", c.clone(), "r.example/a")
                .is_err()
        );
        assert!(
            StaticUpstreams::new()
                .with("a*", c.clone(), "r.example/*")
                .is_err()
        );
        assert!(
            StaticUpstreams::new()
                .with("a", c, "not a registry")
                .is_err()
        );
    }
}
