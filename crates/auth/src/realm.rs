//! Realm resolution and the realm safety rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::Uri;
use http::uri::Scheme;

use crate::error::RealmRejection;

/// Resolves a realm against the URL of the request that was challenged: absolute realms
/// are taken as they are, `//host/path` takes the request's scheme, `/path` its scheme
/// and authority, anything else is relative to the request path's directory.
pub(crate) fn resolve(request: &Uri, realm: &str) -> Result<Uri, RealmRejection> {
    let realm = realm.trim();
    let scheme = request.scheme_str().unwrap_or("https");
    let authority = request.authority().map(http::uri::Authority::as_str);
    let text = if realm.contains("://") {
        realm.to_owned()
    } else if let Some(rest) = realm.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else {
        let authority = authority.ok_or(RealmRejection::NotHttpUrl)?;
        if realm.starts_with('/') {
            format!("{scheme}://{authority}{realm}")
        } else {
            let path = request.path();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{scheme}://{authority}{dir}{realm}")
        }
    };
    let uri: Uri = text.parse().map_err(|_| RealmRejection::NotHttpUrl)?;
    match uri.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => {}
        _ => return Err(RealmRejection::NotHttpUrl),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(RealmRejection::NotHttpUrl);
    }
    Ok(uri)
}

/// The realm safety rules.
///
/// - A registry reached over https must have an https realm.
/// - A realm on another host that is a loopback, private, link-local or unspecified
///   address (or `localhost`) is refused unless the registry itself is such a host or the
///   realm host is trusted explicitly.
///
/// # Limitations
///
/// Host names are not resolved (this crate does no IO): a public name that resolves to a
/// private address is not caught here.
pub(crate) fn check(
    request: &Uri,
    realm: &Uri,
    trusted_hosts: &[String],
) -> Result<(), RealmRejection> {
    let request_https = request.scheme().is_none_or(|s| *s == Scheme::HTTPS);
    if request_https && realm.scheme() != Some(&Scheme::HTTPS) {
        return Err(RealmRejection::NotHttps);
    }
    let realm_host = realm.host().unwrap_or_default().to_ascii_lowercase();
    let request_host = request.host().unwrap_or_default().to_ascii_lowercase();
    if realm_host == request_host {
        return Ok(());
    }
    let realm_authority = realm
        .authority()
        .map(|a| a.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    if trusted_hosts
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&realm_host) || t.eq_ignore_ascii_case(&realm_authority))
    {
        return Ok(());
    }
    if is_private_host(&realm_host) && !is_private_host(&request_host) {
        return Err(RealmRejection::PrivateHost { host: realm_host });
    }
    Ok(())
}

/// Whether a host is `localhost` or a loopback, private, link-local, shared or unspecified
/// address.
pub(crate) fn is_private_host(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => private_v4(v4),
        Ok(IpAddr::V6(v6)) => private_v6(v6),
        Err(_) => false,
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("test URI")
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
        ];
        assert_eq!(cases.len(), 5);
        for (realm, expected) in cases {
            assert_eq!(resolve(&request, realm).expect(realm).to_string(), expected);
        }
        assert_eq!(
            resolve(&request, "ftp://x/y"),
            Err(RealmRejection::NotHttpUrl)
        );
        assert_eq!(
            resolve(&request, "https://"),
            Err(RealmRejection::NotHttpUrl)
        );
        assert_eq!(
            resolve(&request, "Registry Realm"),
            Err(RealmRejection::NotHttpUrl)
        );
    }

    type Case<'a> = (&'a Uri, &'a str, &'a [String], Result<(), RealmRejection>);

    #[test]
    fn safety() {
        let public_https = uri("https://reg.example/v2/");
        let local_http = uri("http://127.0.0.1:5000/v2/");
        let cases: [Case<'_>; 9] = [
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
                Err(RealmRejection::PrivateHost {
                    host: "127.0.0.1".into(),
                }),
            ),
            (
                &public_https,
                "https://169.254.169.254/latest/meta-data",
                &[],
                Err(RealmRejection::PrivateHost {
                    host: "169.254.169.254".into(),
                }),
            ),
            (
                &public_https,
                "https://[::1]:8443/t",
                &[],
                Err(RealmRejection::PrivateHost {
                    host: "[::1]".into(),
                }),
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
        assert_eq!(cases.len(), 9);
        for (request, realm, trusted, expected) in cases {
            assert_eq!(
                check(request, &uri(realm), trusted),
                expected,
                "{request} {realm}"
            );
        }
    }

    #[test]
    fn private_hosts() {
        for host in [
            "localhost",
            "a.localhost",
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
        ] {
            assert!(is_private_host(host), "{host}");
        }
        for host in ["example.com", "8.8.8.8", "[2001:db8::1]", "172.32.0.1"] {
            assert!(!is_private_host(host), "{host}");
        }
    }
}
