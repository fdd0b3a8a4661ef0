//! The registry key every per-registry setting is looked up by.
//!
//! Interim: `orca_reference::Registry` (branch `vocab`) replaces this type once it lands;
//! the API here is the subset of it the client uses, so the swap is a `pub use`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::error::Error;

/// A registry: `host[:port]`, normalised (host lower case, `:443` dropped, Docker Hub's
/// aliases `index.docker.io` and `registry-1.docker.io` read as `docker.io`), so two
/// spellings of one registry are one key.
///
/// A scheme is not part of a registry: `http://localhost:5000` is refused with a hint;
/// whether to speak plain HTTP is a [`RegistryPolicy`](crate::RegistryPolicy) setting.
///
/// ```
/// use orca_distribution::Registry;
///
/// let r: Registry = "MyACR.azurecr.io:443".parse()?;
/// assert_eq!(r.as_str(), "myacr.azurecr.io");
/// assert!("http://localhost:5000".parse::<Registry>().is_err());
/// # Ok::<(), orca_distribution::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registry {
    text: String,
}

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

impl Registry {
    /// Parse and normalise `host[:port]`.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty name, a scheme (`http://…`), a path, white space or
    /// a port that is not a number.
    pub fn parse(input: &str) -> Result<Registry, Error> {
        if let Some((scheme, _)) = input.split_once("://") {
            return Err(Error::config(format!(
                "registry {input:?} has a scheme ({scheme}://): name it as host[:port] and allow plain HTTP for it in the client's configuration instead"
            )));
        }
        if input.is_empty()
            || input
                .bytes()
                .any(|b| b == b'/' || b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(Error::config(format!(
                "registry {input:?} is not a host[:port]"
            )));
        }
        let (host, port) = if input.starts_with('[') {
            match input.split_once(']') {
                Some((h, rest)) => (format!("{h}]"), rest.strip_prefix(':')),
                None => {
                    return Err(Error::config(format!(
                        "registry {input:?} is not a host[:port]"
                    )));
                }
            }
        } else {
            match input.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (input.to_ascii_lowercase(), None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| Error::config(format!("registry {input:?} has a bad port {p:?}")))
            })
            .transpose()?
            .filter(|&p| p != 443);
        let host = if port.is_none() && matches!(host.as_str(), "index.docker.io" | DOCKER_HUB_API)
        {
            DOCKER_HUB.to_owned()
        } else {
            host
        };
        let text = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(Registry { text })
    }

    /// The normalised `host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `host[:port]` that serves the registry's API (`registry-1.docker.io` for
    /// Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.text == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.text
        }
    }

    /// The host without port (and without the brackets of an IPv6 address).
    pub fn host(&self) -> &str {
        let host = if self.text.starts_with('[') {
            self.text.split_once(']').map_or(&*self.text, |(h, _)| h)
        } else {
            self.text.rsplit_once(':').map_or(&*self.text, |(h, _)| h)
        };
        host.trim_start_matches('[')
    }
}

impl FromStr for Registry {
    type Err = Error;

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

impl Deref for Registry {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl Borrow<str> for Registry {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Registry {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_registry_are_one_key() {
        let r = |s: &str| Registry::parse(s).unwrap();
        assert_eq!(r("R.Example:443"), r("r.example"));
        assert_eq!(r("index.docker.io"), r("docker.io"));
        assert_eq!(r("registry-1.docker.io").api_host(), "registry-1.docker.io");
        assert_eq!(r("localhost:5000").host(), "localhost");
        assert_eq!(r("[::1]:5000").host(), "::1");
        assert_eq!(r("[::1]:5000").as_str(), "[::1]:5000");
        let e = Registry::parse("http://localhost:5000").unwrap_err();
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        assert!(Registry::parse("r.example/x").is_err());
        assert!(Registry::parse("r.example:http").is_err());
    }
}
