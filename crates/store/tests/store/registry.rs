use std::path::Path;

use orca_store::{CredentialSource, Error, Store, StoreRegistry};

const SAMPLE: &str = r#"
[[store]]
registry = "myacr.azurecr.io"
credentials = { kind = "azure-workload-identity" }
limits = { default = "100MiB", anonymization = "1MiB", cdm-template = "50MiB" }

[[store]]
registry = "127.0.0.1:5000"
plain_http = true
ca_file = "/etc/orca/ca.pem"
credentials = { kind = "basic-env", username = "svc", password_env = "REGISTRY_PASSWORD" }
limits = { anonymization = 1048576 }

[[store]]
registry = "vars.example"
credentials = { kind = "basic-env-vars", username_env = "REGISTRY_USER", password_env = "REGISTRY_PASSWORD" }
"#;

#[test]
fn a_sample_file_loads_and_round_trips() {
    let stores = StoreRegistry::from_toml_str(SAMPLE, None).unwrap();
    assert_eq!(stores.len(), 3);
    let acr = stores.get("MyACR.azurecr.io").unwrap();
    assert_eq!(acr.limits().limit_for("anonymization"), Some(1 << 20));
    assert_eq!(acr.limits().limit_for("cdm-template"), Some(50 << 20));
    assert_eq!(acr.limits().limit_for("other"), Some(100 << 20));
    assert_eq!(acr.credentials().kind(), "azure-workload-identity");
    let local = stores.get("127.0.0.1:5000").unwrap();
    assert!(local.tls().plain_http);
    assert_eq!(local.limits().limit_for("other"), None);
    assert_eq!(
        local.credentials(),
        &CredentialSource::BasicEnv {
            username: "svc".into(),
            password_env: "REGISTRY_PASSWORD".into()
        }
    );
    // Both names recorded, no value.
    let vars = stores.get("vars.example").unwrap();
    assert_eq!(vars.credentials().kind(), "basic-env-vars");
    assert_eq!(
        vars.credentials(),
        &CredentialSource::BasicEnvVars {
            username_env: "REGISTRY_USER".into(),
            password_env: "REGISTRY_PASSWORD".into()
        }
    );
    let text = stores.to_toml_string().unwrap();
    assert!(text.contains("username_env = \"REGISTRY_USER\""), "{text}");
    assert_eq!(StoreRegistry::from_toml_str(&text, None).unwrap(), stores);
}

#[test]
fn save_and_load_through_a_file_never_write_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stores.toml");
    let stores = StoreRegistry::new()
        .with(
            Store::new("reg.example:443")
                .unwrap()
                .with_credentials(CredentialSource::BasicFile {
                    username: "u".into(),
                    password_file: "/run/secrets/reg".into(),
                })
                .with_default_limit(3 << 20),
        )
        .with(Store::new("localhost:5000").unwrap().with_plain_http(true));
    stores.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("/run/secrets/reg"), "{text}");
    assert!(text.contains("3MiB"), "{text}");
    assert_eq!(StoreRegistry::load(&path).unwrap(), stores);
    // Only the file itself: no temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

fn parse_error(text: &str) -> (usize, Option<String>, String) {
    match StoreRegistry::from_toml_str(text, Some(Path::new("stores.toml"))) {
        Err(e @ Error::Parse { .. }) => {
            let message = e.to_string();
            let Error::Parse { line, key, .. } = e else {
                unreachable!()
            };
            (line, key, message)
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn bad_files_are_refused_naming_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        // An unknown key.
        (
            "[[store]]\nregistry = \"a.example\"\nplian_http = true\n",
            3,
            "plian_http",
        ),
        // A bad size.
        (
            "[[store]]\nregistry = \"a.example\"\nlimits = { anonymization = \"1 XB\" }\n",
            3,
            "limits.anonymization",
        ),
        // Not a registry.
        (
            "[[store]]\n\nregistry = \"https://a.example/v2\"\n",
            3,
            "registry",
        ),
        // An unknown credential kind.
        (
            "[[store]]\nregistry = \"a.example\"\ncredentials = { kind = \"password\" }\n",
            3,
            "credentials.kind",
        ),
        // A plain_http that is not a boolean.
        (
            "[[store]]\nregistry = \"a.example\"\nplain_http = \"yes\"\n",
            3,
            "plain_http",
        ),
        // Listed twice.
        (
            "[[store]]\nregistry = \"a.example\"\n[[store]]\nregistry = \"A.example\"\n",
            4,
            "registry",
        ),
    ];
    assert_eq!(cases.len(), 6);
    for (text, line, key) in cases {
        let (got_line, got_key, message) = parse_error(text);
        assert_eq!(got_line, *line, "{text}: {message}");
        assert_eq!(got_key.as_deref(), Some(*key), "{text}: {message}");
        assert!(
            message.starts_with(&format!("stores.toml:{line}:")),
            "{message}"
        );
        assert!(message.contains(key), "{message}");
    }
}

#[test]
fn references_resolve_only_to_registered_stores() {
    let stores = StoreRegistry::from_toml_str(SAMPLE, None).unwrap();
    let (reference, store) = stores
        .resolve("myacr.azurecr.io/configs/anonymization:default")
        .unwrap();
    assert_eq!(store.registry(), "myacr.azurecr.io");
    assert_eq!(reference.tag(), Some("default"));
    for (input, registry) in [
        ("configs/app:1", None),
        ("app", None),
        ("MyTeam/app", Some("MyTeam")),
        ("docker.io/library/nginx:latest", Some("docker.io")),
        ("127.0.0.1:5001/app:1", Some("127.0.0.1:5001")),
    ] {
        match stores.resolve(input) {
            Err(Error::NotRegistered {
                reference,
                registry: got,
            }) => {
                assert_eq!(reference, input);
                assert_eq!(got.as_deref(), registry, "{input}");
            }
            other => panic!("{input}: {other:?}"),
        }
    }
    assert!(matches!(
        stores.resolve("myacr.azurecr.io/Bad:tag"),
        Err(Error::InvalidReference(_))
    ));
}

#[test]
fn stores_are_added_listed_and_removed() {
    let mut stores = StoreRegistry::new();
    assert!(stores.is_empty());
    assert!(stores.add(Store::new("a.example").unwrap()).is_none());
    assert!(stores.add(Store::new("A.EXAMPLE").unwrap()).is_some());
    stores.add(Store::new("b.example:5000").unwrap());
    let names: Vec<&str> = stores.iter().map(|s| s.registry().as_str()).collect();
    assert_eq!(names, ["a.example", "b.example:5000"]);
    assert!(stores.remove("a.Example").is_some());
    assert_eq!(stores.len(), 1);
    for bad in [
        "",
        "https://x.example",
        "x.example/path",
        "bad host",
        "-x.example",
    ] {
        assert!(
            matches!(Store::new(bad), Err(Error::InvalidRegistry { .. })),
            "{bad}"
        );
    }
}
