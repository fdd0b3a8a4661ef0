//! TLS: the connector (TCP, rustls, ALPN), the root store, the selective skip-verify
//! verifier, and recognising a TLS failure inside a transport error.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::ClientConfig;
use crate::error::Error;

/// What a TLS failure inside a transport error was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TlsFailure {
    /// The server answered the handshake with something that is not TLS at all (a plain
    /// HTTP registry answers `HTTP/1.1 400`).
    PlainHttp,
    /// Any other TLS error (certificate, protocol version, alert).
    Other,
}

/// Whether a transport error was caused by TLS, and how (rustls errors arrive wrapped in
/// `io::Error`s inside hyper-util's error).
pub(super) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // Bounded: error chains are short, and this never loops on a cyclic one.
    for _ in 0..16 {
        let err = current?;
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            // A TLS record's first byte is its content type (20..=24); `H` of `HTTP/1.1`
            // is none of them.
            return Some(match tls {
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                    TlsFailure::PlainHttp
                }
                _ => TlsFailure::Other,
            });
        }
        // `io::Error::source` skips the error it wraps, so step into it explicitly.
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// TCP (with the connect timeout, no Nagle delay) and rustls, offering HTTP/2 and
/// HTTP/1.1 by ALPN; plain HTTP for `http://` URLs.
pub(crate) fn connector(config: &ClientConfig) -> Result<HttpsConnector<HttpConnector>, Error> {
    let tls = tls_config(config)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

/// Build the rustls configuration: webpki roots, optionally the platform bundle, extra PEM
/// roots, and one verifier per host whose registry policy adds roots or skips verification.
fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if config.use_native_roots {
        for path in native_bundle_paths() {
            if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                let certs: Vec<_> = iter.filter_map(Result::ok).collect();
                let _ = roots.add_parsable_certificates(certs);
            }
        }
    }
    // The certificates given explicitly: a server presenting one of them as its own is
    // trusted even where it is a CA certificate (see `SelectiveVerifier`).
    let mut given = Vec::new();
    for path in config
        .extra_root_certificates
        .iter()
        .chain(&config.default_policy.root_certificates)
    {
        given.extend(add_pem(&mut roots, path)?);
    }
    let verifier = |roots: rustls::RootCertStore| {
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| Error::Config {
            message: "cannot build the certificate verifier".into(),
            source: Some(Box::new(e)),
        })
    };
    // TLS knows the server by host name: registries on one host share their roots.
    let mut per_host: BTreeMap<String, HostTls> = BTreeMap::new();
    let mut extra_roots: BTreeMap<String, (rustls::RootCertStore, Vec<CertificateDer<'static>>)> =
        BTreeMap::new();
    for (registry, policy) in &config.registries {
        let host = registry.host().to_owned();
        if policy.insecure_skip_verify {
            per_host.insert(host, HostTls::Skip);
            continue;
        }
        let own: Vec<_> = policy
            .root_certificates
            .iter()
            .filter(|p| !config.default_policy.root_certificates.contains(p))
            .collect();
        if own.is_empty() {
            continue;
        }
        let (store, pins) = extra_roots
            .entry(host)
            .or_insert_with(|| (roots.clone(), given.clone()));
        for path in own {
            pins.extend(add_pem(store, path)?);
        }
    }
    for (host, (store, pins)) in extra_roots {
        per_host.entry(host).or_insert(HostTls::Verify {
            verifier: verifier(store)?,
            given: Arc::new(pins),
        });
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            message: "TLS provider has no usable protocol version".into(),
            source: Some(Box::new(e)),
        })?;
    let default = if config.default_policy.insecure_skip_verify {
        HostTls::Skip
    } else {
        HostTls::Verify {
            verifier: verifier(roots.clone())?,
            given: Arc::new(given.clone()),
        }
    };
    let tls =
        if per_host.is_empty() && !config.default_policy.insecure_skip_verify && given.is_empty() {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SelectiveVerifier {
                    default,
                    per_host,
                    provider,
                }))
                .with_no_client_auth()
        };
    Ok(tls)
}

/// Add every certificate of the PEM file at `path` to `roots`; returns them.
fn add_pem(
    roots: &mut rustls::RootCertStore,
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| Error::Config {
        message: format!("cannot read root certificates from {}", path.display()),
        source: Some(Box::new(e)),
    })?;
    let mut added = Vec::new();
    for cert in iter {
        let cert = cert.map_err(|e| Error::Config {
            message: format!("bad PEM certificate in {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        roots.add(cert.clone()).map_err(|e| Error::Config {
            message: format!("unusable root certificate in {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        added.push(cert);
    }
    if added.is_empty() {
        return Err(Error::config(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(added)
}

fn native_bundle_paths() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(Into::into)
        .into_iter()
        .collect();
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        paths.push(p.into());
    }
    paths
}

/// How one host's certificate is checked.
#[derive(Debug)]
enum HostTls {
    /// Against these roots; `given` are the certificates the configuration named
    /// (`--ca-file`, a policy's root certificates).
    Verify {
        verifier: Arc<rustls::client::WebPkiServerVerifier>,
        given: Arc<Vec<CertificateDer<'static>>>,
    },
    /// Not at all (the registry's policy says `insecure_skip_verify`).
    Skip,
}

/// Verifies each host's certificate as its registry's policy says, and every other host's
/// with `default`.
///
/// One exception to webpki's rules: a server presenting, as its own, exactly a
/// certificate the configuration names (a self-signed certificate made with `openssl req
/// -x509`, which marks it a CA, given with `--ca-file`) is trusted when it is valid for the
/// server's name. webpki refuses a CA certificate as an end entity (`CaUsedAsEndEntity`);
/// Go's TLS (docker, skopeo, ORAS) accepts it, and the certificate is pinned byte for
/// byte, so only the holder of its key can present it. Its validity dates still count:
/// webpki checks them before it refuses a CA as an end entity, so an expired certificate
/// fails as expired and never reaches this path (a test holds that order).
#[derive(Debug)]
struct SelectiveVerifier {
    default: HostTls,
    per_host: BTreeMap<String, HostTls>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SelectiveVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = match server_name {
            ServerName::DnsName(d) => d.as_ref().to_owned(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => String::new(),
        };
        match self.per_host.get(&name).unwrap_or(&self.default) {
            HostTls::Skip => {
                tracing::warn!(host = %name, "TLS certificate verification skipped by configuration");
                Ok(ServerCertVerified::assertion())
            }
            HostTls::Verify { verifier, given } => match verifier.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(e)
                    if ca_used_as_end_entity(&e)
                        && given.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
                {
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                    tracing::debug!(host = %name, "the server presented a certificate given as a root: trusted as pinned");
                    Ok(ServerCertVerified::assertion())
                }
                other => other,
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether webpki refused a CA certificate presented as the server's own.
fn ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let outer = std::io::Error::other(inner);
        assert_eq!(tls_failure(&outer), Some(TlsFailure::Other));
        assert_eq!(
            tls_failure(&std::io::Error::other("connection refused")),
            None
        );
        let plain = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(
            tls_failure(&std::io::Error::other(plain)),
            Some(TlsFailure::PlainHttp)
        );
    }
}
