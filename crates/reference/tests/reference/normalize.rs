//! Docker-style normalisation, with the cases of distribution's `normalize_test.go`.

use orca_reference::ErrorKind::{
    AmbiguousRegistry, Empty, EmptyComponent, InvalidCharacter, InvalidHostLabel, InvalidIpv6,
    InvalidPort, InvalidSeparator, RepositoryIsImageId, RepositoryTooLong, SchemeNotAllowed,
    Uppercase,
};
use orca_reference::Part::{Registry, Repository};
use orca_reference::Reference;

use crate::{err, run_table};

const REDIS_DIGEST: &str =
    "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
const IMAGE_ID: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

/// (input, normalised Display).
fn valid() -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = vec![
        ("ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("ubuntu:22.04".into(), "docker.io/library/ubuntu:22.04".into()),
        ("library/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("user/app".into(), "docker.io/user/app:latest".into()),
        ("docker/docker".into(), "docker.io/docker/docker:latest".into()),
        ("docker.io/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("docker.io/library/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("docker.io/library/foo/bar".into(), "docker.io/library/foo/bar:latest".into()),
        ("index.docker.io/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("index.docker.io/docker/docker".into(), "docker.io/docker/docker:latest".into()),
        ("index.docker.io/library/debian:12".into(), "docker.io/library/debian:12".into()),
        ("store/foo/bar".into(), "docker.io/store/foo/bar:latest".into()),
        ("other/library".into(), "docker.io/other/library:latest".into()),
        ("nonlibrary/ubuntu".into(), "docker.io/nonlibrary/ubuntu:latest".into()),
        ("test_com/foo".into(), "docker.io/test_com/foo:latest".into()),
        ("ubuntu-12.04-base".into(), "docker.io/library/ubuntu-12.04-base:latest".into()),
        ("docker---rules/docker".into(), "docker.io/docker---rules/docker:latest".into()),
        ("dock__er/docker".into(), "docker.io/dock__er/docker:latest".into()),
        ("d/docker".into(), "docker.io/d/docker:latest".into()),
        ("jess/t".into(), "docker.io/jess/t:latest".into()),
        (
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev".into(),
            "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest".into(),
        ),
        // A 63-character hex name is a name; 64 with a registry is too.
        (IMAGE_ID[..63].into(), format!("docker.io/library/{}:latest", &IMAGE_ID[..63])),
        (format!("docker.io/{IMAGE_ID}"), format!("docker.io/library/{IMAGE_ID}:latest")),
        ("dbcc1".into(), "docker.io/library/dbcc1:latest".into()),
        // Single components that look like hosts are Docker Hub names (Docker's rule).
        ("localhost".into(), "docker.io/library/localhost:latest".into()),
        ("192.168.0.1".into(), "docker.io/library/192.168.0.1:latest".into()),
        ("192.168.0.1:80".into(), "docker.io/library/192.168.0.1:80".into()),
        // Other registries stay as written.
        ("localhost/x".into(), "localhost/x:latest".into()),
        ("localhost:5000/x".into(), "localhost:5000/x:latest".into()),
        ("127.0.0.1:5000/debian".into(), "127.0.0.1:5000/debian:latest".into()),
        ("127.0.0.1:5000/library/debian".into(), "127.0.0.1:5000/library/debian:latest".into()),
        ("192.168.0.1:8/debian".into(), "192.168.0.1:8/debian:latest".into()),
        ("example.com/privatebase".into(), "example.com/privatebase:latest".into()),
        ("example.com:8000/private/moonbase".into(), "example.com:8000/private/moonbase:latest".into()),
        ("[fc00::1]:5000/docker".into(), "[fc00::1]:5000/docker:latest".into()),
        ("[fc00:1:2:3:4:5:6:7]:5000/library/debian".into(), "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest".into()),
        ("myacr.azurecr.io/a/b:1".into(), "myacr.azurecr.io/a/b:1".into()),
        // Registries are normalised: case, the default port, Docker Hub's aliases.
        ("MyACR.AzureCR.io:443/a/b:1".into(), "myacr.azurecr.io/a/b:1".into()),
        ("registry-1.docker.io/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("Index.Docker.IO:443/ubuntu".into(), "docker.io/library/ubuntu:latest".into()),
        ("[FC00:0::1]:5000/docker".into(), "[fc00::1]:5000/docker:latest".into()),
        // Digests: no `latest` is added; a tag given with a digest is kept.
        (format!("redis@{REDIS_DIGEST}"), format!("docker.io/library/redis@{REDIS_DIGEST}")),
        (format!("dmcgowan/myapp@{REDIS_DIGEST}"), format!("docker.io/dmcgowan/myapp@{REDIS_DIGEST}")),
        (format!("busybox:latest@{REDIS_DIGEST}"), format!("docker.io/library/busybox:latest@{REDIS_DIGEST}")),
        // Length: `library/` counts toward the 255 bytes.
        ("a".repeat(247), format!("docker.io/library/{}:latest", "a".repeat(247))),
    ];
    pairs
}

#[test]
fn familiar_names_normalise_like_docker() {
    let cases = valid();
    assert_eq!(cases.len(), 45);
    let mut failures = Vec::new();
    for (input, want) in &cases {
        orca_reference::fuzzing::check_str(input);
        match Reference::parse_normalized(input) {
            Ok(r) if r.to_string() == *want => {
                // The normalised form is a strict reference that normalises to itself.
                assert_eq!(Reference::parse(want).as_ref(), Ok(&r));
                assert_eq!(Reference::parse_normalized(want).as_ref(), Ok(&r));
            }
            got => failures.push(format!("{input:?}: want {want:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn normalised_parts_are_split_as_docker_splits_them() {
    let r = Reference::parse_normalized("docker.io/library/foo/bar").expect("valid");
    assert_eq!(
        (
            r.registry().as_str(),
            r.repository().as_str(),
            r.tag(),
            r.digest()
        ),
        ("docker.io", "library/foo/bar", Some("latest"), None)
    );
    let r = Reference::parse_normalized("xn--n3h.com:18080/foo").expect("valid");
    assert_eq!(
        (r.registry().as_str(), r.repository().as_str()),
        ("xn--n3h.com:18080", "foo")
    );
    let r = Reference::parse_normalized(&format!("redis@{REDIS_DIGEST}")).expect("valid");
    assert_eq!(
        (r.tag(), r.digest(), r.manifest_reference()),
        (
            None,
            Some(&REDIS_DIGEST.parse().expect("a digest")),
            REDIS_DIGEST
        )
    );
}

#[test]
fn invalid_familiar_names_are_refused() {
    let too_long_namespace = format!("{}/docker", "this_is_not_a_valid_namespace".repeat(9));
    let cases = vec![
        err("", Repository, Empty, 0),
        err(IMAGE_ID, Repository, RepositoryIsImageId, 0),
        err("docker/Docker", Repository, Uppercase('D'), 7),
        err("docker.io/docker/Docker", Repository, Uppercase('D'), 17),
        err("Uppercase:tag", Repository, Uppercase('U'), 0),
        err("-docker", Repository, InvalidSeparator, 0),
        err("-docker/docker", Repository, InvalidSeparator, 0),
        err("docker-/docker", Repository, InvalidSeparator, 6),
        err("____/____", Repository, InvalidSeparator, 0),
        // A first component with a '.' is a registry by Docker's rule.
        err("dock..er/docker", Registry, InvalidHostLabel, 5),
        err("docker///docker", Repository, EmptyComponent, 7),
        err("docker.io/docker///docker", Repository, EmptyComponent, 17),
        err("docker/", Repository, EmptyComponent, 7),
        err("[fc00::1]", Repository, InvalidCharacter('['), 0),
        err("[fc00::1]:5000", Repository, InvalidCharacter('['), 0),
        err("fc00::1:5000/debian", Registry, InvalidPort, 5),
        err("[fe80::1%eth0]:5000/debian", Registry, InvalidIpv6, 8),
        err(
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            Registry,
            InvalidIpv6,
            18,
        ),
        err(
            "https://github.com/docker/docker",
            Registry,
            SchemeNotAllowed,
            0,
        ),
        // Lower-cased, these would be Docker Hub namespaces, not registries.
        err("Foo/bar", Registry, AmbiguousRegistry, 0),
        err("DOCKER/docker", Registry, AmbiguousRegistry, 0),
        err(
            too_long_namespace.clone(),
            Repository,
            RepositoryTooLong {
                length: too_long_namespace.len(),
            },
            255,
        ),
        err(
            "a".repeat(248),
            Repository,
            RepositoryTooLong { length: 256 },
            247,
        ),
    ];
    assert_eq!(cases.len(), 23);
    run_table(&cases, Reference::parse_normalized);
}
