//! The [`Reference`] type: parsing, normalisation, accessors and formatting.

use std::fmt;
use std::str::FromStr;

use orca_manifest::Digest;

use crate::grammar::{
    check_registry, check_repository, check_repository_len, check_tag, is_image_id,
    is_registry_like, parse_digest,
};
use crate::registry::check_no_scheme;
use crate::{DEFAULT_TAG, Error, ErrorKind, Part, Registry, Repository};

/// The namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";

/// An image reference: `registry/repository[:tag][@digest]`.
///
/// Invariants: every part is valid under the distribution reference grammar (see the
/// crate documentation), the registry is a normalised [`Registry`] (`localhost`, or it
/// contains `.` or `:`, or is an IPv6 address), and `Display` writes a string that
/// [`Reference::parse`] reads back into an equal value.
///
/// The registry is normalised (lower case, no `:443`, Docker Hub's aliases as `docker.io`:
/// see [`Registry`]); the repository, tag and digest are kept as written. Equality compares
/// the four parts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: Registry,
    repository: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Byte ranges of the name, tag and digest of a reference string.
struct Split {
    /// End of the name (registry and repository).
    name_end: usize,
    /// Range of the tag, after the `:`.
    tag: Option<(usize, usize)>,
    /// Range of the digest, after the `@`.
    digest: Option<(usize, usize)>,
}

impl Split {
    /// The digest starts after the first `@` (no other part may contain one); the tag
    /// after the last `:` that follows the last `/` of what precedes the digest (a `:`
    /// before a `/` separates a registry's port).
    fn of(input: &str) -> Split {
        let (before_digest, digest) = match input.find('@') {
            Some(at) => (at, Some((at + 1, input.len()))),
            None => (input.len(), None),
        };
        let name_and_tag = &input[..before_digest];
        let last_slash = name_and_tag.rfind('/');
        let tag_colon = name_and_tag
            .rfind(':')
            .filter(|&colon| last_slash.is_none_or(|slash| colon > slash));
        match tag_colon {
            Some(colon) => Split {
                name_end: colon,
                tag: Some((colon + 1, before_digest)),
                digest,
            },
            None => Split {
                name_end: before_digest,
                tag: None,
                digest,
            },
        }
    }

    /// Validate the tag and digest and return them.
    fn tag_and_digest(&self, input: &str) -> Result<(Option<String>, Option<Digest>), Error> {
        let tag = match self.tag {
            Some((start, end)) => {
                check_tag(input, start, end)?;
                Some(input[start..end].to_owned())
            }
            None => None,
        };
        let digest = match self.digest {
            Some((start, end)) => Some(parse_digest(input, start, end)?),
            None => None,
        };
        Ok((tag, digest))
    }
}

impl Reference {
    /// Parse a fully qualified reference such as `myacr.azurecr.io/team/app:1.0` or
    /// `localhost:5000/app@sha256:…`, as a service receiving references should.
    ///
    /// The registry is required: the part before the first `/` must be `localhost` or
    /// contain `.`, `:` or an upper-case letter (Docker's rule), and still read as one once
    /// lower-cased ([`ErrorKind::AmbiguousRegistry`] otherwise). Only the registry is
    /// normalised (see [`Registry`]): `Display` gives back `input` with the registry in its
    /// normal form. A reference with neither tag nor digest has
    /// [`tag`](Reference::tag) `None`; [`manifest_reference`](Reference::manifest_reference)
    /// then gives `latest`.
    ///
    /// # Errors
    ///
    /// An [`Error`] naming the first problem from the left: [`ErrorKind::MissingRegistry`]
    /// for `team/app:1` or `app`, [`ErrorKind::SchemeNotAllowed`] for `http://…`, and
    /// otherwise the part and rule that fail.
    pub fn parse(input: &str) -> Result<Reference, Error> {
        if input.is_empty() {
            return Err(Error::new(input, Part::Repository, ErrorKind::Empty, 0));
        }
        check_no_scheme(input)?;
        let split = Split::of(input);
        let name = &input[..split.name_end];
        let missing_registry = || Error::new(input, Part::Registry, ErrorKind::MissingRegistry, 0);
        let slash = name.find('/').ok_or_else(missing_registry)?;
        if !is_registry_like(&name[..slash]) {
            return Err(missing_registry());
        }
        check_registry(input, 0, slash)?;
        let registry = Registry::normalise(input, 0, slash)?;
        check_repository(input, slash + 1, split.name_end)?;
        check_repository_len(input, slash + 1, split.name_end, 0)?;
        let (tag, digest) = split.tag_and_digest(input)?;
        Ok(Reference {
            registry,
            repository: Repository::from_validated(name[slash + 1..].to_owned()),
            tag,
            digest,
        })
    }

    /// Parse a reference the way `docker pull` reads one, and return it fully qualified.
    ///
    /// - No registry (the first component is not `localhost` and has no `.`, `:` or
    ///   upper-case letter): Docker Hub, `docker.io`.
    /// - The registry is normalised (see [`Registry`]): `index.docker.io` and
    ///   `registry-1.docker.io` become `docker.io`.
    /// - On Docker Hub, a single-component repository is an official image and gets
    ///   `library/`.
    /// - Neither tag nor digest: the tag `latest`. A digest-only reference gets no tag.
    ///
    /// So `ubuntu` → `docker.io/library/ubuntu:latest`, `user/app` →
    /// `docker.io/user/app:latest`, `localhost:5000/x` → `localhost:5000/x:latest`.
    ///
    /// # Errors
    ///
    /// As [`Reference::parse`], except that a missing registry is not an error; and
    /// [`ErrorKind::RepositoryIsImageId`] when the whole input is 64 lowercase hex
    /// characters (Docker reads that as an image ID). The length limit applies to the
    /// normalised repository, `library/` included.
    pub fn parse_normalized(input: &str) -> Result<Reference, Error> {
        if input.is_empty() {
            return Err(Error::new(input, Part::Repository, ErrorKind::Empty, 0));
        }
        if is_image_id(input) {
            return Err(Error::new(
                input,
                Part::Repository,
                ErrorKind::RepositoryIsImageId,
                0,
            ));
        }
        check_no_scheme(input)?;
        let split = Split::of(input);
        let name = &input[..split.name_end];
        let (registry, remote_start) = match name.find('/') {
            Some(slash) if is_registry_like(&name[..slash]) => {
                check_registry(input, 0, slash)?;
                (Registry::normalise(input, 0, slash)?, slash + 1)
            }
            _ => (Registry::docker_hub(), 0),
        };
        check_repository(input, remote_start, split.name_end)?;
        let remote = &input[remote_start..split.name_end];
        let prefix = if registry.is_docker_hub() && !remote.contains('/') {
            OFFICIAL_PREFIX
        } else {
            ""
        };
        check_repository_len(input, remote_start, split.name_end, prefix.len())?;
        let (mut tag, digest) = split.tag_and_digest(input)?;
        if tag.is_none() && digest.is_none() {
            tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(Reference {
            registry,
            repository: Repository::from_validated(format!("{prefix}{remote}")),
            tag,
            digest,
        })
    }

    /// A reference to `repository` on `registry`, with neither tag nor digest. The
    /// registry is normalised (see [`Registry`]).
    ///
    /// # Errors
    ///
    /// An [`Error`] whose input is `registry/repository`, when the registry is empty, is
    /// not one by Docker's rule ([`ErrorKind::MissingRegistry`]) or is malformed, or the
    /// repository is not valid.
    pub fn new(registry: &str, repository: &str) -> Result<Reference, Error> {
        let input = format!("{registry}/{repository}");
        let end = input.len();
        if registry.is_empty() {
            return Err(Error::new(&input, Part::Registry, ErrorKind::Empty, 0));
        }
        check_no_scheme(&input)?;
        check_registry(&input, 0, registry.len())?;
        if !is_registry_like(registry) {
            return Err(Error::new(
                &input,
                Part::Registry,
                ErrorKind::MissingRegistry,
                0,
            ));
        }
        let normalised = Registry::normalise(&input, 0, registry.len())?;
        check_repository(&input, registry.len() + 1, end)?;
        check_repository_len(&input, registry.len() + 1, end, 0)?;
        Ok(Reference::from_parts(
            normalised,
            Repository::from_validated(repository.to_owned()),
        ))
    }

    /// A reference to `repository` on `registry`, with neither tag nor digest; both are
    /// valid already, so this cannot fail.
    pub fn from_parts(registry: Registry, repository: Repository) -> Reference {
        Reference {
            registry,
            repository,
            tag: None,
            digest: None,
        }
    }

    /// This reference with its tag set to `tag` (replacing any tag; a digest is kept).
    ///
    /// # Errors
    ///
    /// An [`Error`] whose input is `tag`, when it is not `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    pub fn with_tag(mut self, tag: &str) -> Result<Reference, Error> {
        check_tag(tag, 0, tag.len())?;
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    /// This reference with its digest set to `digest` (replacing any digest; a tag is
    /// kept). A [`Digest`] is valid already, so this cannot fail.
    #[must_use]
    pub fn with_digest(mut self, digest: Digest) -> Reference {
        self.digest = Some(digest);
        self
    }

    /// The registry, normalised `host[:port]`: `myacr.azurecr.io`, `localhost:5000`,
    /// `[::1]:5000`, `docker.io` (whose API is at [`Registry::api_host`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The repository path inside the registry: `team/app`.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if one was given (or added by [`Reference::parse_normalized`]).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`algorithm:encoded`), if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to fetch: the `<reference>` in `/v2/<name>/manifests/<reference>`.
    ///
    /// The digest if there is one (it wins over a tag given with it), else the tag, else
    /// [`DEFAULT_TAG`] (`latest`).
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_ref()
            .map(Digest::as_str)
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// [`Reference::parse`]: strict, a registry is required.
    fn from_str(s: &str) -> Result<Reference, Error> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    /// The canonical form `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Split;

    /// (input, name, tag, digest) as the splitter cuts them, before any validation.
    #[test]
    fn split_finds_tag_after_last_slash_and_digest_after_first_at() {
        let cases = [
            ("a.io/x", "a.io/x", None, None),
            ("a.io:5000/x", "a.io:5000/x", None, None),
            ("a.io:5000/x:1", "a.io:5000/x", Some("1"), None),
            ("[::1]:5000/x:t@d:e", "[::1]:5000/x", Some("t"), Some("d:e")),
            ("[::1]/x", "[::1]/x", None, None),
            ("x:1", "x", Some("1"), None),
            ("x@a@b", "x", None, Some("a@b")),
            ("x@a:b/c:d", "x", None, Some("a:b/c:d")),
            ("a.io/x:1:2", "a.io/x:1", Some("2"), None),
            ("", "", None, None),
            (":", "", Some(""), None),
            ("@", "", None, Some("")),
        ];
        assert_eq!(cases.len(), 12);
        for (input, name, tag, digest) in cases {
            let split = Split::of(input);
            let range = |r: Option<(usize, usize)>| r.map(|(start, end)| &input[start..end]);
            assert_eq!(
                (
                    &input[..split.name_end],
                    range(split.tag),
                    range(split.digest)
                ),
                (name, tag, digest),
                "{input:?}"
            );
        }
    }
}
