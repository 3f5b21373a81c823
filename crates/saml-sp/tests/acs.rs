//! The assertion consumer, rule by rule: accepted answers give the right identity; every
//! broken rule gives its own rejection. Responses are signed by a test IdP whose key is in
//! the federation snapshot; pending requests live in a real Redis.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use passerelle_saml_sp::Error;
use passerelle_saml_sp::acs::{
    AcsRequest, AcsSettings, DecryptFailure, Identity, Rejection, SubjectSource, consume,
};
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_saml_sp::sp::ServiceProvider;
use passerelle_saml_sp::sp::request::{LoginOptions, LoginRedirect};
use passerelle_store::Store;
use passerelle_testkit::redis::{TestRedis, redis_url};
use support::respond::Resp;
use support::sign::{RSA_SHA1, TestKey, ecdsa_key, rsa_key};
use time::OffsetDateTime;

struct World {
    sp: ServiceProvider,
    snapshot: Snapshot,
    store: Store,
    idp_key: TestKey,
    _redis: TestRedis,
}

fn sp() -> ServiceProvider {
    support::service_provider(&rsa_key())
}

fn world_with(idp_key: TestKey) -> World {
    let xml = support::aggregate(
        "2099-01-01T00:00:00Z",
        &support::idp(
            support::respond::IDP,
            "Université de Limoges",
            "University of Limoges",
            "unilim.fr",
        ),
    );
    let mut idp = parse(&xml, ParseOptions::default()).unwrap().idps.remove(0);
    idp.signing_certs = vec![idp_key.cert_der()];
    let other = parse(
        &support::aggregate(
            "2099-01-01T00:00:00Z",
            &support::idp("https://idp.other.fr/idp", "Autre", "Other", "other.fr"),
        ),
        ParseOptions::default(),
    )
    .unwrap()
    .idps
    .remove(0);
    let redis = redis_url().unwrap();
    World {
        sp: sp(),
        snapshot: Snapshot::from_idps(vec![idp, other]),
        store: Store::open(&redis.url(), &support::unique("acs")).unwrap(),
        idp_key,
        _redis: redis,
    }
}

fn world() -> World {
    world_with(rsa_key())
}

impl World {
    async fn login(&self) -> LoginRedirect {
        self.login_at(support::respond::IDP).await
    }

    async fn login_at(&self, entity: &str) -> LoginRedirect {
        let idp = self.snapshot.idp(entity).unwrap();
        let options = LoginOptions {
            force_authn: false,
            flow: "flow-7".into(),
            authn_context: Vec::new(),
        };
        self.sp
            .start_login(&self.store, &idp, options, OffsetDateTime::now_utc())
            .await
            .unwrap()
    }

    async fn post(&self, body: &str, relay: Option<&str>) -> Result<Identity, Error> {
        let input = AcsRequest {
            saml_response: body,
            relay_state: relay,
        };
        consume(
            &self.sp,
            &self.snapshot,
            &self.store,
            input,
            &AcsSettings::default(),
            OffsetDateTime::now_utc(),
        )
        .await
    }

    async fn answer(&self, edit: impl FnOnce(&mut Resp)) -> Result<Identity, Error> {
        let login = self.login().await;
        let mut resp = Resp::new(&login.request_id);
        edit(&mut resp);
        self.post(&resp.post(&self.idp_key), Some(&login.relay_state))
            .await
    }
}

fn rejected(result: Result<Identity, Error>) -> Rejection {
    match result {
        Err(Error::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_assertion_a_signed_response_or_both_give_the_identity() {
    let w = world();
    for (response, assertion) in [(false, true), (true, false), (true, true)] {
        let id = w
            .answer(|r| {
                r.sign_response = response;
                r.sign_assertion = assertion;
            })
            .await
            .unwrap();
        assert_eq!(id.idp.as_str(), support::respond::IDP);
        assert_eq!(
            (id.subject.as_str(), id.subject_source),
            ("8f3e2a@unilim.fr", SubjectSource::SubjectId)
        );
        assert_eq!(id.mail.as_deref(), Some("prenom.nom@etu.unilim.fr"));
        assert_eq!(id.given_name.as_deref(), Some("Prénom"));
        assert_eq!(id.affiliations, vec!["student", "member"]);
        // The out-of-scope scoped value is dropped.
        assert_eq!(id.scoped_affiliations, vec!["student@unilim.fr"]);
        assert_eq!(id.flow, "flow-7");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecdsa_signing_idp_is_accepted() {
    let w = world_with(ecdsa_key());
    let id = w
        .answer(|r| r.sig = support::sign::ECDSA_SHA256)
        .await
        .unwrap();
    assert_eq!(id.subject, "8f3e2a@unilim.fr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_sha1_and_foreign_key_signatures_are_refused() {
    let w = world();
    assert!(matches!(
        rejected(w.answer(|r| r.sign_assertion = false).await),
        Rejection::Unsigned
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.sig = RSA_SHA1).await),
        Rejection::BadSignature(_)
    ));
    // Signed by a key that is not the IdP's (as if carried in KeyInfo).
    let login = w.login().await;
    let forged = Resp::new(&login.request_id).post(&rsa_key());
    assert!(matches!(
        rejected(w.post(&forged, Some(&login.relay_state)).await),
        Rejection::BadSignature(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_wrapping_never_gets_an_unsigned_assertion_read() {
    let w = world();
    let evil = Resp {
        attributes: vec![(
            "urn:oasis:names:tc:SAML:attribute:subject-id".into(),
            vec!["admin@unilim.fr".into()],
        )],
        ..Resp::new("x")
    };
    // 1. An evil assertion beside the signed one (before it).
    let r = w
        .answer(|r| r.extra_assertion = Some(evil.assertion()))
        .await;
    assert!(matches!(rejected(r), Rejection::RawAssertionCount(2)));
    // 2. The signed assertion hidden in an extension, the evil one in its place.
    let login = w.login().await;
    let good = Resp::new(&login.request_id);
    let signed = good.xml(&w.idp_key);
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let wrapped = format!(
        "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
        &signed[..start],
        &signed[start..end],
        Resp {
            in_response_to: Some(login.request_id.clone()),
            ..evil.clone()
        }
        .assertion(),
        &signed[end..]
    );
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, wrapped);
    assert!(matches!(
        rejected(w.post(&body, Some(&login.relay_state)).await),
        Rejection::RawAssertionCount(2)
    ));
    // 3. A signed response with an assertion slipped in after signing.
    let login = w.login().await;
    let signed = Resp {
        sign_response: true,
        sign_assertion: false,
        ..Resp::new(&login.request_id)
    }
    .xml(&w.idp_key);
    let slipped = signed.replacen(
        "<saml:Assertion",
        &format!("{}<saml:Assertion", evil.assertion()),
        1,
    );
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, slipped);
    let r = rejected(w.post(&body, Some(&login.relay_state)).await);
    assert!(
        matches!(
            r,
            Rejection::RawAssertionCount(2) | Rejection::BadSignature(_)
        ),
        "{r:?}"
    );
    // 4. A signed response whose signed assertion's content was altered.
    let login = w.login().await;
    let signed = Resp {
        sign_response: true,
        sign_assertion: false,
        ..Resp::new(&login.request_id)
    }
    .xml(&w.idp_key);
    let altered = signed.replace("8f3e2a@unilim.fr", "admin@unilim.fr");
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, altered);
    assert!(matches!(
        rejected(w.post(&body, Some(&login.relay_state)).await),
        Rejection::BadSignature(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_rule_has_its_own_rejection() {
    let w = world();
    let past = "2020-01-01T00:00:00Z".to_owned();
    let future = "2099-01-01T00:00:00Z".to_owned();
    assert!(matches!(
        rejected(w.answer(|r| r.audience = "https://other.sp/".into()).await),
        Rejection::WrongAudience
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.recipient = "https://evil/acs".into()).await),
        Rejection::NoBearerConfirmation
    ));
    assert!(matches!(
        rejected(
            w.answer(|r| {
                r.sign_response = true;
                r.destination = "https://evil/acs".into();
            })
            .await
        ),
        Rejection::WrongDestination
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.not_on_or_after = past.clone()).await),
        Rejection::Expired
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.scd_not_on_or_after = past.clone()).await),
        Rejection::Expired
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.not_before = future.clone()).await),
        Rejection::NotYetValid
    ));
    assert!(matches!(
        rejected(
            w.answer(|r| r.assertion_issuer = "https://idp.other.fr/idp".into())
                .await
        ),
        Rejection::IssuerMismatch
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.authn = false).await),
        Rejection::NoAuthnStatement
    ));
    assert!(matches!(
        rejected(
            w.answer(|r| r.in_response_to = Some("_never-sent".into()))
                .await
        ),
        Rejection::UnknownRequest
    ));
    assert!(matches!(
        rejected(w.answer(|r| r.in_response_to = None).await),
        Rejection::UnknownRequest
    ));
    assert!(matches!(
        rejected(
            w.answer(|r| r.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into())
                .await
        ),
        Rejection::IdpStatus { .. }
    ));
    assert!(matches!(
        rejected(
            w.answer(|r| {
                r.issuer = "https://unknown.idp/".into();
                r.assertion_issuer = r.issuer.clone();
            })
            .await
        ),
        Rejection::UnknownIdp(_)
    ));
    // Within the 3-minute skew, a NotBefore slightly ahead is fine.
    let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(90))
        .replace_nanosecond(0)
        .unwrap();
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(w.answer(|r| r.not_before = soon.clone()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_accepted_once_and_only_for_its_own_request() {
    let w = world();
    let login = w.login().await;
    let body = Resp::new(&login.request_id).post(&w.idp_key);
    w.post(&body, Some(&login.relay_state)).await.unwrap();
    assert!(matches!(
        rejected(w.post(&body, Some(&login.relay_state)).await),
        Rejection::Replay
    ));
    // A fresh assertion for an already answered request.
    let again = Resp::new(&login.request_id).post(&w.idp_key);
    assert!(matches!(
        rejected(w.post(&again, Some(&login.relay_state)).await),
        Rejection::UnknownRequest
    ));
    // RelayState must be the one sent.
    let login = w.login().await;
    let body = Resp::new(&login.request_id).post(&w.idp_key);
    assert!(matches!(
        rejected(w.post(&body, Some("other-handle")).await),
        Rejection::RelayStateMismatch
    ));
    // A request sent to another IdP cannot be answered by this one.
    let elsewhere = w.login_at("https://idp.other.fr/idp").await;
    let body = Resp::new(&elsewhere.request_id).post(&w.idp_key);
    assert!(matches!(
        rejected(w.post(&body, Some(&elsewhere.relay_state)).await),
        Rejection::RequestIdpMismatch
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_encodings_are_refused_before_any_xml_library() {
    let w = world();
    let huge = "A".repeat(600 * 1024);
    assert!(matches!(
        rejected(w.post(&huge, None).await),
        Rejection::TooLarge
    ));
    assert!(matches!(
        rejected(w.post("not base64 !!", None).await),
        Rejection::Encoding
    ));
    let doctype = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "<!DOCTYPE r [<!ENTITY x \"y\">]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&x;</samlp:Response>",
    );
    assert!(matches!(
        rejected(w.post(&doctype, None).await),
        Rejection::Doctype
    ));
    let garbage = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "<samlp:Response",
    );
    assert!(matches!(
        rejected(w.post(&garbage, None).await),
        Rejection::Malformed(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_response_redeclared_in_another_encoding_is_refused_before_any_xml_library() {
    let w = world();
    let login = w.login().await;
    let resp = Resp::new(&login.request_id);
    let signed = resp.xml(&w.idp_key);
    let b64 = |s: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    // Re-encoded so that libxml2 (UTF-7) reads exactly the signed text, with a second
    // assertion smuggled as a UTF-7 comment that a UTF-8 reader sees as an element.
    let smuggled = passerelle_testkit::utf7::smuggle(
        &signed,
        r#"<saml:Assertion ID="_evil"><saml:Issuer>https://idp.unilim.fr/idp</saml:Issuer></saml:Assertion>"#,
        passerelle_testkit::utf7::Place::InsideRoot,
        "</samlp:Response>",
    )
    .unwrap();
    let plain_utf7 = passerelle_testkit::utf7::smuggle(
        &signed,
        "",
        passerelle_testkit::utf7::Place::AfterRoot,
        "</samlp:Response>",
    )
    .unwrap()
    .replace("+ADw-!----+AD4-", "");
    for forged in [smuggled, plain_utf7] {
        match rejected(
            w.post(&b64(forged.as_bytes()), Some(&login.relay_state))
                .await,
        ) {
            Rejection::Charset(reason) => assert!(reason.contains("UTF-7"), "{reason}"),
            other => panic!("refused for another reason: {other}"),
        }
    }
    // UTF-16 with its byte-order mark: refused the same way.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(signed.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert!(matches!(
        rejected(w.post(&b64(&utf16), Some(&login.relay_state)).await),
        Rejection::Charset(_)
    ));
    // The untouched answer is still accepted: nothing was consumed by the refusals.
    w.post(&b64(signed.as_bytes()), Some(&login.relay_state))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_inside_a_value_never_shortens_it_and_foreign_scopes_never_become_subjects() {
    let w = world();
    let id = w
        .answer(|r| r.attributes[0].1 = vec!["8f3e<!-- cut -->2a@unilim.fr".into()])
        .await
        .unwrap();
    assert_eq!(id.subject, "8f3e2a@unilim.fr");
    // A subject-id in another university's scope is dropped: the persistent NameID wins.
    let id = w
        .answer(|r| r.attributes[0].1 = vec!["admin@u-bordeaux.fr".into()])
        .await
        .unwrap();
    assert_eq!(id.subject_source, SubjectSource::PersistentNameId);
    assert_eq!(id.subject, "AAdzZWNyZXQxeyJ2IjoxLCJpZCI6");
}

mod encrypted {
    use super::*;
    use support::respond::{
        AES128_CBC, AES128_GCM, AES192_GCM, AES256_CBC, AES256_GCM, RSA_1_5, RSA_OAEP_11,
        RSA_OAEP_MGF1P, TRIPLEDES_CBC,
    };

    /// A world whose SP encryption certificate the test knows.
    async fn answer_encrypted(
        w: &World,
        sp_cert: &str,
        data: &'static str,
        key: &'static str,
        edit: impl FnOnce(&mut Resp),
    ) -> Result<Identity, Error> {
        let login = w.login().await;
        let mut resp = Resp::new(&login.request_id);
        resp.encrypt = Some((sp_cert.to_owned(), data, key));
        edit(&mut resp);
        w.post(&resp.post(&w.idp_key), Some(&login.relay_state))
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_supported_cipher_decrypts_inside_a_signed_response() {
        let (w, sp_cert) = world_with_sp_cert();
        for data in [AES128_GCM, AES192_GCM, AES256_GCM, AES128_CBC, AES256_CBC] {
            for key in [RSA_OAEP_MGF1P, RSA_OAEP_11] {
                let id = answer_encrypted(&w, &sp_cert, data, key, |r| {
                    r.sign_response = true;
                    r.sign_assertion = false;
                })
                .await
                .unwrap_or_else(|e| panic!("{data} / {key}: {e:?}"));
                assert_eq!(id.subject, "8f3e2a@unilim.fr");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gcm_with_a_signed_assertion_needs_no_response_signature_but_cbc_does() {
        let (w, sp_cert) = world_with_sp_cert();
        let id = answer_encrypted(&w, &sp_cert, AES256_GCM, RSA_OAEP_MGF1P, |_| {})
            .await
            .unwrap();
        assert_eq!(id.mail.as_deref(), Some("prenom.nom@etu.unilim.fr"));
        // CBC is malleable: refused unless the Response signature was verified first.
        let r = answer_encrypted(&w, &sp_cert, AES128_CBC, RSA_OAEP_MGF1P, |_| {}).await;
        assert!(matches!(
            rejected(r),
            Rejection::Undecryptable(DecryptFailure::CbcOutsideSignedResponse)
        ));
        // Unsigned everywhere: refused after decryption.
        let r = answer_encrypted(&w, &sp_cert, AES128_GCM, RSA_OAEP_MGF1P, |r| {
            r.sign_assertion = false
        })
        .await;
        assert!(matches!(rejected(r), Rejection::Unsigned));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rsa_1_5_3des_and_a_foreign_key_fail_alike_for_the_user_and_apart_in_the_log() {
        // The browser sees one rejection (Undecryptable → one page); the log line
        // carries the reason, which an operator needs to tell the IdP what to change.
        let (w, sp_cert) = world_with_sp_cert();
        let r = answer_encrypted(&w, &sp_cert, AES128_GCM, RSA_1_5, |r| {
            r.sign_response = true
        })
        .await;
        assert!(matches!(
            rejected(r),
            Rejection::Undecryptable(DecryptFailure::KeyTransportRefused)
        ));
        let r = answer_encrypted(&w, &sp_cert, TRIPLEDES_CBC, RSA_OAEP_MGF1P, |r| {
            r.sign_response = true
        })
        .await;
        let r = rejected(r);
        assert!(
            matches!(r, Rejection::Undecryptable(DecryptFailure::CipherRefused)),
            "{r}"
        );
        assert!(r.to_string().contains("3DES is refused"), "{r}");
        let stranger = rsa_key().cert_pem;
        let r = answer_encrypted(&w, &stranger, AES128_GCM, RSA_OAEP_MGF1P, |r| {
            r.sign_response = true
        })
        .await;
        assert!(matches!(
            rejected(r),
            Rejection::Undecryptable(DecryptFailure::KeyUnwrap)
        ));
    }
}

fn world_with_sp_cert() -> (World, String) {
    let mut w = world();
    let k = rsa_key();
    w.sp = support::service_provider(&k);
    (w, k.cert_pem.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_vouches_only_for_addresses_under_its_scopes_or_the_operators_mail_domains() {
    const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
    let set_mail = |r: &mut Resp, mail: &str| {
        for (name, values) in &mut r.attributes {
            if name == MAIL {
                *values = vec![mail.to_owned()];
            }
        }
    };
    let mut w = world();
    // Under the scope (unilim.fr) or a subdomain of it: the university speaks for it.
    let own = w
        .answer(|r| set_mail(r, "prenom.nom@etu.unilim.fr"))
        .await
        .unwrap();
    assert_eq!(own.mail.as_deref(), Some("prenom.nom@etu.unilim.fr"));
    assert_eq!(own.refused_mail, None);
    // Another university's address, or a look-alike domain: refused, kept apart.
    for foreign in [
        "carol@univ-a.fr",
        "carol@evil-unilim.fr",
        "carol@unilim.fr.evil.example",
    ] {
        let id = w.answer(|r| set_mail(r, foreign)).await.unwrap();
        assert_eq!(id.mail, None, "{foreign}");
        assert_eq!(id.refused_mail.as_deref(), Some(foreign));
    }
    // Several values: the one it speaks for wins.
    let both = w
        .answer(|r| {
            for (name, values) in &mut r.attributes {
                if name == MAIL {
                    *values = vec!["carol@univ-a.fr".into(), "p.n@unilim.fr".into()];
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(both.mail.as_deref(), Some("p.n@unilim.fr"));
    // The operator lists univ-a.fr for this IdP: now it speaks for it.
    let mut domains = passerelle_saml_sp::authority::MailDomains::none();
    domains
        .add(support::respond::IDP, &["univ-a.fr".to_owned()])
        .unwrap();
    let idps: Vec<_> = w.snapshot.idps.iter().map(|i| (**i).clone()).collect();
    w.snapshot = Snapshot::from_idps_with(idps, &domains);
    let listed = w.answer(|r| set_mail(r, "carol@univ-a.fr")).await.unwrap();
    assert_eq!(listed.mail.as_deref(), Some("carol@univ-a.fr"));
}
