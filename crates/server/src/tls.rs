//! HTTPS served directly with rustls, for deployments without a TLS-terminating proxy.
//!
//! [`TlsListener`] is an axum listener: a background task accepts TCP connections and
//! runs each handshake in its own task (with a time limit), so a slow client never
//! holds up the others; finished handshakes are handed to axum. The certificate and key
//! are re-read when their files change (checked every `tls.reload_check_secs`, 30 s by
//! default), so a renewed certificate
//! is picked up without a restart; a renewal that does not load keeps the old one and
//! logs why.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Loads a certificate chain and its key into a rustls configuration (HTTP/1.1).
pub(crate) fn load(cert: &Path, key: &Path) -> anyhow::Result<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("tls.cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls.cert {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("tls.cert {}: no certificate", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("tls.key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls.cert and tls.key do not belong together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn modified(paths: &[PathBuf]) -> Option<Vec<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// An axum listener that speaks TLS.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with the certificate and key files, watched for changes.
    pub(crate) fn start(
        tcp: TcpListener,
        cert: PathBuf,
        key: PathBuf,
        check_every: Duration,
    ) -> anyhow::Result<Self> {
        let current = Arc::new(ArcSwap::from_pointee(load(&cert, &key)?));
        let local = tcp.local_addr()?;
        let watched = current.clone();
        tokio::spawn(async move {
            let files = [cert, key];
            let mut seen = modified(&files);
            loop {
                tokio::time::sleep(check_every).await;
                let now = modified(&files);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&files[0], &files[1]) {
                    Ok(c) => {
                        watched.store(Arc::new(c));
                        tracing::info!("TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "TLS certificate changed but does not load; keeping the old one")
                    }
                }
            }
        });
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = TlsAcceptor::from(current.load_full());
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task only ends with the process.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
