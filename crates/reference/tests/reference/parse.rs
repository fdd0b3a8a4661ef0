//! Strict parsing: every grammar rule, valid and invalid, including the cases of
//! distribution's `reference_test.go` (rewritten for a parser that requires a registry).

use orca_reference::ErrorKind::{
    AmbiguousRegistry, Empty, EmptyComponent, InvalidCharacter, InvalidDigest, InvalidHostLabel,
    InvalidIpv6, InvalidPort, InvalidSeparator, InvalidTagStart, MissingRegistry,
    RepositoryTooLong, SchemeNotAllowed, TagTooLong, Uppercase,
};
use orca_reference::Part::{Digest, Registry, Repository, Tag};
use orca_reference::{DigestErrorKind as D, Reference};

use crate::{Case, SHA256_F, Want, err, ok, run_table};

fn sha512_f() -> String {
    format!("sha512:{}", "f".repeat(128))
}

#[allow(clippy::too_many_lines)] // a table reads best as one list
fn valid() -> Vec<Case> {
    let sha512 = sha512_f();
    vec![
        ok("test.com/repo:tag", "test.com", "repo", Some("tag"), None),
        ok("test:5000/repo", "test:5000", "repo", None, None),
        ok("test:5000/repo:tag", "test:5000", "repo", Some("tag"), None),
        ok(
            format!("test:5000/repo@{SHA256_F}"),
            "test:5000",
            "repo",
            None,
            Some(SHA256_F),
        ),
        ok(
            format!("test:5000/repo:tag@{SHA256_F}"),
            "test:5000",
            "repo",
            Some("tag"),
            Some(SHA256_F),
        ),
        ok(
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com",
            "bar/baz/quux",
            None,
            None,
        ),
        ok(
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com",
            "bar/baz/quux",
            Some("some-long-tag"),
            None,
        ),
        ok(
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io",
            "test.example.com/my-app",
            Some("test.example.com"),
            None,
        ),
        ok(
            "xn--n3h.com/myimage:xn--n3h.com",
            "xn--n3h.com",
            "myimage",
            Some("xn--n3h.com"),
            None,
        ),
        ok(
            format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
            "xn--7o8h.com",
            "myimage",
            Some("xn--7o8h.com"),
            Some(&sha512),
        ),
        ok(
            "foo.com/foo_bar.com:8080",
            "foo.com",
            "foo_bar.com",
            Some("8080"),
            None,
        ),
        ok("test-com:8080/foo", "test-com:8080", "foo", None, None),
        ok(
            "xn--n3h.com:18080/foo",
            "xn--n3h.com:18080",
            "foo",
            None,
            None,
        ),
        ok(
            "myacr.azurecr.io/configs/anonymization:default",
            "myacr.azurecr.io",
            "configs/anonymization",
            Some("default"),
            None,
        ),
        // IPv4 and IPv6.
        ok("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
        ok(
            "192.168.1.1:5000/repo",
            "192.168.1.1:5000",
            "repo",
            None,
            None,
        ),
        ok(
            "192.168.1.1:5000/repo:5050",
            "192.168.1.1:5000",
            "repo",
            Some("5050"),
            None,
        ),
        ok(
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000",
            "docker/docker",
            None,
            None,
        ),
        ok("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
        ok(
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            "[2001:db8:1:2:3:4:5:6]",
            "repo",
            Some("tag"),
            None,
        ),
        ok(
            "[2001:db8::1]:5000/repo",
            "[2001:db8::1]:5000",
            "repo",
            None,
            None,
        ),
        ok(
            "[2001:db8::1]:5000/repo:tag",
            "[2001:db8::1]:5000",
            "repo",
            Some("tag"),
            None,
        ),
        ok(
            format!("[2001:db8::1]:5000/repo@{SHA256_F}"),
            "[2001:db8::1]:5000",
            "repo",
            None,
            Some(SHA256_F),
        ),
        ok(
            format!("[2001:db8::1]:5000/repo:tag@{SHA256_F}"),
            "[2001:db8::1]:5000",
            "repo",
            Some("tag"),
            Some(SHA256_F),
        ),
        ok(
            "[2001:db8::]:5000/repo",
            "[2001:db8::]:5000",
            "repo",
            None,
            None,
        ),
        ok("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
        ok("[FC00::1]:5000/repo", "[fc00::1]:5000", "repo", None, None),
        ok("[0:0::1]:443/repo", "[::1]", "repo", None, None),
        // localhost, ports and Docker's upper-case rule.
        ok("localhost/repo", "localhost", "repo", None, None),
        ok("localhost:5000/x", "localhost:5000", "x", None, None),
        ok("localhost:1/x", "localhost:1", "x", None, None),
        ok("localhost:65535/x", "localhost:65535", "x", None, None),
        ok("Foo.io/bar", "foo.io", "bar", None, None),
        ok("myhost:443/bar", "myhost:443", "bar", None, None),
        ok("a.io:443/bar", "a.io", "bar", None, None),
        ok("a.io:05000/bar", "a.io:5000", "bar", None, None),
        ok(
            "index.docker.io/library/debian",
            "docker.io",
            "library/debian",
            None,
            None,
        ),
        ok("docker.io/ubuntu", "docker.io", "ubuntu", None, None),
        // Path components and separators.
        ok(
            "a.io/dock__er/docker",
            "a.io",
            "dock__er/docker",
            None,
            None,
        ),
        ok(
            "a.io/docker---rules/docker",
            "a.io",
            "docker---rules/docker",
            None,
            None,
        ),
        ok(
            "a.io/docker-rules/docker",
            "a.io",
            "docker-rules/docker",
            None,
            None,
        ),
        ok("a.io/a.b_c-d/e", "a.io", "a.b_c-d/e", None, None),
        ok("a.io/d/docker", "a.io", "d/docker", None, None),
        ok("a.io/jess/t", "a.io", "jess/t", None, None),
        ok("a.io/0/9", "a.io", "0/9", None, None),
        ok(
            "a.io/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "a.io",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            None,
            None,
        ),
        ok(
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "docker.io",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            None,
            None,
        ),
        // Length limits: 255 repository bytes (registry not counted), 128 tag characters.
        ok(
            format!("a.io/{}", "a".repeat(255)),
            "a.io",
            "a".repeat(255),
            None,
            None,
        ),
        ok(
            format!("a.io/{}a", "a/".repeat(127)),
            "a.io",
            format!("{}a", "a/".repeat(127)),
            None,
            None,
        ),
        ok(
            format!("a.io/x:{}", "t".repeat(128)),
            "a.io",
            "x",
            Some(&"t".repeat(128)),
            None,
        ),
        // Tags.
        ok(
            "lowercase.io/x:Uppercase",
            "lowercase.io",
            "x",
            Some("Uppercase"),
            None,
        ),
        ok(
            "test.com:8000/foo:TAG5",
            "test.com:8000",
            "foo",
            Some("TAG5"),
            None,
        ),
        ok("a.io/x:_tag", "a.io", "x", Some("_tag"), None),
        ok("a.io/x:1.0-rc_1", "a.io", "x", Some("1.0-rc_1"), None),
        // Digests: unknown well-formed algorithms are kept.
        ok(
            "a.io/x@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            "a.io",
            "x",
            None,
            Some("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
        ),
        ok("a.io/x@sha384:abc", "a.io", "x", None, Some("sha384:abc")),
        ok(
            "a.io/x@invaliddigest:ffff",
            "a.io",
            "x",
            None,
            Some("invaliddigest:ffff"),
        ),
    ]
}

#[allow(clippy::too_many_lines)] // a table reads best as one list
fn invalid() -> Vec<Case> {
    vec![
        err("", Repository, Empty, 0),
        // No registry.
        err(":justtag", Registry, MissingRegistry, 0),
        err(format!("@{SHA256_F}"), Registry, MissingRegistry, 0),
        err("test_com", Registry, MissingRegistry, 0),
        err("test.com:tag", Registry, MissingRegistry, 0),
        err("test.com:5000", Registry, MissingRegistry, 0),
        err("192.168.1.1:5000", Registry, MissingRegistry, 0),
        err("a/b:1", Registry, MissingRegistry, 0),
        err("ubuntu", Registry, MissingRegistry, 0),
        err("Uppercase:tag", Registry, MissingRegistry, 0),
        err("/docker", Registry, MissingRegistry, 0),
        err(
            format!("{}a:tag", "a/".repeat(127)),
            Registry,
            MissingRegistry,
            0,
        ),
        err("[2001:db8::1]", Registry, MissingRegistry, 0),
        err("[2001:db8::1]:5000", Registry, MissingRegistry, 0),
        err("[2001:db8::1]:tag", Registry, MissingRegistry, 0),
        // Registry hosts, ports and IPv6.
        err("-docker.io/docker/docker", Registry, InvalidHostLabel, 0),
        err("docker-.io/x", Registry, InvalidHostLabel, 6),
        err("a..io/x", Registry, InvalidHostLabel, 2),
        err(".io/x", Registry, InvalidHostLabel, 0),
        err("a_b.io/x", Registry, InvalidCharacter('_'), 1),
        err("ä.io/x", Registry, InvalidCharacter('ä'), 0),
        err(":5000/x", Registry, InvalidHostLabel, 0),
        err(
            "https://github.com/docker/docker",
            Registry,
            SchemeNotAllowed,
            0,
        ),
        err("http://localhost:5000/app", Registry, SchemeNotAllowed, 0),
        err("Foo/bar", Registry, AmbiguousRegistry, 0),
        err("localhost:/x", Registry, InvalidPort, 10),
        err("localhost:0/x", Registry, InvalidPort, 10),
        err("localhost:65536/x", Registry, InvalidPort, 10),
        err("localhost:000080/x", Registry, InvalidPort, 10),
        err("localhost:5a/x", Registry, InvalidPort, 11),
        err("fc00::1:5000/debian", Registry, InvalidPort, 5),
        err("[fe80::1%eth0]:5000/repo", Registry, InvalidIpv6, 8),
        err(
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            Registry,
            InvalidIpv6,
            18,
        ),
        err("[::1/x", Registry, InvalidIpv6, 0),
        err("[::g]/x", Registry, InvalidIpv6, 3),
        err("[:::]/x", Registry, InvalidIpv6, 1),
        err("[]/x", Registry, InvalidIpv6, 1),
        err("[1:2:3:4:5:6:7:8:9]/x", Registry, InvalidIpv6, 1),
        err("[::1]x/y", Registry, InvalidCharacter('x'), 5),
        err("[::1]:/y", Registry, InvalidPort, 6),
        // Repository components.
        err(
            "test:5000/Uppercase/lowercase:tag",
            Repository,
            Uppercase('U'),
            10,
        ),
        err("a.io/docker/Docker", Repository, Uppercase('D'), 12),
        err("aa.io/asdf$$^/aa", Repository, InvalidCharacter('$'), 10),
        err("a.io/ä", Repository, InvalidCharacter('ä'), 5),
        err("a.io/x y", Repository, InvalidCharacter(' '), 6),
        err("a.io/x:tag:more", Repository, InvalidCharacter(':'), 6),
        err("a.io/-docker", Repository, InvalidSeparator, 5),
        err("a.io/docker-", Repository, InvalidSeparator, 11),
        err("a.io/-docker-/docker", Repository, InvalidSeparator, 5),
        err("a.io/docker-/docker", Repository, InvalidSeparator, 11),
        err("a.io/____/____", Repository, InvalidSeparator, 5),
        err("a.io/_docker/_docker", Repository, InvalidSeparator, 5),
        err("a.io/dock..er/docker", Repository, InvalidSeparator, 9),
        err("a.io/dock_.er/docker", Repository, InvalidSeparator, 9),
        err("a.io/dock-.er/docker", Repository, InvalidSeparator, 9),
        err("a.io/dock___er", Repository, InvalidSeparator, 9),
        err("a.io/x.", Repository, InvalidSeparator, 6),
        err("a.io/", Repository, EmptyComponent, 5),
        err("a.io//docker", Repository, EmptyComponent, 5),
        err("a.io/docker/", Repository, EmptyComponent, 12),
        err("a.io/docker///docker", Repository, EmptyComponent, 12),
        err(
            format!("a.io/{}", "a".repeat(256)),
            Repository,
            RepositoryTooLong { length: 256 },
            260,
        ),
        err(
            format!("a.io/{}a", "a/".repeat(128)),
            Repository,
            RepositoryTooLong { length: 257 },
            260,
        ),
        // Tags.
        err("a.io/x:", Tag, Empty, 7),
        err("a.io/x:-tag", Tag, InvalidTagStart('-'), 7),
        err("a.io/x:.tag", Tag, InvalidTagStart('.'), 7),
        err("a.io/x:ta g", Tag, InvalidCharacter(' '), 9),
        err("a.io/x:tä", Tag, InvalidCharacter('ä'), 8),
        err("a.io/x:t+g", Tag, InvalidCharacter('+'), 8),
        err(
            format!("a.io/x:{}", "t".repeat(129)),
            Tag,
            TagTooLong { length: 129 },
            7 + 128,
        ),
        // Digests: short, long, upper case, malformed.
        err(
            "repo.io/x@sha256:ffffffffffffffffffffffffffffffffff",
            Digest,
            InvalidDigest(D::WrongLength {
                expected: 64,
                actual: 34,
            }),
            17,
        ),
        err(
            format!("a.io/x@sha256:{}", "f".repeat(65)),
            Digest,
            InvalidDigest(D::WrongLength {
                expected: 64,
                actual: 65,
            }),
            14,
        ),
        err(
            format!("a.io/x@sha512:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::WrongLength {
                expected: 128,
                actual: 64,
            }),
            14,
        ),
        err(
            format!("a.io/x@sha256:{}", "F".repeat(64)),
            Digest,
            InvalidDigest(D::NotLowercaseHex),
            14,
        ),
        err(
            format!("a.io/x@sha256:{}g", "f".repeat(63)),
            Digest,
            InvalidDigest(D::NotLowercaseHex),
            14 + 63,
        ),
        err("a.io/x@", Digest, Empty, 7),
        err(
            "a.io/x@sha256",
            Digest,
            InvalidDigest(D::MissingSeparator),
            13,
        ),
        err(
            format!("a.io/x@:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::InvalidAlgorithm),
            7,
        ),
        err(
            format!("a.io/x@SHA256:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::InvalidAlgorithm),
            7,
        ),
        err(
            format!("a.io/x@sha256-:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::InvalidAlgorithm),
            13,
        ),
        err(
            format!("a.io/x@-sha256:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::InvalidAlgorithm),
            7,
        ),
        err(
            format!("a.io/x@sha--256:{}", "f".repeat(64)),
            Digest,
            InvalidDigest(D::InvalidAlgorithm),
            11,
        ),
        err("a.io/x@foo:", Digest, InvalidDigest(D::InvalidEncoded), 11),
        err(
            "a.io/x@foo:a/b",
            Digest,
            InvalidDigest(D::InvalidEncoded),
            12,
        ),
        // A second `@` is a character a digest does not allow.
        err(
            format!("a.io/x:tag@{SHA256_F}@x"),
            Digest,
            InvalidDigest(D::InvalidEncoded),
            11 + SHA256_F.len(),
        ),
    ]
}

#[test]
fn valid_references_parse_into_their_parts() {
    let cases = valid();
    assert_eq!(cases.len(), 57);
    run_table(&cases, Reference::parse);
    for case in &cases {
        let parsed = Reference::parse(&case.input).expect("checked by the table");
        let Want::Ok { registry, .. } = &case.want else {
            unreachable!("valid cases are Ok")
        };
        let rest = &case.input[case.input.find('/').expect("has a registry")..];
        assert_eq!(
            parsed.to_string(),
            format!("{registry}{rest}"),
            "Display is the input with its registry normalised"
        );
        assert_eq!(
            case.input.parse::<Reference>().as_ref(),
            Ok(&parsed),
            "FromStr is parse"
        );
    }
}

#[test]
fn invalid_references_fail_at_the_right_part_and_byte() {
    let cases = invalid();
    assert_eq!(cases.len(), 85);
    run_table(&cases, Reference::parse);
}

#[test]
fn manifest_reference_prefers_digest_then_tag_then_latest() {
    let cases = [
        ("a.io/x".to_owned(), "latest".to_owned()),
        ("a.io/x:v1".to_owned(), "v1".to_owned()),
        (format!("a.io/x@{SHA256_F}"), SHA256_F.to_owned()),
        (format!("a.io/x:v1@{SHA256_F}"), SHA256_F.to_owned()),
    ];
    assert_eq!(cases.len(), 4);
    for (input, want) in cases {
        let r = Reference::parse(&input).expect("valid");
        assert_eq!(r.manifest_reference(), want, "{input}");
    }
}
