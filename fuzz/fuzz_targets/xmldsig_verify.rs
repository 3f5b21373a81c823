//! Fuzz target: the libxmlsec1 wrapper (parse, ID registration, signature lookup and
//! verification under our policy) never crashes or panics on any input, and never says
//! that an arbitrary document is signed by a key made here.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509NameBuilder};
use passerelle_xmldsig::{Key, verify_all, verify_root};

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let pkey = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "fuzz").expect("CN");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&pkey).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("t")).expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(1).expect("t")).expect("na");
        b.sign(&pkey, MessageDigest::sha256()).expect("sign");
        Key::from_cert_der(&b.build().to_der().expect("der")).expect("key")
    })
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    assert!(verify_all(data, &[key]).is_err());
    assert!(verify_root(data, &[key]).is_err());
});
