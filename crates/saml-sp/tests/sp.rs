//! The service provider: its metadata (checked with samael's independent parser) and its
//! signed HTTP-Redirect AuthnRequests (signature checked with samael's URL verifier and
//! OpenSSL), remembered in a real Redis until answered once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::io::Read as _;
use std::str::FromStr as _;

use base64::Engine as _;
use passerelle_saml_sp::Error;
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_saml_sp::sp::request::{LoginOptions, take_pending};
use passerelle_saml_sp::sp::{Contact, KeyPair, ServiceProvider, SpConfig};
use passerelle_store::Store;
use passerelle_testkit::redis::redis_url;
use support::sign::{TestKey, ecdsa_key, rsa_key};
use time::OffsetDateTime;

fn config() -> SpConfig {
    SpConfig {
        entity_id: "https://login.uness.fr/saml/metadata".into(),
        acs_url: "https://login.uness.fr/saml/acs".into(),
        name_fr: "Connexion UNESS".into(),
        name_en: "UNESS login".into(),
        description_fr: "Connexion aux services de l'UNESS & partenaires".into(),
        description_en: "Sign-in to UNESS services".into(),
        information_url: "https://www.uness.fr/".into(),
        privacy_url: "https://www.uness.fr/confidentialite".into(),
        organization_name: "UNESS".into(),
        organization_url: "https://www.uness.fr/".into(),
        contacts: vec![Contact {
            kind: "technical".into(),
            name: "Équipe technique".into(),
            email: "tech@uness.fr".into(),
        }],
        request_ttl_secs: 600,
    }
}

fn keypair(k: &TestKey) -> KeyPair {
    KeyPair::from_pem(k.key_pem.as_bytes(), k.cert_pem.as_bytes()).unwrap()
}

fn sp_with(signing: &TestKey) -> ServiceProvider {
    ServiceProvider::new(config(), keypair(signing), keypair(&rsa_key())).unwrap()
}

fn idp_record() -> passerelle_saml_sp::metadata::IdpRecord {
    let xml = support::aggregate(
        "2099-01-01T00:00:00Z",
        &support::idp(
            "https://idp.unilim.fr/idp",
            "Université de Limoges",
            "University of Limoges",
            "unilim.fr",
        ),
    );
    parse(&xml, ParseOptions::default()).unwrap().idps.remove(0)
}

fn query_param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

fn inflate(b64: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[test]
fn sp_metadata_reads_back_with_an_independent_parser() {
    let sp = sp_with(&rsa_key());
    let xml = sp.metadata_xml();
    let parsed = samael::metadata::EntityDescriptor::from_str(&xml).unwrap();
    assert_eq!(
        parsed.entity_id.as_deref(),
        Some("https://login.uness.fr/saml/metadata")
    );
    let role = &parsed.sp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(role.authn_requests_signed, Some(true));
    // What the ACS enforces: a signed Response alone is accepted.
    assert_eq!(role.want_assertions_signed, Some(false));
    // The algorithms the verifier accepts, and no SHA-1 (SAML Metadata Profile for
    // Algorithm Support).
    for uri in passerelle_saml_sp::sp::DIGEST_METHODS {
        assert!(xml.contains(&format!(r#"<alg:DigestMethod Algorithm="{uri}"/>"#)));
    }
    assert!(xml.contains(r#"<alg:SigningMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" MinKeySize="2048"/>"#));
    assert!(xml.contains(
        r#"<alg:SigningMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>"#
    ));
    assert!(!xml.contains("sha1"), "{xml}");
    let keys = role.key_descriptors.as_ref().unwrap();
    assert_eq!(keys.len(), 2);
    let enc = keys
        .iter()
        .find(|k| k.key_use.as_deref() == Some("encryption"))
        .unwrap();
    assert_eq!(enc.encryption_methods.as_ref().unwrap().len(), 6);
    assert_eq!(
        role.assertion_consumer_services[0].location,
        "https://login.uness.fr/saml/acs"
    );
    let acs = &role.attribute_consuming_services.as_ref().unwrap()[0];
    assert_eq!(acs.request_attributes.len(), 12);
    assert!(xml.contains("UNESS &amp; partenaires"), "escaped text");
    assert!(xml.contains(r#"FriendlyName="mail" Name="urn:oid:0.9.2342.19200300.100.1.3" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" isRequired="true""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_redirect_is_signed_verifiable_and_remembered_once() {
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &support::unique("sp")).unwrap();
    for key in [rsa_key(), ecdsa_key()] {
        let sp = sp_with(&key);
        let idp = idp_record();
        let now = OffsetDateTime::now_utc();
        let options = LoginOptions {
            force_authn: true,
            flow: "journey-42".into(),
            authn_context: Vec::new(),
        };
        let redirect = sp.start_login(&store, &idp, options, now).await.unwrap();
        assert!(
            redirect
                .url
                .starts_with("https://idp.unilim.fr/idp/profile/SAML2/Redirect/SSO?SAMLRequest=")
        );
        assert!(
            redirect.request_id.len() >= 33,
            "ID under 128 bits: {}",
            redirect.request_id
        );
        assert!(redirect.relay_state.len() <= 80);

        let url = url::Url::parse(&redirect.url).unwrap();
        let verifier = samael::crypto::UrlVerifier::from_x509_cert_pem(&key.cert_pem).unwrap();
        assert!(
            verifier.verify_signed_request_url(&url).unwrap(),
            "independent verifier refused the signature"
        );
        let request = inflate(&query_param(&url, "SAMLRequest"));
        assert!(
            request.contains(&format!(r#"ID="{}""#, redirect.request_id)),
            "{request}"
        );
        assert!(
            request
                .contains(r#"Destination="https://idp.unilim.fr/idp/profile/SAML2/Redirect/SSO""#)
        );
        assert!(
            request.contains(r#"AssertionConsumerServiceURL="https://login.uness.fr/saml/acs""#)
        );
        assert!(request.contains(r#"ForceAuthn="true""#));
        assert!(
            request.contains("<saml:Issuer>https://login.uness.fr/saml/metadata</saml:Issuer>")
        );
        assert_eq!(query_param(&url, "RelayState"), redirect.relay_state);

        // Tampering with the request breaks the signature.
        let tampered =
            url::Url::parse(&redirect.url.replace("RelayState=", "RelayState=x")).unwrap();
        assert!(
            !verifier
                .verify_signed_request_url(&tampered)
                .unwrap_or(false)
        );

        let pending = take_pending(&store, &redirect.request_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (pending.flow.as_str(), pending.force_authn),
            ("journey-42", true)
        );
        assert_eq!(pending.idp.as_str(), "https://idp.unilim.fr/idp");
        assert!(
            take_pending(&store, &redirect.request_id)
                .await
                .unwrap()
                .is_none(),
            "answered twice"
        );
    }
    assert!(take_pending(&store, "_never-sent").await.unwrap().is_none());
    assert!(take_pending(&store, "").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_redirect_endpoint_or_no_store_means_no_login_and_nothing_sent() {
    let sp = sp_with(&rsa_key());
    let mut idp = idp_record();
    let store = Store::memory("t");
    idp.sso
        .retain(|e| e.binding != passerelle_saml_sp::metadata::BINDING_REDIRECT);
    let err = sp
        .start_login(
            &store,
            &idp,
            LoginOptions::default(),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let down = Store::open(
        &format!(
            "redis://127.0.0.1:{}",
            passerelle_testkit::free_port().unwrap()
        ),
        "t",
    )
    .unwrap();
    let err = sp
        .start_login(
            &down,
            &idp_record(),
            LoginOptions::default(),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Store(e) if e.is_unavailable()),
        "{err:?}"
    );
}

#[test]
fn keys_that_do_not_match_and_bad_configuration_are_refused() {
    let (a, b) = (rsa_key(), rsa_key());
    let err = KeyPair::from_pem(a.key_pem.as_bytes(), b.cert_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(KeyPair::from_pem(b"nope", a.cert_pem.as_bytes()).is_err());
    let mut c = config();
    c.acs_url = "http://login.uness.fr/saml/acs".into();
    assert!(ServiceProvider::new(c, keypair(&a), keypair(&a)).is_err());
    let mut c = config();
    c.contacts.clear();
    assert!(ServiceProvider::new(c, keypair(&a), keypair(&a)).is_err());
    let mut c = config();
    c.entity_id = "not a uri".into();
    assert!(ServiceProvider::new(c, keypair(&a), keypair(&a)).is_err());
    assert_eq!(format!("{:?}", keypair(&a)), "KeyPair(***)");
}
