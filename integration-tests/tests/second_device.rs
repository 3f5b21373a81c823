//! The link opened on another device, on the real binary (`serve`, Redis, SMTP,
//! openid-client as the app): the phone finishes the account and is sent on to the app
//! (its `initiate_login_uri` with `iss`, OIDC Core §4); the tab left on « lien envoyé »
//! learns the account is active and continues to the password sign-in, which answers the
//! app; the used link says the account is active and offers to sign in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment};
use passerelle_integration_tests::flows::{ok, password_to_app, set_password};
use passerelle_integration_tests::{Browser, OidcApp, link_in, smtp_mail};
use serde_json::json;

const PASSWORD: &str = "Telephone-2-poche";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opened_on_the_phone_continues_to_the_app_there_and_the_first_tab_moves_on() {
    let d = Deployment::start_with(
        1,
        "[local_auth]\nself_registration_domains = [\"chu-test.fr\"]\n",
    )
    .await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let mut desk = Browser::new(&d.public_url);
    desk.stop_at = Some(d.redirect_uri.clone());
    let portal = desk.get(&app.authorize(json!({})).await).await;
    let nurse = "aide.soignante@chu-test.fr";
    let open = desk
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", nurse)],
        )
        .await;
    ok(&open, 200, "Créer votre compte UNESS");
    let sent = desk
        .post("/register", &[("csrf", &open.field("csrf"))])
        .await;
    ok(&sent, 200, "Vérifiez votre boîte email");
    ok(&sent, 200, "autre appareil");
    assert!(
        sent.body.contains("href=\"/login/continue\""),
        "a way on without script"
    );

    // Before the link is used, the tab is told so, and stays.
    let status = desk.get_once("/login/status").await;
    assert_eq!(status.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&status.body).unwrap(),
        json!({ "active": false })
    );
    ok(&desk.get("/login/continue").await, 200, "pas encore actif");

    // The phone: another browser, no app waiting there.
    let (_, mail) = smtp_mail(&d.smtp, 0).await;
    let link = link_in(&mail).unwrap();
    let mut phone = Browser::new(&d.public_url);
    let done = set_password(&mut phone, &link, PASSWORD).await;
    ok(&done, 200, "réussi");
    ok(&done, 200, "Application de test");
    let iss: String = url::form_urlencoded::byte_serialize(d.public_url.as_bytes()).collect();
    let onward = format!("{}?iss={iss}", d.initiate_login_uri);
    assert!(
        done.links().contains(&onward),
        "the phone continues to the app's initiate_login_uri: {}",
        done.body
    );
    // The link again (a second tap, the first device): used, the account is active.
    let again = phone.get(&link).await;
    ok(&again, 410, "déjà servi");
    ok(&again, 410, "actif");
    assert!(again.links().contains(&"/login".to_owned()));

    // The first tab moves on to the password sign-in, which answers the app.
    let status = desk.get_once("/login/status").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&status.body).unwrap(),
        json!({ "active": true })
    );
    let moved = desk.get_once("/login/continue").await;
    assert_eq!(
        (moved.status, moved.location.as_deref()),
        (303, Some("/login/password"))
    );
    let cb = password_to_app(&mut desk, PASSWORD, &d.redirect_uri).await;
    let got = app.callback(&cb).await;
    assert_eq!(got["claims"]["email"], nurse, "{got}");
    assert_eq!(got["claims"]["account_kind"], "self_registered", "{got}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_university_sign_in_on_an_active_account_is_called_a_sign_in() {
    let d = Deployment::start(1).await;
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let pending = b
        .post(
            "/login",
            &[
                ("csrf", &portal.field("csrf")),
                ("email", passerelle_integration_tests::deploy::USER.2),
            ],
        )
        .await;
    ok(&pending, 200, "Activez votre compte UNESS");
    let (login, password, address) = passerelle_integration_tests::deploy::USER;
    let _ = passerelle_integration_tests::flows::through_university(
        &mut b,
        &pending,
        (login, password),
    )
    .await;
    let (_, mail) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut b, &link_in(&mail).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );
    let mut later = Browser::new(&d.public_url);
    let portal = later.get("/login").await;
    let _ = later
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", address)],
        )
        .await;
    let select = later.get("/activate").await;
    ok(&select, 200, "Connectez-vous avec votre établissement");
    assert!(
        !select.text().contains("Activez votre compte"),
        "{}",
        select.body
    );
}
