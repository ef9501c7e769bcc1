//! The server's TLS configuration: its certificate chain and key, and, for mutual TLS, the CA
//! that client certificates must chain to. Built again on SIGHUP, so rotated certificates are
//! taken up without dropping the service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the TLS material is read from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate chained to one of these CAs.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    pub path: PathBuf,
    pub message: String,
}

impl TlsFiles {
    /// A rustls server configuration from the files as they are now.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let failed = |path: &Path, message: String| TlsError {
            path: path.to_path_buf(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.certificate)
            .and_then(|certificates| certificates.collect::<Result<_, _>>())
            .map_err(|error| failed(&self.certificate, error.to_string()))?;
        if chain.is_empty() {
            return Err(failed(
                &self.certificate,
                "holds no PEM certificate".to_string(),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|error| failed(&self.key, error.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| failed(&self.certificate, error.to_string()))?;
        let builder = match &self.client_ca {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certificates: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_file_iter(path)
                        .and_then(|certificates| certificates.collect::<Result<_, _>>())
                        .map_err(|error| failed(path, error.to_string()))?;
                for certificate in certificates {
                    roots
                        .add(certificate)
                        .map_err(|error| failed(path, error.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(failed(path, "holds no PEM certificate".to_string()));
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|error| failed(path, error.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|error| failed(&self.key, error.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}
