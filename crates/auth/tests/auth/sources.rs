//! The pure credential sources, and sharing one authenticator across threads.

use orca_auth::{
    Action, Anonymous, AuthOptions, Authenticator, ChainCredentials, Credential, CredentialSource,
    Scope, StaticCredentials,
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
