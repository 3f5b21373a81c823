//! Shared by the xmldsig tests: signing keys with self-signed certificates, and
//! signature templates that samael/xmlsec fills in.

#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use passerelle_xmldsig::Key;
use samael::crypto::{CryptoProvider as _, XmlSec};

pub const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

pub struct Signer {
    pub key: PKey<Private>,
    pub cert_der: Vec<u8>,
}

impl Signer {
    pub fn new(key: PKey<Private>) -> Self {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test signer").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert_der = b.build().to_der().unwrap();
        Self { key, cert_der }
    }

    pub fn rsa() -> Self {
        Self::new(PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
    }

    pub fn ec() -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        Self::new(PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap())
    }

    pub fn key(&self) -> Key {
        Key::from_cert_der(&self.cert_der).unwrap()
    }

    pub fn sign(&self, xml: &str) -> String {
        XmlSec::sign_xml(xml, &self.key.private_key_to_der().unwrap()).unwrap()
    }
}

pub fn template(uri: &str, signature: &str, digest: &str) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC}"/><ds:SignatureMethod Algorithm="{signature}"/><ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"#
    )
}
