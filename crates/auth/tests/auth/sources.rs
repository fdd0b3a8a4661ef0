//! Credential sources other than docker config, and sharing one authenticator across threads.

use std::collections::HashMap;
use std::sync::Arc;

use orca_auth::{
    Action, Anonymous, AuthOptions, Authenticator, ChainCredentials, Credential, CredentialSource,
    EnvironmentCredentials, Scope, StaticCredentials,
};

use crate::{drive, now, reply, unauthorized, uri};

fn describe(credential: &Credential) -> String {
    match credential {
        Credential::Anonymous => "anonymous".to_owned(),
        Credential::Basic { username, password } => {
            format!("basic {username}:{}", password.expose())
        }
        Credential::IdentityToken { username, token } => {
            format!("identity {username:?} {}", token.expose())
        }
        Credential::RegistryToken(token) => format!("registry-token {}", token.expose()),
        other => format!("{other:?}"),
    }
}

#[test]
fn static_credentials() {
    let source = StaticCredentials::new()
        .with("Docker.io", Credential::basic("hub", "hub-pw"))
        .with("reg.example:5000", Credential::RegistryToken("t".into()));
    let cases = [
        ("docker.io", "basic hub:hub-pw"),
        ("registry-1.docker.io", "basic hub:hub-pw"),
        ("reg.example:5000", "registry-token t"),
        ("reg.example", "anonymous"),
    ];
    assert_eq!(cases.len(), 4);
    for (registry, expected) in cases {
        assert_eq!(
            describe(&source.credential(registry).expect("lookup")),
            expected,
            "{registry}"
        );
    }
    let with_fallback = source.with_fallback(Credential::basic("any", "any-pw"));
    assert_eq!(
        describe(&with_fallback.credential("other").expect("lookup")),
        "basic any:any-pw"
    );
}

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

#[test]
fn chain_takes_the_first_non_anonymous() {
    let chain = ChainCredentials::new()
        .then(Anonymous)
        .then(StaticCredentials::new().with("a.example", Credential::basic("first", "1")))
        .then(StaticCredentials::new().with_fallback(Credential::basic("second", "2")));
    assert_eq!(
        describe(&chain.credential("a.example").expect("lookup")),
        "basic first:1"
    );
    assert_eq!(
        describe(&chain.credential("b.example").expect("lookup")),
        "basic second:2"
    );
    assert!(
        ChainCredentials::new()
            .credential("a")
            .expect("lookup")
            .is_anonymous()
    );
}

#[test]
fn one_cache_shared_across_threads() {
    let auth = Authenticator::new(Anonymous, AuthOptions::default());
    let challenge = r#"Bearer realm="https://reg.example/token",service="reg.example""#;
    std::thread::scope(|scope| {
        for i in 0..4 {
            let auth = auth.clone();
            scope.spawn(move || {
                let repo = format!("repo{i}");
                let scopes = [Scope::repository(&repo, &[Action::Pull])];
                let outcome = drive(
                    auth.challenge(
                        &uri("https://reg.example/v2/"),
                        &unauthorized(&[challenge]),
                        &scopes,
                        now(),
                    )
                    .expect("negotiation"),
                    vec![reply(200, &format!(r#"{{"token":"token-{i}"}}"#))],
                );
                outcome.result.expect("token");
            });
        }
    });
    for i in 0..4 {
        let scopes = [Scope::repository(&format!("repo{i}"), &[Action::Pull])];
        let header = auth
            .authorization("reg.example", &scopes, now())
            .expect("cached by another thread");
        assert_eq!(header.header_value(), format!("Bearer token-{i}").as_str());
    }
}
