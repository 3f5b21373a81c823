//! Branding: the name, logo, accent colour and favicon every page shows, from
//! `[branding]` (UNESS by default).
//!
//! The name replaces `{brand}` in both catalogues once at start-up (« Créez votre mot de
//! passe UNESS »). The colour becomes `/static/brand.css` (the CSP allows no inline
//! style); it must keep white text on it readable (contrast ≥ 4.5:1, WCAG 2.1 AA), or the
//! configuration is refused. The logo and favicon are read once, checked like
//! institution logos (PNG, JPEG, GIF, WebP or ICO by their bytes, 64 KiB at most) and
//! served from memory. What it must never do: serve a file the operator did not name, or
//! let a colour string reach CSS unchecked.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_saml_sp::logo::{Image, check};
use serde::Deserialize;

use super::App;

/// `[branding]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BrandingConfig {
    /// The service's name in pages (« Créez votre mot de passe NAME »).
    pub name: String,
    /// A logo for the header (raster image file).
    pub logo: Option<PathBuf>,
    /// The favicon (ICO or PNG file).
    pub favicon: Option<PathBuf>,
    /// The accent colour (`#rrggbb`): header, buttons, links.
    pub accent: Option<String>,
}

impl Default for BrandingConfig {
    fn default() -> Self {
        Self {
            name: "UNESS".into(),
            logo: None,
            favicon: None,
            accent: None,
        }
    }
}

/// What pages show, checked and loaded.
#[derive(Debug, Clone)]
pub(crate) struct Branding {
    /// The name.
    pub name: String,
    logo: Option<Image>,
    favicon: Option<Image>,
    css: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            name: "UNESS".into(),
            logo: None,
            favicon: None,
            css: String::new(),
        }
    }
}

/// `#rrggbb` as three channels.
fn rgb(colour: &str) -> Option<[u8; 3]> {
    let hex = colour.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// WCAG 2.1 contrast ratio between a colour and white.
fn contrast_with_white([r, g, b]: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (luminance + 0.05)
}

fn image(path: &Path, key: &str) -> Result<Image, (String, String)> {
    let bytes =
        std::fs::read(path).map_err(|e| (key.to_owned(), format!("{}: {e}", path.display())))?;
    check(bytes).map_err(|r| {
        (
            key.to_owned(),
            format!(
                "{}: {} (PNG, JPEG, GIF, WebP or ICO, 64 KiB at most)",
                path.display(),
                r.as_str()
            ),
        )
    })
}

impl Branding {
    /// Checks and loads `[branding]`.
    ///
    /// # Errors
    /// `(key, message)` for an empty or over-long name, an unreadable or refused image,
    /// a colour that is not `#rrggbb` or too light for white text.
    pub(crate) fn load(c: &BrandingConfig) -> Result<Self, (String, String)> {
        let name = c.name.trim();
        if name.is_empty() || name.chars().count() > 40 || name.contains(['{', '}']) {
            return Err((
                "branding.name".into(),
                "1 to 40 characters, no braces".into(),
            ));
        }
        let css = match c.accent.as_deref() {
            None => String::new(),
            Some(colour) => {
                let channels = rgb(colour).ok_or_else(|| {
                    (
                        "branding.accent".to_owned(),
                        format!("{colour:?} is not #rrggbb"),
                    )
                })?;
                let ratio = contrast_with_white(channels);
                if ratio < 4.5 {
                    return Err((
                        "branding.accent".into(),
                        format!(
                            "{colour} gives white text a contrast of {ratio:.2}:1, under the 4.5:1 WCAG AA asks: choose a darker colour"
                        ),
                    ));
                }
                format!(":root {{ --accent: {colour}; }}\n")
            }
        };
        Ok(Self {
            name: name.to_owned(),
            logo: c
                .logo
                .as_deref()
                .map(|p| image(p, "branding.logo"))
                .transpose()?,
            favicon: c
                .favicon
                .as_deref()
                .map(|p| image(p, "branding.favicon"))
                .transpose()?,
            css,
        })
    }

    /// Whether a logo is shown in the header.
    pub(crate) fn has_logo(&self) -> bool {
        self.logo.is_some()
    }

    /// Whether pages name a favicon.
    pub(crate) fn has_favicon(&self) -> bool {
        self.favicon.is_some()
    }
}

fn serve_image(image: Option<&Image>) -> Response {
    let Some(image) = image else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(image.kind.as_str())),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        image.bytes.clone(),
    )
        .into_response()
}

/// `GET /static/brand-logo`.
pub(crate) async fn logo(State(app): State<App>) -> Response {
    serve_image(app.branding.logo.as_ref())
}

/// `GET /favicon.ico`.
pub(crate) async fn favicon(State(app): State<App>) -> Response {
    serve_image(app.branding.favicon.as_ref())
}

/// `GET /static/brand.css`: the accent colour (empty: the default style).
pub(crate) async fn css(State(app): State<App>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/css")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        app.branding.css.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_accent_must_be_a_hex_colour_dark_enough_for_white_text() {
        let with = |accent: &str| {
            Branding::load(&BrandingConfig {
                accent: Some(accent.into()),
                ..BrandingConfig::default()
            })
        };
        assert!(with("#00529b").unwrap().css.contains("--accent: #00529b"));
        for bad in ["00529b", "#00529", "#00529bz", "red", "#0052;}", "#ffff00"] {
            assert!(with(bad).is_err(), "{bad}");
        }
        assert!(with("#ffff00").unwrap_err().1.contains("contrast"));
    }

    #[test]
    fn the_name_is_short_and_cannot_inject_a_placeholder() {
        for bad in ["", "   ", "{brand}", &"x".repeat(41)] {
            let c = BrandingConfig {
                name: bad.into(),
                ..BrandingConfig::default()
            };
            assert!(Branding::load(&c).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_svg_or_a_missing_file_is_refused_as_a_logo() {
        let dir = std::env::temp_dir().join(format!("brand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("logo.svg");
        std::fs::write(&svg, "<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap();
        for path in [svg, dir.join("missing.png")] {
            let c = BrandingConfig {
                logo: Some(path),
                ..BrandingConfig::default()
            };
            assert_eq!(Branding::load(&c).unwrap_err().0, "branding.logo");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
