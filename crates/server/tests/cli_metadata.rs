//! `passerelle metadata verify|list|search` as a sysadmin runs them: the real binary, real
//! files, exit codes and messages. Uses the Renater fixture when present.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

fn passerelle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn renater() -> Option<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/renater");
    let xml = dir.join("main-idps-renater-metadata-2023-06-16.xml");
    let cert = dir.join("renater-metadata-signing-cert.pem");
    if xml.is_file() && cert.is_file() {
        Some((xml.display().to_string(), cert.display().to_string()))
    } else {
        eprintln!(
            "../shared/fixtures/renater absent: Renater CLI checks skipped, generated file used"
        );
        None
    }
}

const SMALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" validUntil="2030-01-01T00:00:00Z">
<md:EntityDescriptor entityID="https://idp.unilim.fr/idp/shibboleth"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">unilim.fr</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Université de Limoges</mdui:DisplayName><mdui:DisplayName xml:lang="en">University of Limoges</mdui:DisplayName></mdui:UIInfo></md:Extensions></md:IDPSSODescriptor></md:EntityDescriptor>
</md:EntitiesDescriptor>
"#;

/// A file of its own per call: the tests of this file run in parallel, and rewriting
/// one shared path while another test's process reads it made them flaky.
fn small_file() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("passerelle-cli-md-{}-{n}.xml", std::process::id()));
    std::fs::write(&path, SMALL).unwrap();
    path
}

#[test]
fn verify_accepts_the_renater_feed_as_of_its_date_and_explains_expiry_today() {
    let Some((xml, cert)) = renater() else { return };
    let ok = passerelle(&[
        "metadata",
        "verify",
        &xml,
        "--cert",
        &cert,
        "--now",
        "2023-06-16T12:00:00Z",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(
        text(&ok.stdout).trim(),
        "OK: signature valid, valid until 2023-06-25T08:30:30Z; 352 entities, 352 IdPs, 0 skipped"
    );
    let expired = passerelle(&[
        "metadata",
        "verify",
        &xml,
        "--cert",
        &cert,
        "--now",
        "2026-11-28T00:00:00Z",
    ]);
    assert!(!expired.status.success());
    let err = text(&expired.stderr);
    assert!(
        err.contains("is not acceptable") && err.contains("expired at 2023-06-25T08:30:30Z"),
        "{err}"
    );
}

#[test]
fn verify_refuses_an_unsigned_file_and_says_why() {
    let file = small_file();
    let cert = std::env::temp_dir().join(format!("passerelle-cli-cert-{}.pem", std::process::id()));
    let pem = rcgen::generate_simple_self_signed(vec!["x.example".to_owned()])
        .unwrap()
        .cert
        .pem();
    std::fs::write(&cert, pem).unwrap();
    let out = passerelle(&[
        "metadata",
        "verify",
        file.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("signature rejected"),
        "{}",
        text(&out.stderr)
    );
    let missing = passerelle(&[
        "metadata",
        "verify",
        "/nonexistent.xml",
        "--cert",
        cert.to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot read /nonexistent.xml"));
    let bad_now = passerelle(&[
        "metadata",
        "list",
        file.to_str().unwrap(),
        "--now",
        "yesterday",
    ]);
    assert!(!bad_now.status.success());
    assert!(text(&bad_now.stderr).contains("RFC 3339"));
}

#[test]
fn list_prints_one_idp_per_line_or_json() {
    let file = small_file();
    let out = passerelle(&["metadata", "list", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "https://idp.unilim.fr/idp/shibboleth\tUniversité de Limoges\tunilim.fr"
    );
    let json = passerelle(&["metadata", "list", file.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["entity_id"], "https://idp.unilim.fr/idp/shibboleth");
    assert_eq!(v[0]["scopes"][0]["value"], "unilim.fr");
    // Past its validUntil: still listed, with a warning.
    let late = passerelle(&[
        "metadata",
        "list",
        file.to_str().unwrap(),
        "--now",
        "2031-01-01T00:00:00Z",
    ]);
    assert!(late.status.success());
    assert!(text(&late.stderr).contains("warning: metadata expired"));
}

#[test]
fn search_offers_what_discovery_would() {
    let file = small_file();
    let f = file.to_str().unwrap();
    let by_name = passerelle(&["metadata", "search", f, "universite limo"]);
    assert_eq!(
        text(&by_name.stdout).trim(),
        "https://idp.unilim.fr/idp/shibboleth\tUniversité de Limoges"
    );
    let by_mail = passerelle(&[
        "metadata",
        "search",
        f,
        "--email",
        "prenom.nom@etu.unilim.fr",
        "--lang",
        "en",
    ]);
    assert_eq!(
        text(&by_mail.stdout).trim(),
        "https://idp.unilim.fr/idp/shibboleth\tUniversity of Limoges"
    );
    let none = passerelle(&["metadata", "search", f, "--email", "a@gmail.com"]);
    assert!(none.status.success());
    assert!(text(&none.stderr).contains("no institution found"));
    if let Some((xml, _)) = renater() {
        let out = passerelle(&[
            "metadata",
            "search",
            &xml,
            "--email",
            "prenom.nom@etu.unilim.fr",
            "--now",
            "2023-06-16T12:00:00Z",
        ]);
        assert!(
            text(&out.stdout).contains("Limoges"),
            "{}",
            text(&out.stdout)
        );
    }
}

/// A feed signed here (ECDSA P-256), and its certificate in PEM.
fn signed_small() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["fed.example".to_owned()]).unwrap();
    let xml = SMALL.replacen(
        "validUntil=",
        r#"ID="_small" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" validUntil="#,
        1,
    );
    let signed = passerelle_saml_sp::metadata::writer::sign_aggregate(
        &xml,
        &certified.signing_key.serialize_der(),
        certified.cert.der(),
        passerelle_saml_sp::metadata::writer::SignatureAlgorithm::EcdsaSha256,
    )
    .unwrap();
    (signed, certified.cert.pem())
}

#[test]
fn verify_list_and_search_refuse_a_signed_feed_redeclared_utf7_with_a_smuggled_idp() {
    use passerelle_testkit::utf7::{Place, smuggle};
    let dir = std::env::temp_dir().join(format!("passerelle-cli-utf7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (small, small_cert) = signed_small();
    let small_cert_file = dir.join("small.pem");
    std::fs::write(&small_cert_file, small_cert).unwrap();
    let mut sources = vec![(
        small,
        small_cert_file.display().to_string(),
        "2029-12-15T00:00:00Z",
    )];
    if let Some((xml, cert)) = renater() {
        sources.push((
            std::fs::read_to_string(xml).unwrap(),
            cert,
            "2023-06-16T12:00:00Z",
        ));
    }
    let fake = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" entityID="https://idp.fake-lille.example/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">univ-lille.fr</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Universite de Lille</mdui:DisplayName></mdui:UIInfo></md:Extensions><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://evil.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
    for (n, (xml, cert, now)) in sources.iter().enumerate() {
        // The untouched feed verifies (so a refusal below is the smuggle's doing).
        let genuine = dir.join(format!("genuine-{n}.xml"));
        std::fs::write(&genuine, xml).unwrap();
        let ok = passerelle(&[
            "metadata",
            "verify",
            genuine.to_str().unwrap(),
            "--cert",
            cert,
            "--now",
            now,
        ]);
        assert!(ok.status.success(), "{}", text(&ok.stderr));
        for place in [Place::InsideRoot, Place::AfterRoot, Place::BeforeRoot] {
            let forged = smuggle(xml, fake, place, "</md:EntitiesDescriptor>").unwrap();
            let file = dir.join(format!("forged-{n}-{place:?}.xml"));
            std::fs::write(&file, forged).unwrap();
            let file = file.to_str().unwrap();
            let verify = passerelle(&["metadata", "verify", file, "--cert", cert, "--now", now]);
            let list = passerelle(&["metadata", "list", file, "--now", now]);
            let search = passerelle(&[
                "metadata",
                "search",
                file,
                "--email",
                "carol@univ-lille.fr",
                "--now",
                now,
            ]);
            for (verb, out) in [("verify", verify), ("list", list), ("search", search)] {
                assert!(!out.status.success(), "{verb} {place:?}: accepted");
                let err = text(&out.stderr);
                assert!(
                    err.contains("encoding") && err.contains("UTF-7"),
                    "{verb} {place:?}: {err}"
                );
                assert!(
                    !text(&out.stdout).contains("fake-lille"),
                    "{verb} {place:?}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_reports_skipped_entities_and_prints_every_name_on_one_line() {
    let bad = r#"<md:EntityDescriptor entityID="https://idp.broken.fr/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>not base64 !</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#;
    let xml = SMALL
        .replace(
            "Université de Limoges</mdui",
            "Université\n\tde Limoges</mdui",
        )
        .replace(
            "</md:EntitiesDescriptor>",
            &format!("{bad}</md:EntitiesDescriptor>"),
        );
    let path = std::env::temp_dir().join(format!("passerelle-cli-skip-{}.xml", std::process::id()));
    std::fs::write(&path, xml).unwrap();
    let out = passerelle(&["metadata", "list", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\tUniversité de Limoges\t"), "{stdout}");
    assert!(
        text(&out.stderr).contains("skipped entity https://idp.broken.fr/idp"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(&path).ok();
}
