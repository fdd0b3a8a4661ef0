//! `WWW-Authenticate` headers as real registries send them, and the grammar's corners.

use http::HeaderMap;
use orca_auth::{Challenge, ChallengeErrorKind, Error};
use proptest::prelude::*;

/// (registry, header, scheme, realm, service, scope, error)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

const REAL_CHALLENGES: [Case; 10] = [
    (
        "Docker Hub",
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/golang:pull""#,
        "Bearer",
        Some("https://auth.docker.io/token"),
        Some("registry.docker.io"),
        Some("repository:library/golang:pull"),
        None,
    ),
    (
        "GHCR",
        r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
        "Bearer",
        Some("https://ghcr.io/token"),
        Some("ghcr.io"),
        Some("repository:user/image:pull"),
        None,
    ),
    (
        "ACR",
        r#"Bearer realm="https://contoso.azurecr.io/oauth2/token",service="contoso.azurecr.io""#,
        "Bearer",
        Some("https://contoso.azurecr.io/oauth2/token"),
        Some("contoso.azurecr.io"),
        None,
        None,
    ),
    (
        "ACR (basic)",
        r#"Basic realm="Azure Container Registry""#,
        "Basic",
        Some("Azure Container Registry"),
        None,
        None,
        None,
    ),
    (
        "Quay",
        r#"Bearer realm="https://quay.io/v2/auth",service="quay.io""#,
        "Bearer",
        Some("https://quay.io/v2/auth"),
        Some("quay.io"),
        None,
        None,
    ),
    (
        "ECR",
        r#"Basic realm="https://111111111111.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
        "Basic",
        Some("https://111111111111.dkr.ecr.us-east-1.amazonaws.com/"),
        Some("ecr.amazonaws.com"),
        None,
        None,
    ),
    (
        "Harbor",
        r#"Bearer realm="http://192.168.1.11:8090/service/token",service="harbor-registry""#,
        "Bearer",
        Some("http://192.168.1.11:8090/service/token"),
        Some("harbor-registry"),
        None,
        None,
    ),
    (
        "Harbor (basic)",
        r#"Basic realm="harbor""#,
        "Basic",
        Some("harbor"),
        None,
        None,
        None,
    ),
    (
        "distribution (htpasswd)",
        r#"Basic realm="Registry Realm""#,
        "Basic",
        Some("Registry Realm"),
        None,
        None,
        None,
    ),
    (
        "distribution (token, insufficient scope)",
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
        "Bearer",
        Some("https://auth.example/token"),
        Some("registry.example"),
        Some("repository:samalba/my-app:pull,push"),
        Some("insufficient_scope"),
    ),
];

#[test]
fn real_registry_challenges() {
    let cases = REAL_CHALLENGES;
    assert_eq!(cases.len(), 10);
    for (registry, header, scheme, realm, service, scope, error) in cases {
        let parsed = Challenge::parse(header).unwrap_or_else(|e| panic!("{registry}: {e}"));
        assert_eq!(parsed.len(), 1, "{registry}");
        let c = &parsed[0];
        assert_eq!(c.scheme(), scheme, "{registry}");
        assert_eq!(c.realm(), realm, "{registry}");
        assert_eq!(c.service(), service, "{registry}");
        assert_eq!(c.scope(), scope, "{registry}");
        assert_eq!(c.error(), error, "{registry}");
        // Formatting and parsing again gives the same challenge.
        assert_eq!(
            Challenge::parse(&c.to_string()).expect("re-parses"),
            parsed,
            "{registry}"
        );
    }
}

/// Schemes with their parameters.
type Parsed<'a> = Vec<(&'a str, Vec<(&'a str, &'a str)>)>;

#[test]
fn grammar_corners() {
    let cases: [(&str, Parsed<'_>); 8] = [
        (
            r#"Negotiate, Basic realm="x", Bearer realm="/token",service=reg"#,
            vec![
                ("Negotiate", vec![]),
                ("Basic", vec![("realm", "x")]),
                ("Bearer", vec![("realm", "/token"), ("service", "reg")]),
            ],
        ),
        (
            r#"bearer   REALM = "https://a/t" ,  Service=svc,,  scope="a b""#,
            vec![(
                "bearer",
                vec![
                    ("realm", "https://a/t"),
                    ("service", "svc"),
                    ("scope", "a b"),
                ],
            )],
        ),
        (
            r#"Bearer realm="quote\"in\\side",service="s""#,
            vec![(
                "Bearer",
                vec![("realm", r#"quote"in\side"#), ("service", "s")],
            )],
        ),
        (
            "Basic\trealm=\"tab\"",
            vec![("Basic", vec![("realm", "tab")])],
        ),
        (r#"Basic realm="""#, vec![("Basic", vec![("realm", "")])]),
        (", , Basic", vec![("Basic", vec![])]),
        (
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
            vec![
                (
                    "Newauth",
                    vec![
                        ("realm", "apps"),
                        ("type", "1"),
                        ("title", r#"Login to "apps""#),
                    ],
                ),
                ("Basic", vec![("realm", "simple")]),
            ],
        ),
        (
            r#"Basic realm="café""#,
            vec![("Basic", vec![("realm", "café")])],
        ),
    ];
    assert_eq!(cases.len(), 8);
    for (header, expected) in cases {
        let parsed = Challenge::parse(header).unwrap_or_else(|e| panic!("{header}: {e}"));
        let got: Parsed<'_> = parsed
            .iter()
            .map(|c| (c.scheme(), c.params().collect()))
            .collect();
        assert_eq!(got, expected, "{header}");
    }
}

#[test]
fn token68_is_kept() {
    let parsed = Challenge::parse("Negotiate YIIBtwYGKwYB==, Basic realm=\"r\"").expect("parses");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].token68(), Some("YIIBtwYGKwYB=="));
    assert_eq!(parsed[1].realm(), Some("r"));
    assert_eq!(parsed[0].to_string(), "Negotiate YIIBtwYGKwYB==");
}

#[test]
fn malformed_headers_are_errors_with_positions() {
    let cases: [(&str, ChallengeErrorKind, usize); 7] = [
        ("", ChallengeErrorKind::Empty, 0),
        (" , ", ChallengeErrorKind::Empty, 3),
        ("=oops", ChallengeErrorKind::ExpectedScheme, 0),
        (
            r#"Bearer realm="unterminated"#,
            ChallengeErrorKind::UnterminatedQuotedString,
            13,
        ),
        ("Bearer realm=;", ChallengeErrorKind::ExpectedValue, 13),
        (
            "Basic realm=\"\u{1}\"",
            ChallengeErrorKind::InvalidCharacter,
            13,
        ),
        (
            r#"Basic realm="a" junk"#,
            ChallengeErrorKind::InvalidCharacter,
            16,
        ),
    ];
    assert_eq!(cases.len(), 7);
    for (header, kind, position) in cases {
        match Challenge::parse(header) {
            Err(Error::Challenge {
                kind: k,
                position: p,
                input,
            }) => {
                assert_eq!((k, p), (kind, position), "{header:?}");
                assert_eq!(input, header);
            }
            other => panic!("{header:?}: expected a challenge error, got {other:?}"),
        }
    }
}

#[test]
fn several_headers_and_a_bad_one() {
    let mut headers = HeaderMap::new();
    headers.append(
        "www-authenticate",
        "Basic realm=\"a\"".parse().expect("header"),
    );
    headers.append(
        "www-authenticate",
        "Bearer realm=\"unterminated".parse().expect("header"),
    );
    headers.append(
        "www-authenticate",
        "Bearer realm=\"https://t\"".parse().expect("header"),
    );
    let parsed = Challenge::from_headers(&headers).expect("good headers win");
    let schemes: Vec<&str> = parsed.iter().map(Challenge::scheme).collect();
    assert_eq!(schemes, ["Basic", "Bearer"]);

    let mut only_bad = HeaderMap::new();
    only_bad.append("www-authenticate", "=".parse().expect("header"));
    assert!(matches!(
        Challenge::from_headers(&only_bad),
        Err(Error::Challenge { .. })
    ));
    assert_eq!(
        Challenge::from_headers(&HeaderMap::new())
            .expect("no header")
            .len(),
        0
    );
}

#[test]
fn built_challenges_format_and_reparse() {
    let built =
        Challenge::new("Bearer", [("Realm", "https://a/\"t\""), ("service", "s")]).expect("valid");
    assert_eq!(
        built.to_string(),
        r#"Bearer realm="https://a/\"t\"", service="s""#
    );
    assert_eq!(
        Challenge::parse(&built.to_string()).expect("parses"),
        vec![built]
    );
    assert!(Challenge::new("Bad Scheme", []).is_err());
    assert!(Challenge::new("Bearer", [("re alm", "x")]).is_err());
    assert!(Challenge::new("Bearer", [("realm", "a\nb")]).is_err());
}

proptest! {
    #[test]
    fn parsing_never_panics_and_round_trips(text in "\\PC{0,80}") {
        orca_auth::fuzzing::check_www_authenticate(text.as_bytes());
    }

    #[test]
    fn grammar_alphabet_never_panics_and_round_trips(text in "[a-cA-C =\",\\\\\t/:.]{0,60}") {
        orca_auth::fuzzing::check_www_authenticate(text.as_bytes());
    }

    #[test]
    fn structured_input_round_trips(
        scheme in "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,8}",
        params in prop::collection::vec(("[a-z]{1,6}", "[ -~]{0,12}"), 0..4),
    ) {
        let built = Challenge::new(&scheme, params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("generated parts are valid");
        let text = built.to_string();
        prop_assert_eq!(Challenge::parse(&text).expect("formatted challenge parses"), vec![built]);
        orca_auth::fuzzing::check_www_authenticate(text.as_bytes());
    }
}
