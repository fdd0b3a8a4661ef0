//! Pull-through cache rules: precedence, limits, duplicates, strict overlap, credential
//! sets, and the `[cache]` section of the stores file.

use orca_store::{
    CacheRule, CacheRules, CredentialSet, Error, MAX_CACHE_RULES, SecretSource, StoreRegistry,
    Username,
};
use proptest::prelude::*;

fn rules(list: &[(&str, &str)]) -> CacheRules {
    let mut rules = CacheRules::new();
    for (target, upstream) in list {
        rules
            .add(CacheRule::new(target, upstream).unwrap())
            .unwrap();
    }
    rules
}

/// Rule set, repository asked for, the upstream expected (`None`: no rule covers it).
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    Option<&'static str>,
);

const HUB_LIB: (&str, &str) = ("library/*", "docker.io/library/*");
const HUB_NGINX: (&str, &str) = ("library/nginx", "docker.io/library/nginx");
const ALL_GHCR: (&str, &str) = ("*", "ghcr.io/mirror/*");

const PRECEDENCE: &[Case] = &[
    // One static rule.
    (
        &[HUB_NGINX],
        "library/nginx",
        Some("docker.io/library/nginx"),
    ),
    (&[HUB_NGINX], "library/redis", None),
    (&[HUB_NGINX], "library/nginx/extra", None),
    (&[HUB_NGINX], "library", None),
    // One wildcard.
    (&[HUB_LIB], "library/redis", Some("docker.io/library/redis")),
    (
        &[HUB_LIB],
        "library/team/app",
        Some("docker.io/library/team/app"),
    ),
    (&[HUB_LIB], "library", None),
    (&[HUB_LIB], "libraryx/redis", None),
    (&[HUB_LIB], "other/redis", None),
    // `*` covers everything, the whole name substituted.
    (
        &[ALL_GHCR],
        "library/nginx",
        Some("ghcr.io/mirror/library/nginx"),
    ),
    (&[ALL_GHCR], "a", Some("ghcr.io/mirror/a")),
    (
        &[("*", "quay.io/*")],
        "coreos/etcd",
        Some("quay.io/coreos/etcd"),
    ),
    // Static beats wildcard, whatever the order.
    (
        &[HUB_LIB, HUB_NGINX],
        "library/nginx",
        Some("docker.io/library/nginx"),
    ),
    (
        &[HUB_NGINX, HUB_LIB],
        "library/nginx",
        Some("docker.io/library/nginx"),
    ),
    (
        &[HUB_LIB, ("library/nginx", "ghcr.io/nginx/nginx")],
        "library/nginx",
        Some("ghcr.io/nginx/nginx"),
    ),
    (
        &[ALL_GHCR, ("library/nginx", "ghcr.io/nginx/nginx")],
        "library/nginx",
        Some("ghcr.io/nginx/nginx"),
    ),
    // Static rules do not cover what only looks like them.
    (
        &[ALL_GHCR, ("library/nginx", "ghcr.io/nginx/nginx")],
        "library/nginx-extra",
        Some("ghcr.io/mirror/library/nginx-extra"),
    ),
    // The longer fixed prefix wins, whatever the order.
    (
        &[ALL_GHCR, HUB_LIB],
        "library/redis",
        Some("docker.io/library/redis"),
    ),
    (
        &[HUB_LIB, ALL_GHCR],
        "library/redis",
        Some("docker.io/library/redis"),
    ),
    (
        &[ALL_GHCR, HUB_LIB],
        "other/redis",
        Some("ghcr.io/mirror/other/redis"),
    ),
    (
        &[HUB_LIB, ("library/team/*", "quay.io/team/*")],
        "library/team/app",
        Some("quay.io/team/app"),
    ),
    (
        &[("library/team/*", "quay.io/team/*"), HUB_LIB],
        "library/team/app",
        Some("quay.io/team/app"),
    ),
    (
        &[("library/team/*", "quay.io/team/*"), HUB_LIB, ALL_GHCR],
        "library/teams/app",
        Some("docker.io/library/teams/app"),
    ),
    (
        &[
            ("a/b/c/*", "r.example/c/*"),
            ("a/b/*", "r.example/b/*"),
            ("a/*", "r.example/a/*"),
        ],
        "a/b/c/d",
        Some("r.example/c/d"),
    ),
    (
        &[
            ("a/*", "r.example/a/*"),
            ("a/b/*", "r.example/b/*"),
            ("a/b/c/*", "r.example/c/*"),
        ],
        "a/b/x",
        Some("r.example/b/x"),
    ),
    // A wildcard's prefix is whole components: `a/b/*` does not cover `a/bc/x`.
    (
        &[("a/*", "r.example/a/*"), ("a/b/*", "r.example/b/*")],
        "a/bc/x",
        Some("r.example/a/bc/x"),
    ),
    // Upstream prefixes may differ in depth from the target's.
    (
        &[("hub/*", "docker.io/*")],
        "hub/library/nginx",
        Some("docker.io/library/nginx"),
    ),
    (
        &[("mirror/ms/*", "mcr.microsoft.com/*")],
        "mirror/ms/dotnet/sdk",
        Some("mcr.microsoft.com/dotnet/sdk"),
    ),
    // Registries with ports, and IPv6.
    (
        &[("local/*", "localhost:5000/*")],
        "local/app",
        Some("localhost:5000/app"),
    ),
    (
        &[("v6/*", "[::1]:5000/x/*")],
        "v6/app",
        Some("[::1]:5000/x/app"),
    ),
    // Invalid repository names match nothing.
    (&[ALL_GHCR], "Library/nginx", None),
    (&[ALL_GHCR], "", None),
    (&[ALL_GHCR], "a//b", None),
    // Nothing configured.
    (&[], "library/nginx", None),
];

#[test]
fn precedence_table() {
    assert!(PRECEDENCE.len() >= 30, "{}", PRECEDENCE.len());
    for (i, (list, repository, expected)) in PRECEDENCE.iter().enumerate() {
        let rules = rules(list);
        let got = rules.resolve(repository).map(|r| r.upstream().to_string());
        assert_eq!(
            got.as_deref(),
            *expected,
            "case {i}: {list:?} for {repository:?}"
        );
    }
}

#[test]
fn resolved_names_the_rule_and_its_parts() {
    let rules = rules(&[ALL_GHCR, HUB_LIB]);
    let found = rules.resolve("library/redis").unwrap();
    assert_eq!(found.rule().target(), "library/*");
    assert_eq!(found.registry().as_str(), "docker.io");
    assert_eq!(found.repository().as_str(), "library/redis");
    assert!(found.upstream().tag().is_none() && found.upstream().digest().is_none());
}

#[test]
fn an_upstream_name_too_long_falls_to_the_next_rule() {
    let long = format!("r.example/{}/*", "x".repeat(240));
    let rules = {
        let mut r = CacheRules::new();
        r.add(CacheRule::new("a/*", &long).unwrap()).unwrap();
        r.add(CacheRule::new("*", "docker.io/*").unwrap()).unwrap();
        r
    };
    let repo = format!("a/{}", "y".repeat(30));
    assert_eq!(
        rules.resolve(&repo).unwrap().upstream().to_string(),
        format!("docker.io/{repo}")
    );
    assert_eq!(
        rules.resolve("a/b").unwrap().rule().target(),
        "a/*",
        "a short name still fits"
    );
}

#[test]
fn bad_targets_and_upstreams_are_refused_naming_the_problem() {
    let cases = [
        ("", "docker.io/library/nginx", "target: it is empty"),
        ("lib*", "docker.io/lib*", "wildcard"),
        ("a/*/b", "docker.io/*", "wildcard"),
        ("*/a", "docker.io/*", "wildcard"),
        (
            "Library/nginx",
            "docker.io/library/nginx",
            "target: it is not a repository",
        ),
        (
            "library/*",
            "docker.io/library/nginx",
            "a wildcard target needs a wildcard upstream",
        ),
        (
            "library/nginx",
            "docker.io/library/*",
            "a static target needs a static upstream",
        ),
        ("library/nginx", "nginx", "names no repository"),
        (
            "library/nginx",
            "docker.io/library/nginx:1.25",
            "tag or digest",
        ),
        (
            "library/nginx",
            "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "tag or digest",
        ),
        (
            "library/nginx",
            "http://docker.io/library/nginx",
            "not a registry",
        ),
        ("library/nginx", "myhost/library/nginx", "not a registry"),
        (
            "library/nginx",
            "docker.io/Library/nginx",
            "upstream: it is not a repository",
        ),
        ("library/*", "docker.io/a*/*", "wildcard"),
    ];
    for (target, upstream, expected) in cases {
        let e = CacheRule::new(target, upstream).unwrap_err();
        assert!(matches!(e, Error::InvalidCacheRule { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(expected), "{target} -> {upstream}: {text}");
        assert!(
            text.starts_with(&format!("invalid cache rule {target} -> {upstream}:")),
            "{text}"
        );
    }
}

#[test]
fn a_duplicate_target_is_refused_naming_the_rule() {
    let mut rules = rules(&[HUB_LIB, HUB_NGINX]);
    let e = rules
        .add(CacheRule::new("library/nginx", "ghcr.io/nginx/nginx").unwrap())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "a cache rule for the target library/nginx exists already: library/nginx -> docker.io/library/nginx"
    );
    let e = rules
        .add(CacheRule::new("library/*", "quay.io/*").unwrap())
        .unwrap_err();
    assert!(
        matches!(e, Error::DuplicateCacheRule { ref existing, .. } if existing == "library/* -> docker.io/library/*"),
        "{e}"
    );
    assert_eq!(rules.len(), 2);
}

#[test]
fn at_most_a_thousand_rules() {
    assert_eq!(MAX_CACHE_RULES, 1000);
    let mut rules = CacheRules::new();
    for i in 0..MAX_CACHE_RULES {
        rules
            .add(CacheRule::new(&format!("team{i}/*"), &format!("docker.io/team{i}/*")).unwrap())
            .unwrap();
    }
    assert_eq!(rules.len(), 1000);
    let e = rules
        .add(CacheRule::new("one-more", "docker.io/library/one-more").unwrap())
        .unwrap_err();
    assert!(
        matches!(e, Error::TooManyCacheRules { limit: 1000, .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "cannot add a cache rule for one-more: at most 1000 cache rules are allowed"
    );
    // Each still resolves to its own upstream; removing one makes room again.
    assert_eq!(
        rules.resolve("team999/app").unwrap().upstream().to_string(),
        "docker.io/team999/app"
    );
    assert!(rules.remove("team5/*").is_some());
    rules
        .add(CacheRule::new("one-more", "docker.io/library/one-more").unwrap())
        .unwrap();
    assert_eq!(rules.len(), 1000);
}

#[test]
fn strict_overlap_refuses_overlapping_wildcards_at_creation() {
    let mut rules = CacheRules::new();
    rules.set_strict_overlap(true).unwrap();
    rules
        .add(CacheRule::new("library/*", "docker.io/library/*").unwrap())
        .unwrap();
    // A static rule inside a wildcard is allowed (it wins).
    rules
        .add(CacheRule::new("library/nginx", "docker.io/library/nginx").unwrap())
        .unwrap();
    // Disjoint wildcards are allowed, also where the text is a prefix but not a component.
    rules
        .add(CacheRule::new("lib/*", "quay.io/lib/*").unwrap())
        .unwrap();
    rules
        .add(CacheRule::new("libraryx/*", "quay.io/x/*").unwrap())
        .unwrap();
    for (target, upstream) in [("library/team/*", "quay.io/team/*"), ("*", "ghcr.io/*")] {
        let e = rules
            .add(CacheRule::new(target, upstream).unwrap())
            .unwrap_err();
        assert!(matches!(e, Error::OverlappingCacheRule { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("overlaps library/* -> docker.io/library/*"),
            "{e}"
        );
    }
    // Without the option they are allowed and ranked by specificity.
    let mut loose = CacheRules::new();
    loose
        .add(CacheRule::new("library/*", "docker.io/library/*").unwrap())
        .unwrap();
    loose
        .add(CacheRule::new("library/team/*", "quay.io/team/*").unwrap())
        .unwrap();
    // Turning the option on with overlaps present is refused, naming both.
    let e = loose.set_strict_overlap(true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the cache rule library/team/* -> quay.io/team/* overlaps library/* -> docker.io/library/*, and overlapping wildcards are refused (strict_overlap)"
    );
    assert!(!loose.strict_overlap());
}

fn hub_set() -> CredentialSet {
    CredentialSet::new(
        "hub",
        Username::Env("HUB_USER".into()),
        SecretSource::Env("HUB_TOKEN".into()),
    )
    .unwrap()
}

#[test]
fn credential_sets_are_checked_and_guard_their_rules() {
    let mut stores = StoreRegistry::new();
    let rule = CacheRule::new("library/*", "docker.io/library/*")
        .unwrap()
        .with_credential_set("hub");
    let e = stores.add_cache_rule(rule.clone()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the cache rule library/* -> docker.io/library/* (credential set hub) names the credential set hub, which is not defined"
    );
    stores.add_credential_set(hub_set());
    stores.add_cache_rule(rule).unwrap();
    let e = stores.remove_credential_set("hub").unwrap_err();
    assert!(matches!(e, Error::CredentialSetInUse { .. }), "{e:?}");
    assert!(
        e.to_string().contains("library/* -> docker.io/library/*"),
        "{e}"
    );
    assert!(stores.remove_cache_rule("library/*").is_some());
    assert_eq!(
        stores.remove_credential_set("hub").unwrap(),
        Some(hub_set())
    );
    assert_eq!(stores.remove_credential_set("hub").unwrap(), None);

    for (result, expected) in [
        (
            CredentialSet::new(
                "bad name",
                Username::Literal("u".into()),
                SecretSource::Env("X".into()),
            ),
            "credential-set name",
        ),
        (
            CredentialSet::new(
                "",
                Username::Literal("u".into()),
                SecretSource::Env("X".into()),
            ),
            "credential-set name",
        ),
        (
            CredentialSet::new(
                "a",
                Username::Literal(String::new()),
                SecretSource::Env("X".into()),
            ),
            "user name is empty",
        ),
        (
            CredentialSet::new(
                "a",
                Username::Env("1X".into()),
                SecretSource::Env("X".into()),
            ),
            "not an environment variable name",
        ),
        (
            CredentialSet::new(
                "a",
                Username::Literal("u".into()),
                SecretSource::Env("X-Y".into()),
            ),
            "not an environment variable name",
        ),
        (
            CredentialSet::new(
                "a",
                Username::Literal("u".into()),
                SecretSource::File("".into()),
            ),
            "path is empty",
        ),
        (
            CredentialSet::new(
                "a",
                Username::Literal("u".into()),
                SecretSource::Helper("x".into()),
            ),
            "answers the user name too",
        ),
        (
            CredentialSet::helper("a", "../evil"),
            "credential helper name",
        ),
    ] {
        let e = result.unwrap_err();
        assert!(e.to_string().contains(expected), "{e}");
    }
    assert_eq!(
        CredentialSet::helper("gh", "pass").unwrap().to_string(),
        "gh: from docker-credential-pass"
    );
    assert_eq!(
        hub_set().to_string(),
        "hub: username from $HUB_USER, password from $HUB_TOKEN"
    );
}

const CACHE_FILE: &str = r#"
[[store]]
registry = "cache.example:5000"
plain_http = true

[cache]
registry = "cache.example:5000"

[[cache.rules]]
target = "library/*"
upstream = "docker.io/library/*"
credential_set = "hub"

[[cache.rules]]
target = "library/nginx"
upstream = "ghcr.io/nginx/nginx"

[[cache.rules]]
target = "*"
upstream = "quay.io/*"
credential_set = "quay"

[cache.credential_sets.hub]
username = "me"
password_env = "HUB_TOKEN"

[cache.credential_sets.quay]
username_env = "QUAY_USER"
password_file = "/run/secrets/quay"

[cache.credential_sets.helper]
helper = "pass"
"#;

#[test]
fn the_cache_section_loads_and_round_trips() {
    let stores = StoreRegistry::from_toml_str(CACHE_FILE, None).unwrap();
    let cache = stores.cache_rules();
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.registry().unwrap().as_str(), "cache.example:5000");
    assert!(!cache.strict_overlap());
    assert_eq!(cache.credential_sets().len(), 3);
    assert_eq!(
        cache.credential_set("quay").unwrap().secret(),
        &SecretSource::File("/run/secrets/quay".into())
    );
    assert_eq!(
        cache
            .resolve("library/nginx")
            .unwrap()
            .upstream()
            .to_string(),
        "ghcr.io/nginx/nginx"
    );
    let text = stores.to_toml_string().unwrap();
    assert!(
        text.contains("[[cache.rules]]") && text.contains("[cache.credential_sets.hub]"),
        "{text}"
    );
    let again = StoreRegistry::from_toml_str(&text, None).unwrap();
    assert_eq!(again, stores);
    // Rule order is kept (it breaks ties).
    let targets: Vec<String> = again
        .cache_rules()
        .rules()
        .iter()
        .map(CacheRule::target)
        .collect();
    assert_eq!(targets, ["library/*", "library/nginx", "*"]);

    // Saved through a file too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stores.toml");
    stores.save(&path).unwrap();
    assert_eq!(StoreRegistry::load(&path).unwrap(), stores);

    // Without rules, no `[cache]` section is written.
    let plain = StoreRegistry::new().to_toml_string().unwrap();
    assert!(!plain.contains("cache"), "{plain}");
}

#[test]
fn a_bad_cache_section_names_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[cache]\nstrict_overlap = 1\n",
            "<stores>:2:18: key `strict_overlap`: invalid type",
        ),
        (
            "[cache]\nstrictoverlap = true\n",
            "<stores>:2:1: key `strictoverlap`: unknown field",
        ),
        (
            "[[cache.rules]]\ntarget = \"lib*\"\nupstream = \"docker.io/*\"\n",
            "<stores>:2:10: key `target`: invalid cache rule lib* -> docker.io/*: target: a wildcard",
        ),
        (
            "[[cache.rules]]\ntarget = \"lib/*\"\nupstream = \"docker.io/lib\"\n",
            "<stores>:3:12: key `upstream`: invalid cache rule lib/* -> docker.io/lib: upstream: a wildcard target",
        ),
        (
            "[[cache.rules]]\ntarget = \"a\"\nupstream = \"nginx\"\n",
            "<stores>:3:12: key `upstream`: invalid cache rule a -> nginx: upstream: it names no repository",
        ),
        (
            "[[cache.rules]]\ntarget = \"a\"\n",
            "missing field `upstream`",
        ),
        (
            "[[cache.rules]]\ntarget = \"a\"\nupstream = \"docker.io/a\"\ncredential_set = \"nope\"\n",
            "<stores>:4:18: key `credential_set`: the cache rule a -> docker.io/a (credential set nope) names the credential set nope, which is not defined",
        ),
        (
            "[[cache.rules]]\ntarget = \"a\"\nupstream = \"docker.io/a\"\n\n[[cache.rules]]\ntarget = \"a\"\nupstream = \"quay.io/a\"\n",
            "<stores>:6:10: key `target`: a cache rule for the target a exists already: a -> docker.io/a",
        ),
        (
            "[cache]\nstrict_overlap = true\n[[cache.rules]]\ntarget = \"a/*\"\nupstream = \"docker.io/a/*\"\n[[cache.rules]]\ntarget = \"*\"\nupstream = \"quay.io/*\"\n",
            "<stores>:7:10: key `target`: the cache rule * -> quay.io/* overlaps a/* -> docker.io/a/*",
        ),
        (
            "[cache.credential_sets.hub]\nusername = \"me\"\n",
            "<stores>:2:12: key `username`: credential set hub: give exactly one of `password_env`, `password_file`, `helper`",
        ),
        (
            "[cache.credential_sets.hub]\nusername = \"me\"\npassword_env = \"A\"\nhelper = \"pass\"\n",
            "credential set hub: give exactly one of",
        ),
        (
            "[cache.credential_sets.hub]\nusername = \"me\"\nusername_env = \"U\"\npassword_env = \"A\"\n",
            "give `username` or `username_env`, not both",
        ),
        (
            "[cache.credential_sets.hub]\npassword_env = \"A-B\"\nusername = \"me\"\n",
            "<stores>:2:16: key `password_env`: invalid credential set \"hub\": \"A-B\" is not an environment variable name",
        ),
        (
            "[cache.credential_sets.hub]\npassword_env = \"A\"\n",
            "needs `username` or `username_env`",
        ),
        (
            "[cache.credential_sets.\"bad name\"]\nhelper = \"pass\"\n",
            "credential-set name",
        ),
        (
            "[cache.credential_sets.hub]\nhelper = \"pass\"\npassword = \"hunter2\"\n",
            "<stores>:3:1: key `password`: unknown field `password`",
        ),
        (
            "[cache]\nregistry = \"http://x.example\"\n",
            "<stores>:2:12: key `registry`",
        ),
    ];
    assert!(cases.len() >= 15);
    for (text, expected) in cases {
        let e = StoreRegistry::from_toml_str(text, None).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.contains(expected),
            "{text:?}\n got: {message}\nwant: {expected}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}

proptest! {
    /// A static rule for a name wins over any wildcard covering it, in any order.
    #[test]
    fn static_always_beats_wildcards(
        parts in proptest::collection::vec("[a-z0-9]{1,8}", 1..5),
        static_first in any::<bool>(),
    ) {
        let name = parts.join("/");
        let static_rule = CacheRule::new(&name, "static.example/the/one").unwrap();
        let mut rules = CacheRules::new();
        if static_first {
            rules.add(static_rule.clone()).unwrap();
        }
        rules.add(CacheRule::new("*", "all.example/*").unwrap()).unwrap();
        for i in 1..parts.len() {
            let prefix = parts[..i].join("/");
            rules.add(CacheRule::new(&format!("{prefix}/*"), &format!("w{i}.example/*")).unwrap()).unwrap();
        }
        if !static_first {
            rules.add(static_rule).unwrap();
        }
        let upstream = rules.resolve(&name).unwrap().upstream().to_string();
        prop_assert_eq!(upstream, "static.example/the/one");
    }

    /// Among wildcards the deepest one covering the name wins, and substitutes the rest.
    #[test]
    fn the_longest_wildcard_wins_and_substitutes(
        parts in proptest::collection::vec("[a-z0-9]{1,8}", 2..6),
        reverse in any::<bool>(),
    ) {
        let name = parts.join("/");
        let mut order: Vec<usize> = (0..parts.len()).collect();
        if reverse {
            order.reverse();
        }
        let mut rules = CacheRules::new();
        for i in order {
            let (target, upstream) = if i == 0 {
                ("*".to_owned(), "w0.example/*".to_owned())
            } else {
                (format!("{}/*", parts[..i].join("/")), format!("w{i}.example/up/*"))
            };
            rules.add(CacheRule::new(&target, &upstream).unwrap()).unwrap();
        }
        let deepest = parts.len() - 1;
        let expected = format!("w{deepest}.example/up/{}", parts[deepest]);
        prop_assert_eq!(rules.resolve(&name).unwrap().upstream().to_string(), expected);
    }

    /// Whatever rules are added (valid or not), the file round-trips.
    #[test]
    fn rules_round_trip_through_toml(
        entries in proptest::collection::vec(("[a-z]{1,4}(/[a-z]{1,4}){0,2}", any::<bool>(), any::<bool>()), 0..20),
    ) {
        let mut stores = StoreRegistry::new();
        stores.add_credential_set(hub_set());
        for (name, wildcard, with_set) in entries {
            let (target, upstream) = if wildcard {
                (format!("{name}/*"), format!("docker.io/{name}/*"))
            } else {
                (name.clone(), format!("docker.io/{name}"))
            };
            let mut rule = CacheRule::new(&target, &upstream).unwrap();
            if with_set {
                rule = rule.with_credential_set("hub");
            }
            let _ = stores.add_cache_rule(rule); // duplicates refused, the rest kept
        }
        let text = stores.to_toml_string().unwrap();
        prop_assert_eq!(StoreRegistry::from_toml_str(&text, None).unwrap(), stores);
    }
}

proptest! {
    /// Any text as a rule or a repository: an answer or a clear error, never a panic; a
    /// rule that parses displays back to the same target and upstream.
    #[test]
    fn arbitrary_text_never_panics(target in "\\PC{0,40}", upstream in "\\PC{0,60}", repo in "\\PC{0,40}") {
        let rules = rules(&[ALL_GHCR, HUB_LIB, HUB_NGINX]);
        let _ = rules.resolve(&repo);
        if let Ok(rule) = CacheRule::new(&target, &upstream) {
            let again = CacheRule::new(&rule.target(), &rule.upstream()).unwrap();
            prop_assert_eq!(again, rule);
        }
    }

    /// Wildcard targets over grammar-shaped names: what resolves has a valid upstream name
    /// that ends with the part the wildcard matched.
    #[test]
    fn substitution_keeps_the_suffix(repo in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,4}") {
        let rules = rules(&[("*", "docker.io/mirror/*")]);
        let found = rules.resolve(&repo).unwrap();
        prop_assert_eq!(found.repository().as_str(), format!("mirror/{repo}"));
    }
}
