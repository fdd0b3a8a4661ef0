//! The crate's one error type.

use std::fmt;

use orca_manifest::DigestErrorKind;

use crate::{MAX_REPOSITORY_LEN, MAX_TAG_LEN};

/// How many bytes of the input an error message quotes before eliding the rest.
const QUOTED_INPUT_MAX: usize = 300;

/// Why a string is not a valid reference (or registry, repository, tag or digest).
///
/// It names the input, the [`Part`] that is wrong, what is wrong ([`ErrorKind`]) and the
/// byte offset of the problem in the input. `Display` reads as one sentence:
///
/// ```text
/// invalid tag in "myacr.azurecr.io/app:v1!" at byte 23: character '!' is not allowed here (allowed: A-Z a-z 0-9 _ . -)
/// ```
///
/// The position is always a char boundary of [`Error::input`] and at most its length.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Error {
    input: String,
    part: Part,
    kind: ErrorKind,
    position: usize,
}

impl Error {
    pub(crate) fn new(input: &str, part: Part, kind: ErrorKind, position: usize) -> Error {
        debug_assert!(position <= input.len() && input.is_char_boundary(position));
        Error {
            input: input.to_owned(),
            part,
            kind,
            position,
        }
    }

    /// The string that was parsed.
    ///
    /// For [`Reference::parse`](crate::Reference::parse) and
    /// [`Reference::parse_normalized`](crate::Reference::parse_normalized) this is the whole
    /// reference; for [`Reference::new`](crate::Reference::new) it is
    /// `registry/repository`; for [`Reference::with_tag`](crate::Reference::with_tag) the
    /// tag; for [`Registry::parse`](crate::Registry::parse) and
    /// [`Repository::parse`](crate::Repository::parse) the registry or repository.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The part of the reference that is wrong.
    pub fn part(&self) -> Part {
        self.part
    }

    /// What is wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset of the problem in [`Error::input`].
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} in ", self.part)?;
        if self.input.len() <= QUOTED_INPUT_MAX {
            write!(f, "{:?}", self.input)?;
        } else {
            let mut end = QUOTED_INPUT_MAX;
            while !self.input.is_char_boundary(end) {
                end -= 1;
            }
            write!(f, "{:?}… ({} bytes)", &self.input[..end], self.input.len())?;
        }
        write!(f, " at byte {}: {}", self.position, self.kind)?;
        if let ErrorKind::InvalidCharacter(_) = self.kind {
            f.write_str(match self.part {
                Part::Registry => {
                    " (a registry is a host name, IPv4 or [IPv6] address, optionally with :port)"
                }
                Part::Repository => " (allowed: a-z 0-9 . _ - and '/' between components)",
                Part::Tag => " (allowed: A-Z a-z 0-9 _ . -)",
                // Digest errors are `ErrorKind::InvalidDigest`, which names the rule.
                Part::Digest => "",
            })?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The part of a reference an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The registry host and port: `myacr.azurecr.io`, `localhost:5000`, `[::1]:5000`.
    Registry,
    /// The repository path: `team/app`.
    Repository,
    /// The tag after `:`.
    Tag,
    /// The digest after `@`.
    Digest,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Registry => "registry",
            Part::Repository => "repository",
            Part::Tag => "tag",
            Part::Digest => "digest",
        })
    }
}

/// What is wrong with a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input, or the part named by [`Part`], is empty (`"a.io/x:"` has an empty tag,
    /// `"a.io/x@"` an empty digest).
    Empty,
    /// Strict parsing found no registry host: the part before the first `/` is not
    /// `localhost` and has no `.` or `:` (or there is no `/` at all).
    MissingRegistry,
    /// A character that the part does not allow.
    InvalidCharacter(char),
    /// An upper-case letter in the repository; repositories are lower case.
    Uppercase(char),
    /// An empty path component: a leading, trailing or doubled `/`.
    EmptyComponent,
    /// A path-component separator (`.`, `_`, `__` or a run of `-`) at the start or end of
    /// a component, or two separators that cannot follow each other (`..`, `___`, `_.`).
    InvalidSeparator,
    /// The repository is longer than [`MAX_REPOSITORY_LEN`] bytes.
    RepositoryTooLong {
        /// The repository's length in bytes.
        length: usize,
    },
    /// A 64-character lowercase hex string given where a repository was expected: Docker
    /// reads it as an image ID, so normalised parsing refuses it.
    RepositoryIsImageId,
    /// A registry host name label is empty or starts or ends with `-`.
    InvalidHostLabel,
    /// A bracketed IPv6 registry address is unterminated, has a character other than hex
    /// digits and `:` (zones and embedded IPv4 are not allowed), or is not an IPv6 address.
    InvalidIpv6,
    /// The registry port is empty, not decimal digits, or outside 1–65535.
    InvalidPort,
    /// The registry was written with a scheme (`http://localhost:5000`); a registry is
    /// `host[:port]`, and plain HTTP is a client setting.
    SchemeNotAllowed,
    /// Once lower-cased (registry names are compared in lower case) the registry does not
    /// read as one: a host without `.` or port that is not `localhost` (`MyHost`, or
    /// `myhost` given alone) would be a Docker Hub namespace in `myhost/app`.
    AmbiguousRegistry,
    /// The tag starts with `.` or `-`; it must start with a letter, digit or `_`.
    InvalidTagStart(char),
    /// The tag is longer than [`MAX_TAG_LEN`] characters (reported at the first byte
    /// beyond them).
    TagTooLong {
        /// The tag's length in bytes.
        length: usize,
    },
    /// The digest is not valid under the OCI digest grammar, `orca-manifest`'s (the one
    /// [`orca_manifest::Digest::parse`] applies): the kind says what is wrong.
    InvalidDigest(DigestErrorKind),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::Empty => f.write_str("it is empty"),
            ErrorKind::MissingRegistry => f.write_str(
                "no registry host; a reference must start with one, such as \
                 \"myacr.azurecr.io/\" or \"localhost:5000/\" (a registry is \"localhost\" or \
                 contains '.' or ':')",
            ),
            ErrorKind::InvalidCharacter(c) => {
                write!(f, "character {c:?} is not allowed here")
            }
            ErrorKind::Uppercase(c) => {
                write!(f, "upper-case {c:?}: repository names must be lowercase")
            }
            ErrorKind::EmptyComponent => {
                f.write_str("empty path component (leading, trailing or doubled '/')")
            }
            ErrorKind::InvalidSeparator => f.write_str(
                "path components are lowercase letters and digits joined by '.', '_', '__' \
                 or '-' runs, and cannot start or end with a separator",
            ),
            ErrorKind::RepositoryTooLong { length } => write!(
                f,
                "the repository is {length} bytes long; at most {MAX_REPOSITORY_LEN} are allowed"
            ),
            ErrorKind::RepositoryIsImageId => {
                f.write_str("a 64-character hex string is an image ID, not a repository name")
            }
            ErrorKind::InvalidHostLabel => f.write_str(
                "host name labels are letters, digits and inner '-', separated by single '.'",
            ),
            ErrorKind::InvalidIpv6 => f.write_str(
                "an IPv6 registry address is hex digits and ':' inside brackets, like \
                 \"[2001:db8::1]:5000\" (no zone, no embedded IPv4)",
            ),
            ErrorKind::InvalidPort => f.write_str("the port must be a number from 1 to 65535"),
            ErrorKind::SchemeNotAllowed => f.write_str(
                "a registry is host[:port] without a scheme: write \"localhost:5000\", not \
                 \"http://localhost:5000\" (plain HTTP is a client setting)",
            ),
            ErrorKind::AmbiguousRegistry => f.write_str(
                "a registry host without '.' or a port must be \"localhost\" (names are \
                 compared in lower case, and \"name/app\" would be a Docker Hub repository); \
                 add the domain or the port",
            ),
            ErrorKind::InvalidTagStart(c) => write!(
                f,
                "a tag cannot start with {c:?}; it starts with a letter, digit or '_'"
            ),
            ErrorKind::TagTooLong { length } => write!(
                f,
                "the tag is {length} bytes long; at most {MAX_TAG_LEN} characters are allowed"
            ),
            ErrorKind::InvalidDigest(kind) => write!(f, "{kind}"),
        }
    }
}
