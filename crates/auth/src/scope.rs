//! Token scopes: `repository:<name>:<actions>`, `repository(plugin):…`, `registry:catalog:*`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ScopeErrorKind};

/// An action a scope grants on a resource.
///
/// The canonical order (used when formatting and in cache keys) is `pull`, `push`,
/// `delete`, `*`, then other actions alphabetically.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// `pull`: read manifests and blobs.
    Pull,
    /// `push`: write manifests and blobs.
    Push,
    /// `delete`: delete manifests and blobs.
    Delete,
    /// `*`: every action (used by `registry:catalog:*`); covers all others.
    All,
    /// An action this crate does not know (ACR's `metadata_read`, for example); kept verbatim.
    Other(String),
}

impl Action {
    /// The action as it appears in a scope string.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
            Action::Other(other) => other,
        }
    }

    fn parse(text: &str) -> Action {
        match text {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
            "*" => Action::All,
            other => Action::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One access scope: a resource type, a resource name and a set of actions.
///
/// Invariant: the actions are kept in canonical order without duplicates, so two
/// scopes that grant the same thing compare and format equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    resource_type: String,
    name: String,
    actions: BTreeSet<Action>,
}

impl Scope {
    /// A `repository:<name>:<actions>` scope.
    pub fn repository(name: &str, actions: &[Action]) -> Scope {
        Scope {
            resource_type: "repository".to_owned(),
            name: name.to_owned(),
            actions: actions.iter().cloned().collect(),
        }
    }

    /// The `registry:catalog:*` scope that listing repositories needs.
    pub fn registry_catalog() -> Scope {
        Scope {
            resource_type: "registry".to_owned(),
            name: "catalog".to_owned(),
            actions: BTreeSet::from([Action::All]),
        }
    }

    /// A scope of any resource type (`repository(plugin)` for example).
    ///
    /// # Errors
    ///
    /// [`Error::Scope`] when the type or name is empty or contains characters that would
    /// make the formatted scope ambiguous (whitespace, and `:` in the type).
    pub fn new(resource_type: &str, name: &str, actions: &[Action]) -> Result<Scope, Error> {
        let scope = Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions: actions.iter().cloned().collect(),
        };
        let text = scope.to_string();
        text.parse::<Scope>().and_then(|parsed| {
            if parsed == scope {
                Ok(scope)
            } else {
                Err(Error::Scope {
                    input: text,
                    kind: ScopeErrorKind::NotCanonical,
                    position: 0,
                })
            }
        })
    }

    /// The resource type: `repository`, `registry`, `repository(plugin)`, ….
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The resource name: the repository path, or `catalog`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The actions, in canonical order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter()
    }

    /// Whether this scope grants everything `other` asks for.
    pub fn covers(&self, other: &Scope) -> bool {
        self.resource_type == other.resource_type
            && self.name == other.name
            && (self.actions.contains(&Action::All) || other.actions.is_subset(&self.actions))
    }

    /// Merges scopes on the same resource into one (`pull` + `push` → `pull,push`) and
    /// sorts the result canonically.
    ///
    /// The result is the same whatever the order of the input and merging it again
    /// changes nothing: it is what token caches use as a key.
    pub fn merge<'a>(scopes: impl IntoIterator<Item = &'a Scope>) -> Vec<Scope> {
        let mut merged: BTreeMap<(&str, &str), BTreeSet<Action>> = BTreeMap::new();
        for scope in scopes {
            merged
                .entry((&scope.resource_type, &scope.name))
                .or_default()
                .extend(scope.actions.iter().cloned());
        }
        merged
            .into_iter()
            .map(|((resource_type, name), actions)| Scope {
                resource_type: resource_type.to_owned(),
                name: name.to_owned(),
                actions,
            })
            .collect()
    }

    /// The scopes a cross-repository blob mount needs in one token: `pull` on the source
    /// and `pull,push` on the target.
    pub fn for_mount(source_repository: &str, target_repository: &str) -> Vec<Scope> {
        Scope::merge(&[
            Scope::repository(source_repository, &[Action::Pull]),
            Scope::repository(target_repository, &[Action::Pull, Action::Push]),
        ])
    }

    /// Whether every scope in `wanted` is covered by one of `granted`.
    pub fn all_covered(granted: &[Scope], wanted: &[Scope]) -> bool {
        Scope::merge(wanted)
            .iter()
            .all(|w| granted.iter().any(|g| g.covers(w)))
    }

    /// Parses a space-separated list of scopes, as in a challenge's `scope` parameter.
    ///
    /// # Errors
    ///
    /// The first scope that does not parse.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, Error> {
        text.split(' ')
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.resource_type, self.name)?;
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(action.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// Parses `type:name:actions`. The name may itself contain `:`, so the type ends at
    /// the first colon and the actions start after the last one; an empty action list is
    /// allowed (it grants nothing).
    fn from_str(input: &str) -> Result<Scope, Error> {
        let err = |kind, position| Error::Scope {
            input: input.to_owned(),
            kind,
            position,
        };
        if let Some(position) = input.find(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(err(ScopeErrorKind::InvalidCharacter, position));
        }
        let Some(first) = input.find(':') else {
            return Err(err(ScopeErrorKind::MissingSeparator, input.len()));
        };
        let last = input.rfind(':').unwrap_or(first);
        if last == first {
            return Err(err(ScopeErrorKind::MissingSeparator, input.len()));
        }
        let resource_type = &input[..first];
        let name = &input[first + 1..last];
        let actions = &input[last + 1..];
        if resource_type.is_empty() {
            return Err(err(ScopeErrorKind::EmptyType, 0));
        }
        if !resource_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | '_' | '-' | '.'))
        {
            return Err(err(ScopeErrorKind::InvalidCharacter, 0));
        }
        if name.is_empty() {
            return Err(err(ScopeErrorKind::EmptyName, first + 1));
        }
        let mut set = BTreeSet::new();
        let mut offset = last + 1;
        if !actions.is_empty() {
            for action in actions.split(',') {
                if action.is_empty() {
                    return Err(err(ScopeErrorKind::EmptyAction, offset));
                }
                set.insert(Action::parse(action));
                offset += action.len() + 1;
            }
        }
        Ok(Scope {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions: set,
        })
    }
}

/// The canonical text of a scope set: merged, sorted, space-separated.
pub(crate) fn canonical_key(scopes: &[Scope]) -> String {
    Scope::merge(scopes)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::{Action, Scope};
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats() {
        let cases = [
            (
                "repository:library/ubuntu:pull",
                "repository:library/ubuntu:pull",
            ),
            ("repository:a/b:push,pull", "repository:a/b:pull,push"),
            ("repository:a/b:pull,pull", "repository:a/b:pull"),
            ("registry:catalog:*", "registry:catalog:*"),
            (
                "repository(plugin):vieux/sshfs:pull",
                "repository(plugin):vieux/sshfs:pull",
            ),
            ("repository:a:metadata_read", "repository:a:metadata_read"),
            (
                "repository:localhost:5000/x:pull",
                "repository:localhost:5000/x:pull",
            ),
            ("repository:a:", "repository:a:"),
            ("repository:a:delete,*", "repository:a:delete,*"),
        ];
        assert_eq!(cases.len(), 9);
        for (input, expected) in cases {
            let scope: Scope = input.parse().expect(input);
            assert_eq!(scope.to_string(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_malformed() {
        let cases = [
            "repository",
            "repository:name",
            ":name:pull",
            "repository::pull",
            "repository:a:pull,,push",
            "repo sitory:a:pull",
            "repo\u{0}:a:pull",
            "",
        ];
        assert_eq!(cases.len(), 8);
        for input in cases {
            let err = input.parse::<Scope>().expect_err(input);
            assert!(err.to_string().contains("scope"), "{err}");
        }
    }

    #[test]
    fn merge_combines_actions_on_one_repository() {
        let merged = Scope::merge(&[
            Scope::repository("a", &[Action::Push]),
            Scope::repository("b", &[Action::Pull]),
            Scope::repository("a", &[Action::Pull]),
        ]);
        let text: Vec<String> = merged.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["repository:a:pull,push", "repository:b:pull"]);
    }

    #[test]
    fn mount_needs_pull_on_source_and_push_on_target() {
        let scopes = Scope::for_mount("src/repo", "dst/repo");
        let text: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["repository:dst/repo:pull,push", "repository:src/repo:pull"]
        );
    }

    #[test]
    fn coverage() {
        let pull_push = Scope::repository("a", &[Action::Pull, Action::Push]);
        let pull = Scope::repository("a", &[Action::Pull]);
        let all = Scope::new("repository", "a", &[Action::All]).expect("valid");
        assert!(pull_push.covers(&pull));
        assert!(!pull.covers(&pull_push));
        assert!(all.covers(&pull_push));
        assert!(!pull.covers(&Scope::repository("b", &[Action::Pull])));
        assert!(Scope::all_covered(
            &[pull_push.clone(), Scope::registry_catalog()],
            &[pull.clone(), Scope::registry_catalog()]
        ));
        assert!(!Scope::all_covered(&[pull], &[pull_push]));
    }

    #[test]
    fn new_rejects_ambiguous_parts() {
        assert!(Scope::new("repo:x", "a", &[Action::Pull]).is_err());
        assert!(Scope::new("repository", "a b", &[Action::Pull]).is_err());
        assert!(Scope::new("repository", "", &[Action::Pull]).is_err());
        assert!(Scope::new("repository(plugin)", "a", &[Action::Pull]).is_ok());
    }

    fn scope_strategy() -> impl Strategy<Value = Scope> {
        (
            prop::sample::select(vec!["repository", "registry", "repository(plugin)"]),
            prop::sample::select(vec!["a", "b/c", "catalog", "x:1/y"]),
            prop::collection::vec(
                prop::sample::select(vec![
                    Action::Pull,
                    Action::Push,
                    Action::Delete,
                    Action::All,
                    Action::Other("metadata_read".to_owned()),
                ]),
                0..4,
            ),
        )
            .prop_map(|(t, n, a)| Scope::new(t, n, &a).expect("strategy builds valid scopes"))
    }

    proptest! {
        #[test]
        fn merge_is_commutative(a in prop::collection::vec(scope_strategy(), 0..6),
                                b in prop::collection::vec(scope_strategy(), 0..6)) {
            let ab: Vec<Scope> = a.iter().chain(&b).cloned().collect();
            let ba: Vec<Scope> = b.iter().chain(&a).cloned().collect();
            prop_assert_eq!(Scope::merge(&ab), Scope::merge(&ba));
        }

        #[test]
        fn merge_is_idempotent(a in prop::collection::vec(scope_strategy(), 0..8)) {
            let once = Scope::merge(&a);
            let twice = Scope::merge(&once);
            prop_assert_eq!(&once, &twice);
            let doubled: Vec<Scope> = a.iter().chain(&a).cloned().collect();
            prop_assert_eq!(Scope::merge(&doubled), once.clone());
            // The merged set covers every input scope.
            prop_assert!(Scope::all_covered(&once, &a));
        }

        #[test]
        fn display_round_trips(s in scope_strategy()) {
            let parsed: Scope = s.to_string().parse().expect("formatted scope parses");
            prop_assert_eq!(parsed, s);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Scope>();
        }
    }
}
