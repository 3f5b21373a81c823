//! Generated metadata for tests and benchmarks: well-formed aggregates of any size, with
//! the features the parser cares about, so nothing depends on `../shared` being there.

#![allow(dead_code)]

pub mod respond;
pub mod sign;

use std::fmt::Write as _;
use std::path::PathBuf;

/// `../shared/fixtures/renater/` from the project root, when present.
pub fn renater_fixture() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/renater");
    let xml = dir.join("main-idps-renater-metadata-2023-06-16.xml");
    let cert = dir.join("renater-metadata-signing-cert.pem");
    (xml.is_file() && cert.is_file()).then_some((xml, cert))
}

/// A base64 blob shaped like a certificate (the parser does not interpret DER).
pub const FAKE_CERT: &str = "MIIC9zCCAd+gAwIBAgIEfe6j3jANBgkqhkiG9w0BAQsFADAsMSowKAYDVQQDEyFT\nQU1MIE1ldGFkYXRhIFNpZ25pbmcgQ2VydGlmaWNhdGUwHhcNMTYwNzI5MDczNjM4";

/// One IdP entity.
pub fn idp(entity_id: &str, name_fr: &str, name_en: &str, scope: &str) -> String {
    format!(
        r#"<md:EntityDescriptor entityID="{entity_id}">
  <md:Extensions>
    <mdattr:EntityAttributes><saml:Attribute Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>http://refeds.org/category/research-and-scholarship</saml:AttributeValue></saml:Attribute></mdattr:EntityAttributes>
    <mdrpi:RegistrationInfo registrationAuthority="https://federation.renater.fr/"/>
  </md:Extensions>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:Extensions>
      <shibmd:Scope regexp="false">{scope}</shibmd:Scope>
      <mdui:UIInfo>
        <mdui:DisplayName xml:lang="fr">{name_fr}</mdui:DisplayName>
        <mdui:DisplayName xml:lang="en">{name_en}</mdui:DisplayName>
        <mdui:InformationURL xml:lang="fr">https://www.{scope}/</mdui:InformationURL>
        <mdui:Logo height="16" width="16">https://www.{scope}/favicon.png</mdui:Logo>
      </mdui:UIInfo>
    </md:Extensions>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{FAKE_CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{FAKE_CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.{scope}/idp/profile/SAML2/Redirect/SSO"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.{scope}/idp/profile/SAML2/POST/SSO"/>
  </md:IDPSSODescriptor>
  <md:Organization><md:OrganizationName xml:lang="fr">{name_fr}</md:OrganizationName><md:OrganizationDisplayName xml:lang="fr">{name_fr}</md:OrganizationDisplayName><md:OrganizationURL xml:lang="fr">https://www.{scope}/</md:OrganizationURL></md:Organization>
</md:EntityDescriptor>
"#
    )
}

/// An aggregate around the given entities.
pub fn aggregate(valid_until: &str, entities: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" Name="https://test.passerelle/federation" ID="_gen" validUntil="{valid_until}" cacheDuration="PT6H">
{entities}</md:EntitiesDescriptor>
"#
    )
}

/// An aggregate of `n` generated IdPs (`univ-N.example.fr`).
pub fn generated(n: usize) -> String {
    let mut entities = String::new();
    for i in 0..n {
        let _ = write!(
            entities,
            "{}",
            idp(
                &format!("https://idp.univ-{i}.example.fr/idp/shibboleth"),
                &format!("Université numéro {i}"),
                &format!("University number {i}"),
                &format!("univ-{i}.example.fr"),
            )
        );
    }
    aggregate("2099-01-01T00:00:00Z", &entities)
}

/// A name no other test uses (store prefixes).
pub fn unique(label: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{}-{n}", std::process::id())
}

/// The SP configuration the ACS tests use (entityID and ACS of `respond`).
pub fn sp_config() -> passerelle_saml_sp::sp::SpConfig {
    passerelle_saml_sp::sp::SpConfig {
        entity_id: respond::SP.into(),
        acs_url: respond::ACS.into(),
        name_fr: "Connexion UNESS".into(),
        name_en: "UNESS login".into(),
        description_fr: "Connexion aux services de l'UNESS".into(),
        description_en: "Sign-in to UNESS services".into(),
        information_url: "https://www.uness.fr/".into(),
        privacy_url: "https://www.uness.fr/confidentialite".into(),
        organization_name: "UNESS".into(),
        organization_url: "https://www.uness.fr/".into(),
        contacts: vec![passerelle_saml_sp::sp::Contact {
            kind: "technical".into(),
            name: "Équipe technique".into(),
            email: "tech@uness.fr".into(),
        }],
        request_ttl_secs: 600,
    }
}

/// A service provider signing and decrypting with `key`.
pub fn service_provider(key: &sign::TestKey) -> passerelle_saml_sp::sp::ServiceProvider {
    let pair = || {
        passerelle_saml_sp::sp::KeyPair::from_pem(key.key_pem.as_bytes(), key.cert_pem.as_bytes())
            .unwrap()
    };
    passerelle_saml_sp::sp::ServiceProvider::new(sp_config(), pair(), pair()).unwrap()
}
