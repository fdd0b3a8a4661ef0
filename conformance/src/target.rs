//! What the suite runs against.

use std::path::PathBuf;

use orca_auth::Secret;

/// The mock registry's auth modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockMode {
    /// No auth.
    None,
    /// HTTP Basic.
    Basic,
    /// A Docker-style token service.
    Bearer,
    /// ACR's AAD exchange and token service.
    Acr,
}

impl MockMode {
    /// Every mode.
    pub const ALL: [MockMode; 4] = [
        MockMode::None,
        MockMode::Basic,
        MockMode::Bearer,
        MockMode::Acr,
    ];

    /// The mode's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            MockMode::None => "none",
            MockMode::Basic => "basic",
            MockMode::Bearer => "bearer",
            MockMode::Acr => "acr",
        }
    }
}

/// A registry given by URL.
#[derive(Clone, Debug)]
pub struct RealTarget {
    /// `host[:port]`.
    pub registry: String,
    /// Speak plain HTTP to it.
    pub plain_http: bool,
    /// User name, with [`RealTarget::password`].
    pub username: Option<String>,
    /// Password (never printed).
    pub password: Option<Secret>,
    /// Extra root certificate (PEM) to trust.
    pub ca_cert: Option<PathBuf>,
}

impl RealTarget {
    /// Parse `http://host:port`, `https://host` or a bare `host[:port]` (HTTPS unless
    /// `plain_http`).
    pub fn from_url(url: &str, plain_http: bool) -> Result<RealTarget, String> {
        let (plain, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (false, rest)
        } else {
            (plain_http, url)
        };
        let registry = rest.trim_end_matches('/');
        if registry.is_empty() || registry.contains('/') {
            return Err(format!(
                "--registry takes a URL like https://host:port, got {url:?}"
            ));
        }
        Ok(RealTarget {
            registry: registry.to_owned(),
            plain_http: plain || plain_http,
            username: None,
            password: None,
            ca_cert: None,
        })
    }
}

/// A registry the suite runs against.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fresh in-process mock registry in this auth mode.
    Mock(MockMode),
    /// A registry given by URL.
    Real(RealTarget),
    /// Debian's `docker-registry`, started for the run: plain HTTP, or TLS with htpasswd
    /// basic auth.
    Reference {
        /// TLS and basic auth.
        tls_basic: bool,
    },
}

impl Target {
    /// How the target appears in the table.
    pub fn label(&self) -> String {
        match self {
            Target::Mock(mode) => format!("mock/{}", mode.as_str()),
            Target::Real(real) => real.registry.clone(),
            Target::Reference { tls_basic: false } => "docker-registry/plain".into(),
            Target::Reference { tls_basic: true } => "docker-registry/tls-basic".into(),
        }
    }

    /// Why the target may be unavailable (the skip reason when it is).
    pub(crate) fn unavailable_reason(&self) -> String {
        match self {
            Target::Reference { .. } => {
                "docker-registry is not installed (set ORCA_DOCKER_REGISTRY or install Debian's docker-registry)".into()
            }
            _ => "the target could not be started".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_parse() {
        let t = RealTarget::from_url("http://127.0.0.1:5000/", false).unwrap();
        assert_eq!(
            (t.registry.as_str(), t.plain_http),
            ("127.0.0.1:5000", true)
        );
        let t = RealTarget::from_url("https://r.example", false).unwrap();
        assert_eq!((t.registry.as_str(), t.plain_http), ("r.example", false));
        let t = RealTarget::from_url("r.example:443", true).unwrap();
        assert!(t.plain_http);
        assert!(RealTarget::from_url("https://r.example/v2/", false).is_err());
    }
}
