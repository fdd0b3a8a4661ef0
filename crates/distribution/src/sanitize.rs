//! Text from a remote party (error bodies, `Warning` headers, protocol details) made safe
//! to print: bounded, control characters escaped, credentials replaced by `REDACTED`.
//!
//! A hostile registry can echo the request's `Authorization` header or the user's
//! password into an error body, and put ANSI/OSC escape sequences there that rewrite a
//! terminal. Everything remote that reaches an [`crate::Error`]'s `Display` goes through
//! [`excerpt`] first.

use std::fmt::{self, Write as _};

use base64::Engine;
use orca_auth::Authorization;

/// The most characters of one remote text kept in an error.
pub(crate) const EXCERPT_CHARS: usize = 300;

/// Form fields of token requests whose values are credentials.
const SECRET_FORM_FIELDS: &[&str] = &[
    "password",
    "refresh_token",
    "access_token",
    "client_secret",
    "client_assertion",
    "code",
];

/// Shorter secrets are not searched for: they would redact ordinary words and reveal
/// nothing by themselves.
const MIN_SECRET_CHARS: usize = 4;

/// The secrets a request carried (the `Authorization` value, a Basic password), to be
/// removed from anything the answer to it echoes.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets(<{} redacted>)", self.0.len())
    }
}

impl Secrets {
    /// The secrets inside an `Authorization` value: the token (or Basic's base64), and for
    /// Basic the password.
    pub(crate) fn from_authorization(authorization: Option<&Authorization>) -> Secrets {
        match authorization.and_then(|a| a.header_value().to_str().ok()) {
            Some(value) => Secrets::from_header_value(value),
            None => Secrets::default(),
        }
    }

    /// The secrets inside an `Authorization` header value.
    fn from_header_value(value: &str) -> Secrets {
        let mut out = Vec::new();
        let Some((scheme, token)) = value.split_once(' ') else {
            return Secrets(out);
        };
        let token = token.trim();
        out.push(token.to_owned());
        if scheme.eq_ignore_ascii_case("basic")
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token)
            && let Ok(decoded) = String::from_utf8(decoded)
            && let Some((_, password)) = decoded.split_once(':')
        {
            out.push(password.to_owned());
        }
        out.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
        Secrets(out)
    }

    /// The secrets a token request (built by `orca-auth`) carries: its `Authorization`
    /// header, and the values of its form fields that hold credentials.
    pub(crate) fn from_request(request: &http::Request<bytes::Bytes>) -> Secrets {
        let mut out = Vec::new();
        if let Some(value) = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            out.extend(Secrets::from_header_value(value).0);
        }
        for (key, value) in url::form_urlencoded::parse(request.body()) {
            if SECRET_FORM_FIELDS.contains(&key.as_ref()) {
                out.push(value.into_owned());
            }
        }
        out.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
        Secrets(out)
    }

    /// Add `other`'s secrets to these.
    pub(crate) fn extend(&mut self, other: Secrets) {
        self.0.extend(other.0);
    }

    /// The user name of a Basic `Authorization` (not a secret: errors name it).
    pub(crate) fn basic_user(authorization: &Authorization) -> Option<String> {
        let value = authorization.header_value().to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, _) = decoded.split_once(':')?;
        Some(excerpt(user, &Secrets::default()))
    }
}

/// `text` made safe to print: every secret in `secrets` and every `Basic …`/`Bearer …`
/// value replaced by `REDACTED`, control and bidirectional-formatting characters escaped
/// (`\u{1b}`), and cut to [`EXCERPT_CHARS`] characters (marked with `…`).
pub(crate) fn excerpt(text: &str, secrets: &Secrets) -> String {
    let mut redacted = text.to_owned();
    for secret in &secrets.0 {
        if !secret.is_empty() {
            redacted = redacted.replace(secret.as_str(), "REDACTED");
        }
    }
    let redacted = redact_schemes(&redacted);
    let mut out = String::new();
    for (count, c) in redacted.chars().enumerate() {
        if count == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() || is_bidi_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that reorder how a terminal shows text (Trojan Source).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Replace the credential after each `Basic` or `Bearer` word (any case) by `REDACTED`.
fn redact_schemes(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut i = 0;
    while i < text.len() {
        let word = ["basic", "bearer"]
            .into_iter()
            .find(|w| lower[i..].starts_with(w) && starts_word(&lower, i));
        let Some(word) = word else {
            i += lower[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let after = i + word.len();
        // The scheme, then spaces or an escaped/quoted separator, then the credential.
        let value_start = after
            + text[after..]
                .find(|c: char| !(c == ' ' || c == '\t' || c == '"' || c == '='))
                .unwrap_or(text.len() - after);
        if value_start == after {
            // `Basicfoo` or `Bearer` at the end: not a credential.
            i = after;
            continue;
        }
        let value_end = value_start
            + text[value_start..]
                .find(|c: char| !is_token_char(c))
                .unwrap_or(text.len() - value_start);
        if value_end == value_start {
            i = after;
            continue;
        }
        out.push_str(&text[rest..value_start]);
        out.push_str("REDACTED");
        rest = value_end;
        i = value_end;
    }
    out.push_str(&text[rest..]);
    out
}

fn starts_word(lower: &str, i: usize) -> bool {
    lower[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// token68 and JWT characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=' | ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use orca_auth::Secret;

    #[test]
    fn credentials_are_redacted() {
        let basic = Authorization::basic("alice", &Secret::new("pw-canary-1"));
        let secrets = Secrets::from_authorization(Some(&basic));
        let value = basic.header_value().to_str().unwrap().to_owned();
        let text =
            format!("you sent {value} and pw-canary-1; also bearer eyJ.abc-def and Bearer=zz");
        let shown = excerpt(&text, &secrets);
        assert!(!shown.contains("pw-canary-1"), "{shown}");
        assert!(!shown.contains(value.split(' ').nth(1).unwrap()), "{shown}");
        assert!(!shown.contains("eyJ.abc-def"), "{shown}");
        assert!(!shown.contains("zz"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        assert_eq!(Secrets::basic_user(&basic).as_deref(), Some("alice"));
        // Words that merely start like a scheme are kept.
        assert_eq!(excerpt("basically bearers", &secrets), "basically bearers");
    }

    #[test]
    fn control_characters_are_escaped_and_text_is_bounded() {
        let shown = excerpt(
            "a\u{1b}]0;owned\u{7}b\u{9b}31m\u{202e}c",
            &Secrets::default(),
        );
        assert_eq!(shown, "a\\u{1b}]0;owned\\u{7}b\\u{9b}31m\\u{202e}c");
        let long = "x".repeat(10_000);
        let shown = excerpt(&long, &Secrets::default());
        assert_eq!(shown.chars().count(), EXCERPT_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    proptest::proptest! {
        #[test]
        fn no_control_character_survives(text in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}a-z ]*") {
            let shown = excerpt(&text, &Secrets::default());
            proptest::prop_assert!(!shown.chars().any(|c| c.is_control() || is_bidi_control(c)));
            proptest::prop_assert!(shown.chars().count() <= EXCERPT_CHARS + 1);
        }

        #[test]
        // Lower case only: an upper-case password could reappear inside `REDACTED` itself.
        fn a_password_never_survives(password in "[a-z0-9!-/]{4,24}", before in "[ -~]{0,40}") {
            let a = Authorization::basic("u", &Secret::new(password.clone()));
            let secrets = Secrets::from_authorization(Some(&a));
            let shown = excerpt(&format!("{before}{password}{before}"), &secrets);
            proptest::prop_assert!(!shown.contains(&password), "{}", shown);
        }
    }
}
