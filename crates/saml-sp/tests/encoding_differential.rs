//! One document, one decoding: a signed feed or response re-declared in another encoding
//! (the UTF-7 smuggle: libxml2, the verifier, reads a comment where a UTF-8 reader reads
//! an element) is refused before any XML library runs, wherever the smuggled element
//! sits; and nothing but comments and white space may stand outside the signed root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_saml_sp::Error;
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, load, parse};
use passerelle_testkit::utf7::{Place, smuggle};
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const MONTH: Duration = Duration::from_secs(31 * 86_400);
const ALL: [Place; 3] = [Place::InsideRoot, Place::AfterRoot, Place::BeforeRoot];

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// The attacker's IdP: ASCII only, no `+` (so it reads the same in UTF-7 and UTF-8).
fn fake_lille() -> String {
    idp(
        "https://idp.fake-lille.example/idp",
        "Universite de Lille",
        "University of Lille",
        "univ-lille.fr",
    )
    .replace('+', "A")
}

/// The smuggled markup for `place`: an entity, or before the root a whole aggregate with
/// its own far-away validUntil.
fn smuggled(place: Place) -> String {
    match place {
        Place::BeforeRoot => format!(
            r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" validUntil="2099-01-01T00:00:00Z">{}</md:EntitiesDescriptor>"#,
            fake_lille()
        ),
        _ => fake_lille(),
    }
}

fn assert_refused_as_encoding(result: Result<passerelle_saml_sp::metadata::Aggregate, Error>) {
    match result {
        Err(Error::Encoding(reason)) => assert!(reason.contains("UTF-7"), "{reason}"),
        Err(other) => panic!("refused, but not for its encoding: {other}"),
        Ok(agg) => panic!(
            "a UTF-7 smuggled feed loaded, {} IdPs, fake one present: {}",
            agg.idps.len(),
            agg.idps
                .iter()
                .any(|i| i.entity_id.as_str().contains("fake-lille"))
        ),
    }
}

#[test]
fn a_generated_signed_feed_redeclared_utf7_with_a_smuggled_idp_is_refused_wherever_it_hides() {
    let key = sign::rsa_key();
    let pinned = PinnedCerts::from_pem(&key.cert_pem).unwrap();
    let signed = sign::sign(&generated(3), &key, sign::RSA_SHA256);
    for place in ALL {
        let forged = smuggle(&signed, &smuggled(place), place, "</md:EntitiesDescriptor>").unwrap();
        let result = load(
            &forged,
            &pinned,
            at("2026-11-28T00:00:00Z"),
            Duration::from_secs(100 * 365 * 86_400),
            ParseOptions::default(),
        );
        assert_refused_as_encoding(result);
        // The parser alone (documents trusted from elsewhere) refuses it the same way.
        assert!(matches!(
            parse(&forged, ParseOptions::default()),
            Err(Error::Encoding(_))
        ));
    }
}

#[test]
fn the_renater_feed_redeclared_utf7_with_a_smuggled_idp_is_refused_wherever_it_hides() {
    let Some((xml, cert)) = renater_fixture() else {
        eprintln!("../shared/fixtures/renater absent: the UTF-7 smuggle on the real feed skipped");
        return;
    };
    let xml = std::fs::read_to_string(xml).unwrap();
    let pinned = PinnedCerts::from_pem(&std::fs::read_to_string(cert).unwrap()).unwrap();
    for place in ALL {
        let forged = smuggle(&xml, &smuggled(place), place, "</md:EntitiesDescriptor>").unwrap();
        // As of the feed's publication, and as of today (the smuggled root before the
        // real one would bring its own validUntil).
        for now in ["2023-06-16T12:00:00Z", "2026-12-01T00:00:00Z"] {
            assert_refused_as_encoding(load(
                &forged,
                &pinned,
                at(now),
                MONTH,
                ParseOptions::default(),
            ));
        }
    }
}

#[test]
fn nothing_but_comments_and_white_space_may_stand_outside_the_signed_root() {
    let key = sign::rsa_key();
    let pinned = PinnedCerts::from_pem(&key.cert_pem).unwrap();
    let signed = sign::sign(&generated(2), &key, sign::RSA_SHA256);
    let now = at("2026-11-28T00:00:00Z");
    let long = Duration::from_secs(100 * 365 * 86_400);
    let load_it = |doc: &str| load(doc, &pinned, now, long, ParseOptions::default());
    // Comments and white space around the root: still the same feed.
    let commented = format!(
        "{}\n<!-- published by the federation -->\n\n",
        signed.trim_end()
    );
    assert_eq!(load_it(&commented).unwrap().idps.len(), 2);
    // A second element after the root, text, a processing instruction: refused.
    for tail in [
        fake_lille(),
        "some text".to_owned(),
        "<?pi data?>".to_owned(),
        "&amp;".to_owned(),
        "<![CDATA[x]]>".to_owned(),
    ] {
        let doc = format!("{}{tail}", signed.trim_end());
        let err = load_it(&doc).unwrap_err();
        assert!(matches!(err, Error::Xml { .. }), "{tail}: {err}");
        let err = parse(&doc, ParseOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Xml { .. }), "{tail}: {err}");
    }
    // A processing instruction before the root (libxml2 accepts it, the signature does
    // not cover it): refused by both readers.
    let root = signed.find("<md:EntitiesDescriptor").unwrap();
    let doc = format!("{}<?pi data?>{}", &signed[..root], &signed[root..]);
    assert!(matches!(load_it(&doc), Err(Error::Xml { .. })));
}

#[test]
fn a_utf16_feed_with_or_without_byte_order_mark_is_refused_before_parsing() {
    let doc = generated(1);
    let utf16: Vec<u8> = doc.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let marked = [&[0xFF, 0xFE][..], &utf16].concat();
    for bytes in [utf16, marked] {
        // As the fetcher hands bytes over: only valid UTF-8 becomes text at all, and a
        // marked or NUL-carrying one is refused by the gate.
        if let Ok(text) = String::from_utf8(bytes) {
            assert!(matches!(
                parse(&text, ParseOptions::default()),
                Err(Error::Encoding(_))
            ));
        }
    }
    let bom = format!("\u{feff}{doc}");
    assert_eq!(parse(&bom, ParseOptions::default()).unwrap().idps.len(), 1);
}
