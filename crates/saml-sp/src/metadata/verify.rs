//! Signed metadata: the only way an aggregate gets into Passerelle.
//!
//! [`load`] refuses DOCTYPEs, oversized documents and any encoding but UTF-8 (declared or
//! by byte-order mark) before any XML library sees them, so the verifier and the parser
//! decode the same bytes the same way. It then checks the signature with the *pinned*
//! federation certificates only (never a key carried by the document), RSA or ECDSA with
//! SHA-256 or stronger, under the SAML metadata profile: one `ds:Signature` child of the
//! root whose single reference is the root itself with the enveloped-signature transform
//! (`passerelle_xmldsig::verify_root`). Then the whole root element but that signature is
//! what was signed, and both parsers refuse anything but comments and white space
//! outside it (no second root, no text, no processing instruction): so the streaming
//! parser reads the document as received, and comments — the only part a signature
//! leaves open — never reach a record (`parser.rs` joins text across comments and
//! normalises line ends as the signer's parser did). `validUntil`, `cacheDuration` and
//! the entities are read from that signed root only. For feeds up to 16 MiB the
//! verification (libxml2 DOM + canonicalization, on the calling thread, whose allocator
//! arena is warm) and the parse (on a scoped second thread) run at once; larger feeds
//! are parsed after the DOM is freed, to bound peak memory. Nothing parsed is returned
//! unless the signature verified. Last, the validity window is checked as of the given
//! instant.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use passerelle_xmldsig::Key;
use time::OffsetDateTime;

use super::{Aggregate, ParseOptions, parse};
use crate::error::Error;

/// The federation's signing certificates, pinned by configuration (several at once
/// during a key rollover).
#[derive(Clone)]
pub struct PinnedCerts(Vec<Arc<Key>>);

impl std::fmt::Debug for PinnedCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedCerts({} certificate(s))", self.0.len())
    }
}

impl PinnedCerts {
    /// Reads every `CERTIFICATE` block of a PEM text and loads its key.
    ///
    /// # Errors
    /// [`Error::Input`] when there is no certificate, a block is not base64, or not a
    /// certificate with an RSA or EC key.
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
            let key = Key::from_cert_der(&der)
                .map_err(|e| Error::Input(format!("a pinned certificate: {e}")))?;
            certs.push(Arc::new(key));
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

/// Feeds up to this size are verified and parsed at the same time (on two threads);
/// larger ones one after the other, so libxml2's DOM (about three times the document)
/// and the parsed records are never in memory together.
const OVERLAP_BELOW: usize = 16 * 1024 * 1024;

/// Verifies, parses and checks a metadata document as of `now`.
///
/// # Errors
/// [`Error::TooLarge`], [`Error::Doctype`], [`Error::Signature`] (no signature, a
/// signature by another key, a weak algorithm, altered content), [`Error::NotSignedAtRoot`]
/// (a signature elsewhere than on the root, or over something else), the parse errors,
/// and the validity errors of [`Aggregate::check_validity`].
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
    // One view of the bytes for the verifier and the parser (see `utf8_document`).
    let xml = passerelle_xmldsig::utf8_document(xml.as_bytes()).map_err(Error::from_xmldsig)?;
    if xml.contains("<!DOCTYPE") {
        return Err(Error::Doctype);
    }
    let keys: Vec<&Key> = pinned.0.iter().map(AsRef::as_ref).collect();
    let verify = || passerelle_xmldsig::verify_root(xml.as_bytes(), &keys);
    let (verified, parsed) = if xml.len() <= OVERLAP_BELOW {
        std::thread::scope(|scope| {
            let parser = scope.spawn(|| parse(xml, options));
            let verified = verify();
            let parsed = parser
                .join()
                .unwrap_or_else(|_| Err(Error::NotMetadata("the parser stopped".into())));
            (verified, Some(parsed))
        })
    } else {
        (verify(), None)
    };
    if let Err(e) = verified {
        // A document libxml2 could not read: the streaming parser says where and why.
        let parsed = parsed.unwrap_or_else(|| parse(xml, options));
        return Err(match (e, parsed) {
            (passerelle_xmldsig::Error::NotXml, Err(parse_error @ Error::Xml { .. })) => {
                parse_error
            }
            (passerelle_xmldsig::Error::NotXml, _) => Error::Xml {
                position: 0,
                reason: "libxml2 could not read it".into(),
            },
            (passerelle_xmldsig::Error::Doctype, _) => Error::Doctype,
            (passerelle_xmldsig::Error::Encoding(reason), _) => Error::Encoding(reason),
            (passerelle_xmldsig::Error::OutsideRoot(reason), _) => Error::Xml {
                position: 0,
                reason: format!("outside the root element: {reason}"),
            },
            (
                passerelle_xmldsig::Error::Placement(_) | passerelle_xmldsig::Error::Reference(_),
                _,
            ) => Error::NotSignedAtRoot,
            (other, _) => Error::Signature(other.to_string()),
        });
    }
    // Large feeds: parsed only once the verifier's DOM is gone (peak memory).
    let aggregate = parsed.unwrap_or_else(|| parse(xml, options))?;
    aggregate.check_validity(now, max_validity)?;
    Ok(aggregate)
}
