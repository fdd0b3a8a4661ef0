//! [`Registry`] and [`Repository`]: the two halves of a reference's name, each validated and
//! normalised once so that everything keyed on them (token caches, connection pools, TLS and
//! plain-HTTP settings, store registries) compares one spelling.

use std::borrow::Borrow;
use std::fmt;
use std::net::Ipv6Addr;
use std::ops::Deref;
use std::str::FromStr;

use crate::grammar::{check_registry, check_repository, check_repository_len, is_registry_like};
use crate::{DOCKER_HUB, DOCKER_HUB_API, Error, ErrorKind, Part};

/// The port dropped from a registry's name: HTTPS's default, the port a registry without
/// one is reached on.
pub const DEFAULT_PORT: u16 = 443;

/// Host names that are Docker Hub, all normalised to [`DOCKER_HUB`].
const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API];

/// A registry: `host[:port]`, validated and normalised.
///
/// # Normalisation
///
/// Two spellings of one registry give equal values (so a `Registry` is a sound key):
///
/// - the host is lower case (`MyACR.azurecr.io` → `myacr.azurecr.io`);
/// - an IPv6 address is kept in brackets in its canonical form (`[FC00:0::1]` → `[fc00::1]`);
/// - the port is a plain number (`:05000` → `:5000`), and the default port
///   [`DEFAULT_PORT`] (`:443`, HTTPS's) is dropped — except where the host alone would not
///   read as a registry (`myhost:443` keeps its port, see below). A consequence: a registry
///   serving plain HTTP on port 443 cannot be named; that is not a setup seen in practice;
/// - `docker.io`, `index.docker.io` and `registry-1.docker.io` are one registry, displayed as
///   `docker.io` ([`Registry::as_str`]) and reached at `registry-1.docker.io`
///   ([`Registry::api_host`]).
///
/// Every `Registry` reads as one by Docker's rule once normalised: `localhost`, or a name
/// containing `.` or `:`, or an IPv6 address. So `myhost` (which in `myhost/app` would be a
/// Docker Hub namespace) is refused, and so is `MyHost`, a registry in Docker's eyes only
/// because of its upper-case letters.
///
/// A scheme is not part of a registry: `http://localhost:5000` is refused with
/// [`ErrorKind::SchemeNotAllowed`]; whether to speak plain HTTP is a client setting.
///
/// `Display`, [`Registry::as_str`] and `Deref<Target = str>` all give the normalised
/// `host[:port]`; equality, ordering and hashing are over that string (and `Borrow<str>`
/// lets a map keyed by `Registry` be queried with a `&str` already normalised).
///
/// ```
/// use orca_reference::Registry;
///
/// let r: Registry = "MyACR.azurecr.io:443".parse()?;
/// assert_eq!(r, "myacr.azurecr.io");
/// let hub: Registry = "index.docker.io".parse()?;
/// assert_eq!((hub.as_str(), hub.api_host()), ("docker.io", "registry-1.docker.io"));
/// let v6: Registry = "[0:0::1]:5000".parse()?;
/// assert_eq!((v6.as_str(), v6.host(), v6.port()), ("[::1]:5000", "::1", Some(5000)));
/// assert!("http://localhost:5000".parse::<Registry>().is_err());
/// # Ok::<(), orca_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Registry {
    /// The normalised `host[:port]`.
    text: String,
    /// End of the host in `text` (brackets of an IPv6 address included).
    host_end: usize,
}

impl Registry {
    /// Parse and normalise `host[:port]` (see the type's documentation).
    ///
    /// # Errors
    ///
    /// An [`Error`] with [`Part::Registry`] whose input is `input`:
    /// [`ErrorKind::SchemeNotAllowed`] for `http://…`, [`ErrorKind::AmbiguousRegistry`] for
    /// a host that would not read as a registry in a reference, and otherwise the rule that
    /// fails (a `/` is an [`ErrorKind::InvalidCharacter`]).
    pub fn parse(input: &str) -> Result<Registry, Error> {
        if input.is_empty() {
            return Err(Error::new(input, Part::Registry, ErrorKind::Empty, 0));
        }
        check_no_scheme(input)?;
        check_registry(input, 0, input.len())?;
        Registry::normalise(input, 0, input.len())
    }

    /// Normalise `input[start..end]`, which [`check_registry`] accepted; errors are reported
    /// against `input`.
    pub(crate) fn normalise(input: &str, start: usize, end: usize) -> Result<Registry, Error> {
        let written = &input[start..end];
        let (host, port) = if written.starts_with('[') {
            let close = written.find(']').unwrap_or(written.len() - 1);
            let address = written[1..close]
                .parse::<Ipv6Addr>()
                .map_err(|_| Error::new(input, Part::Registry, ErrorKind::InvalidIpv6, start))?;
            (
                format!("[{}]", canonical_ipv6(address)),
                written.get(close + 2..),
            )
        } else {
            let (host, port) = match written.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (written, None),
            };
            (host.to_ascii_lowercase(), port)
        };
        // check_registry accepted the port: 1 to 65535 in at most five digits.
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| Error::new(input, Part::Registry, ErrorKind::InvalidPort, start))
            })
            .transpose()?;
        // The host is lower case now, so only `localhost`, a `.` or brackets count.
        let port = port.filter(|&p| !(p == DEFAULT_PORT && is_registry_like(&host)));
        let host = if port.is_none() && DOCKER_HUB_ALIASES.contains(&host.as_str()) {
            DOCKER_HUB.to_owned()
        } else {
            host
        };
        let host_end = host.len();
        let text = match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        if !is_registry_like(&text) {
            return Err(Error::new(
                input,
                Part::Registry,
                ErrorKind::AmbiguousRegistry,
                start,
            ));
        }
        Ok(Registry { text, host_end })
    }

    /// Docker Hub, `docker.io`.
    pub fn docker_hub() -> Registry {
        Registry {
            text: DOCKER_HUB.to_owned(),
            host_end: DOCKER_HUB.len(),
        }
    }

    /// The normalised `host[:port]`, as references display it: `myacr.azurecr.io`,
    /// `localhost:5000`, `[::1]:5000`, `docker.io`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `host[:port]` that serves the registry's API: [`DOCKER_HUB_API`]
    /// (`registry-1.docker.io`) for Docker Hub, otherwise [`Registry::as_str`].
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API
        } else {
            &self.text
        }
    }

    /// Whether this is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.text == DOCKER_HUB
    }

    /// The host without port, and without brackets for an IPv6 address (`::1`), as a TLS
    /// server name or a socket address wants it.
    pub fn host(&self) -> &str {
        let host = &self.text[..self.host_end];
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// The port, when one is part of the name (never [`DEFAULT_PORT`] unless the host alone
    /// would not read as a registry).
    pub fn port(&self) -> Option<u16> {
        self.text
            .get(self.host_end + 1..)
            .and_then(|p| p.parse().ok())
    }
}

/// RFC 5952's text form: lower-case hex groups without leading zeros, the longest run of
/// two or more zero groups (the first of equals) written `::`. Unlike `Ipv6Addr`'s
/// `Display` it never writes an IPv4-mapped address as a dotted quad, which the reference
/// grammar does not allow inside brackets.
fn canonical_ipv6(address: Ipv6Addr) -> String {
    let groups = address.segments();
    let (mut best_start, mut best_len) = (0, 0);
    let mut i = 0;
    while i < groups.len() {
        let start = i;
        while i < groups.len() && groups[i] == 0 {
            i += 1;
        }
        if i - start > best_len {
            (best_start, best_len) = (start, i - start);
        }
        i += 1;
    }
    let hex = |groups: &[u16]| {
        groups
            .iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&groups);
    }
    format!(
        "{}::{}",
        hex(&groups[..best_start]),
        hex(&groups[best_start + best_len..])
    )
}

/// Refuse `scheme://…`: a registry is `host[:port]`, and reading `http` as a host and
/// `//host:5000` as a port would only give a confusing error.
pub(crate) fn check_no_scheme(input: &str) -> Result<(), Error> {
    let Some(end) = input.find("://") else {
        return Ok(());
    };
    let scheme = &input[..end];
    let is_scheme = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if is_scheme && !scheme.contains('/') {
        return Err(Error::new(
            input,
            Part::Registry,
            ErrorKind::SchemeNotAllowed,
            0,
        ));
    }
    Ok(())
}

impl FromStr for Registry {
    type Err = Error;

    /// [`Registry::parse`].
    fn from_str(s: &str) -> Result<Registry, Error> {
        Registry::parse(s)
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Registry({})", self.text)
    }
}

/// A repository path inside a registry: components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
/// joined by `/`, at most [`MAX_REPOSITORY_LEN`](crate::MAX_REPOSITORY_LEN) bytes.
///
/// Repositories are case-sensitive and have one spelling, so nothing is normalised: the
/// value is the input. `Display`, [`Repository::as_str`] and `Deref<Target = str>` give it.
///
/// ```
/// use orca_reference::Repository;
///
/// let r: Repository = "team/app".parse()?;
/// assert_eq!(r, "team/app");
/// assert_eq!(r.components().collect::<Vec<_>>(), ["team", "app"]);
/// assert!("Team/app".parse::<Repository>().is_err());
/// # Ok::<(), orca_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repository {
    text: String,
}

impl Repository {
    /// Parse and validate a repository path.
    ///
    /// # Errors
    ///
    /// An [`Error`] with [`Part::Repository`] whose input is `input`, naming the rule that
    /// fails and where.
    pub fn parse(input: &str) -> Result<Repository, Error> {
        check_repository(input, 0, input.len())?;
        check_repository_len(input, 0, input.len(), 0)?;
        Ok(Repository {
            text: input.to_owned(),
        })
    }

    /// A repository from a slice already validated by [`check_repository`] and
    /// [`check_repository_len`].
    pub(crate) fn from_validated(text: String) -> Repository {
        Repository { text }
    }

    /// The path: `team/app`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path components, `team` then `app`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.text.split('/')
    }
}

impl FromStr for Repository {
    type Err = Error;

    /// [`Repository::parse`].
    fn from_str(s: &str) -> Result<Repository, Error> {
        Repository::parse(s)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({})", self.text)
    }
}

/// `AsRef<str>`, `Borrow<str>`, `Deref<Target = str>`, comparison with strings and serde as
/// a string, the same for both types.
macro_rules! string_like {
    ($ty:ident) => {
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.text
            }
        }

        /// The text's hash, as `Borrow<str>` requires.
        impl std::hash::Hash for $ty {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.text.as_str().hash(state);
            }
        }

        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.text
            }
        }

        /// The normalised text, so that a value passes wherever a `&str` is expected.
        impl Deref for $ty {
            type Target = str;

            fn deref(&self) -> &str {
                &self.text
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.text == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.text == *other
            }
        }

        impl PartialEq<String> for $ty {
            fn eq(&self, other: &String) -> bool {
                self.text == *other
            }
        }

        impl PartialEq<$ty> for str {
            fn eq(&self, other: &$ty) -> bool {
                self == other.text
            }
        }

        impl PartialEq<$ty> for &str {
            fn eq(&self, other: &$ty) -> bool {
                *self == other.text
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.text
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $ty::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_like!(Registry);
string_like!(Repository);

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::{Registry, canonical_ipv6, check_no_scheme};

    #[test]
    fn schemes_are_recognised_only_at_the_start() {
        assert!(check_no_scheme("http://a.io").is_err());
        assert!(check_no_scheme("oci+https://a.io").is_err());
        assert!(check_no_scheme("a.io/x://y").is_ok());
        assert!(check_no_scheme("a.io").is_ok());
    }

    #[test]
    fn ipv6_text_is_rfc_5952() {
        let cases = [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("FC00:0:0:0:0:0:0:1", "fc00::1"),
            ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
            ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("::ffff:102:304", "::ffff:102:304"),
        ];
        for (input, want) in cases {
            let address: Ipv6Addr = input.parse().expect("an address");
            assert_eq!(canonical_ipv6(address), want, "{input}");
        }
    }

    #[test]
    fn host_and_port_split_the_normalised_text() {
        let r = Registry::parse("A.io:5000").expect("valid");
        assert_eq!((r.host(), r.port()), ("a.io", Some(5000)));
        let r = Registry::parse("a.io").expect("valid");
        assert_eq!((r.host(), r.port()), ("a.io", None));
    }
}
