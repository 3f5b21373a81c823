//! Writes an eduGAIN-scale signed aggregate for benchmarks: N IdPs (default 10,000),
//! each padded with long descriptions like real feeds (~8 KB per entity, ~80 MB in all),
//! signed with a fresh RSA-2048 key. Output: `target/feeds/feed-N.xml` and
//! `target/feeds/feed-N.pem` (the certificate to pin).
//! Run: `cargo run --release -p passerelle-saml-sp --example gen_feed -- 10000`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a developer tool

use std::time::Duration;

use passerelle_saml_sp::metadata::writer::{SignatureAlgorithm, sign_aggregate, write_aggregate};
use passerelle_saml_sp::metadata::{
    BINDING_POST, BINDING_REDIRECT, Endpoint, IdpRecord, Localized, Logo,
};
use passerelle_saml_sp::types::{EntityId, Scope};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("a count"));
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
    let pkcs8 = String::from_utf8(pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let key_pair =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["feed.test".to_owned()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    let cert_der = cert.der().to_vec();
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(14);
    let idps: Vec<IdpRecord> = (0..n)
        .map(|i| {
            let scope = format!("univ-{i}.example.org");
            IdpRecord {
                entity_id: EntityId::parse(&format!("https://idp.{scope}/idp/shibboleth")).unwrap(),
                display_names: ["fr", "en", "de", "it", "es"]
                    .iter()
                    .map(|l| Localized {
                        lang: (*l).into(),
                        value: format!("University {i} ({l})"),
                    })
                    .collect(),
                logos: vec![Logo {
                    url: format!("https://www.{scope}/logo.png"),
                    width: Some(80),
                    height: Some(60),
                    lang: None,
                }],
                information_urls: ["fr", "en", "de", "it", "es"]
                    .iter()
                    .map(|l| Localized {
                        lang: (*l).into(),
                        value: format!("https://www.{scope}/{l}/about/{filler}").replace(' ', "-"),
                    })
                    .collect(),
                scopes: vec![Scope {
                    value: scope.clone(),
                    regexp: false,
                }],
                sso: vec![
                    Endpoint {
                        binding: BINDING_REDIRECT.into(),
                        location: format!("https://idp.{scope}/idp/profile/SAML2/Redirect/SSO"),
                    },
                    Endpoint {
                        binding: BINDING_POST.into(),
                        location: format!("https://idp.{scope}/idp/profile/SAML2/POST/SSO"),
                    },
                ],
                signing_certs: vec![cert_der.clone()],
                encryption_certs: vec![cert_der.clone()],
                entity_categories: vec![
                    "http://refeds.org/category/research-and-scholarship".into(),
                ],
                registration_authority: Some("https://www.edugain.org".into()),
            }
        })
        .collect();
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(14);
    let xml = write_aggregate(
        "https://feed.test/",
        "_feed",
        until,
        Duration::from_secs(6 * 3600),
        &idps,
    )
    .unwrap();
    let signed = sign_aggregate(
        &xml,
        &pkey.private_key_to_der().unwrap(),
        &cert_der,
        SignatureAlgorithm::RsaSha256,
    )
    .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/feeds");
    std::fs::create_dir_all(&dir).unwrap();
    let xml_path = dir.join(format!("feed-{n}.xml"));
    std::fs::write(&xml_path, &signed).unwrap();
    std::fs::write(dir.join(format!("feed-{n}.pem")), cert.pem()).unwrap();
    println!("{} ({} bytes, {n} IdPs)", xml_path.display(), signed.len());
}
