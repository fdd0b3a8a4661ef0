//! Safe excerpts of what a remote server said, for error messages.
//!
//! A token service, Entra ID or a registry may echo what it was sent (an `Authorization`
//! header, a password) and may put terminal escape sequences in its answer. Whatever of a
//! remote body reaches an error goes through [`sanitize`] first.

/// The longest excerpt [`sanitize`] keeps by default, in characters.
pub const DEFAULT_LIMIT: usize = 512;

/// What replaces a credential in an excerpt (the same word [`redact_url`](crate::redact_url)
/// uses).
pub use crate::redact::REDACTED;

/// Secrets shorter than this are not searched for: they would match ordinary words.
const SHORTEST_SECRET: usize = 4;

/// A bounded, printable excerpt of `text`:
///
/// - every `secrets` value (and its form-encoded spelling) is replaced by `REDACTED`, and so
///   is the credential after a `Basic` or `Bearer` word;
/// - line breaks and tabs become spaces, other control characters are escaped (`\u{1b}`),
///   so the excerpt cannot move a terminal's cursor or rewrite its title;
/// - at most `limit` characters are kept, cut at a space when there is one in the last
///   quarter (never in the middle of an identifier such as a trace id), then `…`.
///
/// # Security
///
/// Redaction happens before the cut, so a secret at the edge is never left half-shown.
pub fn sanitize(text: &str, secrets: &[&str], limit: usize) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= SHORTEST_SECRET) {
        text = text.replace(secret, REDACTED);
        let encoded = crate::token::form_value(secret);
        if encoded != *secret {
            text = text.replace(&encoded, REDACTED);
        }
    }
    let text = redact_schemes(&text);
    let mut out = String::with_capacity(text.len().min(limit * 2));
    for c in text.trim().chars() {
        match c {
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() => out.extend(c.escape_default()),
            // Bidirectional overrides reorder what a terminal shows.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    cut(&out, limit)
}

/// At most `limit` characters, cut at a space in the last quarter when there is one.
fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let hard: String = text.chars().take(limit).collect();
    let soft = hard
        .rfind(' ')
        .filter(|&i| hard[..i].chars().count() >= limit - limit / 4)
        .map_or(hard.as_str(), |i| &hard[..i]);
    format!("{}…", soft.trim_end())
}

/// Replaces the word after `Basic` or `Bearer` (any case, at a word start) by `REDACTED`.
fn redact_schemes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Bounded: each round consumes at least the scheme word.
    while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let hit = ["basic", "bearer"]
            .iter()
            .filter_map(|word| find_word(&lower, word).map(|i| (i, word.len())))
            .min();
        let Some((start, len)) = hit else {
            out.push_str(rest);
            break;
        };
        let after_word = start + len;
        out.push_str(&rest[..after_word]);
        let after = &rest[after_word..];
        let value = after.trim_start_matches([' ', '=', ':']);
        out.push_str(&after[..after.len() - value.len()]);
        let end = value
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '\\' | '}'))
            .unwrap_or(value.len());
        if end > 0 && after.len() > value.len() {
            out.push_str(REDACTED);
            rest = &value[end..];
        } else {
            rest = after;
        }
    }
    out
}

/// The byte index of `word` in `text` where it starts a word and is followed by a space,
/// `=` or `:`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let i = from + found;
        let before_ok = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = text[i + word.len()..].starts_with([' ', '=', ':']);
        if before_ok && after_ok {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// What an error response says: `error: error_description` (`OAuth2`, Entra ID), the
/// distribution `errors[0].code: message`, else the start of the body itself; sanitized.
pub(crate) fn error_detail(body: &[u8], secrets: &[&str]) -> Option<String> {
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let detail = if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        match (text(&value, "error"), text(&value, "error_description")) {
            (Some(e), Some(d)) => Some(format!("{e}: {d}")),
            (e, d) => e.or(d),
        }
        .or_else(|| {
            // A distribution error body, read by `orca-manifest`'s one parser.
            orca_manifest::registry_error::parse_error_body(body)
                .first()
                .map(ToString::to_string)
        })
    } else {
        let shown = String::from_utf8_lossy(&body[..body.len().min(4 * DEFAULT_LIMIT)]);
        (!shown.trim().is_empty()).then(|| shown.into_owned())
    }?;
    Some(sanitize(&detail, secrets, DEFAULT_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let cases = [
            (
                "echo: Authorization: Basic dXNlcjpodW50ZXIy",
                "echo: Authorization: Basic REDACTED",
            ),
            ("got bearer=abc.def.ghi, bye", "got bearer=REDACTED, bye"),
            (
                r#"{"header":"Bearer eyJhbGci"}"#,
                r#"{"header":"Bearer REDACTED"}"#,
            ),
            (
                "password hunter2-pw was wrong",
                "password REDACTED was wrong",
            ),
            ("form password=hunter2%2Dpw", "form password=hunter2%2Dpw"),
            ("Bearer", "Bearer"),
            ("unbearer x", "unbearer x"),
        ];
        assert_eq!(cases.len(), 7);
        for (input, expected) in cases {
            assert_eq!(sanitize(input, &["hunter2-pw"], 200), expected, "{input}");
        }
        // The form-encoded spelling of a secret with reserved characters.
        assert_eq!(
            sanitize("password=p%40ss%20w0rd%21", &["p@ss w0rd!"], 200),
            "password=REDACTED"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let shown = sanitize("bad\u{1b}]0;pwned\u{7}\r\nnext\tline\u{202e}", &[], 200);
        assert_eq!(shown, "bad\\u{1b}]0;pwned\\u{7} next line\\u{202e}");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn cut_at_a_space_not_inside_an_identifier() {
        let message = "AADSTS7000215: Invalid client secret provided. Trace ID: \
                       5f2c8d0e-1234-4abc-9def-0123456789ab Correlation ID: \
                       0d6e7b1c-aaaa-bbbb-cccc-ddddeeeeffff";
        let shown = sanitize(message, &[], 100);
        assert!(shown.ends_with('…'), "{shown}");
        let kept = shown.trim_end_matches('…');
        assert!(message.starts_with(kept), "{shown}");
        assert_eq!(&message[kept.len()..=kept.len()], " ", "{shown}");
        // No space near the end: a hard cut.
        assert_eq!(
            sanitize(&"x".repeat(50), &[], 10),
            format!("{}…", "x".repeat(10))
        );
        assert_eq!(sanitize("short", &[], 10), "short");
    }

    #[test]
    fn error_details() {
        assert_eq!(
            error_detail(
                br#"{"error":"invalid_grant","error_description":"bad"}"#,
                &[]
            )
            .as_deref(),
            Some("invalid_grant: bad")
        );
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"DENIED","message":"no"}]}"#, &[]).as_deref(),
            Some("DENIED: no")
        );
        assert_eq!(
            error_detail(b"<html>\x1b[31mno</html>", &[]).as_deref(),
            Some("<html>\\u{1b}[31mno</html>")
        );
        assert_eq!(error_detail(b"  ", &[]), None);
    }
}
