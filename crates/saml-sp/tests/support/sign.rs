//! Signing test metadata with keys the test makes (xmlsec through samael), so signature
//! checks run on every machine, not only where the Renater fixture is.

use base64::Engine as _;
use samael::crypto::{CryptoProvider, XmlSec};

/// A signing key and its self-signed certificate.
pub struct TestKey {
    /// The private key, DER (what xmlsec loads).
    pub key_der: Vec<u8>,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, PEM (what gets pinned).
    pub cert_pem: String,
}

impl TestKey {
    /// The certificate, DER.
    pub fn cert_der(&self) -> Vec<u8> {
        let b64: String = self
            .cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }
}

/// An ECDSA P-256 key.
pub fn ecdsa_key() -> TestKey {
    let certified = rcgen::generate_simple_self_signed(vec!["federation.test".to_owned()]).unwrap();
    TestKey {
        key_der: certified.signing_key.serialize_der(),
        key_pem: certified.signing_key.serialize_pem(),
        cert_pem: certified.cert.pem(),
    }
}

/// An RSA-2048 key (made with OpenSSL, certified by rcgen).
pub fn rsa_key() -> TestKey {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
    let pkcs8 = String::from_utf8(pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let key_pair =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["federation.test".to_owned()]).unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    TestKey {
        key_der: pkey.private_key_to_der().unwrap(),
        key_pem: pkcs8,
        cert_pem: cert.pem(),
    }
}

/// Signature and digest algorithm URIs.
pub const RSA_SHA256: (&str, &str) = (
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
);
pub const RSA_SHA1: (&str, &str) = (
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
);
pub const ECDSA_SHA256: (&str, &str) = (
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
);

/// Signs an aggregate whose root carries `ID="_gen"`: inserts an enveloped signature
/// template right after the root's start tag and lets xmlsec fill it.
pub fn sign(xml: &str, key: &TestKey, (sig_alg, digest_alg): (&str, &str)) -> String {
    let root = xml.find("<md:EntitiesDescriptor").unwrap();
    let insert = root + xml[root..].find('>').unwrap() + 1;
    let cert_b64: String = key
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let _ = base64::engine::general_purpose::STANDARD
        .decode(&cert_b64)
        .unwrap();
    let template = format!(
        r##"<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig_alg}"/><ds:Reference URI="#_gen"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest_alg}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    );
    let templated = format!("{}{}{}", &xml[..insert], template, &xml[insert..]);
    XmlSec::sign_xml(templated.as_bytes(), &key.key_der).unwrap()
}
