//! Realm resolution and the realm safety rules.
//!
//! A realm is resolved with the WHATWG URL parser (the `url` crate, which the client also
//! sends with), checked on the host that parser produced — `127.1`, `0x7f000001`,
//! `2130706433` and `0177.0.0.1` are all `127.0.0.1` by then — and sent in that same parsed
//! form, so the address checked is the address reached.

use std::net::{Ipv4Addr, Ipv6Addr};

use http::Uri;
use url::{Host, Url};

use crate::error::RealmRejection;

/// Resolves a realm against the URL of the request that was challenged, as a browser
/// would: absolute realms are taken as they are, `//host/path` takes the request's scheme,
/// `/path` its scheme and authority, anything else is relative to the request path.
pub(crate) fn resolve(request: &Uri, realm: &str) -> Result<Url, RealmRejection> {
    let realm = realm.trim();
    if realm.is_empty() || realm.chars().any(char::is_whitespace) {
        return Err(RealmRejection::NotHttpUrl);
    }
    let base = Url::parse(&request.to_string()).map_err(|_| RealmRejection::NotHttpUrl)?;
    let mut url = base.join(realm).map_err(|_| RealmRejection::NotHttpUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(RealmRejection::NotHttpUrl);
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a realm would be sent to wherever it points.
        return Err(RealmRejection::NotHttpUrl);
    }
    url.set_fragment(None);
    Ok(url)
}

/// The parsed realm as the `http::Uri` the token requests are built on: the URL parser's
/// serialisation, so the host sent is the host checked.
pub(crate) fn to_uri(url: &Url) -> Result<Uri, RealmRejection> {
    url.as_str().parse().map_err(|_| RealmRejection::NotHttpUrl)
}

/// The realm safety rules.
///
/// - A registry reached over https must have an https realm.
/// - A realm on another host that is a loopback, private, link-local, shared, reserved or
///   unspecified address (or `localhost`) is refused unless the registry itself is such a
///   host or the realm host is trusted explicitly. Hosts are compared as the URL parser
///   resolved them, whatever spelling the realm used.
///
/// # Limitations
///
/// Host names are not resolved (this crate does no IO): a public name that resolves to a
/// private address is not caught here.
pub(crate) fn check(
    request: &Uri,
    realm: &Url,
    trusted_hosts: &[String],
) -> Result<(), RealmRejection> {
    let request_https = request.scheme_str().is_none_or(|s| s == "https");
    if request_https && realm.scheme() != "https" {
        return Err(RealmRejection::NotHttps);
    }
    let request_url = Url::parse(&request.to_string()).map_err(|_| RealmRejection::NotHttpUrl)?;
    let (Some(realm_host), Some(request_host)) = (realm.host(), request_url.host()) else {
        return Err(RealmRejection::NotHttpUrl);
    };
    if realm_host == request_host {
        return Ok(());
    }
    let realm_host_text = realm_host.to_string();
    let realm_authority = match realm.port() {
        Some(port) => format!("{realm_host_text}:{port}"),
        None => realm_host_text.clone(),
    };
    if trusted_hosts
        .iter()
        .any(|t| trusted_matches(t, &realm_host_text) || trusted_matches(t, &realm_authority))
    {
        return Ok(());
    }
    if is_private(&realm_host) && !is_private(&request_host) {
        return Err(RealmRejection::PrivateHost {
            host: realm_host_text,
        });
    }
    Ok(())
}

/// Whether a trusted-host entry names `host` (also when written in another spelling that
/// the URL parser resolves to the same host).
fn trusted_matches(trusted: &str, host: &str) -> bool {
    if trusted.eq_ignore_ascii_case(host) {
        return true;
    }
    Url::parse(&format!("http://{trusted}/")).is_ok_and(|u| {
        let parsed = match u.port() {
            Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        };
        parsed == host
    })
}

/// Whether the host of `uri` is where a local identity endpoint lives: a loopback or
/// link-local address, or `localhost`.
pub(crate) fn is_local_identity_host(uri: &Uri) -> bool {
    let Ok(url) = Url::parse(&uri.to_string()) else {
        return false;
    };
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a parsed host is `localhost` or a loopback, private, link-local, shared,
/// reserved or unspecified address.
pub(crate) fn is_private(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(v4) => private_v4(*v4),
        Host::Ipv6(v6) => private_v6(*v6),
    }
}

/// Whether a host written as text is private (parsed as a URL host first).
/// Whether a host written as text is private (parsed as a URL host first).
#[cfg(test)]
pub(crate) fn is_private_host(host: &str) -> bool {
    Url::parse(&format!("http://{host}/"))
        .ok()
        .and_then(|u| u.host().map(|h| is_private(&h)))
        .unwrap_or(false)
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    // IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some stacks).
    if segments[..6].iter().all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        return private_v4(embedded(segments[6], segments[7]));
    }
    // NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`) carry an IPv4 address too.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return private_v4(embedded(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return private_v4(embedded(segments[1], segments[2]));
    }
    let first = segments[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("test URI")
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn resolution() {
        let request = uri("https://reg.example/v2/a/b/manifests/latest");
        let cases = [
            ("https://auth.example/token", "https://auth.example/token"),
            ("/token", "https://reg.example/token"),
            ("//auth.example/t", "https://auth.example/t"),
            ("token", "https://reg.example/v2/a/b/manifests/token"),
            ("/oauth2/token?x=1", "https://reg.example/oauth2/token?x=1"),
            ("https://AUTH.example:443/t#frag", "https://auth.example/t"),
            ("http://127.1/t", "http://127.0.0.1/t"),
        ];
        assert_eq!(cases.len(), 7);
        for (realm, expected) in cases {
            assert_eq!(resolve(&request, realm).expect(realm).as_str(), expected);
        }
        for bad in [
            "ftp://x/y",
            "https://",
            "Registry Realm",
            "https://user:pw@auth.example/t",
            "http://[fe80::1%25eth0]/t",
            "",
        ] {
            assert_eq!(
                resolve(&request, bad),
                Err(RealmRejection::NotHttpUrl),
                "{bad:?}"
            );
        }
    }

    type Case<'a> = (&'a Uri, &'a str, &'a [String], Result<(), RealmRejection>);

    #[test]
    fn safety() {
        let public_https = uri("https://reg.example/v2/");
        let local_http = uri("http://127.0.0.1:5000/v2/");
        let private = |host: &str| Err(RealmRejection::PrivateHost { host: host.into() });
        let cases: [Case<'_>; 14] = [
            (&public_https, "https://auth.example/token", &[], Ok(())),
            (
                &public_https,
                "http://auth.example/token",
                &[],
                Err(RealmRejection::NotHttps),
            ),
            (
                &public_https,
                "https://127.0.0.1/token",
                &[],
                private("127.0.0.1"),
            ),
            (
                &public_https,
                "https://169.254.169.254/latest/meta-data",
                &[],
                private("169.254.169.254"),
            ),
            (&public_https, "https://[::1]:8443/t", &[], private("[::1]")),
            // Other spellings of the same addresses, as the URL parser resolves them.
            (&public_https, "https://127.1/t", &[], private("127.0.0.1")),
            (
                &public_https,
                "https://0x7f000001/t",
                &[],
                private("127.0.0.1"),
            ),
            (
                &public_https,
                "https://2130706433/t",
                &[],
                private("127.0.0.1"),
            ),
            (
                &public_https,
                "https://0251.0376.0251.0376/t",
                &[],
                private("169.254.169.254"),
            ),
            (
                &public_https,
                "https://[::ffff:a9fe:a9fe]/t",
                &[],
                private("[::ffff:a9fe:a9fe]"),
            ),
            (
                &public_https,
                "https://10.0.0.8/t",
                &["10.0.0.8".to_owned()],
                Ok(()),
            ),
            (&local_http, "http://127.0.0.1:5001/token", &[], Ok(())),
            (&local_http, "http://localhost:5001/token", &[], Ok(())),
            (&local_http, "https://auth.example/token", &[], Ok(())),
        ];
        assert_eq!(cases.len(), 14);
        for (request, realm, trusted, expected) in cases {
            assert_eq!(
                check(request, &url(realm), trusted),
                expected,
                "{request} {realm}"
            );
        }
        // A trusted host written in another spelling still matches.
        assert_eq!(
            check(
                &public_https,
                &url("https://10.0.0.8/t"),
                &["0xa000008".to_owned()]
            ),
            Ok(())
        );
    }

    #[test]
    fn private_hosts() {
        let private = [
            "localhost",
            "a.localhost",
            "LOCALHOST.",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "[::1]",
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:127.0.0.1]",
            "[::127.0.0.1]",
            "[::a9fe:a9fe]",
            "[64:ff9b::a9fe:a9fe]",
            "[2002:7f00:1::]",
            "[::]",
            "0x7f.1",
            "017700000001",
        ];
        assert_eq!(private.len(), 21);
        for host in private {
            assert!(is_private_host(host), "{host}");
        }
        for host in [
            "example.com",
            "8.8.8.8",
            "[2001:db8::1]",
            "172.32.0.1",
            "[::8.8.8.8]",
        ] {
            assert!(!is_private_host(host), "{host}");
        }
    }

    #[test]
    fn local_identity_hosts() {
        for (u, local) in [
            (
                "http://169.254.169.254/metadata/identity/oauth2/token",
                true,
            ),
            ("http://127.0.0.1:41234/msi/token", true),
            ("http://localhost:41234/msi/token", true),
            ("http://[::1]:41234/msi/token", true),
            ("http://10.0.0.1/token", false),
            ("http://login.example/token", false),
        ] {
            assert_eq!(is_local_identity_host(&uri(u)), local, "{u}");
        }
    }

    /// One IPv4 address written in the many ways a URL parser accepts: dotted with each
    /// part in decimal, hex or octal, and the short forms `a.b.c`, `a.b` and `a`.
    fn spellings(ip: Ipv4Addr) -> impl Strategy<Value = String> {
        let value = u32::from(ip);
        let [a, b, c, d] = ip.octets();
        let form = prop_oneof![
            Just(vec![u32::from(a), u32::from(b), u32::from(c), u32::from(d)]),
            Just(vec![u32::from(a), u32::from(b), value & 0xffff]),
            Just(vec![u32::from(a), value & 0x00ff_ffff]),
            Just(vec![value]),
        ];
        (form, proptest::collection::vec(0..3u8, 4), any::<bool>()).prop_map(
            |(parts, radixes, trailing_dot)| {
                let mut text = parts
                    .iter()
                    .zip(radixes)
                    .map(|(part, radix)| match radix {
                        0 => part.to_string(),
                        1 => format!("0x{part:x}"),
                        _ => format!("0{part:o}"),
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                if trailing_dot {
                    text.push('.');
                }
                text
            },
        )
    }

    fn ipv4_and_spelling() -> impl Strategy<Value = (Ipv4Addr, String)> {
        let interesting = prop_oneof![
            any::<u32>().prop_map(Ipv4Addr::from),
            Just(Ipv4Addr::LOCALHOST),
            Just(Ipv4Addr::new(169, 254, 169, 254)),
            (any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(b, c, d)| Ipv4Addr::new(10, b, c, d)),
            (any::<u8>(), any::<u8>()).prop_map(|(c, d)| Ipv4Addr::new(127, 0, c, d)),
        ];
        interesting.prop_flat_map(|ip| spellings(ip).prop_map(move |s| (ip, s)))
    }

    proptest! {
        /// Whatever the spelling, the rule decides on the address the parser resolves,
        /// and the URI sent carries exactly that address.
        #[test]
        fn every_ipv4_spelling_is_judged_as_its_address((ip, spelled) in ipv4_and_spelling()) {
            let request = uri("https://reg.example/v2/");
            let realm = resolve(&request, &format!("https://{spelled}/token"))
                .expect("a valid IPv4 spelling resolves");
            prop_assert_eq!(realm.host(), Some(Host::Ipv4(ip)));
            let canonical = url(&format!("https://{ip}/token"));
            prop_assert_eq!(check(&request, &realm, &[]), check(&request, &canonical, &[]));
            prop_assert_eq!(
                check(&request, &realm, &[]).is_err(),
                private_v4(ip),
                "{} ({})", spelled, ip
            );
            let sent = to_uri(&realm).expect("URI");
            let expected = ip.to_string();
            prop_assert_eq!(sent.host(), Some(expected.as_str()));
        }

        /// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64) are judged as
        /// that address.
        #[test]
        fn ipv6_forms_are_judged_as_their_ipv4((ip, form) in (any::<u32>().prop_map(Ipv4Addr::from), 0..3u8)) {
            let text = match form {
                0 => format!("[::ffff:{ip}]"),
                1 => format!("[64:ff9b::{ip}]"),
                _ => format!("[::{ip}]"),
            };
            let request = uri("https://reg.example/v2/");
            let realm = resolve(&request, &format!("https://{text}/token")).expect("resolves");
            let compatible_special = form == 2 && (u32::from(ip) <= 1);
            if !compatible_special {
                prop_assert_eq!(check(&request, &realm, &[]).is_err(), private_v4(ip), "{}", text);
            }
        }
    }
}
