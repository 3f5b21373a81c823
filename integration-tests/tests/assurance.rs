//! Assurance on the real binary (`serve`, Redis, SMTP), with openid-client (npm) as an
//! app that asks for REFEDS MFA (`acr_values`) and checks the `acr` it gets:
//! - the dev IdP asked for MFA (`RequestedAuthnContext`) asks for its one-time code and
//!   answers MFA: the app gets `acr` = REFEDS MFA; a user without a second factor is
//!   answered password-only: the page says so and no code is issued;
//! - pysaml2 (PyPI) answering with and without the MFA class: the same two outcomes;
//! - a password sign-in meets SFA, not MFA: the step-up page, and going back gives the
//!   app `unmet_authentication_requirements`; `prompt=none` gets `interaction_required`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Read as _;

use base64::Engine as _;
use passerelle_integration_tests::deploy::{
    CLIENT_ID, CLIENT_SECRET, Deployment, NO_MFA_USER, PYSAML2_IDP, PYSAML2_MAIL, USER, USER_OTP,
};
use passerelle_integration_tests::flows::{
    activate, back_to_app, ok, set_password, through_university,
};
use passerelle_integration_tests::{Browser, OidcApp, link_in, smtp_mail};
use serde_json::json;

const MFA: &str = "https://refeds.org/profile/mfa";
const SFA: &str = "https://refeds.org/profile/sfa";
const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const PASSWORD: &str = "Mot-De-Passe-Fort-42";

/// The AuthnRequest XML in an HTTP-Redirect `SAMLRequest` value.
fn inflate(saml_request: &str) -> String {
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(saml_request)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

/// A deployment where Alice's account was activated through her university (nothing
/// asked then), and a new browser the app sent to the portal asking for REFEDS MFA.
async fn alice_asked_for_mfa() -> (
    Deployment,
    OidcApp,
    Browser,
    passerelle_integration_tests::Page,
) {
    let d = Deployment::start(1).await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    ok(&activate(&mut b, &portal).await, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b
        .get(&app.authorize(json!({ "acr_values": MFA })).await)
        .await;
    (d, app, b, portal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_university_asked_for_mfa_that_confirms_it_gives_acr_mfa_one_that_does_not_gives_a_page()
{
    let (d, mut app, mut b, portal) = alice_asked_for_mfa().await;
    // The portal says a password will not do.
    ok(&portal, 200, "connexion renforcée");
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    ok(&pw, 200, "Votre mot de passe");
    // « Se connecter avec mon université »: the request asks the IdP for MFA, exactly.
    let select = b.get("/activate").await;
    let start = select.choices().into_iter().next().unwrap();
    let form = b.get(&start).await;
    ok(&form, 200, "Code à usage unique");
    let request = inflate(&form.field("SAMLRequest"));
    assert!(
        request.contains(&format!(
            r#"<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>{MFA}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#
        )),
        "{request}"
    );
    let action = form.form_action("SAMLRequest");
    let (request, relay) = (form.field("SAMLRequest"), form.field("RelayState"));
    let login = |otp: &'static str| {
        [
            ("SAMLRequest", request.clone()),
            ("RelayState", relay.clone()),
            ("login", USER.0.to_owned()),
            ("password", USER.1.to_owned()),
            ("otp", otp.to_owned()),
        ]
    };
    let wrong = login("000000");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong = b.post(&action, &wrong).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let right = login(USER_OTP);
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = b.post(&action, &right).await;
    ok(&answer, 200, "SAMLResponse");
    let back = b
        .post(
            &answer.form_action("SAMLResponse"),
            &[
                ("SAMLResponse", &answer.field("SAMLResponse")),
                ("RelayState", &answer.field("RelayState")),
            ],
        )
        .await;
    let got = app.callback(&back_to_app(&back, &d.redirect_uri)).await;
    assert_eq!(got["claims"]["acr"], MFA, "{got}");
    assert_eq!(got["claims"]["amr"], json!(["fed"]), "{got}");
    assert_eq!(got["claims"]["email"], USER.2, "{got}");

    // Bruno's university has no second factor for him and answers password-only: the
    // page says so, no code reaches the app.
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b
        .get(&app.authorize(json!({ "acr_values": MFA })).await)
        .await;
    let select = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", NO_MFA_USER.2)],
        )
        .await;
    ok(&select, 200, "Université de Test");
    let refused = through_university(&mut b, &select, (NO_MFA_USER.0, NO_MFA_USER.1)).await;
    ok(&refused, 403, "n'a pas confirmé une authentification forte");
    assert!(refused.location.is_none());
    // The refusal is logged with its reason, and nothing else was sent.
    assert!(d.instances[0].log().contains("authn_context_not_met"));
    assert_eq!(
        d.smtp
            .wait_for(1, std::time::Duration::from_millis(10))
            .await
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_meets_sfa_not_mfa_the_step_up_page_and_going_back_is_unmet() {
    let (d, mut app, mut b, portal) = alice_asked_for_mfa().await;
    b.post(
        "/login",
        &[("csrf", &portal.field("csrf")), ("email", USER.2)],
    )
    .await;
    let pw = b.get("/login/password").await;
    let step_up = b
        .post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    ok(&step_up, 200, "Connexion renforcée demandée");
    // Alice has no passkey; her university can be asked for MFA.
    assert!(
        step_up.body.contains("id=\"step-up-university\""),
        "{}",
        step_up.body
    );
    assert!(!step_up.body.contains("passkey-form"), "{}", step_up.body);
    // No CSRF token: refused, the request still waits.
    let forged = b.post_once("/login/step-up/cancel", &[]).await;
    assert_eq!(forged.status, 403);
    let back = b
        .post_once("/login/step-up/cancel", &[("csrf", &step_up.field("csrf"))])
        .await;
    let got = app.callback(&back_to_app(&back, &d.redirect_uri)).await;
    assert_eq!(got["code"], "unmet_authentication_requirements", "{got}");

    // Still signed in with a password: prompt=none cannot step up.
    let silent = b
        .get_once(
            &app.authorize(json!({ "acr_values": MFA, "prompt": "none" }))
                .await,
        )
        .await;
    let got = app.callback(&back_to_app(&silent, &d.redirect_uri)).await;
    assert_eq!(got["code"], "interaction_required", "{got}");
    // Nothing asked: the app is told what the password met.
    let plain = b.get_once(&app.authorize(json!({})).await).await;
    let got = app.callback(&back_to_app(&plain, &d.redirect_uri)).await;
    assert_eq!(got["claims"]["acr"], SFA, "{got}");
    assert_eq!(got["claims"]["amr"], json!(["pwd"]), "{got}");
    app.stop().await;
}

/// pysaml2 answers the AuthnRequest `start` sends the browser to, asserting `class_ref`.
async fn pysaml2_answers(
    b: &mut Browser,
    d: &Deployment,
    start: &str,
    class_ref: &str,
) -> (String, String) {
    let to_idp = b.get_once(start).await;
    assert_eq!(to_idp.status, 303, "{}", to_idp.body);
    let location = url::Url::parse(to_idp.location.as_deref().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{PYSAML2_IDP}/sso?"))
    );
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    let request = inflate(&query["SAMLRequest"]);
    let id = request
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let metadata = b.get(&format!("{}/saml/metadata", d.public_url)).await;
    let sp_metadata = d.config.with_file_name("sp-metadata.xml");
    std::fs::write(&sp_metadata, &metadata.body).unwrap();
    let target = passerelle_integration_tests::workspace().join("target");
    let python = passerelle_testkit::python::pysaml2(&target).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(&python)
        .arg(passerelle_integration_tests::workspace().join("crates/saml-sp/tests/pysaml2/idp.py"))
        .arg(&sp_metadata)
        .arg(&d.pysaml2_keys.0)
        .arg(&d.pysaml2_keys.1)
        .arg(&id)
        .arg("enc-aes128-gcm")
        .arg(format!("{}/saml/metadata", d.public_url))
        .arg(format!("{}/saml/acs", d.public_url))
        .arg(class_ref)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pysaml2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        query["RelayState"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_answering_with_refeds_mfa_gives_acr_mfa_and_without_it_a_page_and_no_code() {
    let d = Deployment::start(1).await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;

    // Camille's account, activated through pysaml2 (nothing asked).
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let select = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", PYSAML2_MAIL)],
        )
        .await;
    let start = select
        .choices()
        .into_iter()
        .find(|l| l.contains("pysaml2"))
        .unwrap();
    let (response, relay) = pysaml2_answers(&mut b, &d, &start, PPT).await;
    let sent = b
        .post(
            "/saml/acs",
            &[("SAMLResponse", &response), ("RelayState", &relay)],
        )
        .await;
    ok(&sent, 200, PYSAML2_MAIL);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );

    // The app asks for MFA; pysaml2 answers password-only: refused, said, no code.
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b
        .get(&app.authorize(json!({ "acr_values": MFA })).await)
        .await;
    b.post(
        "/login",
        &[("csrf", &portal.field("csrf")), ("email", PYSAML2_MAIL)],
    )
    .await;
    let select = b.get("/activate").await;
    let start = select
        .choices()
        .into_iter()
        .find(|l| l.contains("pysaml2"))
        .unwrap();
    let (response, relay) = pysaml2_answers(&mut b, &d, &start, PPT).await;
    let refused = b
        .post(
            "/saml/acs",
            &[("SAMLResponse", &response), ("RelayState", &relay)],
        )
        .await;
    ok(&refused, 403, "n'a pas confirmé une authentification forte");

    // Again, pysaml2 answers with REFEDS MFA: the app gets it.
    let (response, relay) = pysaml2_answers(&mut b, &d, &start, MFA).await;
    let back = b
        .post(
            "/saml/acs",
            &[("SAMLResponse", &response), ("RelayState", &relay)],
        )
        .await;
    let got = app.callback(&back_to_app(&back, &d.redirect_uri)).await;
    assert_eq!(got["claims"]["acr"], MFA, "{got}");
    assert_eq!(got["claims"]["email"], PYSAML2_MAIL, "{got}");
    app.stop().await;
}
