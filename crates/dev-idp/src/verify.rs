//! The HTTP-Redirect binding's request signature (SAML Bindings §3.4.4.1), checked with
//! the SP's signing certificate when the dev IdP is given one — as a university's IdP
//! does when the SP's metadata says `AuthnRequestsSigned="true"`.
//!
//! The signed octets are `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear in
//! the query (still URL-encoded). RSA-SHA256 and ECDSA-SHA256 only; SHA-1 is refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;

use crate::Error;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// The raw (still encoded) value of `name` in a query string.
fn raw<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })
}

fn decoded(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Checks the signature of a redirect-binding query against `cert_pem`.
///
/// # Errors
/// [`Error::Request`] naming what is missing or wrong.
pub(crate) fn redirect_signature(query: &str, cert_pem: &str) -> Result<(), Error> {
    let bad = |m: &str| Error::Request(m.to_owned());
    let request = raw(query, "SAMLRequest").ok_or_else(|| bad("no SAMLRequest"))?;
    let sig_alg_raw =
        raw(query, "SigAlg").ok_or_else(|| bad("the request is not signed (no SigAlg)"))?;
    let sig_alg = decoded(query, "SigAlg").unwrap_or_default();
    let signature = decoded(query, "Signature")
        .ok_or_else(|| bad("the request is not signed (no Signature)"))?;
    let signature = B64
        .decode(signature.trim())
        .map_err(|_| bad("the Signature is not base64"))?;
    let mut signed = format!("SAMLRequest={request}");
    if let Some(relay) = raw(query, "RelayState") {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg_raw}"));
    let (digest, ecdsa) = match sig_alg.as_str() {
        RSA_SHA256 => (MessageDigest::sha256(), false),
        ECDSA_SHA256 => (MessageDigest::sha256(), true),
        other => return Err(bad(&format!("signature algorithm {other:?} refused"))),
    };
    let key = X509::from_pem(cert_pem.as_bytes())
        .and_then(|c| c.public_key())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    // XML-DSig ECDSA signatures are r‖s; OpenSSL verifies DER.
    let signature = if ecdsa {
        let half = signature.len() / 2;
        let (r, s) = signature.split_at(half);
        let r = openssl::bn::BigNum::from_slice(r).map_err(|e| Error::Crypto(e.to_string()))?;
        let s = openssl::bn::BigNum::from_slice(s).map_err(|e| Error::Crypto(e.to_string()))?;
        openssl::ecdsa::EcdsaSig::from_private_components(r, s)
            .and_then(|sig| sig.to_der())
            .map_err(|e| Error::Crypto(e.to_string()))?
    } else {
        signature
    };
    let mut verifier = Verifier::new(digest, &key).map_err(|e| Error::Crypto(e.to_string()))?;
    verifier
        .update(signed.as_bytes())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    if verifier.verify(&signature).unwrap_or(false) {
        Ok(())
    } else {
        Err(bad(
            "the request's signature does not verify with the SP's certificate",
        ))
    }
}
