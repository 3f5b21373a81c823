//! XML signature verification, one policy for feeds and responses: samael/xmlsec with the
//! given certificates only (never a key from the document), RSA or ECDSA with SHA-256 or
//! stronger, and the verifier's pre-digest output — the signed content, nothing else — as
//! the result.

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

/// Signature algorithms accepted (SHA-1, DSA and HMAC are not).
const ALLOWED: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// An error and its causes on one line (samael's top-level messages are generic).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Verifies every signature of `xml` with each certificate in turn and returns the
/// signed content for the first that verifies. One at a time: given several, samael
/// stops at the first key whose type does not fit the signature instead of trying the
/// next (an RSA pin before an EC one during a rollover).
///
/// # Errors
/// The last verifier error, as text.
pub(crate) fn verify_predigest(
    xml: &str,
    certs: impl IntoIterator<Item = CertificateDer>,
) -> Result<String, String> {
    let mut failure = String::from("no certificate to verify with");
    for cert in certs {
        match XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            std::slice::from_ref(&cert),
            ReduceMode::PreDigest,
            Some(ALLOWED),
        ) {
            Ok(signed) => return Ok(signed),
            Err(e) => failure = chain(&e),
        }
    }
    Err(failure)
}
