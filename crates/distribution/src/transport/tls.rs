//! TLS: the connector (TCP, rustls, ALPN), the root store, the selective skip-verify
//! verifier, and recognising a TLS failure inside a transport error.

use std::collections::BTreeSet;
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
/// roots, and the selective skip-verify verifier.
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
    for path in &config.extra_root_certificates {
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| Error::Config {
            message: format!("cannot read root certificates from {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        let mut count = 0;
        for cert in iter {
            let cert = cert.map_err(|e| Error::Config {
                message: format!("bad PEM certificate in {}", path.display()),
                source: Some(Box::new(e)),
            })?;
            roots.add(cert).map_err(|e| Error::Config {
                message: format!("unusable root certificate in {}", path.display()),
                source: Some(Box::new(e)),
            })?;
            count += 1;
        }
        if count == 0 {
            return Err(Error::config(format!(
                "no certificate in {}",
                path.display()
            )));
        }
    }
    let roots = Arc::new(roots);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            message: "TLS provider has no usable protocol version".into(),
            source: Some(Box::new(e)),
        })?;
    let tls = if config.insecure_skip_verify.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::Config {
                    message: "cannot build the certificate verifier".into(),
                    source: Some(Box::new(e)),
                })?;
        let hosts = config
            .insecure_skip_verify
            .iter()
            .map(|r| host_of(r).to_owned())
            .collect();
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SelectiveVerifier {
                inner,
                insecure_hosts: hosts,
                provider,
            }))
            .with_no_client_auth()
    };
    Ok(tls)
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

/// `host` of `host[:port]` (IPv6 in brackets kept as is).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_once(']').map_or(registry, |(h, _)| &h[1..]);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// Verifies certificates normally, except for the hosts named in `insecure_hosts`.
#[derive(Debug)]
struct SelectiveVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    insecure_hosts: BTreeSet<String>,
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
        if self.insecure_hosts.contains(&name) {
            tracing::warn!(host = %name, "TLS certificate verification skipped by configuration");
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
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

    #[test]
    fn hosts_of_registries() {
        assert_eq!(host_of("r.example:5000"), "r.example");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("r.example"), "r.example");
    }
}
