//! Request paths and queries of the distribution API.

use percent_encoding::percent_decode_str;

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/`
    StartUpload { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: String, id: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: String },
    /// `/token` (bearer mode)
    Token,
    /// `/oauth2/token` (ACR mode)
    OAuth2Token,
    /// `/oauth2/exchange` (ACR mode)
    OAuth2Exchange,
    /// Anything else.
    NotFound,
}

impl Route {
    /// The repository a route names, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::StartUpload { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Parse a request path (without the query).
pub(crate) fn parse(path: &str) -> Route {
    match path {
        "/v2" | "/v2/" => return Route::Base,
        "/v2/_catalog" => return Route::Catalog,
        "/token" => return Route::Token,
        "/oauth2/token" => return Route::OAuth2Token,
        "/oauth2/exchange" => return Route::OAuth2Exchange,
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..n - k].join("/");
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Route::Tags { name: name(2) };
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let id = segs[n - 1];
        return if id.is_empty() {
            Route::StartUpload { name: name(3) }
        } else {
            Route::Upload {
                name: name(3),
                id: id.to_owned(),
            }
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Route::StartUpload { name: name(2) };
    }
    if n >= 3 && !segs[n - 1].is_empty() {
        let last = segs[n - 1].to_owned();
        match segs[n - 2] {
            "manifests" => {
                return Route::Manifest {
                    name: name(2),
                    reference: last,
                };
            }
            "blobs" => {
                return Route::Blob {
                    name: name(2),
                    digest: last,
                };
            }
            "referrers" => {
                return Route::Referrers {
                    name: name(2),
                    digest: last,
                };
            }
            _ => {}
        }
    }
    Route::NotFound
}

/// Whether `name` is a valid repository name: path components of `[a-z0-9]+` joined by
/// `.`, `_`, `__` or `-+`, separated by `/`, at most 255 characters in all.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn valid_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// Decode `a=b&c=d` (query strings and form bodies; `+` is a space).
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The first value of `key`.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Percent-encode a query value.
pub(crate) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/a/b/tags/list", Route::Tags { name: "a/b".into() }),
            (
                "/v2/a/manifests/latest",
                Route::Manifest {
                    name: "a".into(),
                    reference: "latest".into(),
                },
            ),
            (
                "/v2/a/b/c/blobs/sha256:00",
                Route::Blob {
                    name: "a/b/c".into(),
                    digest: "sha256:00".into(),
                },
            ),
            (
                "/v2/a/blobs/uploads/",
                Route::StartUpload { name: "a".into() },
            ),
            (
                "/v2/a/blobs/uploads",
                Route::StartUpload { name: "a".into() },
            ),
            (
                "/v2/a/blobs/uploads/xyz",
                Route::Upload {
                    name: "a".into(),
                    id: "xyz".into(),
                },
            ),
            (
                "/v2/x/referrers/sha256:1",
                Route::Referrers {
                    name: "x".into(),
                    digest: "sha256:1".into(),
                },
            ),
            ("/v2/manifests/x", Route::NotFound),
            ("/other", Route::NotFound),
            ("/token", Route::Token),
        ];
        assert_eq!(cases.len(), 13);
        for (path, want) in cases {
            assert_eq!(parse(path), want, "{path}");
        }
    }

    #[test]
    fn names_and_tags() {
        let names = [
            ("a", true),
            ("a/b", true),
            ("a.b_c__d--e/f", true),
            ("A", false),
            ("a//b", false),
            ("-a", false),
            ("a-", false),
            ("a___b", false),
            ("a..b", false),
            ("", false),
        ];
        assert_eq!(names.len(), 10);
        for (n, ok) in names {
            assert_eq!(valid_name(n), ok, "{n}");
        }
        assert!(!valid_name(&"a".repeat(256)));
        assert!(valid_tag("v1.0-rc_1"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag(&"a".repeat(129)));
    }

    proptest::proptest! {
        #[test]
        fn encoded_pairs_round_trip(k in "[a-zA-Z_]{1,8}", v in "\\PC{0,20}") {
            let query = format!("{}={}&other=1", encode(&k), encode(&v));
            let p = pairs(&query);
            proptest::prop_assert_eq!(first(&p, &k), Some(v.as_str()));
        }

        #[test]
        fn generated_names_are_valid_and_route(
            name in "[a-z0-9]{1,5}(([._]|__|-{1,3})[a-z0-9]{1,5}){0,2}(/[a-z0-9]{1,5}(([._]|__|-{1,3})[a-z0-9]{1,5}){0,2}){0,3}",
        ) {
            proptest::prop_assert!(valid_name(&name));
            let route = parse(&format!("/v2/{name}/manifests/latest"));
            proptest::prop_assert_eq!(route.name(), Some(name.as_str()));
            let route = parse(&format!("/v2/{name}/blobs/uploads/"));
            proptest::prop_assert_eq!(route, Route::StartUpload { name: name.clone() });
        }
    }

    #[test]
    fn query_pairs() {
        let p = pairs("scope=repository%3Aa%3Apull&scope=b&x=a+b&flag");
        assert_eq!(first(&p, "scope"), Some("repository:a:pull"));
        assert_eq!(first(&p, "x"), Some("a b"));
        assert_eq!(first(&p, "flag"), Some(""));
        assert_eq!(p.len(), 4);
    }
}
