//! Building references from parts: `new`, `with_tag`, `with_digest`.

use orca_reference::{Digest, ErrorKind, Part, Reference};

use crate::SHA256_F;

#[test]
fn new_validates_registry_and_repository() {
    let r = Reference::new("registry.example:443", "team/app").expect("valid");
    assert_eq!(
        (
            r.registry().as_str(),
            r.repository().as_str(),
            r.tag(),
            r.digest()
        ),
        ("registry.example", "team/app", None, None)
    );
    assert_eq!(r.to_string(), "registry.example/team/app");
    assert_eq!(r.manifest_reference(), "latest");

    let cases: [(&str, &str, Part, ErrorKind, usize); 7] = [
        ("", "app", Part::Registry, ErrorKind::Empty, 0),
        ("team", "app", Part::Registry, ErrorKind::MissingRegistry, 0),
        (
            "a.io/b",
            "app",
            Part::Registry,
            ErrorKind::InvalidCharacter('/'),
            4,
        ),
        (
            "a.io:99999",
            "app",
            Part::Registry,
            ErrorKind::InvalidPort,
            5,
        ),
        ("a.io", "", Part::Repository, ErrorKind::EmptyComponent, 5),
        (
            "a.io",
            "Team/app",
            Part::Repository,
            ErrorKind::Uppercase('T'),
            5,
        ),
        (
            "a.io",
            "app:1",
            Part::Repository,
            ErrorKind::InvalidCharacter(':'),
            8,
        ),
    ];
    for (registry, repository, part, kind, position) in cases {
        let e = Reference::new(registry, repository).expect_err(repository);
        assert_eq!(e.input(), format!("{registry}/{repository}"));
        assert_eq!(
            (e.part(), e.kind(), e.position()),
            (part, kind, position),
            "{registry} {repository}"
        );
    }
    let long = "a".repeat(256);
    let e = Reference::new("a.io", &long).expect_err("too long");
    assert_eq!(e.kind(), ErrorKind::RepositoryTooLong { length: 256 });
}

#[test]
fn with_tag_and_with_digest_set_and_replace() {
    let r = Reference::new("a.io", "x").expect("valid");
    let tagged = r.clone().with_tag("v1").expect("valid tag");
    assert_eq!(tagged.to_string(), "a.io/x:v1");
    let retagged = tagged.with_tag("TAG5").expect("valid tag");
    assert_eq!(retagged.to_string(), "a.io/x:TAG5");
    let digest: Digest = SHA256_F.parse().expect("valid digest");
    let pinned = retagged.with_digest(digest.clone());
    assert_eq!(pinned.digest(), Some(&digest));
    assert_eq!(pinned.to_string(), format!("a.io/x:TAG5@{SHA256_F}"));
    assert_eq!(pinned.manifest_reference(), SHA256_F);
    let other = format!("sha512:{}", "0".repeat(128));
    let repinned = pinned.with_digest(other.parse().expect("valid digest"));
    assert_eq!(
        (repinned.tag(), repinned.digest().map(Digest::as_str)),
        (Some("TAG5"), Some(other.as_str()))
    );
    assert_eq!(
        Reference::parse(&repinned.to_string()).as_ref(),
        Ok(&repinned)
    );

    let e = r.clone().with_tag("-foo").expect_err("bad tag");
    assert_eq!(
        (e.input(), e.part(), e.kind(), e.position()),
        ("-foo", Part::Tag, ErrorKind::InvalidTagStart('-'), 0)
    );
    let e = r.clone().with_tag("").expect_err("empty tag");
    assert_eq!((e.part(), e.kind()), (Part::Tag, ErrorKind::Empty));
    // A digest is validated where it is made: by `Digest::parse`, the one grammar.
    assert!("foo".parse::<Digest>().is_err());
}
