//! Integration tests for orca-credentials: docker config fixtures (read and write), the
//! credential-helper protocol with a fake helper script, environment credentials, Azure AD
//! providers and their automatic detection, and redaction.

mod azure;
mod docker;
mod env;
mod redaction;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, Uri};
use orca_auth::{Authorization, Credential, Error, Negotiation, Step};

/// A fixed "now".
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub(crate) fn uri(text: &str) -> Uri {
    text.parse().expect("test URI")
}

/// A 401 with these `WWW-Authenticate` headers.
pub(crate) fn unauthorized(challenges: &[&str]) -> Response<()> {
    let mut builder = Response::builder().status(401);
    for c in challenges {
        builder = builder.header("www-authenticate", *c);
    }
    builder.body(()).expect("valid response")
}

pub(crate) fn reply(status: u16, body: &str) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::copy_from_slice(body.as_bytes()))
        .expect("valid response")
}

/// The credential with its secret, for comparisons in tests only.
pub(crate) fn describe(credential: &Credential) -> String {
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

/// The decoded value of a form field of a request body.
pub(crate) fn form_value(request: &Request<Bytes>, name: &str) -> Option<String> {
    let body = std::str::from_utf8(request.body()).ok()?;
    body.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .expect("UTF-8 form value")
                .into_owned()
        })
    })
}

/// Method and URL of a request, and its headers other than `Authorization`, sorted.
pub(crate) fn render(request: &Request<Bytes>) -> String {
    let mut headers: Vec<String> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name != http::header::AUTHORIZATION)
        .map(|(name, value)| {
            let shown = if value.is_sensitive() {
                "<sensitive>"
            } else {
                value.to_str().expect("ASCII")
            };
            format!("{name}: {shown}")
        })
        .collect();
    headers.sort();
    format!(
        "{} {}\n{}\n",
        request.method(),
        request.uri(),
        headers.join("\n")
    )
}

/// What driving a negotiation produced.
pub(crate) struct Outcome {
    pub(crate) transcript: String,
    pub(crate) requests: Vec<Request<Bytes>>,
    pub(crate) result: Result<Authorization, Error>,
}

/// Drives a negotiation with canned responses, one per request, running its lookups in
/// place; at most twelve steps.
pub(crate) fn drive(mut negotiation: Negotiation, responses: Vec<Response<Bytes>>) -> Outcome {
    let mut responses = responses.into_iter();
    let mut outcome = Outcome {
        transcript: String::new(),
        requests: Vec::new(),
        result: Err(Error::OutOfOrder {
            detail: "not finished",
        }),
    };
    for _ in 0..12 {
        let step = match negotiation.next(now()) {
            Ok(step) => step,
            Err(err) => {
                outcome.result = Err(err);
                return outcome;
            }
        };
        let resumed = match step {
            Step::Send(request) => {
                outcome.transcript.push_str(&render(&request));
                outcome.requests.push(request);
                let response = responses.next().expect("a canned response per request");
                negotiation.receive(response, now())
            }
            Step::Lookup(lookup) => negotiation.resume(lookup.run(), now()),
            Step::Authorize(authorization) => {
                assert!(responses.next().is_none(), "unused canned responses");
                outcome.result = Ok(authorization);
                return outcome;
            }
            other => panic!("unexpected step {other:?}"),
        };
        if let Err(err) = resumed {
            outcome.result = Err(err);
            return outcome;
        }
    }
    panic!("negotiation did not finish in 12 steps");
}
