//! HTTPS for both listeners (feature `tls`): a rustls acceptor from a PEM certificate
//! chain and key, offering HTTP/2 and HTTP/1.1 by ALPN.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsIdentity;
use crate::error::Error;

fn invalid(reason: String) -> Error {
    Error::InvalidConfig {
        field: "tls",
        reason,
    }
}

/// The rustls acceptor for `identity` (ring, TLS 1.2 and 1.3, ALPN `h2` then
/// `http/1.1`), as the registry's listeners use it; public so that other servers built on
/// this crate's wire surface (the pull-through front) serve HTTPS alike.
///
/// # Errors
///
/// [`Error::InvalidConfig`] when the PEM holds no certificate or no private key, or when
/// the key does not match the certificate.
pub fn acceptor(identity: &TlsIdentity) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let certs = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate PEM does not parse: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "the certificate PEM holds no CERTIFICATE block".to_owned(),
        ));
    }
    // The error text of a key's parser never quotes the key.
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.expose().as_bytes())
        .map_err(|e| invalid(format!("the key PEM holds no usable private key: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(format!("TLS versions: {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| invalid(format!("the certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
