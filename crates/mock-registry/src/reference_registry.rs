//! A harness for Debian's `docker-registry` (distribution 2.8), the reference
//! implementation the behaviour suite compares the mock with.
//!
//! [`ReferenceRegistry::start`] writes a configuration to a temporary directory (filesystem
//! storage there, deletes enabled, `http.addr` on a free loopback port, optionally
//! `http.tls` with a certificate made at run time and `auth.htpasswd` with bcrypt lines),
//! starts the binary and waits until the port answers. Dropping the handle kills the
//! process and removes the directory.
//!
//! The binary is `$ORCA_DOCKER_REGISTRY` or `/usr/bin/docker-registry`; when neither
//! exists, `start` prints `skipped: <reason>` and returns `Ok(None)`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Error;

/// How to start the reference registry.
#[derive(Debug, Clone, Default)]
pub struct ReferenceOptions {
    /// Serve HTTPS with a self-signed certificate for `127.0.0.1` and `localhost`
    /// ([`ReferenceRegistry::ca_pem`] gives it).
    pub tls: bool,
    /// Require HTTP Basic for these `(user, password)` pairs (`auth.htpasswd`). Empty: no
    /// auth.
    pub users: Vec<(String, crate::Secret)>,
}

/// A running `docker-registry`. Dropping it kills the process.
#[derive(Debug)]
pub struct ReferenceRegistry {
    child: Child,
    dir: tempfile::TempDir,
    host: String,
    base_url: String,
    ca_pem: Option<String>,
}

fn fail(reason: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let reason = reason.into();
    move |source| Error::ReferenceRegistry {
        reason,
        source: Some(source),
    }
}

impl ReferenceRegistry {
    /// The binary to run: `$ORCA_DOCKER_REGISTRY` if set, else `/usr/bin/docker-registry`;
    /// `None` when it does not exist.
    pub fn binary() -> Option<PathBuf> {
        let path = std::env::var_os("ORCA_DOCKER_REGISTRY")
            .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
        path.is_file().then_some(path)
    }

    /// Start a registry with `options`, or return `Ok(None)` (after printing
    /// `skipped: <reason>`) when the binary is not installed.
    ///
    /// # Errors
    ///
    /// [`Error::ReferenceRegistry`] when the configuration cannot be written, the process
    /// cannot be started, or it exits or does not listen within 20 seconds (the error
    /// carries the end of its log).
    pub async fn start(options: ReferenceOptions) -> Result<Option<ReferenceRegistry>, Error> {
        let Some(binary) = ReferenceRegistry::binary() else {
            println!(
                "skipped: docker-registry not installed (set ORCA_DOCKER_REGISTRY or install Debian's docker-registry)"
            );
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("orca-reference-registry-")
            .tempdir()
            .map_err(fail("cannot create a temporary directory"))?;
        let port = free_port()?;
        let (config, ca_pem) = write_config(dir.path(), port, &options)?;
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .map_err(fail("cannot create the log file"))?;
        let log2 = log.try_clone().map_err(fail("cannot clone the log file"))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(fail(format!("cannot start {}", binary.display())))?;
        let host = format!("127.0.0.1:{port}");
        let scheme = if options.tls { "https" } else { "http" };
        let mut registry = ReferenceRegistry {
            child,
            base_url: format!("{scheme}://{host}"),
            host,
            dir,
            ca_pem,
        };
        registry.wait_ready(port).await?;
        Ok(Some(registry))
    }

    async fn wait_ready(&mut self, port: u16) -> Result<(), Error> {
        // Bounded: 400 tries 50 ms apart.
        for _ in 0..400 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::ReferenceRegistry {
                    reason: format!("docker-registry exited with {status}: {}", self.log_tail()),
                    source: None,
                });
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::ReferenceRegistry {
            reason: format!(
                "docker-registry did not listen within 20 s: {}",
                self.log_tail()
            ),
            source: None,
        })
    }

    /// The last kilobyte of the registry's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let start = text.len().saturating_sub(1024);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The PEM certificate the registry serves (self-signed, so also its CA), with TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The registry process's id (a benchmark reads its CPU time under `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding the configuration, the storage (`data/`) and the
    /// log (`registry.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ReferenceRegistry {
    fn drop(&mut self) {
        // Already gone is fine; either way reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the registry binds it next).
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(fail("cannot find a free port"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(fail("cannot find a free port"))
}

fn write_config(
    dir: &Path,
    port: u16,
    options: &ReferenceOptions,
) -> Result<(PathBuf, Option<String>), Error> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(fail("cannot create the storage directory"))?;
    let mut yaml = String::new();
    let _ = write!(
        yaml,
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: {}\n",
        data.display(),
        crate::store::random_id()
    );
    let mut ca_pem = None;
    if options.tls {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let cert =
            rcgen::generate_simple_self_signed(names).map_err(|e| Error::ReferenceRegistry {
                reason: format!("cannot make a certificate: {e}"),
                source: None,
            })?;
        let cert_pem = cert.cert.pem();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, &cert_pem).map_err(fail("cannot write the certificate"))?;
        std::fs::write(&key_path, cert.signing_key.serialize_pem())
            .map_err(fail("cannot write the key"))?;
        let _ = write!(
            yaml,
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert_path.display(),
            key_path.display()
        );
        ca_pem = Some(cert_pem);
    }
    if !options.users.is_empty() {
        let mut lines = String::new();
        for (user, password) in &options.users {
            // Cost 4 (the minimum) keeps start-up fast; these are throwaway test passwords.
            // `$2y$`, the variant Apache's htpasswd writes.
            let hash = bcrypt::hash_with_result(password.expose(), 4)
                .map_err(|e| Error::ReferenceRegistry {
                    reason: format!("cannot hash a password: {e}"),
                    source: None,
                })?
                .format_for_version(bcrypt::Version::TwoY);
            let _ = writeln!(lines, "{user}:{hash}");
        }
        let path = dir.join("htpasswd");
        std::fs::write(&path, lines).map_err(fail("cannot write htpasswd"))?;
        let _ = write!(
            yaml,
            "auth:\n  htpasswd:\n    realm: orca-reference\n    path: {}\n",
            path.display()
        );
    }
    let config = dir.join("config.yml");
    std::fs::write(&config, yaml).map_err(fail("cannot write the configuration"))?;
    Ok((config, ca_pem))
}
