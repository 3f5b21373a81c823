//! Writing and signing metadata: the demo federation, the dev IdP and the tests publish
//! feeds Passerelle then loads like any other.
//!
//! [`write_aggregate`] renders IdP records (every value XML-escaped) into an
//! `md:EntitiesDescriptor` whose root carries an `ID`; [`sign_aggregate`] adds an
//! enveloped signature over that root with xmlsec (through samael). What is written here
//! parses back to the same records (property-tested).

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::escape::escape;
use samael::crypto::{CryptoProvider, XmlSec};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::IdpRecord;
use crate::error::Error;

const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// Signature algorithms the writer can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaSha256,
    /// ECDSA with SHA-256.
    EcdsaSha256,
}

impl SignatureAlgorithm {
    fn uris(self) -> (&'static str, &'static str) {
        match self {
            Self::RsaSha256 => (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            ),
            Self::EcdsaSha256 => (
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            ),
        }
    }
}

fn cert_element(out: &mut String, der: &[u8], usage: &str) {
    let _ = write!(
        out,
        r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
        B64.encode(der)
    );
}

/// One IdP as an `md:EntityDescriptor`.
#[must_use]
pub fn write_idp(idp: &IdpRecord) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<md:EntityDescriptor entityID="{}">"#,
        escape(idp.entity_id.as_str())
    );
    let has_entity_ext = !idp.entity_categories.is_empty() || idp.registration_authority.is_some();
    if has_entity_ext {
        out.push_str("<md:Extensions>");
        if let Some(ra) = &idp.registration_authority {
            let _ = write!(
                out,
                r#"<mdrpi:RegistrationInfo registrationAuthority="{}"/>"#,
                escape(ra.as_str())
            );
        }
        if !idp.entity_categories.is_empty() {
            out.push_str(r#"<mdattr:EntityAttributes><saml:Attribute Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">"#);
            for c in &idp.entity_categories {
                let _ = write!(
                    out,
                    "<saml:AttributeValue>{}</saml:AttributeValue>",
                    escape(c.as_str())
                );
            }
            out.push_str("</saml:Attribute></mdattr:EntityAttributes>");
        }
        out.push_str("</md:Extensions>");
    }
    let _ = write!(
        out,
        r#"<md:IDPSSODescriptor protocolSupportEnumeration="{SAML2_PROTOCOL}"><md:Extensions>"#
    );
    for s in &idp.scopes {
        let _ = write!(
            out,
            r#"<shibmd:Scope regexp="{}">{}</shibmd:Scope>"#,
            s.regexp,
            escape(s.value.as_str())
        );
    }
    out.push_str("<mdui:UIInfo>");
    for n in &idp.display_names {
        let _ = write!(
            out,
            r#"<mdui:DisplayName xml:lang="{}">{}</mdui:DisplayName>"#,
            escape(n.lang.as_str()),
            escape(n.value.as_str())
        );
    }
    for u in &idp.information_urls {
        let _ = write!(
            out,
            r#"<mdui:InformationURL xml:lang="{}">{}</mdui:InformationURL>"#,
            escape(u.lang.as_str()),
            escape(u.value.as_str())
        );
    }
    for l in &idp.logos {
        out.push_str("<mdui:Logo");
        if let Some(h) = l.height {
            let _ = write!(out, r#" height="{h}""#);
        }
        if let Some(w) = l.width {
            let _ = write!(out, r#" width="{w}""#);
        }
        if let Some(lang) = &l.lang {
            let _ = write!(out, r#" xml:lang="{}""#, escape(lang.as_str()));
        }
        let _ = write!(out, ">{}</mdui:Logo>", escape(l.url.as_str()));
    }
    out.push_str("</mdui:UIInfo></md:Extensions>");
    for der in &idp.signing_certs {
        cert_element(&mut out, der, "signing");
    }
    for der in &idp.encryption_certs {
        cert_element(&mut out, der, "encryption");
    }
    for e in &idp.sso {
        let _ = write!(
            out,
            r#"<md:SingleSignOnService Binding="{}" Location="{}"/>"#,
            escape(e.binding.as_str()),
            escape(e.location.as_str())
        );
    }
    out.push_str("</md:IDPSSODescriptor></md:EntityDescriptor>\n");
    out
}

/// An aggregate of IdPs with root `ID`, `Name`, `validUntil` and `cacheDuration`.
///
/// # Errors
/// [`Error::Input`] when `id` is not an XML NCName-like identifier or `valid_until`
/// cannot be formatted.
pub fn write_aggregate(
    name: &str,
    id: &str,
    valid_until: OffsetDateTime,
    cache_duration: Duration,
    idps: &[IdpRecord],
) -> Result<String, Error> {
    let id_ok = id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !id_ok {
        return Err(Error::Input(format!("{id:?} is not a usable XML ID")));
    }
    let until = valid_until
        .replace_nanosecond(0)
        .unwrap_or(valid_until)
        .format(&Rfc3339)
        .map_err(|e| Error::Input(format!("validUntil: {e}")))?;
    let mut out = String::with_capacity(256 + idps.len() * 4096);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" Name="{}" ID="{id}" validUntil="{until}" cacheDuration="PT{}S">
"#,
        escape(name),
        cache_duration.as_secs()
    );
    for idp in idps {
        out.push_str(&write_idp(idp));
    }
    out.push_str("</md:EntitiesDescriptor>\n");
    Ok(out)
}

/// Signs an aggregate written by [`write_aggregate`]: an enveloped, exclusive-c14n
/// signature over the root (found by its `ID`), with the certificate in `KeyInfo`.
/// `key_der` is the private key in DER (PKCS#1 or PKCS#8).
///
/// # Errors
/// [`Error::Input`] when the document has no root ID, [`Error::Signature`] when xmlsec
/// refuses the key or the document.
pub fn sign_aggregate(
    xml: &str,
    key_der: &[u8],
    cert_der: &[u8],
    algorithm: SignatureAlgorithm,
) -> Result<String, Error> {
    let root = xml
        .find("<md:EntitiesDescriptor")
        .ok_or_else(|| Error::Input("no md:EntitiesDescriptor root".into()))?;
    let open_end = xml
        .get(root..)
        .and_then(|t| t.find('>'))
        .map(|i| root + i + 1)
        .ok_or_else(|| Error::Input("unterminated root start tag".into()))?;
    let start_tag = xml.get(root..open_end).unwrap_or_default();
    let id = start_tag
        .split(" ID=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .ok_or_else(|| Error::Input("the root has no ID".into()))?;
    let (sig, digest) = algorithm.uris();
    let template = format!(
        r##"<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        B64.encode(cert_der)
    );
    let templated = format!(
        "{}{}{}",
        xml.get(..open_end).unwrap_or_default(),
        template,
        xml.get(open_end..).unwrap_or_default()
    );
    XmlSec::sign_xml(templated.as_bytes(), key_der).map_err(|e| Error::Signature(e.to_string()))
}
