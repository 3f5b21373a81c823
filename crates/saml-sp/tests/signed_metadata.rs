//! Loading signed federation metadata: pinned keys only, the root must be what is signed,
//! only signed content is read, validity as of an instant. Uses the real Renater aggregate
//! and its certificate when `../shared/fixtures/renater/` is present.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_saml_sp::Error;
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, load};
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const MONTH: Duration = Duration::from_secs(31 * 86_400);

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

fn renater() -> Option<(String, PinnedCerts)> {
    let Some((xml, cert)) = renater_fixture() else {
        eprintln!(
            "../shared/fixtures/renater absent: signed-metadata checks on the real feed skipped"
        );
        return None;
    };
    let pinned = PinnedCerts::from_pem(&std::fs::read_to_string(cert).unwrap()).unwrap();
    Some((std::fs::read_to_string(xml).unwrap(), pinned))
}

/// A freshly made certificate (not Renater's) in PEM.
fn other_cert() -> String {
    rcgen::generate_simple_self_signed(vec!["not-renater.example".to_owned()])
        .unwrap()
        .cert
        .pem()
}

#[test]
fn the_renater_feed_verifies_with_its_pinned_certificate_as_of_its_publication() {
    let Some((xml, pinned)) = renater() else {
        return;
    };
    let agg = load(
        &xml,
        &pinned,
        at("2023-06-16T12:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(agg.idps.len(), 352);
    let err = load(
        &xml,
        &pinned,
        at("2026-11-28T00:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
}

#[test]
fn one_changed_character_breaks_the_signature() {
    let Some((xml, pinned)) = renater() else {
        return;
    };
    let needle = "Université de Limoges";
    assert!(xml.contains(needle));
    let tampered = xml.replacen(needle, "Université de Limogez", 1);
    let err = load(
        &tampered,
        &pinned,
        at("2023-06-16T12:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
}

#[test]
fn a_key_that_is_not_pinned_is_not_trusted_even_if_the_document_carries_it() {
    let Some((xml, _)) = renater() else { return };
    // The document's own KeyInfo carries Renater's certificate; pinning another key must
    // make verification fail all the same.
    let other = PinnedCerts::from_pem(&other_cert()).unwrap();
    let err = load(
        &xml,
        &other,
        at("2023-06-16T12:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
}

#[test]
fn an_unsigned_document_is_refused() {
    let Some((_, pinned)) = renater() else {
        // Without the fixture there is no pinned key to test with; the parser tests cover
        // the rest.
        return;
    };
    let err = load(
        &generated(2),
        &pinned,
        at("2026-11-28T00:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
}

#[test]
fn a_signed_feed_wrapped_in_a_forged_root_is_refused_and_the_forgery_never_read() {
    let Some((xml, pinned)) = renater() else {
        return;
    };
    let body = xml
        .trim_start_matches("<?xml version='1.0' encoding='UTF-8'?>")
        .trim_start();
    let evil = idp(
        "https://evil.example/idp",
        "Université de Limoges",
        "Evil",
        "unilim.fr",
    );
    let wrapped = aggregate("2023-06-20T00:00:00Z", &format!("{evil}{body}"));
    let err = load(
        &wrapped,
        &pinned,
        at("2023-06-16T12:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::NotSignedAtRoot | Error::Signature(_)),
        "{err:?}"
    );
    // And an unsigned entity slipped inside the signed root breaks the signature.
    let slipped = xml.replacen(
        "<md:EntityDescriptor ",
        &format!("{evil}<md:EntityDescriptor "),
        1,
    );
    let err = load(
        &slipped,
        &pinned,
        at("2023-06-16T12:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature(_) | Error::NotSignedAtRoot | Error::Xml { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn a_doctype_is_refused_before_any_xml_library_sees_it() {
    let pinned = PinnedCerts::from_pem(&other_cert()).unwrap();
    let xml = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">&lol;</md:EntitiesDescriptor>";
    let err = load(
        xml,
        &pinned,
        at("2026-11-28T00:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Doctype), "{err:?}");
}

#[test]
fn pem_files_with_several_certificates_pin_them_all() {
    let two = format!("{}\n{}", other_cert(), other_cert());
    assert_eq!(PinnedCerts::from_pem(&two).unwrap().len(), 2);
    assert!(PinnedCerts::from_pem("nothing here").is_err());
    assert!(PinnedCerts::from_pem("-----BEGIN CERTIFICATE-----\nabc").is_err());
}

// --- Signed with keys made here: these run on every machine. ---

fn pinned(key: &sign::TestKey) -> PinnedCerts {
    PinnedCerts::from_pem(&key.cert_pem).unwrap()
}

const NOW: &str = "2026-11-28T00:00:00Z";

fn fresh_aggregate() -> String {
    aggregate(
        "2026-12-10T00:00:00Z",
        &[
            idp(
                "https://idp.unilim.fr/idp",
                "Université de Limoges",
                "University of Limoges",
                "unilim.fr",
            ),
            idp(
                "https://idp.u-bordeaux.fr/idp",
                "Université de Bordeaux",
                "University of Bordeaux",
                "u-bordeaux.fr",
            ),
        ]
        .concat(),
    )
}

#[test]
fn a_feed_signed_with_rsa_sha256_or_ecdsa_sha256_by_a_pinned_key_loads() {
    for (key, alg) in [
        (sign::rsa_key(), sign::RSA_SHA256),
        (sign::ecdsa_key(), sign::ECDSA_SHA256),
    ] {
        let signed = sign::sign(&fresh_aggregate(), &key, alg);
        let agg = load(
            &signed,
            &pinned(&key),
            at(NOW),
            MONTH,
            ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(agg.idps.len(), 2, "{}", alg.0);
    }
}

#[test]
fn rsa_sha1_is_refused_even_from_the_pinned_key() {
    let key = sign::rsa_key();
    let signed = sign::sign(&fresh_aggregate(), &key, sign::RSA_SHA1);
    let err = load(
        &signed,
        &pinned(&key),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
}

#[test]
fn a_feed_signed_by_another_key_is_refused_while_a_rollover_pin_accepts_both() {
    let (old, new) = (sign::rsa_key(), sign::ecdsa_key());
    let by_new = sign::sign(&fresh_aggregate(), &new, sign::ECDSA_SHA256);
    let err = load(
        &by_new,
        &pinned(&old),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
    let both = PinnedCerts::from_pem(&format!("{}{}", old.cert_pem, new.cert_pem)).unwrap();
    assert_eq!(
        load(&by_new, &both, at(NOW), MONTH, ParseOptions::default())
            .unwrap()
            .idps
            .len(),
        2
    );
    let by_old = sign::sign(&fresh_aggregate(), &old, sign::RSA_SHA256);
    assert_eq!(
        load(&by_old, &both, at(NOW), MONTH, ParseOptions::default())
            .unwrap()
            .idps
            .len(),
        2
    );
}

#[test]
fn an_entity_added_after_signing_breaks_the_signature_and_is_never_read() {
    let key = sign::ecdsa_key();
    let signed = sign::sign(&fresh_aggregate(), &key, sign::ECDSA_SHA256);
    let evil = idp(
        "https://evil.example/idp",
        "Université de Limoges",
        "Evil",
        "unilim.fr",
    );
    let slipped = signed.replacen(
        "<md:EntityDescriptor ",
        &format!("{evil}<md:EntityDescriptor "),
        1,
    );
    let err = load(
        &slipped,
        &pinned(&key),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Signature(_)), "{err:?}");
    // Wrapped: a forged root around the signed one.
    let inner = signed
        .trim_start_matches(|c| c != '>')
        .trim_start_matches('>');
    let wrapped = aggregate("2026-12-10T00:00:00Z", &format!("{evil}{inner}"));
    let err = load(
        &wrapped,
        &pinned(&key),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::NotSignedAtRoot | Error::Signature(_)),
        "{err:?}"
    );
}

#[test]
fn a_signed_but_expired_or_too_long_lived_feed_is_refused() {
    let key = sign::ecdsa_key();
    let signed = sign::sign(&fresh_aggregate(), &key, sign::ECDSA_SHA256);
    let err = load(
        &signed,
        &pinned(&key),
        at("2026-12-11T00:00:00Z"),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
    let err = load(
        &signed,
        &pinned(&key),
        at(NOW),
        Duration::from_secs(86_400),
        ParseOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::ValidityTooLong { .. }), "{err:?}");
}

#[test]
fn what_a_feed_signature_leaves_open_never_changes_a_record() {
    // Canonicalization drops comments and the parser normalises line ends, so these edits
    // keep the signature valid: the document is parsed as received, and must give the
    // records the signer signed — no comment may cut a value, no CR may slip into one.
    let key = sign::rsa_key();
    let signed = sign::sign(&fresh_aggregate(), &key, sign::RSA_SHA256);
    let reference = load(
        &signed,
        &pinned(&key),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap();
    let edited = format!(
        "{}\r\n<!-- after the root -->\r\n",
        signed
            .replace("Université de Limoges", "Université<!-- x --> de Limoges")
            .replace(
                "unilim.fr</shibmd:Scope>",
                "unilim<!---->.fr</shibmd:Scope>"
            )
            .replacen("?>", "?><!-- before the root -->", 1)
            .replace('\n', "\r\n")
    );
    assert_ne!(edited, signed);
    let got = load(
        &edited,
        &pinned(&key),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(got.idps, reference.idps);
    assert_eq!(got.idps[0].name("fr"), "Université de Limoges");
}

#[test]
fn an_entity_signed_by_its_own_key_inside_a_signed_feed_loads() {
    // Some eduGAIN members sign their own EntityDescriptor. The federation's root
    // signature covers that inner signature like any other content; the inner one is
    // neither required nor checked against the federation key (the feed used to be
    // refused: every signature in the document had to verify with the pinned key).
    use samael::crypto::{CryptoProvider as _, XmlSec};
    let (member, federation) = (sign::rsa_key(), sign::ecdsa_key());
    let template = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#member"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"##;
    let feed = fresh_aggregate();
    let start = feed.find("<md:EntityDescriptor ").unwrap();
    let end = start + feed[start..].find('>').unwrap() + 1;
    let with_member = format!(
        "{}{}{}",
        feed[..end].replacen(
            "<md:EntityDescriptor ",
            "<md:EntityDescriptor ID=\"member\" ",
            1
        ),
        template,
        &feed[end..]
    );
    let member_signed = XmlSec::sign_xml(with_member.as_str(), &member.key_der).unwrap();
    assert!(member_signed.contains("<ds:SignatureValue>"));
    let signed = sign::sign(&member_signed, &federation, sign::ECDSA_SHA256);
    let agg = load(
        &signed,
        &pinned(&federation),
        at(NOW),
        MONTH,
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(agg.idps.len(), 2);
    // And the member's entity is still under the root signature: altering it is refused.
    let altered = signed.replacen("Université de Limoges", "Université de Lim0ges", 1);
    assert!(matches!(
        load(
            &altered,
            &pinned(&federation),
            at(NOW),
            MONTH,
            ParseOptions::default()
        ),
        Err(Error::Signature(_))
    ));
}

#[test]
fn a_signed_feed_with_comments_and_white_space_over_libxml2s_10_mb_text_limit_loads() {
    // Real feeds carry long comments and white space; libxml2's default limit on one
    // text node (10 MB) refused them as "not well-formed". Added after signing: the
    // signature leaves comments and what is outside the root open.
    let key = sign::rsa_key();
    let signed = sign::sign(&fresh_aggregate(), &key, sign::RSA_SHA256);
    let long_comment = format!("<!--{}-->", "commentaire ".repeat(1_000_000));
    let end = signed.rfind("</md:EntitiesDescriptor>").unwrap();
    let xml = format!(
        "{}{long_comment}{}{}",
        &signed[..end],
        &signed[end..],
        " \n".repeat(5_500_000)
    );
    assert!(xml.len() > 22_000_000);
    let agg = load(&xml, &pinned(&key), at(NOW), MONTH, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps.len(), 2);
}
