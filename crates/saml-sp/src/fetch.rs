//! Fetching federation feeds over HTTPS, politely: conditional GET (ETag and
//! Last-Modified), a timeout, a size cap, and TLS through rustls (ring) with the system
//! roots plus an optional extra root for a private feed server. Plain HTTP is refused
//! except on the loopback interface (tests, a local fetcher).

use std::time::Duration;

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{Client, StatusCode};

use crate::error::Error;

/// What the server said last time, for the next conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
}

/// The outcome of a fetch.
#[derive(Debug)]
pub enum Fetched {
    /// 304: what we hold is current.
    NotModified,
    /// New content and its validators.
    Body(String, Validators),
}

/// An HTTPS client for one feed.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
    max_bytes: usize,
}

fn allowed_url(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://127.0.0.1:")
        || url.starts_with("http://localhost:")
        || url.starts_with("http://[::1]:")
}

impl Fetcher {
    /// A client trusting the system roots and, if given, one more PEM root.
    ///
    /// # Errors
    /// [`Error::Input`] for an unreadable root or a client that cannot be built.
    pub fn new(
        extra_root_pem: Option<&str>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, Error> {
        // reqwest is built without a crypto provider: ours is ring, process-wide.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder()
            .timeout(timeout)
            .user_agent("passerelle-metadata-fetcher");
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| Error::Input(format!("feed extra root: {e}")))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Input(format!("HTTP client: {e}")))?;
        Ok(Self { client, max_bytes })
    }

    /// GETs `url`, conditionally on `validators`.
    ///
    /// # Errors
    /// [`Error::Input`] for a refused URL, a network or HTTP error, or a body over the cap.
    pub async fn get(&self, url: &str, validators: &Validators) -> Result<Fetched, Error> {
        if !allowed_url(url) {
            return Err(Error::Input(format!("feed URL {url:?} must be https")));
        }
        let mut request = self.client.get(url);
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Error::Input(format!("fetching {url}: {e}")))?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !response.status().is_success() {
            return Err(Error::Input(format!(
                "fetching {url}: HTTP {}",
                response.status()
            )));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let next = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(Error::TooLarge {
                size: usize::try_from(response.content_length().unwrap_or(0)).unwrap_or(usize::MAX),
                limit: self.max_bytes,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Error::Input(format!("reading {url}: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > self.max_bytes {
                return Err(Error::TooLarge {
                    size: body.len(),
                    limit: self.max_bytes,
                });
            }
        }
        let text =
            String::from_utf8(body).map_err(|_| Error::Input(format!("{url} is not UTF-8")))?;
        Ok(Fetched::Body(text, next))
    }
}
