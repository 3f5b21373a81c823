//! Property tests: whatever bytes come in, the verifier answers (no crash, no panic); and
//! whatever an attacker changes in a signed message, either it is refused or the signed
//! content it returns is exactly the signer's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

mod support;

use passerelle_xmldsig::{Key, Signed, verify_all, verify_root};
use proptest::prelude::*;
use support::*;

struct Fixture {
    key: Key,
    message: String,
    content: Vec<Signed>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let signer = Signer::rsa();
        let key = signer.key();
        let doc = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1" Destination="https://sp.example/acs"><saml:Issuer>https://idp.example/</saml:Issuer>{}<saml:Assertion ID="a1"><saml:Subject><saml:NameID>alice</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#,
            template("#r1", RSA_SHA256, SHA256)
        );
        let message = signer.sign(&doc);
        let content = verify_all(message.as_bytes(), &[&key]).unwrap();
        Fixture { key, message, content }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_crash_the_verifier(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        prop_assert!(verify_all(&data, &[&f.key]).is_err());
        prop_assert!(verify_root(&data, &[&f.key]).is_err());
    }

    #[test]
    fn a_tampered_message_is_refused_or_yields_exactly_the_signed_content(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>(), "[ -~]{0,40}"), 1..4)
    ) {
        let f = fixture();
        let mut bytes = f.message.clone().into_bytes();
        for (at, kind, byte, text) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => { if i < bytes.len() { bytes[i] = byte; } }
                1 => { if i < bytes.len() { bytes.remove(i); } }
                2 => bytes.insert(i.min(bytes.len()), byte),
                _ => { let i = i.min(bytes.len()); bytes.splice(i..i, text.bytes()); }
            }
        }
        match verify_all(&bytes, &[&f.key]) {
            Err(_) => {}
            Ok(content) => prop_assert_eq!(content, f.content.clone()),
        }
    }
}
