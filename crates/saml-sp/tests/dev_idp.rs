//! The whole SAML round trip through real HTTP handlers: our AuthnRequest to the dev IdP's
//! `/sso`, its login form, its signed response with an encrypted assertion, back through
//! our ACS to an identity. The dev IdP is a separate crate: it does not share our code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use passerelle_dev_idp::{DevIdp, DevIdpConfig, DevUser};
use passerelle_saml_sp::acs::{AcsRequest, AcsSettings, consume};
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_saml_sp::sp::ServiceProvider;
use passerelle_saml_sp::sp::request::LoginOptions;
use passerelle_store::Store;
use passerelle_testkit::redis::redis_url;
use time::OffsetDateTime;
use tower::ServiceExt as _;

const BASE: &str = "http://127.0.0.1:8080/dev-idp";

fn sp(key: &support::sign::TestKey) -> ServiceProvider {
    support::service_provider(key)
}

async fn body_text(response: axum::response::Response) -> String {
    String::from_utf8(
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).unwrap() + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_at_the_dev_idp_and_comes_back_as_an_identity() {
    let sp_key = support::sign::rsa_key();
    let sp = sp(&sp_key);
    let dev = DevIdp::new(DevIdpConfig {
        entity_id: "https://idp.univ-demo.test/idp".into(),
        base_url: BASE.into(),
        name_fr: "Université de démonstration".into(),
        scope: "univ-demo.test".into(),
        users: vec![DevUser {
            otp: None,
            login: "alice".into(),
            password: "alice-pw".into(),
            attributes: vec![
                (
                    "urn:oasis:names:tc:SAML:attribute:subject-id".into(),
                    vec!["alice@univ-demo.test".into()],
                ),
                (
                    "urn:oid:0.9.2342.19200300.100.1.3".into(),
                    vec!["alice.martin@etu.univ-demo.test".into()],
                ),
                ("urn:oid:2.5.4.42".into(), vec!["Alice & <Co>".into()]),
            ],
        }],
        sign_response: true,
        sp_encryption_cert_pem: Some(sp_key.cert_pem.clone()),
        sp_signing_cert_pem: Some(sp_key.cert_pem.clone()),
    })
    .unwrap();
    let idp = parse(&dev.metadata_xml(), ParseOptions::default())
        .unwrap()
        .idps
        .remove(0);
    assert_eq!(
        idp.sso_location(passerelle_saml_sp::metadata::BINDING_REDIRECT),
        Some("http://127.0.0.1:8080/dev-idp/sso")
    );
    let snapshot = Snapshot::from_idps(vec![idp.clone()]);
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &support::unique("devidp")).unwrap();
    let app = dev.router();

    let redirect = sp
        .start_login(
            &store,
            &idp,
            LoginOptions {
                force_authn: false,
                flow: "j1".into(),
                authn_context: Vec::new(),
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let path = redirect.url.strip_prefix(BASE).unwrap();
    // The dev IdP checks our redirect signature with our metadata's certificate, as a
    // university does: a tampered or unsigned request is refused.
    let tampered = path.replace("RelayState=", "RelayState=x");
    let unsigned = path.split("&SigAlg=").next().unwrap().to_owned();
    for bad in [&tampered, &unsigned] {
        let r = app
            .clone()
            .oneshot(Request::get(bad.as_str()).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let form = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let form = body_text(form).await;
    assert!(form.contains("<label for=\"password\">"), "{form}");

    let login = |password: &str| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("login", "alice")
            .append_pair("password", password)
            .append_pair("SAMLRequest", &hidden(&form, "SAMLRequest"))
            .append_pair("RelayState", &hidden(&form, "RelayState"))
            .finish();
        Request::post("/sso/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let refused = app.clone().oneshot(login("wrong")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let answer = app.clone().oneshot(login("alice-pw")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page = body_text(answer).await;
    assert!(
        page.contains(r#"action="https://login.uness.fr/saml/acs""#),
        "{page}"
    );
    let input = AcsRequest {
        saml_response: &hidden(&page, "SAMLResponse"),
        relay_state: Some(&hidden(&page, "RelayState")),
    };
    let id = consume(
        &sp,
        &snapshot,
        &store,
        input,
        &AcsSettings::default(),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(id.subject, "alice@univ-demo.test");
    assert_eq!(id.mail.as_deref(), Some("alice.martin@etu.univ-demo.test"));
    assert_eq!(id.given_name.as_deref(), Some("Alice & <Co>"));
    assert_eq!(id.flow, "j1");
}
