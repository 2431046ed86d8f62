//! Serving a router over HTTPS when the operator gives a certificate (rustls with aws-lc-rs,
//! TLS 1.2 and 1.3), or over plain HTTP otherwise.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its key, PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Reads the files into a rustls server configuration; errors name the file.
pub fn server_config(files: &TlsFiles) -> Result<tokio_rustls::rustls::ServerConfig, String> {
    let name = |p: &Path| p.display().to_string();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("{}: {e}", name(&files.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", name(&files.cert)))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", name(&files.cert)));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| format!("{}: {e}", name(&files.key)))?;
    tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("{} and {}: {e}", name(&files.cert), name(&files.key)))
}

/// Serves `app` on `listener` until `shutdown`: over TLS with `tls`, else plain HTTP.
pub fn spawn(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    match tls {
        None => {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
            });
        }
        Some(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(async move {
                tokio::pin!(shutdown);
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = &mut shutdown => return,
                        accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    };
                    let (acceptor, app) = (acceptor.clone(), app.clone());
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(tcp).await else { return };
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                            .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
    }
}
