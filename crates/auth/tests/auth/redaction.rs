//! Every credential, token, negotiation and error type, built with a recognisable secret:
//! the secret appears in no `Debug` or `Display` output.

use std::sync::Arc;

use bytes::Bytes;
use orca_auth::{
    Action, AuthOptions, Authenticator, Authorization, AzureStep, AzureTokenProvider, Credential,
    Scope, Secret, StaticCredentials, Step, TokenResponse,
};

use crate::{drive, now, reply, unauthorized, uri};

/// The secret every value below is built with, and its base64 forms.
const SECRET: &str = "S3CR3T-canary-7f1d";

fn assert_clean(what: &str, text: &str) {
    use base64::Engine;
    let encoded = [
        base64::engine::general_purpose::STANDARD.encode(format!("user:{SECRET}")),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
    ];
    assert!(!text.contains(SECRET), "{what} leaks the secret: {text}");
    assert!(
        !text.contains("canary"),
        "{what} leaks part of the secret: {text}"
    );
    for e in &encoded {
        assert!(
            !text.contains(e.as_str()),
            "{what} leaks the encoded secret: {text}"
        );
    }
}

type Outputs = Vec<(&'static str, String)>;

/// An Azure provider holding the secret, whose token request carries it.
struct SecretProvider;

impl AzureTokenProvider for SecretProvider {
    fn name(&self) -> &'static str {
        "client secret"
    }

    fn tenant(&self) -> Option<String> {
        None
    }

    fn begin(&self) -> Result<AzureStep, orca_auth::Error> {
        let request = http::Request::post("https://login.example/t/oauth2/v2.0/token")
            .body(Bytes::from(format!("client_secret={SECRET}")))
            .expect("request");
        Ok(AzureStep::Send(request))
    }
}

fn credential_outputs(outputs: &mut Outputs) {
    let secret = Secret::new(SECRET);
    outputs.push(("Secret", format!("{secret:?}")));

    let credentials = [
        Credential::basic("user", SECRET),
        Credential::from_username_secret("<token>", SECRET),
        Credential::from_username_secret(orca_auth::ACR_REFRESH_TOKEN_USER, SECRET),
        Credential::RegistryToken(SECRET.into()),
        Credential::AzureAccessToken {
            token: SECRET.into(),
            tenant: None,
        },
        Credential::Azure(Arc::new(SecretProvider)),
    ];
    assert_eq!(credentials.len(), 6);
    for credential in &credentials {
        outputs.push(("Credential", format!("{credential:?}")));
        outputs.push((
            "CredentialKind",
            format!("{} {:?}", credential.kind(), credential.kind()),
        ));
    }
    let static_source =
        StaticCredentials::new().with("reg.example", Credential::basic("user", SECRET));
    outputs.push(("StaticCredentials", format!("{static_source:?}")));
    let basic = Authorization::basic("user", &secret);
    let bearer = Authorization::bearer(&secret).expect("valid token");
    outputs.push(("Authorization basic", format!("{basic:?}")));
    outputs.push(("Authorization bearer", format!("{bearer:?}")));
    outputs.push(("HeaderValue", format!("{:?}", bearer.header_value())));
    outputs.push((
        "Step::Authorize",
        format!("{:?}", Step::Authorize(bearer.clone())),
    ));
    let token = TokenResponse::parse(
        format!(r#"{{"token":"{SECRET}","refresh_token":"{SECRET}"}}"#).as_bytes(),
        now(),
    )
    .expect("token response");
    outputs.push(("TokenResponse", format!("{token:?}")));
}

fn negotiation_and_error_outputs(outputs: &mut Outputs) {
    // A negotiation whose pending request carries the secret in its form body.
    let auth = Authenticator::new(
        StaticCredentials::new().with(
            "reg.example",
            Credential::from_username_secret("<token>", SECRET),
        ),
        AuthOptions::default(),
    );
    let mut negotiation = auth
        .challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token",service="reg.example""#]),
            &[Scope::repository("a", &[Action::Pull])],
            now(),
        )
        .expect("negotiation");
    outputs.push(("Negotiation", format!("{negotiation:?}")));
    let Step::Lookup(lookup) = negotiation.next(now()).expect("step") else {
        panic!("the credential lookup comes first")
    };
    outputs.push(("Step::Lookup", format!("{lookup:?}")));
    let found = lookup.run();
    outputs.push(("LookupResult", format!("{found:?}")));
    negotiation.resume(found, now()).expect("resume");
    let step = negotiation.next(now()).expect("step");
    outputs.push(("Step::Send", format!("{step:?}")));
    outputs.push(("Negotiation waiting", format!("{negotiation:?}")));
    negotiation
        .receive(reply(200, &format!(r#"{{"token":"{SECRET}"}}"#)), now())
        .expect("token");
    outputs.push(("Authenticator", format!("{auth:?}")));

    // Errors from flows where the secret was in play.
    let refused = drive(
        auth.challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token",service="reg.example""#]),
            &[Scope::repository("b", &[Action::Pull])],
            now(),
        )
        .expect("negotiation"),
        vec![reply(401, "{}"), reply(401, "{}")],
    );
    let err = refused.result.expect_err("refused");
    outputs.push(("Error display", err.to_string()));
    outputs.push(("Error debug", format!("{err:?}")));
    let not_json = TokenResponse::parse(
        format!(r#"{{"token":"{SECRET}","expires_in":"#).as_bytes(),
        now(),
    )
    .expect_err("truncated");
    outputs.push(("TokenResponseErrorKind", format!("{not_json} {not_json:?}")));
    // Servers that echo the secret, an Authorization header and terminal escapes: the
    // error shows none of them.
    let echoed = drive(
        auth.challenge(
            &uri("https://reg.example/v2/"),
            &unauthorized(&[r#"Bearer realm="https://reg.example/token",service="reg.example""#]),
            &[Scope::repository("c", &[Action::Pull])],
            now(),
        )
        .expect("negotiation"),
        vec![reply(
            401,
            &format!(
                r#"{{"error":"invalid_grant","error_description":"refresh_token={SECRET} with Authorization: Bearer {SECRET}x ]0;pwned"}}"#
            ),
        )],
    );
    let err = echoed.result.expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("REDACTED"), "{shown}");
    assert!(!shown.chars().any(char::is_control), "{shown}");
    outputs.push(("Echoing token service", shown));
    // An Azure provider's request, and Entra ID echoing the secret back.
    let azure = Authenticator::new(
        StaticCredentials::new().with("reg.example", Credential::Azure(Arc::new(SecretProvider))),
        AuthOptions::default(),
    );
    let refused = drive(
        azure
            .challenge(
                &uri("https://reg.example/v2/"),
                &unauthorized(&[r#"Bearer realm="https://reg.example/oauth2/token""#]),
                &[],
                now(),
            )
            .expect("negotiation"),
        vec![reply(
            401,
            &format!(r#"{{"error":"invalid_client","error_description":"Basic dXNlcjp{SECRET}"}}"#),
        )],
    );
    let err = refused.result.expect_err("Entra ID refuses");
    outputs.push(("Entra ID refusal", format!("{err} {err:?}")));
}

#[test]
fn no_secret_in_debug_or_display() {
    let mut outputs = Outputs::new();
    credential_outputs(&mut outputs);
    negotiation_and_error_outputs(&mut outputs);
    assert!(outputs.len() >= 24, "{} outputs checked", outputs.len());
    for (what, text) in &outputs {
        assert_clean(what, text);
    }
}
