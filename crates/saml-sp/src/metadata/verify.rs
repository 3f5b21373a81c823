//! Signed metadata: the only way an aggregate gets into Passerelle.
//!
//! [`load`] refuses DOCTYPEs and oversized documents before any XML library sees them,
//! verifies the signature with the *pinned* federation certificates only (never a key
//! carried by the document) through samael/xmlsec restricted to RSA and ECDSA with
//! SHA-256 or stronger, checks that what was signed is the document's root, and then
//! parses the verifier's output — the signed content only — so nothing unsigned (an
//! entity wrapped around or slipped beside the signed tree) is ever read. Last, the
//! validity window is checked as of the given instant.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::NsReader;
use quick_xml::events::Event;
use samael::crypto::CertificateDer;
use time::OffsetDateTime;

use super::{Aggregate, ParseOptions, parse};
use crate::error::Error;

/// The federation's signing certificates, pinned by configuration (several at once
/// during a key rollover).
#[derive(Clone)]
pub struct PinnedCerts(Vec<CertificateDer>);

impl std::fmt::Debug for PinnedCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedCerts({} certificate(s))", self.0.len())
    }
}

impl PinnedCerts {
    /// Reads every `CERTIFICATE` block of a PEM text.
    ///
    /// # Errors
    /// [`Error::Input`] when there is no certificate or a block is not base64.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let mut certs = Vec::new();
        let mut rest = pem;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let body_start = start + "-----BEGIN CERTIFICATE-----".len();
            let tail = rest.get(body_start..).unwrap_or_default();
            let end = tail
                .find("-----END CERTIFICATE-----")
                .ok_or_else(|| Error::Input("a PEM certificate block is not closed".into()))?;
            let body: String = tail
                .get(..end)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = B64
                .decode(body.as_bytes())
                .map_err(|e| Error::Input(format!("a PEM certificate is not base64: {e}")))?;
            certs.push(CertificateDer::from(der));
            rest = tail.get(end..).unwrap_or_default();
        }
        if certs.is_empty() {
            return Err(Error::Input("no PEM certificate found".into()));
        }
        Ok(Self(certs))
    }

    /// How many certificates are pinned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is (never true for a value made by [`PinnedCerts::from_pem`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The root element's local name and `ID` attribute.
fn root_id(xml: &str) -> Option<(String, Option<String>)> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => {
                let id = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == "ID")
                    .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
                    .map(|v| v.into_owned());
                return Some((e.local_name().as_ref().to_owned(), id));
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Verifies, parses and checks a metadata document as of `now`.
///
/// # Errors
/// [`Error::TooLarge`], [`Error::Doctype`], [`Error::Signature`] (no signature, a
/// signature by another key, a weak algorithm, altered content), [`Error::NotSignedAtRoot`],
/// the parse errors, and the validity errors of [`Aggregate::check_validity`].
pub fn load(
    xml: &str,
    pinned: &PinnedCerts,
    now: OffsetDateTime,
    max_validity: Duration,
    options: ParseOptions,
) -> Result<Aggregate, Error> {
    if xml.len() > options.max_bytes {
        return Err(Error::TooLarge {
            size: xml.len(),
            limit: options.max_bytes,
        });
    }
    if xml.contains("<!DOCTYPE") {
        return Err(Error::Doctype);
    }
    let signed = crate::signature::verify_predigest(xml, pinned.0.iter().cloned())
        .map_err(Error::Signature)?;
    let original = root_id(xml).ok_or_else(|| Error::NotMetadata("no root element".into()))?;
    let verified = root_id(&signed).ok_or(Error::NotSignedAtRoot)?;
    if original.1.is_none() || original != verified {
        return Err(Error::NotSignedAtRoot);
    }
    let aggregate = parse(&signed, options)?;
    aggregate.check_validity(now, max_validity)?;
    Ok(aggregate)
}
