//! Every negotiation flow, with snapshots of the requests the negotiator builds.

use std::sync::Arc;
use std::time::Duration;

use orca_auth::{
    Action, AuthOptions, AuthScheme, Authenticator, Credential, CredentialSource, Error,
    RealmRejection, Scope, StaticCredentials, Step, is_denied,
};

use crate::{drive, form_value, jwt_with_exp, now, reply, unauthorized, uri};

const DOCKER_HUB: &str = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#;
const ACR: &str =
    r#"Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io""#;

fn pull(repo: &str) -> Scope {
    Scope::repository(repo, &[Action::Pull])
}

fn auth_with(registry: &str, credential: Credential) -> Authenticator {
    Authenticator::new(
        StaticCredentials::new().with(registry, credential),
        AuthOptions::default(),
    )
}

#[test]
fn authenticator_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    fn assert_send<T: Send>() {}
    assert_traits::<Authenticator>();
    assert_send::<orca_auth::Negotiation>();
}

#[test]
fn anonymous_docker_hub_get() {
    let auth = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    let scopes = [pull("library/ubuntu")];
    let request = uri("https://registry-1.docker.io/v2/library/ubuntu/manifests/latest");
    assert!(
        auth.authorization("registry-1.docker.io", &scopes, now())
            .is_none()
    );
    let negotiation = auth
        .challenge(&request, &unauthorized(&[DOCKER_HUB]), &scopes, now())
        .expect("bearer challenge");
    let outcome = drive(
        negotiation,
        vec![reply(
            200,
            r#"{"token":"hub-token","access_token":"hub-token","expires_in":300,"issued_at":"2027-01-15T08:00:00Z"}"#,
        )],
    );
    insta::assert_snapshot!(outcome.transcript);
    let authorization = outcome.result.expect("token");
    assert_eq!(authorization.header_value(), "Bearer hub-token");
    assert_eq!(authorization.scheme(), AuthScheme::Bearer);
    assert!(
        auth.refresh_token("registry-1.docker.io").is_none(),
        "no refresh token was handed out"
    );
    // Cached for the same scope, gone once expired (300 s less the 10 s skew).
    let cached = auth.authorization("registry-1.docker.io", &scopes, now());
    assert_eq!(cached.as_ref(), Some(&authorization));
    assert!(
        auth.authorization(
            "registry-1.docker.io",
            &scopes,
            now() + Duration::from_secs(289)
        )
        .is_some()
    );
    assert!(
        auth.authorization(
            "registry-1.docker.io",
            &scopes,
            now() + Duration::from_secs(291)
        )
        .is_none()
    );
    // A clone shares the cache.
    assert!(
        auth.clone()
            .authorization("registry-1.docker.io", &scopes, now())
            .is_some()
    );
    // Rejecting drops it.
    auth.reject("registry-1.docker.io", &authorization);
    assert!(
        auth.authorization("registry-1.docker.io", &scopes, now())
            .is_none()
    );
}

#[test]
fn basic_credential_get_with_several_scopes() {
    let auth = auth_with("ghcr.io", Credential::basic("octocat", "ghp-password"));
    // A cross-repository mount: pull on the source, push on the target, one token.
    let scopes = Scope::for_mount("octo/source", "octo/target");
    let challenge = r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:octo/target:pull,push""#;
    let negotiation = auth
        .challenge(
            &uri("https://ghcr.io/v2/octo/target/blobs/uploads/?mount=sha256:abc&from=octo/source"),
            &unauthorized(&[challenge]),
            &scopes,
            now(),
        )
        .expect("negotiation");
    let outcome = drive(negotiation, vec![reply(200, r#"{"token":"gh-token"}"#)]);
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        outcome.requests[0].headers()["authorization"],
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "octocat:ghp-password"
            )
        )
    );
    outcome.result.expect("token");
    // The token covers each scope alone too.
    assert!(
        auth.authorization("ghcr.io", &[pull("octo/source")], now())
            .is_some()
    );
    assert!(
        auth.authorization("ghcr.io", &[pull("octo/other")], now())
            .is_none()
    );
    // No expires_in: 60 s.
    assert!(
        auth.authorization("ghcr.io", &scopes, now() + Duration::from_secs(49))
            .is_some()
    );
    assert!(
        auth.authorization("ghcr.io", &scopes, now() + Duration::from_secs(51))
            .is_none()
    );
}

#[test]
fn oauth2_password_grant_falls_back_to_get_on_404() {
    let source =
        StaticCredentials::new().with("reg.example", Credential::basic("alice", "alice-pw"));
    let auth = Authenticator::new(
        source,
        AuthOptions::default()
            .with_oauth2_password_grant(true)
            .with_client_id("orca-tests"),
    );
    let challenge = r#"Bearer realm="https://auth.example/token",service="reg.example""#;
    let negotiation = auth
        .challenge(
            &uri("https://reg.example/v2/team/app/manifests/v1"),
            &unauthorized(&[challenge]),
            &[Scope::repository("team/app", &[Action::Pull, Action::Push])],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![
            reply(404, "404 page not found"),
            reply(200, r#"{"access_token":"from-get","expires_in":120}"#),
        ],
    );
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "password").as_deref(),
        Some("alice-pw")
    );
    assert_eq!(
        form_value(&outcome.requests[0], "scope").as_deref(),
        Some("repository:team/app:pull,push")
    );
    assert_eq!(
        outcome.result.expect("token").header_value(),
        "Bearer from-get"
    );
}

#[test]
fn identity_token_refresh_grant_then_cached_refresh_token() {
    let auth = auth_with(
        "reg.example",
        Credential::IdentityToken {
            username: None,
            token: "identity-refresh".into(),
        },
    );
    let challenge = r#"Bearer realm="https://reg.example/token",service="reg.example""#;
    let request = uri("https://reg.example/v2/a/manifests/latest");
    let negotiation = auth
        .challenge(&request, &unauthorized(&[challenge]), &[pull("a")], now())
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![reply(
            200,
            r#"{"access_token":"t1","refresh_token":"rotated-refresh","expires_in":600}"#,
        )],
    );
    insta::assert_snapshot!("identity_token_first", outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "refresh_token").as_deref(),
        Some("identity-refresh")
    );
    outcome.result.expect("token");

    // Another repository: the refresh token the server sent is used, not the configured one.
    let negotiation = auth
        .challenge(&request, &unauthorized(&[challenge]), &[pull("b")], now())
        .expect("negotiation");
    let outcome = drive(negotiation, vec![reply(200, r#"{"access_token":"t2"}"#)]);
    assert_eq!(
        form_value(&outcome.requests[0], "refresh_token").as_deref(),
        Some("rotated-refresh")
    );
    outcome.result.expect("token");

    // The cached refresh token is refused: forgotten, and the configured one is tried.
    let negotiation = auth
        .challenge(&request, &unauthorized(&[challenge]), &[pull("c")], now())
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![
            reply(401, r#"{"error":"invalid_grant"}"#),
            reply(
                200,
                r#"{"access_token":"t3","refresh_token":"rotated-again"}"#,
            ),
        ],
    );
    insta::assert_snapshot!("identity_token_cached_refresh_refused", outcome.transcript);
    let refreshes: Vec<Option<String>> = outcome
        .requests
        .iter()
        .map(|r| form_value(r, "refresh_token"))
        .collect();
    assert_eq!(
        refreshes,
        [
            Some("rotated-refresh".to_owned()),
            Some("identity-refresh".to_owned())
        ]
    );
    assert_eq!(outcome.result.expect("token").header_value(), "Bearer t3");

    // A server error on the cached refresh token is reported, not papered over.
    let negotiation = auth
        .challenge(&request, &unauthorized(&[challenge]), &[pull("d")], now())
        .expect("negotiation");
    let outcome = drive(negotiation, vec![reply(503, "")]);
    assert_eq!(outcome.requests.len(), 1);
    match outcome.result {
        Err(Error::TokenRejected {
            status, credential, ..
        }) => {
            assert_eq!(status, 503);
            assert_eq!(*credential, orca_auth::CredentialKind::CachedRefreshToken);
        }
        other => panic!("expected TokenRejected, got {other:?}"),
    }
}

#[test]
fn acr_refresh_token_user_and_jwt_lifetime() {
    let auth = auth_with(
        "contoso.azurecr.io",
        Credential::from_username_secret(orca_auth::ACR_REFRESH_TOKEN_USER, "acr-refresh"),
    );
    let scopes = [pull("configs/anonymization")];
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/configs/anonymization/manifests/default"),
            &unauthorized(&[ACR]),
            &scopes,
            now(),
        )
        .expect("negotiation");
    let exp = now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs()
        + 3 * 3600;
    let body = format!(r#"{{"access_token":"{}"}}"#, jwt_with_exp(exp));
    let outcome = drive(negotiation, vec![reply(200, &body)]);
    insta::assert_snapshot!(outcome.transcript);
    outcome.result.expect("token");
    // ACR sends no expires_in: the JWT's exp (3 h) is the lifetime.
    let two_hours = now() + Duration::from_secs(2 * 3600);
    assert!(
        auth.authorization("contoso.azurecr.io", &scopes, two_hours)
            .is_some()
    );
    assert!(
        auth.authorization(
            "contoso.azurecr.io",
            &scopes,
            now() + Duration::from_secs(3 * 3600)
        )
        .is_none()
    );
}

#[test]
fn acr_exchange_of_an_azure_ad_token() {
    let auth = auth_with(
        "contoso.azurecr.io",
        Credential::AzureAccessToken {
            token: "aad-access-token".into(),
            tenant: Some("tenant-1".to_owned()),
        },
    );
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/a/manifests/latest"),
            &unauthorized(&[ACR]),
            &[pull("a")],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![
            reply(200, r#"{"refresh_token":"acr-refresh-from-exchange"}"#),
            reply(200, r#"{"access_token":"acr-access"}"#),
        ],
    );
    insta::assert_snapshot!(outcome.transcript);
    assert_eq!(
        form_value(&outcome.requests[0], "access_token").as_deref(),
        Some("aad-access-token")
    );
    assert_eq!(
        form_value(&outcome.requests[1], "refresh_token").as_deref(),
        Some("acr-refresh-from-exchange")
    );
    outcome.result.expect("token");
    // It is handed out for storing as an identity token (`orca login --azure`).
    assert_eq!(
        auth.refresh_token("contoso.azurecr.io")
            .as_ref()
            .map(orca_auth::Secret::expose),
        Some("acr-refresh-from-exchange")
    );
    assert!(auth.refresh_token("other.azurecr.io").is_none());

    // The exchange's refresh token is kept: the next scope skips the exchange.
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/b/manifests/latest"),
            &unauthorized(&[ACR]),
            &[pull("b")],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![reply(200, r#"{"access_token":"acr-access-b"}"#)],
    );
    assert_eq!(outcome.requests.len(), 1);
    assert_eq!(
        outcome.requests[0].uri(),
        "https://contoso.azurecr.io/oauth2/token"
    );
    outcome.result.expect("token");
}

#[test]
fn acr_exchange_refused_names_what_was_tried() {
    let auth = auth_with(
        "contoso.azurecr.io",
        Credential::AzureAccessToken {
            token: "aad-access-token".into(),
            tenant: None,
        },
    );
    let negotiation = auth
        .challenge(
            &uri("https://contoso.azurecr.io/v2/a/manifests/latest"),
            &unauthorized(&[ACR]),
            &[pull("a")],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(
        negotiation,
        vec![reply(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"aad token invalid"}]}"#,
        )],
    );
    let err = outcome.result.expect_err("refused");
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn basic_challenge_answers_with_basic_and_caches_it() {
    let auth = auth_with("127.0.0.1:5000", Credential::basic("admin", "htpasswd-pw"));
    let scopes = [pull("a")];
    let negotiation = auth
        .challenge(
            &uri("http://127.0.0.1:5000/v2/a/manifests/latest"),
            &unauthorized(&[r#"Basic realm="Registry Realm""#]),
            &scopes,
            now(),
        )
        .expect("negotiation");
    let outcome = drive(negotiation, vec![]);
    let authorization = outcome.result.expect("basic");
    assert_eq!(authorization.scheme(), AuthScheme::Basic);
    assert!(authorization.header_value().is_sensitive());
    assert_eq!(
        auth.authorization("127.0.0.1:5000", &[pull("other")], now())
            .as_ref(),
        Some(&authorization)
    );
    auth.reject("127.0.0.1:5000", &authorization);
    assert!(
        auth.authorization("127.0.0.1:5000", &scopes, now())
            .is_none()
    );
}

#[test]
fn registry_token_is_used_as_is() {
    let auth = auth_with(
        "reg.example",
        Credential::RegistryToken("static-bearer".into()),
    );
    let negotiation = auth
        .challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token""#]),
            &[],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(negotiation, vec![]);
    assert!(outcome.requests.is_empty());
    assert_eq!(
        outcome.result.expect("bearer").header_value(),
        "Bearer static-bearer"
    );
}

#[test]
fn relative_realm_and_catalog_scope() {
    let auth = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    let negotiation = auth
        .challenge(
            &uri("http://127.0.0.1:5000/v2/_catalog?n=10"),
            &unauthorized(&[r#"Bearer realm="/token",service="local""#]),
            &[Scope::registry_catalog()],
            now(),
        )
        .expect("negotiation");
    let outcome = drive(negotiation, vec![reply(200, r#"{"token":"cat"}"#)]);
    insta::assert_snapshot!(outcome.transcript);
    outcome.result.expect("token");
}

#[test]
fn realm_safety() {
    let auth = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    let request = uri("https://reg.example/v2/a/manifests/latest");
    let cases: [(&str, RealmRejection); 4] = [
        (
            r#"Bearer realm="http://auth.example/token""#,
            RealmRejection::NotHttps,
        ),
        (
            r#"Bearer realm="https://127.0.0.1:8080/token""#,
            RealmRejection::PrivateHost {
                host: "127.0.0.1".to_owned(),
            },
        ),
        (
            r#"Bearer realm="https://169.254.169.254/metadata""#,
            RealmRejection::PrivateHost {
                host: "169.254.169.254".to_owned(),
            },
        ),
        (
            r#"Bearer realm="file:///etc/passwd""#,
            RealmRejection::NotHttpUrl,
        ),
    ];
    assert_eq!(cases.len(), 4);
    for (challenge, expected) in cases {
        match auth.challenge(&request, &unauthorized(&[challenge]), &[pull("a")], now()) {
            Err(Error::UnsafeRealm {
                reason, registry, ..
            }) => {
                assert_eq!(reason, expected, "{challenge}");
                assert_eq!(registry, "reg.example");
            }
            other => panic!("{challenge}: expected UnsafeRealm, got {other:?}"),
        }
    }
    // An explicitly trusted host is followed.
    let trusting = Authenticator::new(
        orca_auth::Anonymous,
        AuthOptions::default().trust_realm_host("127.0.0.1:8080"),
    );
    assert!(
        trusting
            .challenge(
                &request,
                &unauthorized(&[r#"Bearer realm="https://127.0.0.1:8080/token""#]),
                &[pull("a")],
                now()
            )
            .is_ok()
    );
    // A loopback registry may use a loopback realm on another port.
    assert!(
        auth.challenge(
            &uri("http://127.0.0.1:5000/v2/"),
            &unauthorized(&[r#"Bearer realm="http://127.0.0.1:5001/token""#]),
            &[],
            now()
        )
        .is_ok()
    );
}

#[test]
fn denied_renegotiates_with_the_remembered_challenge() {
    let auth = auth_with(
        "123.dkr.ecr.example",
        Credential::basic("AWS", "ecr-password"),
    );
    let request = uri("https://123.dkr.ecr.example/v2/a/manifests/latest");
    let challenge = r#"Bearer realm="https://123.dkr.ecr.example/token",service="ecr""#;
    let first = drive(
        auth.challenge(&request, &unauthorized(&[challenge]), &[pull("a")], now())
            .expect("negotiation"),
        vec![reply(200, r#"{"token":"first","expires_in":43200}"#)],
    )
    .result
    .expect("token");
    // Later the registry answers 403 DENIED (no challenge) to the cached token.
    let denied =
        r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired."}]}"#;
    assert!(is_denied(http::StatusCode::FORBIDDEN, denied.as_bytes()));
    assert!(!is_denied(http::StatusCode::NOT_FOUND, denied.as_bytes()));
    assert!(!is_denied(
        http::StatusCode::FORBIDDEN,
        br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#
    ));
    auth.reject("123.dkr.ecr.example", &first);
    let no_challenge = http::Response::builder()
        .status(403)
        .body(())
        .expect("response");
    let outcome = drive(
        auth.challenge(&request, &no_challenge, &[pull("a")], now())
            .expect("re-negotiation from the remembered challenge"),
        vec![reply(200, r#"{"token":"second"}"#)],
    );
    assert_eq!(
        outcome.requests[0].uri().host(),
        Some("123.dkr.ecr.example")
    );
    assert_eq!(
        outcome.result.expect("token").header_value(),
        "Bearer second"
    );
    // A registry never seen before has nothing to fall back on.
    let fresh = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    assert!(matches!(
        fresh.challenge(&request, &no_challenge, &[pull("a")], now()),
        Err(Error::NoSupportedChallenge { .. })
    ));
}

#[test]
fn final_errors_name_registry_credential_and_scope() {
    let request = uri("https://reg.example/v2/a/manifests/latest");
    let bearer = r#"Bearer realm="https://reg.example/token",service="reg.example""#;
    let mut messages = Vec::new();

    let auth = auth_with("reg.example", Credential::basic("bob", "bob-secret-pw"));
    let outcome = drive(
        auth.challenge(&request, &unauthorized(&[bearer]), &[pull("a")], now())
            .expect("negotiation"),
        vec![reply(
            401,
            r#"{"details":"incorrect username or password"}"#,
        )],
    );
    messages.push(outcome.result.expect_err("refused").to_string());

    let anonymous = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    // Credential problems show once the lookup has answered.
    let needs = drive(
        anonymous
            .challenge(
                &request,
                &unauthorized(&[r#"Basic realm="r""#]),
                &[pull("a")],
                now(),
            )
            .expect("negotiation"),
        vec![],
    );
    messages.push(needs.result.expect_err("needs a credential").to_string());
    messages.push(
        anonymous
            .challenge(
                &request,
                &unauthorized(&["Negotiate abc", "Digest realm=\"x\""]),
                &[],
                now(),
            )
            .expect_err("nothing supported")
            .to_string(),
    );
    messages.push(
        anonymous
            .challenge(
                &request,
                &unauthorized(&[r#"Bearer service="x""#]),
                &[],
                now(),
            )
            .expect_err("no realm")
            .to_string(),
    );
    let token_auth = auth_with("reg.example", Credential::RegistryToken("tok".into()));
    let mismatch = drive(
        token_auth
            .challenge(&request, &unauthorized(&[r#"Basic realm="r""#]), &[], now())
            .expect("negotiation"),
        vec![],
    );
    messages.push(mismatch.result.expect_err("mismatch").to_string());
    let outcome = drive(
        anonymous
            .challenge(&request, &unauthorized(&[bearer]), &[pull("a")], now())
            .expect("negotiation"),
        vec![reply(200, r#"{"expires_in":60}"#)],
    );
    messages.push(outcome.result.expect_err("no token").to_string());
    assert_eq!(messages.len(), 6);
    for message in &messages {
        assert!(!message.contains("bob-secret-pw"), "{message}");
    }
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn out_of_order_calls_are_errors() {
    let auth = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    let mut negotiation = auth
        .challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token""#]),
            &[],
            now(),
        )
        .expect("negotiation");
    assert!(matches!(
        negotiation.receive(reply(200, "{}"), now()),
        Err(Error::OutOfOrder { .. })
    ));
    let Step::Lookup(lookup) = negotiation.next(now()).expect("first step") else {
        panic!("expected the credential lookup")
    };
    assert!(matches!(
        negotiation.next(now()),
        Err(Error::OutOfOrder { .. })
    ));
    assert!(matches!(
        negotiation.receive(reply(200, "{}"), now()),
        Err(Error::OutOfOrder { .. })
    ));
    negotiation.resume(lookup.run(), now()).expect("resume");
    let Step::Send(_) = negotiation.next(now()).expect("second step") else {
        panic!("expected a request")
    };
    assert!(matches!(
        negotiation.next(now()),
        Err(Error::OutOfOrder { .. })
    ));
    negotiation
        .receive(reply(200, r#"{"token":"x"}"#), now())
        .expect("token");
    assert!(matches!(negotiation.next(now()), Ok(Step::Authorize(_))));
    assert!(matches!(
        negotiation.next(now()),
        Err(Error::OutOfOrder { .. })
    ));
}

#[test]
fn narrowest_cached_token_is_handed_out() {
    let auth = Authenticator::new(orca_auth::Anonymous, AuthOptions::default());
    let request = uri("https://reg.example/v2/");
    let challenge = r#"Bearer realm="https://reg.example/token",service="reg.example""#;
    let wide = [
        Scope::repository("a", &[Action::Pull, Action::Push]),
        pull("b"),
    ];
    drive(
        auth.challenge(&request, &unauthorized(&[challenge]), &wide, now())
            .expect("negotiation"),
        vec![reply(200, r#"{"token":"wide","expires_in":600}"#)],
    )
    .result
    .expect("token");
    drive(
        auth.challenge(&request, &unauthorized(&[challenge]), &[pull("a")], now())
            .expect("negotiation"),
        vec![reply(200, r#"{"token":"narrow","expires_in":600}"#)],
    )
    .result
    .expect("token");
    let header = |scopes: &[Scope]| {
        auth.authorization("reg.example", scopes, now())
            .map(|a| a.header_value().to_str().expect("ASCII").to_owned())
    };
    assert_eq!(header(&[pull("a")]).as_deref(), Some("Bearer narrow"));
    assert_eq!(header(&[pull("b")]).as_deref(), Some("Bearer wide"));
    assert_eq!(
        header(&[Scope::repository("a", &[Action::Push])]).as_deref(),
        Some("Bearer wide")
    );
    assert_eq!(header(&[pull("c")]), None);
}

/// A source that fails: the failure reaches the caller, never anonymous access.
struct Broken;

impl CredentialSource for Broken {
    fn credential(&self, registry: &str) -> Result<Credential, Error> {
        Err(Error::credential_lookup(
            format!("cannot get the credential for {registry}"),
            std::io::Error::other("docker-credential-broken: exit status 1"),
        ))
    }
}

#[test]
fn a_failing_source_is_not_turned_into_anonymous() {
    let auth = Authenticator::from_arc(Arc::new(Broken), AuthOptions::default());
    let negotiation = auth
        .challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token""#]),
            &[],
            now(),
        )
        .expect("the challenge is read before any lookup");
    let outcome = drive(negotiation, vec![]);
    assert!(outcome.requests.is_empty());
    let err = outcome.result.expect_err("source failure");
    assert!(matches!(err, Error::CredentialLookup { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "cannot get the credential for reg.example: docker-credential-broken: exit status 1"
    );
}

#[test]
fn short_tokens_are_used_and_streams_refresh_first() {
    let auth = auth_with("reg.example", Credential::basic("u", "pw"));
    let challenge = r#"Bearer realm="https://reg.example/token",service="reg.example""#;
    let request = uri("https://reg.example/v2/a/blobs/uploads/");
    let get = |body: &str| {
        drive(
            auth.challenge(&request, &unauthorized(&[challenge]), &[pull("a")], now())
                .expect("negotiation"),
            vec![reply(200, body)],
        )
        .result
        .expect("token")
    };
    // A 20-second token (below the old 60-second floor) is believed and used until
    // close to its end, not past it.
    get(r#"{"token":"short","expires_in":20}"#);
    let at = |secs| now() + Duration::from_secs(secs);
    let cached = |secs| {
        auth.authorization("reg.example", &[pull("a")], at(secs))
            .map(|a| a.header_value().to_str().expect("ASCII").to_owned())
    };
    assert_eq!(cached(10).as_deref(), Some("Bearer short"));
    assert_eq!(cached(16), None, "within the skew of its expiry");

    // A 300-second token: fine for a plain request at 200 s, not for a streamed one,
    // which starts from the remembered challenge with a fresh token.
    get(r#"{"token":"long","expires_in":300}"#);
    assert!(
        auth.authorization("reg.example", &[pull("a")], at(200))
            .is_some()
    );
    assert!(
        auth.authorization_for_stream("reg.example", &[pull("a")], at(200))
            .is_none()
    );
    assert!(auth.remembers_challenge("reg.example"));
    let refreshed = drive(
        auth.challenge(&request, &http::HeaderMap::new(), &[pull("a")], at(200))
            .expect("a negotiation from the remembered challenge"),
        vec![reply(200, r#"{"token":"fresh","expires_in":300}"#)],
    );
    assert_eq!(
        refreshed.requests[0].uri().path(),
        "/token",
        "asked the token service again"
    );
}

#[test]
fn insufficient_scope_names_the_missing_right() {
    let refused = http::Response::builder()
        .status(401)
        .header(
            "www-authenticate",
            r#"Bearer realm="https://reg.example/token",service="reg.example",scope="repository:team/app:pull,push",error="insufficient_scope""#,
        )
        .body(())
        .expect("response");
    let missing = orca_auth::missing_right(&refused).expect("insufficient_scope");
    assert_eq!(
        missing.to_string(),
        "the token lacks pull,push on repository team/app"
    );
    let other =
        unauthorized(&[r#"Bearer realm="https://reg.example/token",error="invalid_token""#]);
    assert_eq!(orca_auth::missing_right(&other), None);
}
