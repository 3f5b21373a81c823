//! Institution logos (`mdui:Logo`), served from our own origin.
//!
//! Discovery shows each institution's logo so that look-alikes can be told apart, but the
//! user's browser must never ask a third party for it (privacy, and a CSP of `img-src
//! 'self'`). A logo published inline (`data:image/png;base64,…`, what Renater does) is
//! decoded and checked once when a snapshot is built and served from the record; one
//! published at an `https://` URL is fetched by the server ([`LogoFetcher`]), checked,
//! and kept on disk in the federation's cache directory (never in memory: ten thousand
//! logos must not grow the process).
//!
//! A logo is named by a [`LogoId`] (a digest of its published URL), so `/logos/{id}` can
//! only ever serve an image a signed feed published. What it must never do: serve bytes
//! that are not a raster image of a known kind (no SVG: it can carry script), hold more
//! than [`MAX_LOGO_BYTES`] of one logo, or fetch anything but `https://`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Client;

use crate::metadata::IdpRecord;

/// The largest logo accepted, decoded (a discovery icon is a few KiB).
pub const MAX_LOGO_BYTES: usize = 64 * 1024;

/// A logo's name: the first 128 bits of the SHA-256 of its published URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogoId([u8; 16]);

impl LogoId {
    /// The id of the logo published at `url`.
    #[must_use]
    pub fn of_url(url: &str) -> Self {
        let digest = openssl::sha::sha256(url.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
        Self(id)
    }

    /// Parses the 32 lower-case hex digits [`fmt::Display`] writes.
    #[must_use]
    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2)?;
            if !pair
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(id))
    }
}

impl fmt::Display for LogoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for LogoId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The raster image kinds we serve, recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
    /// ICO (favicons).
    Icon,
}

impl ImageKind {
    /// The media type to serve it as.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Icon => "image/x-icon",
        }
    }

    /// A file extension for the disk cache.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Icon => "ico",
        }
    }

    /// What the bytes are, by their signature (never by what the publisher declared).
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12
            && bytes.starts_with(b"RIFF")
            && bytes.get(8..12) == Some(b"WEBP")
        {
            Some(Self::Webp)
        } else if bytes.starts_with(&[0, 0, 1, 0]) {
            Some(Self::Icon)
        } else {
            None
        }
    }

    fn all() -> [Self; 5] {
        [Self::Png, Self::Jpeg, Self::Gif, Self::Webp, Self::Icon]
    }

    /// The kind for a cache file extension.
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::all().into_iter().find(|k| k.extension() == ext)
    }
}

/// A checked image.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// What it is.
    pub kind: ImageKind,
    /// Its bytes (at most [`MAX_LOGO_BYTES`]).
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("kind", &self.kind)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Why a logo is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoRefusal {
    /// Neither `https://` nor a `data:image/…;base64,` URL.
    UnsupportedUrl,
    /// The `data:` URL's base64 does not decode.
    BadEncoding,
    /// Over [`MAX_LOGO_BYTES`].
    TooLarge,
    /// Not a PNG, JPEG, GIF, WebP or ICO (SVG included: it can carry script).
    NotAnImage,
    /// The fetch failed (network, TLS, timeout, redirect to plain HTTP).
    Unreachable,
    /// The server answered something else than 200.
    HttpStatus,
}

impl LogoRefusal {
    /// A stable label for logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedUrl => "unsupported_url",
            Self::BadEncoding => "bad_encoding",
            Self::TooLarge => "too_large",
            Self::NotAnImage => "not_an_image",
            Self::Unreachable => "unreachable",
            Self::HttpStatus => "http_status",
        }
    }
}

/// Checks bytes as a logo.
///
/// # Errors
/// [`LogoRefusal::TooLarge`] or [`LogoRefusal::NotAnImage`].
pub fn check(bytes: Vec<u8>) -> Result<Image, LogoRefusal> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(LogoRefusal::TooLarge);
    }
    let kind = ImageKind::sniff(&bytes).ok_or(LogoRefusal::NotAnImage)?;
    Ok(Image { kind, bytes })
}

/// Decodes an inline logo (`data:image/…;base64,…`).
///
/// # Errors
/// A [`LogoRefusal`] for another URL, bad base64, an oversized or non-raster image.
pub fn decode_data_url(url: &str) -> Result<Image, LogoRefusal> {
    let rest = url
        .strip_prefix("data:image/")
        .ok_or(LogoRefusal::UnsupportedUrl)?;
    let (header, payload) = rest.split_once(',').ok_or(LogoRefusal::BadEncoding)?;
    if !header.ends_with(";base64") {
        return Err(LogoRefusal::BadEncoding);
    }
    // Base64 grows 4/3: refuse before decoding anything far too large.
    if payload.len() > MAX_LOGO_BYTES / 3 * 4 + 8 {
        return Err(LogoRefusal::TooLarge);
    }
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| LogoRefusal::BadEncoding)?;
    check(bytes)
}

/// Where a chosen logo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoSource {
    /// Published inline: the image, checked when the snapshot was built.
    Inline(ImageKind),
    /// Published at an `https://` URL, fetched by [`LogoFetcher`].
    Remote(String),
}

/// The logo discovery shows for `idp`: the smallest declared one that is inline and
/// valid, or at an `https://` URL; `None` when it published none usable.
#[must_use]
pub fn choose(idp: &IdpRecord) -> Option<(LogoId, LogoSource)> {
    let mut logos: Vec<_> = idp.logos.iter().collect();
    logos.sort_by_key(|l| l.height.unwrap_or(u32::MAX));
    logos.into_iter().find_map(|l| {
        if l.url.starts_with("data:") {
            decode_data_url(&l.url)
                .ok()
                .map(|img| (LogoId::of_url(&l.url), LogoSource::Inline(img.kind)))
        } else if l.url.starts_with("https://") {
            Some((LogoId::of_url(&l.url), LogoSource::Remote(l.url.clone())))
        } else {
            None
        }
    })
}

/// An HTTPS client for logos: `https://` only (redirects too), a timeout, the size cap.
#[derive(Debug, Clone)]
pub struct LogoFetcher {
    client: Client,
}

impl LogoFetcher {
    /// A client trusting the system roots and, if given, one more PEM root.
    ///
    /// # Errors
    /// [`crate::Error::Input`] for an unreadable root or a client that cannot be built.
    pub fn new(extra_root_pem: Option<&str>, timeout: Duration) -> Result<Self, crate::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 3 || attempt.url().scheme() != "https" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let mut builder = Client::builder()
            .timeout(timeout)
            .redirect(policy)
            .user_agent("passerelle-logo-fetcher");
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| crate::Error::Input(format!("logo extra root: {e}")))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let client = builder
            .build()
            .map_err(|e| crate::Error::Input(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// GETs a logo and checks it.
    ///
    /// # Errors
    /// A [`LogoRefusal`] for a non-https URL, a failed fetch, a non-200 answer, a body over
    /// the cap (stopped while it arrives) or one that is not a raster image.
    pub async fn get(&self, url: &str) -> Result<Image, LogoRefusal> {
        if !url.starts_with("https://") {
            return Err(LogoRefusal::UnsupportedUrl);
        }
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|_| LogoRefusal::Unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(LogoRefusal::HttpStatus);
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_LOGO_BYTES as u64)
        {
            return Err(LogoRefusal::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| LogoRefusal::Unreachable)?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_LOGO_BYTES {
                return Err(LogoRefusal::TooLarge);
            }
        }
        check(body)
    }
}

/// How long a logo that could not be fetched is left alone before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How many logos are fetched at once.
const PARALLEL_FETCHES: usize = 4;

/// What one [`LogoCache::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoReport {
    /// Remote logos available after the pass (on disk, checked).
    pub available: usize,
    /// Of those, fetched during this pass.
    pub fetched: usize,
    /// Refused during this pass, with the reason.
    pub refused: Vec<(LogoId, LogoRefusal)>,
    /// Left alone: refused less than a day ago.
    pub waiting: usize,
}

/// Remote logos kept on disk (`DIR/{id}.{ext}`): only an index of what is there stays in
/// memory. Files whose logo left the feeds are deleted at the next [`LogoCache::sync`].
#[derive(Debug)]
pub struct LogoCache {
    dir: PathBuf,
    fetcher: LogoFetcher,
    on_disk: RwLock<HashMap<LogoId, ImageKind>>,
    failed: Mutex<HashMap<LogoId, Instant>>,
}

fn file_name(id: LogoId, kind: ImageKind) -> String {
    format!("{id}.{}", kind.extension())
}

/// What the directory holds: `{id}.{ext}` files, anything else ignored.
fn scan(dir: &Path) -> HashMap<LogoId, ImageKind> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let (id, ext) = name.to_str()?.split_once('.')?;
            Some((LogoId::parse(id)?, ImageKind::from_extension(ext)?))
        })
        .collect()
}

impl LogoCache {
    /// A cache in `dir` (created when needed), fetching with `fetcher`.
    #[must_use]
    pub fn new(dir: PathBuf, fetcher: LogoFetcher) -> Self {
        let on_disk = RwLock::new(scan(&dir));
        Self {
            dir,
            fetcher,
            on_disk,
            failed: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the logo is on disk.
    #[must_use]
    pub fn has(&self, id: LogoId) -> bool {
        self.on_disk
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    /// Reads a logo from disk and checks it again (the disk is not trusted more than
    /// the network).
    pub async fn read(&self, id: LogoId) -> Option<Image> {
        let kind = *self
            .on_disk
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)?;
        let bytes = tokio::fs::read(self.dir.join(file_name(id, kind)))
            .await
            .ok()?;
        check(bytes).ok()
    }

    /// Makes the disk hold exactly the `wanted` logos that can be had: fetches the
    /// missing ones (a few at a time; one refused is retried after a day), deletes the
    /// files of logos no feed publishes any more.
    pub async fn sync(self: &Arc<Self>, wanted: &[(LogoId, String)]) -> LogoReport {
        if let Err(e) = tokio::fs::create_dir_all(&self.dir).await {
            tracing::warn!(dir = %self.dir.display(), error = %e, "logo cache directory unusable");
            return LogoReport::default();
        }
        self.prune(wanted).await;
        let mut report = LogoReport::default();
        let now = Instant::now();
        let todo: Vec<(LogoId, String)> = {
            let failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
            wanted
                .iter()
                .filter(|(id, _)| !self.has(*id))
                .filter(|(id, _)| {
                    let waiting = failed
                        .get(id)
                        .is_some_and(|at| now.duration_since(*at) < RETRY_AFTER);
                    report.waiting += usize::from(waiting);
                    !waiting
                })
                .cloned()
                .collect()
        };
        for batch in todo.chunks(PARALLEL_FETCHES) {
            let mut tasks = tokio::task::JoinSet::new();
            for (id, url) in batch.iter().cloned() {
                let me = Arc::clone(self);
                tasks.spawn(async move { (id, me.fetch_one(id, &url).await) });
            }
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok((_, Ok(()))) => report.fetched += 1,
                    Ok((id, Err(reason))) => report.refused.push((id, reason)),
                    Err(e) => tracing::warn!(error = %e, "logo fetch task failed"),
                }
            }
        }
        report.available = wanted.iter().filter(|(id, _)| self.has(*id)).count();
        report
    }

    async fn fetch_one(&self, id: LogoId, url: &str) -> Result<(), LogoRefusal> {
        let result = self.fetcher.get(url).await;
        let image = match result {
            Ok(image) => image,
            Err(reason) => {
                tracing::info!(logo = %id, url, reason = reason.as_str(), "logo refused");
                self.failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, Instant::now());
                return Err(reason);
            }
        };
        let name = file_name(id, image.kind);
        let temporary = self.dir.join(format!("{name}.part"));
        let written = async {
            tokio::fs::write(&temporary, &image.bytes).await?;
            tokio::fs::rename(&temporary, self.dir.join(&name)).await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(logo = %id, error = %e, "logo not written to the cache");
            return Err(LogoRefusal::Unreachable);
        }
        self.on_disk
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, image.kind);
        Ok(())
    }

    async fn prune(&self, wanted: &[(LogoId, String)]) {
        let keep: std::collections::HashSet<LogoId> = wanted.iter().map(|(id, _)| *id).collect();
        let gone: Vec<(LogoId, ImageKind)> = {
            let mut on_disk = self.on_disk.write().unwrap_or_else(PoisonError::into_inner);
            let gone = on_disk
                .iter()
                .filter(|(id, _)| !keep.contains(id))
                .map(|(id, kind)| (*id, *kind))
                .collect::<Vec<_>>();
            for (id, _) in &gone {
                on_disk.remove(id);
            }
            gone
        };
        for (id, kind) in gone {
            let _ = tokio::fs::remove_file(self.dir.join(file_name(id, kind))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    #[test]
    fn logo_ids_print_and_parse_back_and_refuse_anything_else() {
        let id = LogoId::of_url("https://example.org/logo.png");
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(LogoId::parse(&text), Some(id));
        for bad in [
            "",
            "zz",
            &text.to_uppercase(),
            &format!("{text}0"),
            "../../../etc/passwd",
        ] {
            assert_eq!(LogoId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_inline_png_is_decoded_and_recognised_by_its_bytes() {
        let img = decode_data_url(&format!("data:image/png;base64,{PIXEL}")).unwrap();
        assert_eq!(img.kind, ImageKind::Png);
        // Declared as something else: what it is counts, not what it says.
        let img = decode_data_url(&format!("data:image/gif;base64,{PIXEL}")).unwrap();
        assert_eq!(img.kind, ImageKind::Png);
    }

    #[test]
    fn svg_html_oversized_and_malformed_logos_are_refused() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let svg = format!(
            "data:image/svg+xml;base64,{}",
            b64(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
        );
        assert_eq!(decode_data_url(&svg), Err(LogoRefusal::NotAnImage));
        let html = format!("data:image/png;base64,{}", b64(b"<html><script>x</script>"));
        assert_eq!(decode_data_url(&html), Err(LogoRefusal::NotAnImage));
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert_eq!(
            decode_data_url(&format!("data:image/png;base64,{}", b64(&big))),
            Err(LogoRefusal::TooLarge)
        );
        assert_eq!(
            decode_data_url("data:image/png;base64,***"),
            Err(LogoRefusal::BadEncoding)
        );
        assert_eq!(
            decode_data_url("data:image/png,rawtext"),
            Err(LogoRefusal::BadEncoding)
        );
        assert_eq!(
            decode_data_url("data:text/html;base64,PGI+"),
            Err(LogoRefusal::UnsupportedUrl)
        );
    }

    #[test]
    fn the_smallest_usable_logo_is_chosen_and_plain_http_never() {
        use crate::metadata::Logo;
        let mut idp =
            IdpRecord::bare(crate::types::EntityId::parse("https://idp.example.fr/idp").unwrap());
        let logo = |url: &str, h: u32| Logo {
            url: url.to_owned(),
            width: Some(h),
            height: Some(h),
            lang: None,
        };
        idp.logos = vec![
            logo("http://example.fr/tiny.png", 8),
            logo("data:image/png;base64,bm90IGFuIGltYWdl", 12),
            logo("https://example.fr/big.png", 80),
            logo(&format!("data:image/png;base64,{PIXEL}"), 16),
        ];
        let (id, source) = choose(&idp).unwrap();
        assert_eq!(source, LogoSource::Inline(ImageKind::Png));
        assert_eq!(
            id,
            LogoId::of_url(&format!("data:image/png;base64,{PIXEL}"))
        );
        idp.logos.pop();
        assert_eq!(
            choose(&idp).unwrap().1,
            LogoSource::Remote("https://example.fr/big.png".to_owned())
        );
        idp.logos.pop();
        assert_eq!(choose(&idp), None);
    }
}
