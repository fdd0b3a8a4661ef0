//! Property tests: generated valid references round-trip; arbitrary strings never panic.

use std::fmt::Write as _;

use orca_reference::{Reference, fuzzing};
use proptest::prelude::*;

fn host_label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?"
}

fn ipv6() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(0u16..=0xffff, 8),
        0usize..8,
        0usize..8,
        any::<bool>(),
    )
        .prop_map(|(groups, a, b, compress)| {
            let hex = |g: &[u16]| {
                g.iter()
                    .map(|g| format!("{g:x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            };
            if compress {
                // Keep `a` groups before `::` and `b` after, leaving at least one out.
                let a = a.min(7);
                let b = b.min(7 - a);
                format!("[{}::{}]", hex(&groups[..a]), hex(&groups[8 - b..]))
            } else {
                format!("[{}]", hex(&groups))
            }
        })
}

/// A registry by Docker's rule: a dotted name, `localhost`, any host with a port, or IPv6.
fn registry() -> impl Strategy<Value = String> {
    let port = proptest::option::of(1u32..=65535);
    let host = prop_oneof![
        proptest::collection::vec(host_label(), 2..4).prop_map(|labels| labels.join(".")),
        Just("localhost".to_owned()),
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        ipv6(),
        host_label(),
    ];
    let port = prop_oneof![port, Just(Some(443))];
    (host, port).prop_filter_map("a lone label needs a port", |(host, port)| {
        let registry = match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        normalised_registry(&registry).map(|_| registry)
    })
}

/// RFC 5952 text for an IPv6 address, compressing the longest run of zero groups (at least
/// two) with `::`, written without `Ipv6Addr`'s dotted form for IPv4-mapped addresses.
fn rfc_5952(address: std::net::Ipv6Addr) -> String {
    let groups: Vec<String> = address
        .segments()
        .iter()
        .map(|g| format!("{g:x}"))
        .collect();
    let text = groups.join(":");
    // Try the longest run of zero groups first; the leftmost wins among equals.
    for run in (2..=8).rev() {
        for start in 0..=8 - run {
            if groups[start..start + run].iter().all(|g| g == "0") {
                return format!(
                    "{}::{}",
                    groups[..start].join(":"),
                    groups[start + run..].join(":")
                );
            }
        }
    }
    text
}

/// What a registry normalises to, restated independently of the crate: `None` when it is
/// not one (Docker's rule: `localhost`, or a `.` or `:`, once lower-cased).
pub(crate) fn normalised_registry(s: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (address, port) = rest.split_once(']')?;
        let address: std::net::Ipv6Addr = address.parse().ok()?;
        (format!("[{}]", rfc_5952(address)), port.strip_prefix(':'))
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (s.to_ascii_lowercase(), None),
        }
    };
    let port = port.map(|p| p.parse::<u16>().expect("a valid port"));
    let host_is_registry = host == "localhost" || host.contains('.') || host.starts_with('[');
    let port = port.filter(|&p| !(p == 443 && host_is_registry));
    let docker_hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    let host = if port.is_none() && docker_hub.contains(&host.as_str()) {
        "docker.io".to_owned()
    } else {
        host
    };
    match port {
        Some(port) => Some(format!("{host}:{port}")),
        None if host_is_registry => Some(host),
        None => None,
    }
}

fn repository() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,8}){0,3}", 1..5)
        .prop_map(|components| components.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}")),
        "[0-9a-f]{128}".prop_map(|hex| format!("sha512:{hex}")),
        (
            "[a-z0-9]{1,6}([+._-][a-z0-9]{1,6}){0,2}",
            "[a-zA-Z0-9=_-]{1,40}"
        )
            .prop_filter("sha256 and sha512 have fixed forms", |(alg, _)| alg
                != "sha256"
                && alg != "sha512")
            .prop_map(|(alg, enc)| format!("{alg}:{enc}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_references_round_trip(
        registry in registry(),
        repository in repository(),
        tag in proptest::option::of(tag()),
        digest in proptest::option::of(digest()),
    ) {
        let mut text = format!("{registry}/{repository}");
        if let Some(tag) = &tag {
            write!(text, ":{tag}").expect("writing to a String");
        }
        if let Some(digest) = &digest {
            write!(text, "@{digest}").expect("writing to a String");
        }
        let parsed = Reference::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let normalised = normalised_registry(&registry).expect("generated registries are registries");
        prop_assert_eq!(parsed.registry().as_str(), normalised.as_str());
        prop_assert_eq!(parsed.repository().as_str(), repository.as_str());
        prop_assert_eq!(parsed.tag(), tag.as_deref());
        prop_assert_eq!(parsed.digest().map(orca_reference::Digest::as_str), digest.as_deref());
        let rest = &text[registry.len()..];
        prop_assert_eq!(parsed.to_string(), format!("{normalised}{rest}"));
        prop_assert_eq!(Reference::parse(&parsed.to_string()), Ok(parsed.clone()));

        // The same parts built piece by piece give the same reference.
        let mut built = Reference::new(&registry, &repository).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(tag) = &tag {
            built = built.with_tag(tag).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        if let Some(digest) = &digest {
            let digest: orca_reference::Digest = digest.parse().map_err(|e: <orca_reference::Digest as std::str::FromStr>::Err| TestCaseError::fail(e.to_string()))?;
            built = built.with_digest(digest);
        }
        prop_assert_eq!(&built, &parsed);
        fuzzing::check_str(&text);
    }

    #[test]
    fn familiar_names_normalise_and_round_trip(
        repository in repository().prop_filter(
            "a first component with '.' would be a registry",
            |r| !r.split_once('/').is_some_and(|(first, _)| first.contains('.')),
        ),
        tag in proptest::option::of(tag()),
    ) {
        let text = match &tag {
            Some(tag) => format!("{repository}:{tag}"),
            None => repository.clone(),
        };
        let r = Reference::parse_normalized(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.registry().as_str(), "docker.io");
        let expected_repository = if repository.contains('/') { repository.clone() } else { format!("library/{repository}") };
        prop_assert_eq!(r.repository().as_str(), expected_repository.as_str());
        prop_assert_eq!(r.tag(), Some(tag.as_deref().unwrap_or("latest")));
        prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
        fuzzing::check_str(&text);
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        fuzzing::check_str(&input);
    }

    #[test]
    fn reference_alphabet_strings_never_panic(input in "[a-zA-Z0-9:/@._\\-\\[\\]+=é ]{0,80}") {
        fuzzing::check_str(&input);
    }

    #[test]
    fn mutated_references_never_panic(
        base in prop_oneof![
            Just("myacr.azurecr.io/team/app:v1@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            Just("[2001:db8::1]:5000/repo:tag"),
            Just("localhost:5000/a/b"),
            Just("ubuntu:22.04"),
        ],
        at in any::<prop::sample::Index>(),
        insert in "[:/@.\\-_\\[\\]A-Z%]{0,3}",
        remove in 0usize..4,
    ) {
        let mut s = base.to_owned();
        let i = at.index(s.len() + 1);
        let end = (i + remove).min(s.len());
        s.replace_range(i..end, &insert);
        fuzzing::check_str(&s);
    }
}
