//! The metadata parser and the institution directory, on generated documents and on the
//! real Renater aggregate when `../shared/fixtures/renater/` is present.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_saml_sp::Error;
use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{BINDING_REDIRECT, ParseOptions, parse};
use proptest::prelude::*;
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

const MONTH: Duration = Duration::from_secs(31 * 86_400);

#[test]
fn the_renater_aggregate_loads_as_of_its_publication_and_is_expired_today() {
    let Some((xml, _cert)) = renater_fixture() else {
        eprintln!(
            "../shared/fixtures/renater absent: covered by the generated-metadata tests only"
        );
        return;
    };
    let xml = std::fs::read_to_string(xml).unwrap();
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps.len(), 352);
    assert_eq!(agg.entities, 352);
    assert!(agg.skipped.is_empty(), "{:?}", agg.skipped);
    // The file has 687 shibmd:Scope elements: 533 in IDPSSODescriptors (what a SAML 2.0
    // login relies on) and 154 in AttributeAuthorityDescriptors, all repeating those.
    assert_eq!(agg.idps.iter().map(|i| i.scopes.len()).sum::<usize>(), 533);
    assert_eq!(agg.cache_duration, Some(Duration::from_secs(3600)));
    assert!(
        agg.idps.iter().all(|i| !i.signing_certs.is_empty()),
        "an IdP without a signing key"
    );
    agg.check_validity(at("2023-06-16T12:00:00Z"), MONTH)
        .unwrap();
    let err = agg
        .check_validity(at("2026-11-28T00:00:00Z"), MONTH)
        .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "metadata expired at 2023-06-25T08:30:30Z (checked as of 2026-11-28T00:00:00Z)"
    );

    let dir = Directory::new(&agg.idps);
    let limoges = dir.for_email("prenom.nom@etu.unilim.fr", "fr");
    assert!(!limoges.is_empty());
    assert!(limoges[0].name.contains("Limoges"), "{limoges:?}");
    let found = dir.search("universite limo", "fr", 10);
    assert!(
        found.iter().any(|i| i.entity_id == limoges[0].entity_id),
        "{found:?}"
    );
    let found = dir.search("LIMOGES", "fr", 10);
    assert!(
        found.iter().any(|i| i.entity_id == limoges[0].entity_id),
        "{found:?}"
    );
}

#[test]
fn a_generated_idp_becomes_a_complete_typed_record() {
    let xml = aggregate(
        "2099-01-01T00:00:00Z",
        &idp(
            "https://idp.unilim.fr/idp/shibboleth",
            "Université de Limoges",
            "University of Limoges",
            "unilim.fr",
        ),
    );
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(
        agg.name.as_deref(),
        Some("https://test.passerelle/federation")
    );
    assert_eq!(agg.cache_duration, Some(Duration::from_secs(6 * 3600)));
    let r = &agg.idps[0];
    assert_eq!(r.entity_id.as_str(), "https://idp.unilim.fr/idp/shibboleth");
    assert_eq!(r.name("fr"), "Université de Limoges");
    assert_eq!(r.name("en-GB"), "University of Limoges");
    assert_eq!(r.name("de"), "Université de Limoges");
    assert_eq!(r.scopes.len(), 1);
    assert_eq!(r.scopes[0].value, "unilim.fr");
    assert_eq!(
        r.sso_location(BINDING_REDIRECT),
        Some("https://idp.unilim.fr/idp/profile/SAML2/Redirect/SSO")
    );
    assert_eq!((r.signing_certs.len(), r.encryption_certs.len()), (1, 1));
    assert_eq!(
        r.entity_categories,
        vec!["http://refeds.org/category/research-and-scholarship"]
    );
    assert_eq!(
        r.registration_authority.as_deref(),
        Some("https://federation.renater.fr/")
    );
    assert_eq!(r.logos[0].height, Some(16));
    assert_eq!(r.information_urls[0].value, "https://www.unilim.fr/");
}

const NS: &str = r#"xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#;

fn one(entity: &str) -> String {
    format!(
        r#"<md:EntitiesDescriptor {NS} validUntil="2099-01-01T00:00:00Z">{entity}</md:EntitiesDescriptor>"#
    )
}

const ROLE_OPEN: &str =
    r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#;

#[test]
fn without_mdui_the_organization_display_name_is_the_name() {
    let xml = one(&format!(
        r#"<md:EntityDescriptor entityID="https://idp.a.fr/idp">{ROLE_OPEN}</md:IDPSSODescriptor><md:Organization><md:OrganizationDisplayName xml:lang="fr">Université A</md:OrganizationDisplayName></md:Organization></md:EntityDescriptor>"#
    ));
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps[0].name("fr"), "Université A");
}

#[test]
fn escaped_text_cdata_and_comments_never_shorten_a_value() {
    let xml = one(&format!(
        r#"<md:EntityDescriptor entityID="https://idp.a.fr/idp">{ROLE_OPEN}<md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Arts <!-- note -->&amp; M&#233;tiers <![CDATA[<Paris>]]></mdui:DisplayName></mdui:UIInfo></md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>"#
    ));
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps[0].name("fr"), "Arts & Métiers <Paris>");
}

#[test]
fn a_malformed_entity_is_skipped_with_its_reason_and_the_rest_loads() {
    let bad_cert = format!(
        r#"<md:EntityDescriptor entityID="https://idp.bad.fr/idp">{ROLE_OPEN}<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>!!not base64!!</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    let no_id =
        format!(r#"<md:EntityDescriptor>{ROLE_OPEN}</md:IDPSSODescriptor></md:EntityDescriptor>"#);
    let relative = format!(
        r#"<md:EntityDescriptor entityID="idp.relative">{ROLE_OPEN}</md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    let good = idp("https://idp.good.fr/idp", "Bonne", "Good", "good.fr");
    let xml = aggregate(
        "2099-01-01T00:00:00Z",
        &format!("{bad_cert}{no_id}{relative}{good}"),
    );
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps.len(), 1);
    assert_eq!(agg.entities, 4);
    let reasons: Vec<_> = agg
        .skipped
        .iter()
        .map(|s| (s.entity_id.clone(), s.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].1.contains("base64"));
    assert_eq!(reasons[1], (None, "no entityID".to_owned()));
    assert!(reasons[2].1.starts_with("bad entityID"));
}

#[test]
fn service_providers_and_saml1_only_idps_are_not_offered() {
    let sp = r#"<md:EntityDescriptor entityID="https://sp.a.fr/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope>a.fr</shibmd:Scope></md:Extensions></md:SPSSODescriptor></md:EntityDescriptor>"#;
    let saml1 = r#"<md:EntityDescriptor entityID="https://idp.old.fr/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"/></md:EntityDescriptor>"#;
    let agg = parse(&one(&format!("{sp}{saml1}")), ParseOptions::default()).unwrap();
    assert!(agg.idps.is_empty());
    assert_eq!(agg.entities, 2);
}

#[test]
fn doctypes_broken_xml_and_foreign_roots_are_refused() {
    let doctype = format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><md:EntitiesDescriptor {NS}/>"#
    );
    assert!(matches!(
        parse(&doctype, ParseOptions::default()),
        Err(Error::Doctype)
    ));
    let broken = one("<md:EntityDescriptor entityID=\"https://x.fr\">");
    assert!(matches!(
        parse(&broken[..broken.len() - 5], ParseOptions::default()),
        Err(Error::Xml { .. })
    ));
    assert!(matches!(
        parse("<html/>", ParseOptions::default()),
        Err(Error::NotMetadata(_))
    ));
    assert!(matches!(
        parse("", ParseOptions::default()),
        Err(Error::NotMetadata(_))
    ));
    let unknown_entity = one("&custom;");
    assert!(matches!(
        parse(&unknown_entity, ParseOptions::default()),
        Err(Error::Xml { .. })
    ));
    let big = generated(3);
    assert!(matches!(
        parse(&big, ParseOptions { max_bytes: 100 }),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn validity_must_exist_be_future_and_not_too_far() {
    let agg = parse(&generated(1), ParseOptions::default()).unwrap();
    let now = at("2026-11-28T00:00:00Z");
    let err = agg.check_validity(now, MONTH).unwrap_err();
    assert!(matches!(err, Error::ValidityTooLong { .. }), "{err:?}");
    agg.check_validity(now, Duration::from_secs(100 * 365 * 86_400))
        .unwrap();
    let no_deadline = parse(
        &format!("<md:EntitiesDescriptor {NS}/>"),
        ParseOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        no_deadline.check_validity(now, MONTH),
        Err(Error::Validity(_))
    ));
    let garbage = format!(r#"<md:EntitiesDescriptor {NS} validUntil="tomorrow"/>"#);
    assert!(matches!(
        parse(&garbage, ParseOptions::default()),
        Err(Error::Validity(_))
    ));
}

#[test]
fn search_ignores_case_and_accents_matches_word_prefixes_and_puts_french_first() {
    let xml = aggregate(
        "2099-01-01T00:00:00Z",
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
            idp(
                "https://idp.ens.fr/idp",
                "École normale supérieure",
                "Ecole Normale Superieure Limoges Campus",
                "ens.fr",
            ),
        ]
        .concat(),
    );
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    let dir = Directory::new(&agg.idps);
    let names = |q: &str| {
        dir.search(q, "fr", 10)
            .into_iter()
            .map(|i| i.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("UNIVERSITE limo"), vec!["Université de Limoges"]);
    assert_eq!(names("ecole"), vec!["École normale supérieure"]);
    assert_eq!(
        names("niv"),
        Vec::<String>::new(),
        "infix is not a word prefix"
    );
    // A French-name match ranks above an English-only one.
    assert_eq!(
        names("limoges"),
        vec!["Université de Limoges", "École normale supérieure"]
    );
    assert_eq!(dir.search("", "en", 2).len(), 2);
    assert_eq!(
        dir.search("bordeaux", "en", 5)[0].name,
        "University of Bordeaux"
    );
}

#[test]
fn an_address_finds_its_institution_through_parent_domains_most_specific_first() {
    let mut entities = idp(
        "https://idp.unilim.fr/idp",
        "Université de Limoges",
        "University of Limoges",
        "unilim.fr",
    );
    entities.push_str(&idp(
        "https://idp.etu.unilim.fr/idp",
        "Limoges — étudiants",
        "Limoges students",
        "etu.unilim.fr",
    ));
    entities.push_str(&format!(
        r#"<md:EntityDescriptor entityID="https://idp.regexp.fr/idp">{ROLE_OPEN}<md:Extensions><shibmd:Scope regexp="true">.*\.univ-rx\.fr</shibmd:Scope><shibmd:Scope regexp="true">(a+)+$</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Université RX</mdui:DisplayName></mdui:UIInfo></md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>"#
    ));
    let agg = parse(
        &aggregate("2099-01-01T00:00:00Z", &entities),
        ParseOptions::default(),
    )
    .unwrap();
    let dir = Directory::new(&agg.idps);
    let names = |a: &str| {
        dir.for_email(a, "fr")
            .into_iter()
            .map(|i| i.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names("prenom.nom@etu.unilim.fr"),
        vec!["Limoges — étudiants", "Université de Limoges"]
    );
    assert_eq!(names("prenom.nom@UNILIM.fr"), vec!["Université de Limoges"]);
    assert_eq!(names("x@med.univ-rx.fr"), vec!["Université RX"]);
    // Anchored: the pattern must match the whole domain.
    assert!(names("x@univ-rx.fr.evil.com").is_empty());
    assert!(names("x@gmail.com").is_empty());
    // A catastrophic-backtracking pattern costs nothing on a linear-time engine.
    assert!(names(&format!("x@{}b.fr", "a".repeat(200))).is_empty());
}

#[test]
fn hidden_institutions_are_never_offered() {
    let hidden = idp("https://idp.hidden.fr/idp", "Cachée", "Hidden", "hidden.fr").replace(
        "http://refeds.org/category/research-and-scholarship",
        "http://refeds.org/category/hide-from-discovery",
    );
    let agg = parse(
        &aggregate("2099-01-01T00:00:00Z", &hidden),
        ParseOptions::default(),
    )
    .unwrap();
    assert!(agg.idps[0].hidden_from_discovery());
    let dir = Directory::new(&agg.idps);
    assert!(dir.is_empty());
    assert!(dir.search("cachee", "fr", 5).is_empty());
    assert!(dir.for_email("a@hidden.fr", "fr").is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(s in "\\PC{0,400}") {
        let _ = parse(&s, ParseOptions::default());
    }

    #[test]
    fn the_parser_never_panics_on_damaged_metadata(cut in 0usize..4000, junk in "[<>&;\"'a-z/=! ]{0,12}") {
        let xml = generated(2);
        let cut = cut.min(xml.len());
        let cut = (0..=cut).rev().find(|i| xml.is_char_boundary(*i)).unwrap_or(0);
        let damaged = format!("{}{}{}", &xml[..cut], junk, &xml[cut..]);
        let _ = parse(&damaged, ParseOptions::default());
    }

    #[test]
    fn the_directory_never_panics_on_arbitrary_queries(q in "\\PC{0,60}") {
        let agg = parse(&generated(3), ParseOptions::default()).unwrap();
        let dir = Directory::new(&agg.idps);
        let _ = dir.search(&q, "fr", 10);
        let _ = dir.for_email(&q, "fr");
    }
}

#[test]
fn an_idp_without_a_name_is_found_by_its_entity_id_and_its_domain() {
    let xml = one(&format!(
        r#"<md:EntityDescriptor entityID="https://shibboleth.ecole-xyz.fr/idp">{ROLE_OPEN}<md:Extensions><shibmd:Scope regexp="false">ecole-xyz.fr</shibmd:Scope></md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>"#
    ));
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    let dir = Directory::new(&agg.idps);
    for query in [
        "ecole-xyz",
        "shibboleth.ecole",
        "https://shibboleth.ecole-xyz.fr/idp",
        "xyz",
    ] {
        let found = dir.search(query, "fr", 10);
        assert_eq!(found.len(), 1, "{query}");
        assert_eq!(found[0].name, "https://shibboleth.ecole-xyz.fr/idp");
    }
    assert_eq!(dir.for_email("p.n@etu.ecole-xyz.fr", "fr").len(), 1);
}

#[test]
fn names_with_newlines_or_tabs_are_read_on_one_line() {
    let xml = one(&format!(
        "<md:EntityDescriptor entityID=\"https://idp.a.fr/idp\">{ROLE_OPEN}<md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang=\"fr\">\n  Université\tde\r\n   Limoges  \n</mdui:DisplayName></mdui:UIInfo></md:Extensions></md:IDPSSODescriptor><md:Organization><md:OrganizationDisplayName xml:lang=\"fr\">A\n\tB</md:OrganizationDisplayName></md:Organization></md:EntityDescriptor>"
    ));
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    assert_eq!(agg.idps[0].name("fr"), "Université de Limoges");
}
