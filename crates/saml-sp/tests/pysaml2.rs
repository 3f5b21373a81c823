//! Interoperability with an independent IdP: pysaml2 (from PyPI, installed by this test
//! into `target/pysaml2-venv`; it signs and encrypts through the `xmlsec1` binary) answers
//! our AuthnRequests for our own SP metadata — signed response, signed assertion only, and
//! assertions encrypted with AES-128/256 in CBC and GCM — and our ACS accepts every answer
//! with the right identity. pysaml2's default RSA-SHA1 signature is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::path::PathBuf;
use std::process::Command;

use passerelle_saml_sp::acs::{AcsRequest, AcsSettings, SubjectSource, consume};
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_saml_sp::sp::request::LoginOptions;
use passerelle_store::Store;
use passerelle_testkit::redis::redis_url;
use time::OffsetDateTime;

const IDP: &str = "https://idp.pysaml2.test/idp";
const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const MFA: &str = "https://refeds.org/profile/mfa";

/// The virtualenv with pysaml2, made once per target directory.
fn python() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    passerelle_testkit::python::pysaml2(&target).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_answers_in_every_supported_form_are_accepted() {
    let python = python();
    let dir = std::env::temp_dir().join(support::unique("pysaml2"));
    std::fs::create_dir_all(&dir).unwrap();

    let sp_key = support::sign::rsa_key();
    let sp = support::service_provider(&sp_key);
    let sp_metadata = dir.join("sp.xml");
    std::fs::write(&sp_metadata, sp.metadata_xml()).unwrap();

    let idp_key = support::sign::rsa_key();
    let (key_path, cert_path) = (dir.join("idp.key"), dir.join("idp.crt"));
    std::fs::write(&key_path, &idp_key.key_pem).unwrap();
    std::fs::write(&cert_path, &idp_key.cert_pem).unwrap();
    let xml = support::aggregate(
        "2099-01-01T00:00:00Z",
        &support::idp(
            IDP,
            "Université pysaml2",
            "pysaml2 University",
            "pysaml2.test",
        ),
    );
    let mut idp = parse(&xml, ParseOptions::default()).unwrap().idps.remove(0);
    idp.signing_certs = vec![idp_key.cert_der()];
    let snapshot = Snapshot::from_idps(vec![idp.clone()]);
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &support::unique("py")).unwrap();

    let run = |mode: &str, request_id: &str, class_ref: &str| {
        let out = Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pysaml2/idp.py"))
            .arg(&sp_metadata)
            .arg(&key_path)
            .arg(&cert_path)
            .arg(request_id)
            .arg(mode)
            .arg(support::respond::SP)
            .arg(support::respond::ACS)
            .arg(class_ref)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pysaml2 {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // pysaml2's default signature algorithm is RSA-SHA1: refused.
    let answer = |mode: &'static str, asked: &'static str, class_ref: &'static str| {
        let (sp, idp, store, snapshot, run) = (&sp, &idp, &store, &snapshot, &run);
        async move {
            let options = LoginOptions {
                force_authn: false,
                flow: mode.into(),
                authn_context: [asked]
                    .into_iter()
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            let login = sp
                .start_login(store, idp, options, OffsetDateTime::now_utc())
                .await
                .unwrap();
            let body = run(mode, &login.request_id, class_ref);
            let input = AcsRequest {
                saml_response: &body,
                relay_state: Some(&login.relay_state),
            };
            consume(
                sp,
                snapshot,
                store,
                input,
                &AcsSettings::default(),
                OffsetDateTime::now_utc(),
            )
            .await
        }
    };
    let err = answer("sha1-default", "", PPT).await.unwrap_err();
    assert!(
        matches!(
            err,
            passerelle_saml_sp::Error::Rejected(passerelle_saml_sp::acs::Rejection::BadSignature(
                _
            ))
        ),
        "{err:?}"
    );

    let modes = [
        "signed-response",
        "signed-assertion",
        "enc-aes128-cbc",
        "enc-aes256-cbc",
        "enc-aes128-gcm",
        "enc-aes256-gcm",
    ];
    for mode in modes {
        let id = answer(mode, "", PPT)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
        assert_eq!(
            (id.subject.as_str(), id.subject_source),
            ("pysaml2-persistent-4711", SubjectSource::PersistentNameId),
            "{mode}"
        );
        assert_eq!(
            id.mail.as_deref(),
            Some("camille.dupont@etu.pysaml2.test"),
            "{mode}"
        );
        assert_eq!(id.given_name.as_deref(), Some("Camille"), "{mode}");
        assert_eq!(
            id.principal_name.as_deref(),
            Some("cdupont@pysaml2.test"),
            "{mode}"
        );
        assert_eq!(id.flow, mode);
    }

    // Asked for REFEDS MFA (RequestedAuthnContext, exact): pysaml2's MFA answer is
    // accepted with its class; its password-only answer is refused, never downgraded.
    let id = answer("signed-assertion", MFA, MFA).await.unwrap();
    assert_eq!(id.authn_context.as_deref(), Some(MFA));
    let err = answer("enc-aes128-gcm", MFA, PPT).await.unwrap_err();
    assert!(
        matches!(
            &err,
            passerelle_saml_sp::Error::Rejected(
                passerelle_saml_sp::acs::Rejection::AuthnContextNotMet { got: Some(g) }
            ) if g == PPT
        ),
        "{err:?}"
    );
    // Not asked, an MFA answer is taken as it is.
    let id = answer("signed-response", "", MFA).await.unwrap();
    assert_eq!(id.authn_context.as_deref(), Some(MFA));
}
