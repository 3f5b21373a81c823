//! The metadata writer: what it writes parses back to the same records, and what it signs
//! loads through the verifying path with the signer's certificate pinned.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_saml_sp::metadata::writer::{SignatureAlgorithm, sign_aggregate, write_aggregate};
use passerelle_saml_sp::metadata::{
    BINDING_REDIRECT, Endpoint, IdpRecord, Localized, Logo, ParseOptions, PinnedCerts, load, parse,
};
use passerelle_saml_sp::types::{EntityId, Scope};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn record(entity: &str, name: &str, scope: &str, cert: Vec<u8>) -> IdpRecord {
    IdpRecord {
        entity_id: EntityId::parse(entity).unwrap(),
        display_names: vec![Localized {
            lang: "fr".into(),
            value: name.into(),
        }],
        logos: vec![Logo {
            url: "https://x.fr/l.png".into(),
            width: Some(16),
            height: Some(16),
            lang: None,
        }],
        information_urls: vec![Localized {
            lang: "fr".into(),
            value: "https://x.fr/".into(),
        }],
        scopes: vec![Scope {
            value: scope.into(),
            regexp: false,
        }],
        sso: vec![Endpoint {
            binding: BINDING_REDIRECT.into(),
            location: format!("{entity}/sso?a=1&b=2"),
        }],
        signing_certs: vec![cert.clone()],
        encryption_certs: vec![cert],
        entity_categories: vec!["http://refeds.org/category/research-and-scholarship".into()],
        registration_authority: Some("https://federation.test/".into()),
    }
}

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

#[test]
fn a_written_and_signed_feed_loads_back_to_the_same_records() {
    let key = support::sign::rsa_key();
    let cert_der = key.cert_der();
    let idps = vec![
        record(
            "https://idp.unilim.fr/idp",
            "Université de Limoges",
            "unilim.fr",
            cert_der.clone(),
        ),
        record(
            "https://idp.a.fr/idp",
            "Arts & Métiers <Paris> \"ENSAM\"",
            "a.fr",
            cert_der.clone(),
        ),
    ];
    let xml = write_aggregate(
        "https://demo.passerelle/",
        "_demo1",
        at("2026-12-01T00:00:00Z"),
        Duration::from_secs(3600),
        &idps,
    )
    .unwrap();
    let signed =
        sign_aggregate(&xml, &key.key_der, &cert_der, SignatureAlgorithm::RsaSha256).unwrap();
    let pinned = PinnedCerts::from_pem(&key.cert_pem).unwrap();
    let agg = load(
        &signed,
        &pinned,
        at("2026-11-28T00:00:00Z"),
        Duration::from_secs(31 * 86_400),
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(agg.idps, idps);
    assert_eq!(agg.cache_duration, Some(Duration::from_secs(3600)));
    // ECDSA too.
    let ec = support::sign::ecdsa_key();
    let ec_der = ec.cert_der();
    let signed =
        sign_aggregate(&xml, &ec.key_der, &ec_der, SignatureAlgorithm::EcdsaSha256).unwrap();
    let agg = load(
        &signed,
        &PinnedCerts::from_pem(&ec.cert_pem).unwrap(),
        at("2026-11-28T00:00:00Z"),
        Duration::from_secs(31 * 86_400),
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(agg.idps.len(), 2);
}

#[test]
fn unusable_ids_are_refused() {
    assert!(
        write_aggregate(
            "n",
            "1bad",
            at("2026-12-01T00:00:00Z"),
            Duration::from_secs(60),
            &[]
        )
        .is_err()
    );
    assert!(
        write_aggregate(
            "n",
            "a\"b",
            at("2026-12-01T00:00:00Z"),
            Duration::from_secs(60),
            &[]
        )
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn whatever_is_written_parses_back_identically(
        name in "[^\\p{C}]{1,40}",
        scope in "[a-z]{1,10}\\.[a-z]{2,3}",
        path in "[a-zA-Z0-9/_-]{0,20}",
    ) {
        prop_assume!(!name.trim().is_empty() && name.trim() == name);
        let entity = format!("https://idp.{scope}/{path}");
        let idps = vec![record(&entity, &name, &scope, vec![1, 2, 3])];
        let xml = write_aggregate("n", "_x", at("2026-12-01T00:00:00Z"), Duration::from_secs(60), &idps).unwrap();
        let agg = parse(&xml, ParseOptions::default()).unwrap();
        prop_assert_eq!(agg.idps, idps);
    }
}
