//! The verifier against documents signed by samael/xmlsec with keys made here, and
//! against the real Renater aggregate when `../shared/fixtures/renater` is present.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use openssl::x509::X509;
use passerelle_xmldsig::{Error, Key, verify_all, verify_root};
use support::*;

/// A feed-like document whose root carries the signature template.
fn feed(uri: &str, signature: &str, digest: &str) -> String {
    format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="feed" Name="test">{}<md:EntityDescriptor entityID="https://idp.example/" ID="entity"><md:Organization/></md:EntityDescriptor></md:EntitiesDescriptor>"#,
        template(uri, signature, digest)
    )
}

#[test]
fn a_feed_signed_at_its_root_verifies_by_id_or_whole_document() {
    let signer = Signer::rsa();
    for uri in ["#feed", ""] {
        let signed = signer.sign(&feed(uri, RSA_SHA256, SHA256));
        verify_root(signed.as_bytes(), &[&signer.key()]).unwrap();
    }
    let ec = Signer::ec();
    let signed = ec.sign(&feed("#feed", ECDSA_SHA256, SHA256));
    verify_root(signed.as_bytes(), &[&ec.key()]).unwrap();
}

#[test]
fn a_feed_verifies_with_the_second_pinned_key_during_a_rollover() {
    let (old, new) = (Signer::ec(), Signer::rsa());
    let signed = new.sign(&feed("#feed", RSA_SHA256, SHA256));
    verify_root(signed.as_bytes(), &[&old.key(), &new.key()]).unwrap();
}

#[test]
fn altered_content_or_another_key_is_refused() {
    let signer = Signer::rsa();
    let signed = signer.sign(&feed("#feed", RSA_SHA256, SHA256));
    let altered = signed.replace("https://idp.example/", "https://evil.example/");
    assert!(matches!(
        verify_root(altered.as_bytes(), &[&signer.key()]),
        Err(Error::Invalid(_))
    ));
    let other = Signer::rsa();
    assert!(matches!(
        verify_root(signed.as_bytes(), &[&other.key()]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        verify_root(signed.as_bytes(), &[]),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn a_signature_over_an_inner_element_does_not_sign_the_feed() {
    let signer = Signer::rsa();
    let signed = signer.sign(&feed("#entity", RSA_SHA256, SHA256));
    // libxml knows only the root's ID here, so the reference does not even resolve.
    assert!(verify_root(signed.as_bytes(), &[&signer.key()]).is_err());
    // Signed as a protocol message (every ID known), it verifies — but names the entity.
    let refs = verify_all(signed.as_bytes(), &[&signer.key()]).unwrap();
    assert_eq!(refs[0].uri, "#entity");
}

#[test]
fn a_signature_deeper_than_the_root_is_not_a_feed_signature() {
    let signer = Signer::rsa();
    let doc = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="feed"><md:Extensions>{}</md:Extensions></md:EntitiesDescriptor>"#,
        template("#feed", RSA_SHA256, SHA256)
    );
    let signed = signer.sign(&doc);
    assert_eq!(
        verify_root(signed.as_bytes(), &[&signer.key()]),
        Err(Error::NoSignature)
    );
}

#[test]
fn weak_or_symmetric_algorithms_are_refused() {
    let signer = Signer::rsa();
    // Each is named in the error (the operator's log says which algorithm was refused).
    for (signature, digest, refused) in [
        (RSA_SHA1, SHA256, RSA_SHA1),
        (RSA_SHA256, SHA1, SHA1),
        (RSA_SHA1, SHA1, RSA_SHA1),
    ] {
        let signed = signer.sign(&feed("#feed", signature, digest));
        let got = verify_root(signed.as_bytes(), &[&signer.key()]);
        assert_eq!(
            got,
            Err(Error::Algorithm(refused.into())),
            "{signature} {digest}"
        );
        let got = verify_all(signed.as_bytes(), &[&signer.key()]);
        assert_eq!(
            got,
            Err(Error::Algorithm(refused.into())),
            "{signature} {digest}"
        );
    }
    // An HMAC "signature" keyed with the public certificate: never even attempted.
    let doc = feed("#feed", HMAC_SHA256, SHA256);
    assert_eq!(
        verify_all(doc.as_bytes(), &[&signer.key()]),
        Err(Error::Algorithm(HMAC_SHA256.into()))
    );
}

#[test]
fn the_signed_content_is_returned_for_protocol_messages() {
    let signer = Signer::rsa();
    let doc = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1"><!-- note -->{}<samlp:Status/></samlp:Response>"#,
        template("#r1", RSA_SHA256, SHA256)
    );
    let signed = signer.sign(&doc);
    let refs = verify_all(signed.as_bytes(), &[&signer.key()]).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].uri, "#r1");
    let content = String::from_utf8(refs[0].content.clone()).unwrap();
    assert_eq!(
        content,
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1"><samlp:Status></samlp:Status></samlp:Response>"#
    );
}

#[test]
fn ambiguous_ids_are_refused() {
    let signer = Signer::rsa();
    let doc = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1">{}<x ID="r1"/></samlp:Response>"#,
        template("#r1", RSA_SHA256, SHA256)
    );
    assert!(matches!(
        verify_all(doc.as_bytes(), &[&signer.key()]),
        Err(Error::Ids(_))
    ));
    let doc = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1">{}<x xml:id="r2"/></samlp:Response>"#,
        template("#r1", RSA_SHA256, SHA256)
    );
    assert!(matches!(
        verify_all(doc.as_bytes(), &[&signer.key()]),
        Err(Error::Ids(_))
    ));
    let doc = r#"<r ID="not an ncname"/>"#;
    assert!(matches!(
        verify_all(doc.as_bytes(), &[&signer.key()]),
        Err(Error::Ids(_))
    ));
}

#[test]
fn unsigned_malformed_or_doctype_documents_are_refused() {
    let key = Signer::rsa().key();
    assert_eq!(
        verify_all(b"<r ID=\"a\"/>", &[&key]),
        Err(Error::NoSignature)
    );
    assert_eq!(
        verify_root(b"<r ID=\"a\"/>", &[&key]),
        Err(Error::NoSignature)
    );
    assert_eq!(verify_all(b"<r", &[&key]), Err(Error::NotXml));
    assert_eq!(verify_all(b"", &[&key]), Err(Error::NotXml));
    let doctype = b"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>";
    assert_eq!(verify_all(doctype, &[&key]), Err(Error::Doctype));
    assert_eq!(verify_root(doctype, &[&key]), Err(Error::Doctype));
    assert!(matches!(
        Key::from_cert_der(b"not a certificate"),
        Err(Error::Key(_))
    ));
}

#[test]
fn the_key_in_keyinfo_is_never_used() {
    let (attacker, pinned) = (Signer::rsa(), Signer::rsa());
    let doc = feed("#feed", RSA_SHA256, SHA256).replace(
        "<ds:SignatureValue/>",
        &format!(
            "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
            openssl::base64::encode_block(&attacker.cert_der)
        ),
    );
    let signed = attacker.sign(&doc);
    assert!(matches!(
        verify_root(signed.as_bytes(), &[&pinned.key()]),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn keys_are_shared_across_threads() {
    let signer = Signer::rsa();
    let key = std::sync::Arc::new(signer.key());
    let signed = std::sync::Arc::new(signer.sign(&feed("#feed", RSA_SHA256, SHA256)));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (key, signed) = (key.clone(), signed.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    verify_root(signed.as_bytes(), &[&key]).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn the_renater_aggregate_verifies_with_its_pinned_certificate() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/renater");
    let (xml, pem) = (
        dir.join("main-idps-renater-metadata-2023-06-16.xml"),
        dir.join("renater-metadata-signing-cert.pem"),
    );
    if !xml.exists() {
        eprintln!(
            "../shared/fixtures/renater absent: the real-aggregate check is skipped (generated feeds are covered above)"
        );
        return;
    }
    let xml = std::fs::read(xml).unwrap();
    let cert = X509::from_pem(&std::fs::read(pem).unwrap()).unwrap();
    let key = Key::from_cert_der(&cert.to_der().unwrap()).unwrap();
    verify_root(&xml, &[&key]).unwrap();
    let mut altered = xml.clone();
    let at = altered.windows(9).position(|w| w == b"Universit").unwrap();
    altered[at] = b'u';
    assert!(matches!(
        verify_root(&altered, &[&key]),
        Err(Error::Invalid(_))
    ));
}
