//! The one policy for showing a URL in an error or a log line.

/// Query parameters whose values are shown: the distribution API's own, none of which is a
/// credential. Every other value — a storage signature (`sig`, `X-Amz-Signature`), a token,
/// an upload's opaque `_state`, a parameter no one has thought of yet — reads `REDACTED`.
const SHOWN_QUERY_KEYS: &[&str] = &[
    "n",
    "last",
    "digest",
    "mount",
    "from",
    "artifactType",
    "service",
    "scope",
];

/// What a hidden query value reads.
pub const REDACTED: &str = "REDACTED";

/// A URL fit for an error message or a log: user info (`user:password@`) removed, the
/// fragment removed, and every query value replaced by [`REDACTED`] except those of the
/// distribution API's own parameters (`n`, `last`, `digest`, `mount`, `from`,
/// `artifactType`, `service`, `scope`).
///
/// A relative URL (`/v2/…?…`) gets the same treatment; text that is not a URL at all keeps
/// only what precedes any `?` or `#`, and what follows its last `@`.
///
/// Redaction is by allow-list, so a pre-signed storage URL from a provider orca does not
/// know still loses its signature.
///
/// ```
/// use orca_auth::redact_url;
///
/// assert_eq!(
///     redact_url("https://user:pw@blob.example/x?sig=abc&digest=sha256:1#f"),
///     "https://blob.example/x?sig=REDACTED&digest=sha256%3A1",
/// );
/// assert_eq!(redact_url("/v2/a/tags/list?n=10&token=s"), "/v2/a/tags/list?n=10&token=REDACTED");
/// ```
///
/// # Security
///
/// This is what every error and log line of orca-auth and orca-distribution shows of a
/// URL; a secret in a URL's path (rather than its query or user info) is not recognised.
pub fn redact_url(raw: &str) -> String {
    // `user:pw@host/x` parses as a URL of scheme `user` with an opaque path: not one of ours.
    if let Some(url) = url::Url::parse(raw).ok().filter(|u| !u.cannot_be_a_base()) {
        return redacted(url).to_string();
    }
    if raw.starts_with('/') {
        // Resolve against a placeholder origin, then show only what was given.
        let base = url::Url::parse("http://relative.invalid/").ok();
        if let Some(url) = base.and_then(|b| b.join(raw).ok()) {
            let url = redacted(url);
            return url[url::Position::BeforePath..].to_owned();
        }
    }
    let before_query = raw.split(['?', '#']).next().unwrap_or_default();
    before_query
        .rsplit_once('@')
        .map_or(before_query, |(_, after)| after)
        .to_owned()
}

fn redacted(mut url: url::Url) -> url::Url {
    // Both fail only for URLs that cannot have user info, which then have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if SHOWN_QUERY_KEYS.contains(&key.as_ref()) {
                    value.into_owned()
                } else {
                    REDACTED.to_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn credentials_signatures_and_fragments_are_removed() {
        let cases = [
            (
                "https://user:pw@blob.example/x?sig=abc&n=2&X-Amz-Signature=zz#frag",
                "https://blob.example/x?sig=REDACTED&n=2&X-Amz-Signature=REDACTED",
            ),
            (
                "https://r.example/v2/a/blobs/uploads/1?_state=opaque&digest=sha256:ab",
                "https://r.example/v2/a/blobs/uploads/1?_state=REDACTED&digest=sha256%3Aab",
            ),
            (
                "https://auth.example/token?service=r.example&scope=repository:a:pull",
                "https://auth.example/token?service=r.example&scope=repository%3Aa%3Apull",
            ),
            ("https://r.example/v2/", "https://r.example/v2/"),
            ("/v2/x?token=s", "/v2/x?token=REDACTED"),
            ("/v2/x?last=b#frag", "/v2/x?last=b"),
            ("user:pw@host/x?sig=s", "host/x"),
            ("not a url?sig=s", "not a url"),
            ("", ""),
        ];
        assert_eq!(cases.len(), 9);
        for (raw, want) in cases {
            assert_eq!(redact_url(raw), want, "{raw}");
        }
    }

    proptest! {
        #[test]
        fn secrets_never_survive(
            secret in "[A-Za-z0-9]{12,24}",
            key in "[A-Za-z_-]{1,12}".prop_filter("a shown key", |k| !SHOWN_QUERY_KEYS.contains(&k.as_str())),
            other in "[a-z]{1,8}",
        ) {
            let raw = format!("https://user:{secret}@h.example/p?{other}=1&{key}={secret}#{secret}");
            let redacted = redact_url(&raw);
            prop_assert!(!redacted.contains(&secret), "{}", redacted);
            let relative = format!("/v2/x?{key}={secret}#{secret}");
            prop_assert!(!redact_url(&relative).contains(&secret));
            let bare = format!("user:{secret}@h.example/p?{key}={secret}");
            prop_assert!(!redact_url(&bare).contains(&secret));
        }

        #[test]
        fn any_text_is_handled(raw in any::<String>()) {
            let _ = redact_url(&raw);
        }
    }
}
