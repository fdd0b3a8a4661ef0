//! `Registry` and `Repository`: one value per registry however it is spelled, refusals that
//! say why, and round-trips.

use std::collections::HashMap;

use orca_reference::{ErrorKind, Part, Reference, Registry, Repository};
use proptest::prelude::*;

use crate::props::normalised_registry;

/// (spelling, display name, API host, host, port)
type Spelling = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<u16>,
);

fn spellings() -> [Spelling; 17] {
    [
        (
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            None,
        ),
        (
            "MyACR.AzureCR.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            None,
        ),
        (
            "myacr.azurecr.io:443",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            None,
        ),
        (
            "myacr.azurecr.io:00443",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            "myacr.azurecr.io",
            None,
        ),
        ("a.io:5000", "a.io:5000", "a.io:5000", "a.io", Some(5000)),
        ("a.io:05000", "a.io:5000", "a.io:5000", "a.io", Some(5000)),
        ("a.io:80", "a.io:80", "a.io:80", "a.io", Some(80)),
        (
            "docker.io",
            "docker.io",
            "registry-1.docker.io",
            "docker.io",
            None,
        ),
        (
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "docker.io",
            None,
        ),
        (
            "registry-1.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "docker.io",
            None,
        ),
        (
            "Registry-1.Docker.IO:443",
            "docker.io",
            "registry-1.docker.io",
            "docker.io",
            None,
        ),
        (
            "docker.io:5000",
            "docker.io:5000",
            "docker.io:5000",
            "docker.io",
            Some(5000),
        ),
        ("localhost", "localhost", "localhost", "localhost", None),
        ("LOCALHOST:443", "localhost", "localhost", "localhost", None),
        (
            "[FC00:0:0::1]:5000",
            "[fc00::1]:5000",
            "[fc00::1]:5000",
            "fc00::1",
            Some(5000),
        ),
        ("[::1]:443", "[::1]", "[::1]", "::1", None),
        // A lone label keeps its port: "myhost" alone would not read as a registry.
        (
            "MyHost:443",
            "myhost:443",
            "myhost:443",
            "myhost",
            Some(443),
        ),
    ]
}

#[test]
fn spellings_of_one_registry_are_one_value() {
    let cases = spellings();
    let mut failures = Vec::new();
    for (spelling, name, api, host, port) in cases {
        match Registry::parse(spelling) {
            Ok(r) => {
                let got = (r.as_str(), r.api_host(), r.host(), r.port());
                if got != (name, api, host, port) {
                    failures.push(format!("{spelling:?}: got {got:?}"));
                }
                assert_eq!(r.to_string(), name);
                assert_eq!(
                    Registry::parse(name).as_ref(),
                    Ok(&r),
                    "{name} is a fixed point"
                );
                assert_eq!(r.is_docker_hub(), name == "docker.io");
                // The same registry inside a reference.
                let reference = Reference::parse(&format!("{spelling}/team/app"))
                    .expect("a registry makes a reference");
                assert_eq!(reference.registry(), &r);
                assert_eq!(reference.to_string(), format!("{name}/team/app"));
            }
            Err(e) => failures.push(format!("{spelling:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_map_keyed_by_registry_finds_every_spelling() {
    let mut settings = HashMap::new();
    settings.insert(
        Registry::parse("MyACR.azurecr.io:443").expect("valid"),
        "acr",
    );
    settings.insert(Registry::docker_hub(), "hub");
    for spelling in ["myacr.azurecr.io", "MYACR.AZURECR.IO"] {
        let key = Registry::parse(spelling).expect("valid");
        assert_eq!(settings.get(&key), Some(&"acr"));
    }
    assert_eq!(
        settings.get("myacr.azurecr.io"),
        Some(&"acr"),
        "Borrow<str>"
    );
    let hub = Reference::parse_normalized("ubuntu").expect("valid");
    assert_eq!(settings.get(hub.registry()), Some(&"hub"));
}

#[test]
fn bad_registries_are_refused_with_the_reason() {
    let cases: [(&str, ErrorKind, usize); 12] = [
        ("", ErrorKind::Empty, 0),
        ("http://localhost:5000", ErrorKind::SchemeNotAllowed, 0),
        ("https://myacr.azurecr.io", ErrorKind::SchemeNotAllowed, 0),
        ("oci+https://a.io", ErrorKind::SchemeNotAllowed, 0),
        ("myhost", ErrorKind::AmbiguousRegistry, 0),
        ("MyHost", ErrorKind::AmbiguousRegistry, 0),
        ("a.io/", ErrorKind::InvalidCharacter('/'), 4),
        ("a.io:0", ErrorKind::InvalidPort, 5),
        ("a.io:65536", ErrorKind::InvalidPort, 5),
        ("a.io:", ErrorKind::InvalidPort, 5),
        ("[::1", ErrorKind::InvalidIpv6, 0),
        ("-a.io", ErrorKind::InvalidHostLabel, 0),
    ];
    for (input, kind, position) in cases {
        let e = Registry::parse(input).expect_err(input);
        assert_eq!(
            (e.input(), e.part(), e.kind(), e.position()),
            (input, Part::Registry, kind, position),
            "{input:?}"
        );
    }
    let e = Registry::parse("http://localhost:5000").expect_err("scheme");
    assert!(e.to_string().contains("\"localhost:5000\""), "{e}");
    let e = Reference::parse("http://localhost:5000/app:1").expect_err("scheme");
    assert_eq!(e.kind(), ErrorKind::SchemeNotAllowed);
    let e = Reference::new("http://localhost:5000", "app").expect_err("scheme");
    assert_eq!(e.kind(), ErrorKind::SchemeNotAllowed);
}

#[test]
fn repositories_are_validated_and_kept_as_written() {
    let r = Repository::parse("team/app-x/y__z").expect("valid");
    assert_eq!(r.as_str(), "team/app-x/y__z");
    assert_eq!(r.components().count(), 3);
    let cases: [(&str, ErrorKind, usize); 4] = [
        ("", ErrorKind::EmptyComponent, 0),
        ("Team/app", ErrorKind::Uppercase('T'), 0),
        ("team//app", ErrorKind::EmptyComponent, 5),
        ("team/app:1", ErrorKind::InvalidCharacter(':'), 8),
    ];
    for (input, kind, position) in cases {
        let e = Repository::parse(input).expect_err(input);
        assert_eq!(
            (e.input(), e.part(), e.kind(), e.position()),
            (input, Part::Repository, kind, position)
        );
    }
    let e = Repository::parse(&"a".repeat(256)).expect_err("too long");
    assert_eq!(e.kind(), ErrorKind::RepositoryTooLong { length: 256 });
    let built = Reference::from_parts(Registry::docker_hub(), r.clone());
    assert_eq!(built.to_string(), "docker.io/team/app-x/y__z");
    assert_eq!(built.repository(), &r);
}

#[test]
fn serde_reads_and_writes_the_normalised_string() {
    let r: Registry = serde_json::from_str("\"Index.Docker.IO\"").expect("valid");
    assert_eq!(
        serde_json::to_string(&r).expect("serialises"),
        "\"docker.io\""
    );
    let e = serde_json::from_str::<Registry>("\"http://a.io\"").expect_err("scheme");
    assert!(e.to_string().contains("scheme"), "{e}");
    let r: Repository = serde_json::from_str("\"team/app\"").expect("valid");
    assert_eq!(
        serde_json::to_string(&r).expect("serialises"),
        "\"team/app\""
    );
    assert!(serde_json::from_str::<Repository>("\"Team\"").is_err());
}

fn spelled_registry() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
    let host = prop_oneof![
        proptest::collection::vec(label, 1..4).prop_map(|labels| labels.join(".")),
        Just("Docker.io".to_owned()),
        Just("index.docker.io".to_owned()),
        Just("registry-1.Docker.io".to_owned()),
        Just("LocalHost".to_owned()),
        (proptest::collection::vec(prop_oneof![Just(0u16), any::<u16>()], 8)).prop_map(|groups| {
            let hex: Vec<String> = groups.iter().map(|g| format!("{g:X}")).collect();
            format!("[{}]", hex.join(":"))
        }),
    ];
    let port = prop_oneof![
        Just(None),
        Just(Some("443".to_owned())),
        Just(Some("0443".to_owned())),
        (1u16..=65535).prop_map(|p| Some(p.to_string())),
    ];
    (host, port).prop_map(|(host, port)| match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Parsing agrees with an independent model of the normalisation; the normal form is a
    /// fixed point; Display round-trips.
    #[test]
    fn registries_normalise_as_modelled_and_round_trip(spelling in spelled_registry()) {
        let want = normalised_registry(&spelling);
        match Registry::parse(&spelling) {
            Ok(r) => {
                prop_assert_eq!(Some(r.as_str()), want.as_deref());
                let displayed = format!("{r}");
                prop_assert_eq!(Registry::parse(&displayed), Ok(r.clone()));
                prop_assert_eq!(r.port().is_some(), r.as_str().ends_with(&format!(":{}", r.port().unwrap_or(0))));
                let reference = Reference::parse(&format!("{spelling}/x")).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(reference.registry(), &r);
            }
            Err(e) => {
                prop_assert_eq!(want, None, "{}", e);
                prop_assert_eq!(e.kind(), ErrorKind::AmbiguousRegistry);
            }
        }
    }

    #[test]
    fn arbitrary_registry_strings_never_panic(input in "[a-zA-Z0-9:/.\\-\\[\\]]{0,40}") {
        if let Ok(r) = Registry::parse(&input) {
            prop_assert_eq!(Registry::parse(r.as_str()), Ok(r.clone()));
        }
    }
}
