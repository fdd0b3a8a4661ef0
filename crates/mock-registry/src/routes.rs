//! Request paths and queries of the distribution API.

use percent_encoding::percent_decode_str;

pub(crate) use crate::wire::{Route, parse_route as parse, valid_name, valid_tag};

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
