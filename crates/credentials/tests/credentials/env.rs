//! Credentials from environment variables.

use std::collections::HashMap;
use std::sync::Arc;

use orca_auth::CredentialSource;
use orca_credentials::EnvironmentCredentials;

use crate::describe;

type Vars = Arc<HashMap<String, String>>;

#[test]
fn environment_credentials() {
    let env = |pairs: &[(&str, &str)]| -> Vars {
        Arc::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    };
    let cases: [(Vars, &str, &str); 6] = [
        (
            env(&[("ORCA_USERNAME", "u"), ("ORCA_PASSWORD", "p")]),
            "any.example",
            "basic u:p",
        ),
        (
            env(&[
                ("ORCA_USERNAME", "00000000-0000-0000-0000-000000000000"),
                ("ORCA_PASSWORD", "r"),
            ]),
            "x.azurecr.io",
            "identity Some(\"00000000-0000-0000-0000-000000000000\") r",
        ),
        (
            env(&[("ORCA_IDENTITY_TOKEN", "it")]),
            "a",
            "identity None it",
        ),
        (
            env(&[("ORCA_REGISTRY_TOKEN", "rt")]),
            "a",
            "registry-token rt",
        ),
        (
            env(&[
                ("ORCA_REGISTRY", "only.example"),
                ("ORCA_REGISTRY_TOKEN", "rt"),
            ]),
            "other.example",
            "anonymous",
        ),
        (env(&[("ORCA_USERNAME", "u")]), "a", "anonymous"),
    ];
    assert_eq!(cases.len(), 6);
    for (vars, registry, expected) in cases {
        let source = EnvironmentCredentials::new(vars);
        assert_eq!(
            describe(&source.credential(registry).expect("lookup")),
            expected
        );
    }
    let prefixed = EnvironmentCredentials::with_prefix(env(&[("MY_REGISTRY_TOKEN", "m")]), "MY");
    assert_eq!(
        describe(&prefixed.credential("a").expect("lookup")),
        "registry-token m"
    );
}
