//! The service provider itself: its configuration, its keys, and the metadata it
//! publishes for the federation (written by us, not samael, which advertises no
//! encryption key).
//!
//! Submodules: [`request`] builds signed AuthnRequests and keeps them pending in the
//! store for the InResponseTo check.

pub mod request;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use quick_xml::escape::escape;
use serde::Deserialize;

use crate::attributes::REQUESTED;
use crate::error::Error;
use crate::types::EntityId;

/// Key-transport and content-encryption algorithms we accept, as advertised in metadata.
/// Digests the ACS accepts in IdP signatures (SAML Metadata Profile for Algorithm
/// Support, `alg:DigestMethod`): what `passerelle-xmldsig` enables, nothing weaker.
pub const DIGEST_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Signature methods the ACS accepts (`alg:SigningMethod`): RSA (2048 bits or more) and
/// ECDSA with SHA-2. SHA-1 and HMAC are refused by the verifier.
pub const SIGNING_METHODS: &[(&str, Option<u32>)] = &[
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        Some(2048),
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        Some(2048),
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        Some(2048),
    ),
    ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", None),
    ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", None),
    ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", None),
];

/// Encryption methods the ACS decrypts (advertised on the encryption key).
pub const ENCRYPTION_METHODS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

/// A contact published in metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// `technical`, `support` or `administrative`.
    pub kind: String,
    /// A name or team.
    pub name: String,
    /// An e-mail address (without `mailto:`).
    pub email: String,
}

/// Configuration of the service provider (the `[saml.sp]` table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpConfig {
    /// The SP's entityID.
    pub entity_id: String,
    /// The assertion consumer service URL (`…/saml/acs`).
    pub acs_url: String,
    /// Service name in French.
    pub name_fr: String,
    /// Service name in English.
    pub name_en: String,
    /// One-sentence description in French.
    pub description_fr: String,
    /// One-sentence description in English.
    pub description_en: String,
    /// Information page.
    pub information_url: String,
    /// Privacy statement.
    pub privacy_url: String,
    /// Organization name.
    pub organization_name: String,
    /// Organization URL.
    pub organization_url: String,
    /// Contacts (at least a technical one).
    pub contacts: Vec<Contact>,
    /// How long an AuthnRequest stays answerable, in seconds.
    #[serde(default = "default_request_ttl")]
    pub request_ttl_secs: u64,
}

fn default_request_ttl() -> u64 {
    600
}

/// A private key and its certificate, from PEM.
#[derive(Clone)]
pub struct KeyPair {
    key: PKey<Private>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair(***)")
    }
}

impl KeyPair {
    /// Reads a private key (PKCS#8 or PKCS#1 PEM) and its certificate (PEM), and checks
    /// that they belong together.
    ///
    /// # Errors
    /// [`Error::Input`] naming what is wrong (never the key material).
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, Error> {
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|_| Error::Input("the SP private key is not a PEM private key".into()))?;
        let cert = X509::from_pem(cert_pem)
            .map_err(|_| Error::Input("the SP certificate is not a PEM certificate".into()))?;
        let public = cert
            .public_key()
            .map_err(|_| Error::Input("the SP certificate has no usable public key".into()))?;
        if !key.public_eq(&public) {
            return Err(Error::Input(
                "the SP private key does not match its certificate".into(),
            ));
        }
        let cert_der = cert
            .to_der()
            .map_err(|_| Error::Input("the SP certificate cannot be encoded".into()))?;
        Ok(Self { key, cert_der })
    }

    /// The certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn key(&self) -> &PKey<Private> {
        &self.key
    }
}

/// The configured service provider.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    config: SpConfig,
    entity_id: EntityId,
    signing: KeyPair,
    encryption: KeyPair,
}

fn require_https_or_local(what: &str, url: &str) -> Result<(), Error> {
    let local = url.starts_with("http://localhost") || url.starts_with("http://127.0.0.1");
    if url.starts_with("https://") || local {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "saml.sp.{what} must be an https URL (or http on localhost)"
        )))
    }
}

/// The `alg:DigestMethod` and `alg:SigningMethod` elements: what IdPs may sign with.
fn algorithm_support() -> String {
    let mut out = String::new();
    for d in DIGEST_METHODS {
        let _ = writeln!(out, r#"    <alg:DigestMethod Algorithm="{d}"/>"#);
    }
    for (m, min) in SIGNING_METHODS {
        let min = min
            .map(|n| format!(r#" MinKeySize="{n}""#))
            .unwrap_or_default();
        let _ = writeln!(out, r#"    <alg:SigningMethod Algorithm="{m}"{min}/>"#);
    }
    out
}

impl ServiceProvider {
    /// Checks the configuration and binds the keys.
    ///
    /// # Errors
    /// [`Error::Input`] naming the key at fault.
    pub fn new(config: SpConfig, signing: KeyPair, encryption: KeyPair) -> Result<Self, Error> {
        let entity_id = EntityId::parse(&config.entity_id)
            .map_err(|e| Error::Input(format!("saml.sp.entity_id: {e}")))?;
        require_https_or_local("acs_url", &config.acs_url)?;
        if !config.contacts.iter().any(|c| c.kind == "technical") {
            return Err(Error::Input(
                "saml.sp.contacts needs a technical contact".into(),
            ));
        }
        if let Some(c) = config
            .contacts
            .iter()
            .find(|c| !matches!(c.kind.as_str(), "technical" | "support" | "administrative"))
        {
            return Err(Error::Input(format!(
                "saml.sp.contacts: unknown kind {:?}",
                c.kind
            )));
        }
        Ok(Self {
            config,
            entity_id,
            signing,
            encryption,
        })
    }

    /// The SP's entityID.
    #[must_use]
    pub fn entity_id(&self) -> &EntityId {
        &self.entity_id
    }

    /// The ACS URL.
    #[must_use]
    pub fn acs_url(&self) -> &str {
        &self.config.acs_url
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SpConfig {
        &self.config
    }

    pub(crate) fn signing(&self) -> &KeyPair {
        &self.signing
    }

    pub(crate) fn decryption_key(&self) -> &PKey<Private> {
        self.encryption.key()
    }

    /// The SP metadata to register in the federation. It says what the ACS enforces:
    /// signed AuthnRequests, the accepted digest and signature algorithms, and
    /// `WantAssertionsSigned="false"` — a signed Response covering its assertion is
    /// accepted (an assertion in an unsigned Response must be signed, which the ACS
    /// checks on its own).
    #[must_use]
    pub fn metadata_xml(&self) -> String {
        let c = &self.config;
        let e = |s: &str| escape(s).into_owned();
        let mut out = String::with_capacity(8192);
        let _ = write!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport" entityID="{}">
  <md:Extensions>
{}  </md:Extensions>
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:Extensions>
      <mdui:UIInfo>
        <mdui:DisplayName xml:lang="fr">{}</mdui:DisplayName>
        <mdui:DisplayName xml:lang="en">{}</mdui:DisplayName>
        <mdui:Description xml:lang="fr">{}</mdui:Description>
        <mdui:Description xml:lang="en">{}</mdui:Description>
        <mdui:InformationURL xml:lang="fr">{}</mdui:InformationURL>
        <mdui:PrivacyStatementURL xml:lang="fr">{}</mdui:PrivacyStatementURL>
      </mdui:UIInfo>
    </md:Extensions>
"#,
            e(self.entity_id.as_str()),
            algorithm_support(),
            e(&c.name_fr),
            e(&c.name_en),
            e(&c.description_fr),
            e(&c.description_en),
            e(&c.information_url),
            e(&c.privacy_url),
        );
        let _ = writeln!(
            out,
            r#"    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            B64.encode(self.signing.cert_der())
        );
        let _ = write!(
            out,
            r#"    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"#,
            B64.encode(self.encryption.cert_der())
        );
        for m in ENCRYPTION_METHODS {
            let _ = write!(out, r#"<md:EncryptionMethod Algorithm="{m}"/>"#);
        }
        out.push_str("</md:KeyDescriptor>\n");
        out.push_str("    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>\n");
        out.push_str("    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>\n");
        let _ = writeln!(
            out,
            r#"    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{}" index="0" isDefault="true"/>"#,
            e(&c.acs_url)
        );
        let _ = writeln!(
            out,
            r#"    <md:AttributeConsumingService index="0" isDefault="true"><md:ServiceName xml:lang="fr">{}</md:ServiceName><md:ServiceName xml:lang="en">{}</md:ServiceName>"#,
            e(&c.name_fr),
            e(&c.name_en)
        );
        for a in REQUESTED {
            let _ = writeln!(
                out,
                r#"      <md:RequestedAttribute FriendlyName="{}" Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" isRequired="{}"/>"#,
                a.friendly_name, a.name, a.required
            );
        }
        out.push_str("    </md:AttributeConsumingService>\n  </md:SPSSODescriptor>\n");
        let _ = writeln!(
            out,
            r#"  <md:Organization><md:OrganizationName xml:lang="fr">{0}</md:OrganizationName><md:OrganizationDisplayName xml:lang="fr">{0}</md:OrganizationDisplayName><md:OrganizationURL xml:lang="fr">{1}</md:OrganizationURL></md:Organization>"#,
            e(&c.organization_name),
            e(&c.organization_url)
        );
        for contact in &c.contacts {
            let _ = writeln!(
                out,
                r#"  <md:ContactPerson contactType="{}"><md:GivenName>{}</md:GivenName><md:EmailAddress>mailto:{}</md:EmailAddress></md:ContactPerson>"#,
                e(&contact.kind),
                e(&contact.name),
                e(&contact.email)
            );
        }
        out.push_str("</md:EntityDescriptor>\n");
        out
    }
}
