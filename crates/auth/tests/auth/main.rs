//! Integration tests for orca-auth: real registries' challenges, every negotiation flow
//! (with snapshots of the requests built), lookups, Entra ID refusals, redaction, and the
//! fuzz corpora.

mod challenges;
mod corpus;
mod negotiation;
mod redaction;
mod sources;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, Uri};
use orca_auth::{Authorization, Error, Negotiation, Step};

/// A fixed "now" (tests never read the clock).
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

/// Form or query fields whose values are secrets.
const SECRET_FIELDS: [&str; 5] = [
    "password",
    "refresh_token",
    "access_token",
    "client_secret",
    "client_assertion",
];

fn redact_pairs(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_FIELDS.contains(&name) => format!("{name}=<redacted>"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Method, URL, headers (secrets redacted) and form body (secret fields redacted).
pub(crate) fn render(request: &Request<Bytes>) -> String {
    let mut out = format!("{} {}\n", request.method(), request.uri());
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if name == http::header::AUTHORIZATION {
                let text = value.to_str().expect("ASCII header");
                let scheme = text.split(' ').next().unwrap_or_default();
                assert!(
                    value.is_sensitive(),
                    "Authorization must be marked sensitive"
                );
                format!("{scheme} <redacted>")
            } else {
                value.to_str().expect("ASCII header").to_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    headers.sort();
    for (name, value) in headers {
        writeln!(out, "{name}: {value}").expect("write to String");
    }
    if !request.body().is_empty() {
        let body = std::str::from_utf8(request.body()).expect("form bodies are ASCII");
        writeln!(out, "body:\n  {}", redact_pairs(body)).expect("write to String");
    }
    out
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
    let mut transcript = String::new();
    let mut requests = Vec::new();
    for _ in 0..12 {
        let step = match negotiation.next(now()) {
            Ok(step) => step,
            Err(err) => {
                return Outcome {
                    transcript,
                    requests,
                    result: Err(err),
                };
            }
        };
        match step {
            Step::Send(request) => {
                transcript.push_str(&render(&request));
                transcript.push('\n');
                requests.push(request);
                let response = responses
                    .next()
                    .expect("a canned response for every request");
                if let Err(err) = negotiation.receive(response, now()) {
                    return Outcome {
                        transcript,
                        requests,
                        result: Err(err),
                    };
                }
            }
            Step::Authorize(authorization) => {
                assert!(responses.next().is_none(), "unused canned responses");
                return Outcome {
                    transcript,
                    requests,
                    result: Ok(authorization),
                };
            }
            Step::Lookup(lookup) => {
                if let Err(err) = negotiation.resume(lookup.run(), now()) {
                    return Outcome {
                        transcript,
                        requests,
                        result: Err(err),
                    };
                }
            }
            other => panic!("unexpected step {other:?}"),
        }
    }
    panic!("negotiation did not finish in 12 steps");
}

/// A JWT whose payload has `exp` (nothing else is read).
pub(crate) fn jwt_with_exp(exp: u64) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2lnbmF0dXJl",
        engine.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        engine.encode(format!(r#"{{"exp":{exp},"aud":"contoso.azurecr.io"}}"#))
    )
}

/// The crate is sans-IO in fact: its sources use no file, process, socket or runtime API,
/// and it depends on no async runtime, HTTP stack or process crate.
#[test]
fn sources_do_no_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("src")).expect("src") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("source");
        // Code only: docs may say what a caller does with the clock or a runtime.
        let text: String = source
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for forbidden in [
            "std::fs",
            "std::process",
            "std::net::Tcp",
            "std::net::Udp",
            "SystemTime::now",
            "Instant::now",
            "tokio",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked} source files checked");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for forbidden in ["tokio", "hyper", "reqwest", "async-std", "duct", "which"] {
        assert!(
            !dependencies.contains(forbidden),
            "orca-auth depends on {forbidden}"
        );
    }
}
