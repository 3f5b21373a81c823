//! A test IdP's answers: SAML Responses built field by field, signed on the response,
//! the assertion, or both, with keys the test holds — so every ACS rule can be broken
//! one at a time.

use base64::Engine as _;
use samael::crypto::{CryptoProvider, XmlSec};

use super::sign::TestKey;

/// Every field of a response, valid by default for `Resp::new`.
#[derive(Clone)]
pub struct Resp {
    pub id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub assertion_issuer: String,
    pub destination: String,
    pub in_response_to: Option<String>,
    pub recipient: String,
    pub audience: String,
    pub not_before: String,
    pub not_on_or_after: String,
    pub scd_not_on_or_after: String,
    pub status: String,
    pub name_id: String,
    pub attributes: Vec<(String, Vec<String>)>,
    pub authn: bool,
    pub sign_response: bool,
    pub sign_assertion: bool,
    pub sig: (&'static str, &'static str),
    pub extra_assertion: Option<String>,
    /// Encrypt the assertion for this SP certificate (PEM) with (content, key transport).
    pub encrypt: Option<(String, &'static str, &'static str)>,
}

pub const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub const TRIPLEDES_CBC: &str = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc";
pub const AES192_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes192-gcm";
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
pub const RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";

/// An `EncryptedAssertion` carrying `assertion`, for the certificate `cert_pem`.
pub fn encrypt(assertion: &str, cert_pem: &str, data_alg: &str, key_alg: &str) -> String {
    use openssl::symm::Cipher;
    let (cipher, gcm) = match data_alg {
        AES128_GCM => (Cipher::aes_128_gcm(), true),
        AES192_GCM => (Cipher::aes_192_gcm(), true),
        AES256_GCM => (Cipher::aes_256_gcm(), true),
        AES128_CBC => (Cipher::aes_128_cbc(), false),
        AES256_CBC => (Cipher::aes_256_cbc(), false),
        TRIPLEDES_CBC => (Cipher::des_ede3_cbc(), false),
        other => panic!("{other}"),
    };
    let mut key = vec![0u8; cipher.key_len()];
    openssl::rand::rand_bytes(&mut key).unwrap();
    let data = if gcm {
        let mut iv = [0u8; 12];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        let mut tag = [0u8; 16];
        let ct = openssl::symm::encrypt_aead(
            cipher,
            &key,
            Some(&iv),
            &[],
            assertion.as_bytes(),
            &mut tag,
        )
        .unwrap();
        [iv.as_slice(), &ct, &tag].concat()
    } else {
        let mut iv = vec![0u8; cipher.iv_len().unwrap_or(16)];
        openssl::rand::rand_bytes(&mut iv).unwrap();
        let ct = openssl::symm::encrypt(cipher, &key, Some(&iv), assertion.as_bytes()).unwrap();
        [iv.as_slice(), &ct].concat()
    };
    let public = openssl::x509::X509::from_pem(cert_pem.as_bytes())
        .unwrap()
        .public_key()
        .unwrap();
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&public).unwrap();
    ctx.encrypt_init().unwrap();
    let (padding, extra) = match key_alg {
        RSA_1_5 => (openssl::rsa::Padding::PKCS1, String::new()),
        RSA_OAEP_11 => {
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
                .unwrap();
            ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
            (
                openssl::rsa::Padding::PKCS1_OAEP,
                r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>"#.to_owned(),
            )
        }
        _ => (openssl::rsa::Padding::PKCS1_OAEP, String::new()),
    };
    ctx.set_rsa_padding(padding).unwrap();
    let mut wrapped = Vec::new();
    ctx.encrypt_to_vec(&key, &mut wrapped).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{data_alg}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{key_alg}">{extra}</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64(&wrapped),
        b64(&data)
    )
}

pub const ACS: &str = "https://login.uness.fr/saml/acs";
pub const SP: &str = "https://login.uness.fr/saml/metadata";
pub const IDP: &str = "https://idp.unilim.fr/idp";

fn iso(t: time::OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

impl Resp {
    pub fn new(in_response_to: &str) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            id: format!("_r{}", super::unique("").replace('-', "")),
            assertion_id: format!("_a{}", super::unique("").replace('-', "")),
            issuer: IDP.into(),
            assertion_issuer: IDP.into(),
            destination: ACS.into(),
            in_response_to: Some(in_response_to.into()),
            recipient: ACS.into(),
            audience: SP.into(),
            not_before: iso(now - time::Duration::minutes(1)),
            not_on_or_after: iso(now + time::Duration::minutes(5)),
            scd_not_on_or_after: iso(now + time::Duration::minutes(5)),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            name_id: "AAdzZWNyZXQxeyJ2IjoxLCJpZCI6".into(),
            attributes: vec![
                (
                    "urn:oasis:names:tc:SAML:attribute:subject-id".into(),
                    vec!["8f3e2a@unilim.fr".into()],
                ),
                (
                    "urn:oid:0.9.2342.19200300.100.1.3".into(),
                    vec!["prenom.nom@etu.unilim.fr".into()],
                ),
                ("urn:oid:2.5.4.42".into(), vec!["Prénom".into()]),
                ("urn:oid:2.5.4.4".into(), vec!["Nom".into()]),
                (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1".into(),
                    vec!["student".into(), "member".into()],
                ),
                (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9".into(),
                    vec!["student@unilim.fr".into(), "staff@evil.fr".into()],
                ),
            ],
            authn: true,
            sign_response: false,
            sign_assertion: true,
            sig: super::sign::RSA_SHA256,
            extra_assertion: None,
            encrypt: None,
        }
    }

    fn irt(&self) -> String {
        self.in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default()
    }

    pub fn assertion(&self) -> String {
        let attrs: String = self
            .attributes
            .iter()
            .map(|(n, vs)| {
                let values: String = vs.iter().map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>")).collect();
                format!(r#"<saml:Attribute Name="{n}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">{values}</saml:Attribute>"#)
            })
            .collect();
        let authn = if self.authn {
            format!(
                r#"<saml:AuthnStatement AuthnInstant="{}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
                self.not_before
            )
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}"><saml:Issuer>{}</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="{}" NotOnOrAfter="{}"{}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{}" NotOnOrAfter="{}"><saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions>{authn}<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"#,
            self.assertion_id,
            self.not_before,
            self.assertion_issuer,
            self.name_id,
            self.recipient,
            self.scd_not_on_or_after,
            self.irt(),
            self.not_before,
            self.not_on_or_after,
            self.audience
        )
    }

    fn template(id: &str, (sig, digest): (&str, &str)) -> String {
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
        )
    }

    /// The signed response XML.
    pub fn xml(&self, key: &TestKey) -> String {
        let mut assertion = self.assertion();
        if self.sign_assertion {
            let at = assertion.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
            assertion.insert_str(at, &Self::template(&self.assertion_id, self.sig));
        }
        let encrypted = self.encrypt.is_some();
        if let Some((cert, data_alg, key_alg)) = &self.encrypt {
            if self.sign_assertion {
                let signed = XmlSec::sign_xml(assertion.as_bytes(), &key.key_der).unwrap();
                // libxml writes an XML declaration first: keep the element only.
                let at = signed.find("<saml:Assertion").unwrap();
                assertion = signed[at..].trim_end().to_owned();
            }
            assertion = encrypt(&assertion, cert, data_alg, key_alg);
        }
        let extra = self.extra_assertion.clone().unwrap_or_default();
        let mut doc = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}"{}><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>{extra}{assertion}</samlp:Response>"#,
            self.id,
            self.not_before,
            self.destination,
            self.irt(),
            self.issuer,
            self.status
        );
        if self.sign_assertion && !encrypted {
            doc = XmlSec::sign_xml(doc.as_bytes(), &key.key_der).unwrap();
        }
        if self.sign_response {
            let at = doc.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
            doc.insert_str(at, &Self::template(&self.id, self.sig));
            doc = XmlSec::sign_xml(doc.as_bytes(), &key.key_der).unwrap();
        }
        doc
    }

    /// What the browser posts.
    pub fn post(&self, key: &TestKey) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.xml(key))
    }
}
