//! A small HTTPS server for fixed answers: a self-signed certificate for `localhost`
//! (the test trusts it as an extra root) and a table of path → (status, body). It stands
//! for the web servers a federation's records point at (logo hosts), so fetches are
//! tested over real TLS without the network.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running server; stops when dropped.
pub struct HttpsServer {
    port: u16,
    cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpsServer {
    /// Starts a server answering each path of `routes` with its status and body, and 404
    /// to anything else.
    ///
    /// # Errors
    /// When the certificate cannot be made or no loopback port can be bound.
    pub async fn start(routes: HashMap<String, (u16, Vec<u8>)>) -> io::Result<Self> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(io::Error::other)?;
        let cert_pem = certified.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .map_err(io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let routes = Arc::new(routes);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, routes) = (acceptor.clone(), routes.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                        }
                    }
                    let line = String::from_utf8_lossy(&request).into_owned();
                    let path = line.split(' ').nth(1).unwrap_or("/");
                    let (status, body) = routes.get(path).cloned().unwrap_or((404, Vec::new()));
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(Self {
            port,
            cert_pem,
            task,
        })
    }

    /// `https://localhost:PORT{path}`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// The certificate to trust (PEM).
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}
