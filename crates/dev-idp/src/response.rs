//! Reading AuthnRequests and writing signed (optionally encrypted) Responses.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use flate2::read::DeflateDecoder;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, encrypt_aead};
use openssl::x509::X509;
use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use samael::crypto::{CryptoProvider, XmlSec};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{DevIdp, DevUser, Error};

/// What the dev IdP needs from an AuthnRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) acs_url: String,
    pub(crate) issuer: String,
    /// `RequestedAuthnContext`'s class references.
    pub(crate) classes: Vec<String>,
}

impl Request {
    /// Whether REFEDS MFA is asked for.
    pub(crate) fn wants_mfa(&self) -> bool {
        self.classes.iter().any(|c| c == crate::REFEDS_MFA)
    }
}

/// Decodes an HTTP-Redirect `SAMLRequest` (base64 of raw DEFLATE).
pub(crate) fn read_request(saml_request: &str) -> Result<Request, Error> {
    let raw = B64
        .decode(saml_request.trim())
        .map_err(|e| Error::Request(format!("base64: {e}")))?;
    let mut xml = String::new();
    DeflateDecoder::new(raw.as_slice())
        .take(1 << 20)
        .read_to_string(&mut xml)
        .map_err(|e| Error::Request(format!("inflate: {e}")))?;
    let mut reader = Reader::from_str(&xml);
    let mut req = Request::default();
    let mut in_issuer = false;
    let mut in_class = false;
    loop {
        match reader
            .read_event()
            .map_err(|e| Error::Request(e.to_string()))?
        {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name();
                if local.as_ref() == "AuthnRequest" {
                    for a in e.attributes().flatten() {
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map(|v| v.into_owned())
                            .unwrap_or_default();
                        match a.key.as_ref() {
                            "ID" => req.id = v,
                            "AssertionConsumerServiceURL" => req.acs_url = v,
                            _ => {}
                        }
                    }
                }
                in_issuer = local.as_ref() == "Issuer";
                in_class = local.as_ref() == "AuthnContextClassRef";
                if in_class {
                    req.classes.push(String::new());
                }
            }
            Event::Text(t) if in_issuer => req.issuer.push_str(t.xml10_content().trim()),
            Event::Text(t) if in_class => {
                if let Some(c) = req.classes.last_mut() {
                    c.push_str(t.xml10_content().trim());
                }
            }
            Event::End(_) => {
                in_issuer = false;
                in_class = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if req.id.is_empty() || req.acs_url.is_empty() || req.issuer.is_empty() {
        return Err(Error::Request(
            "an AuthnRequest with ID, ACS URL and Issuer was expected".into(),
        ));
    }
    Ok(req)
}

fn now_text(offset_minutes: i64) -> String {
    let t = OffsetDateTime::now_utc() + time::Duration::minutes(offset_minutes);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn random_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(format!(
        "_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

fn template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    )
}

fn sign(xml: &str, key_der: &[u8]) -> Result<String, Error> {
    XmlSec::sign_xml(xml.as_bytes(), key_der).map_err(|e| Error::Crypto(e.to_string()))
}

/// AES-256-GCM content, RSA-OAEP key transport, for the SP's certificate.
fn encrypt(assertion: &str, cert_pem: &str) -> Result<String, Error> {
    let c = |e: openssl::error::ErrorStack| Error::Crypto(e.to_string());
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    getrandom::fill(&mut key).map_err(|e| Error::Crypto(e.to_string()))?;
    getrandom::fill(&mut iv).map_err(|e| Error::Crypto(e.to_string()))?;
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        assertion.as_bytes(),
        &mut tag,
    )
    .map_err(c)?;
    let public = X509::from_pem(cert_pem.as_bytes())
        .and_then(|x| x.public_key())
        .map_err(c)?;
    let mut ctx = PkeyCtx::new(&public).map_err(c)?;
    ctx.encrypt_init().map_err(c)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(c)?;
    let mut wrapped = Vec::new();
    ctx.encrypt_to_vec(&key, &mut wrapped).map_err(c)?;
    Ok(format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        B64.encode(wrapped),
        B64.encode([iv.as_slice(), &ct, &tag].concat())
    ))
}

/// The Response for `user`, base64-encoded for the POST form; `mfa`: the user gave their
/// second factor.
pub(crate) fn respond(
    idp: &DevIdp,
    req: &Request,
    user: &DevUser,
    mfa: bool,
) -> Result<String, Error> {
    let class = if mfa && req.wants_mfa() {
        crate::REFEDS_MFA
    } else if req.classes.iter().any(|c| c == crate::REFEDS_SFA) {
        crate::REFEDS_SFA
    } else {
        crate::PASSWORD_PROTECTED
    };
    let c = &idp.config;
    let (response_id, assertion_id) = (random_id()?, random_id()?);
    let (before, now, after) = (now_text(-1), now_text(0), now_text(5));
    let e = |s: &str| escape(s).into_owned();
    let attributes: String = user
        .attributes
        .iter()
        .map(|(name, values)| {
            let vs: String = values.iter().map(|v| format!("<saml:AttributeValue>{}</saml:AttributeValue>", e(v))).collect();
            format!(r#"<saml:Attribute Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">{vs}</saml:Attribute>"#, e(name))
        })
        .collect();
    let mut assertion = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{assertion_id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{idp_id}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{nameid}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="{acs}" NotOnOrAfter="{after}" InResponseTo="{irt}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{after}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{response_id}"><saml:AuthnContext><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>"#,
        idp_id = e(&c.entity_id),
        sig = template(&assertion_id),
        nameid = e(&format!("{}-{}", user.login, c.scope)),
        acs = e(&req.acs_url),
        irt = e(&req.id),
        sp = e(&req.issuer),
    );
    assertion = sign(&assertion, idp.keys.key_der())?;
    if let Some(at) = assertion.find("<saml:Assertion") {
        assertion = assertion
            .get(at..)
            .unwrap_or_default()
            .trim_end()
            .to_owned();
    }
    if let Some(cert) = &c.sp_encryption_cert_pem {
        assertion = encrypt(&assertion, cert)?;
    }
    let response_sig = if c.sign_response {
        template(&response_id)
    } else {
        String::new()
    };
    let mut response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{irt}"><saml:Issuer>{idp_id}</saml:Issuer>{response_sig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#,
        acs = e(&req.acs_url),
        irt = e(&req.id),
        idp_id = e(&c.entity_id),
    );
    if c.sign_response {
        response = sign(&response, idp.keys.key_der())?;
    }
    Ok(B64.encode(response))
}
