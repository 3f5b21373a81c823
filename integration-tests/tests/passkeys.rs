//! Passkeys in a real headless Chromium with WebDriver's virtual authenticator (no real
//! device), on the real binary (`serve`, Redis, SMTP): a user adds a passkey from the
//! account page after a fresh sign-in, signs in with it from the portal through autofill
//! (conditional mediation) without typing an address, and once it is deleted it no
//! longer signs in; every new page passes axe-core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::chromium::{Driver, driver};
use passerelle_integration_tests::deploy::Deployment;
use passerelle_integration_tests::flows;

const EMAIL: &str = "claire.passkey@chu-test.fr";
const PASSWORD: &str = "Cle-D-Acces-42";

async fn password_sign_in(b: &mut Driver, d: &Deployment) {
    b.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Votre adresse email").await;
    b.fill("#email", EMAIL).await;
    b.click("main form[action='/login'] button[type=submit]")
        .await;
    b.wait_for_text("Votre mot de passe").await;
    b.fill("#password", PASSWORD).await;
    b.click("main form[action='/login/password'] button[type=submit]")
        .await;
    b.wait_for_text("Gérer votre compte").await;
}

async fn sign_out(b: &Driver) {
    b.click("main form[action='/logout'] button").await;
    b.wait_for_text("Vous êtes déconnecté").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_added_from_the_account_page_signs_in_through_autofill_until_deleted() {
    let d = Deployment::start(1).await;
    flows::active_by_invitation(&d, EMAIL, PASSWORD, 0).await;
    let mut b = driver().await;
    b.add_virtual_authenticator().await;

    // Add a passkey: the account page, a fresh sign-in, the device's answer.
    password_sign_in(&mut b, &d).await;
    b.click("#passkeys-link").await;
    b.wait_for_text("Aucune clé d'accès").await;
    b.audit().await;
    b.fill("#new-name", "Ordinateur du service").await;
    b.click("#add-passkey-button").await;
    let page = b.wait_for_text("Clé d'accès ajoutée").await;
    assert!(page.contains("Ordinateur du service"), "{page}");
    assert!(
        page.contains("type connu après sa première utilisation"),
        "{page}"
    );
    b.audit().await;

    // Signed out, the portal's button signs in with it — no address typed.
    b.client
        .goto(&format!("{}/account", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Gérer votre compte").await;
    sign_out(&b).await;
    b.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    // The portal asks for a passkey through autofill (conditional mediation) as soon
    // as it opens; the virtual authenticator answers with the one credential it holds.
    let account = b.wait_for_text("Gérer votre compte").await;
    assert!(account.contains(EMAIL), "{account}");
    assert!(
        account.contains("clé d'accès"),
        "signed in by passkey: {account}"
    );

    // Deleted, it no longer signs in (the device still offers it).
    b.client
        .goto(&format!("{}/account/passkeys", d.public_url))
        .await
        .unwrap();
    let listed = b.wait_for_text("Ordinateur du service").await;
    // Used once: its authenticator said it is not synced (the virtual one is not).
    assert!(listed.contains("clé d'accès liée à l'appareil"), "{listed}");
    b.click("#passkeys form[action='/account/passkeys/delete'] button")
        .await;
    b.wait_for_text("Clé supprimée").await;
    b.client
        .goto(&format!("{}/account", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Gérer votre compte").await;
    sign_out(&b).await;
    b.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Clé d'accès refusée").await;
    b.audit().await;
    b.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_with_a_passkey_confirm_the_console_with_it_and_no_longer_with_a_code() {
    const ADMIN: &str = "admin.cle@uness.test";
    let d = Deployment::start_with(
        1,
        &format!("[console]\nstaff = [{{ email = \"{ADMIN}\", role = \"admin\" }}]\n"),
    )
    .await;
    let mails = flows::active_by_invitation(&d, ADMIN, PASSWORD, 0).await;
    let mut b = driver().await;
    b.add_virtual_authenticator().await;

    // First console session: password, then the e-mailed code (no passkey yet); the
    // console asks for a passkey, which is added.
    b.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Votre adresse email").await;
    b.fill("#email", ADMIN).await;
    b.click("main form[action='/login'] button[type=submit]")
        .await;
    b.wait_for_text("Votre mot de passe").await;
    b.fill("#password", PASSWORD).await;
    b.click("main form[action='/login/password'] button[type=submit]")
        .await;
    b.wait_for_text("Gérer votre compte").await;
    b.client
        .goto(&format!("{}/console", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Recevoir un code").await;
    b.click("form[action='/console/code'] button").await;
    b.wait_for_text("Code à 6 chiffres").await;
    let (_, text) = passerelle_integration_tests::smtp_mail(&d.smtp, mails).await;
    b.fill(
        "#code",
        &passerelle_integration_tests::code_in(&text).unwrap(),
    )
    .await;
    b.click("form[action='/console/verify'] button").await;
    b.wait_for_text("Ajoutez une clé d'accès").await;
    b.click("#enrol-passkey a").await;
    b.wait_for_text("Aucune clé d'accès").await;
    b.fill("#new-name", "Clé du support").await;
    b.click("#add-passkey-button").await;
    b.wait_for_text("Clé d'accès ajoutée").await;

    // Next session: the portal signs in with the passkey, the console asks for it again
    // (a fresh check), and the code is refused from now on.
    b.client
        .goto(&format!("{}/account", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Gérer votre compte").await;
    sign_out(&b).await;
    b.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("Gérer votre compte").await;
    b.client
        .goto(&format!("{}/console", d.public_url))
        .await
        .unwrap();
    b.wait_for_text("id=\"passkey-factor-button\"").await;
    b.audit().await;
    let code_status = b
        .client
        .execute(
            "return fetch('/console/code', { method: 'POST', body: new URLSearchParams({ csrf: document.querySelector('input[name=csrf]').value }) }).then(r => r.status);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(code_status, serde_json::json!(409), "the code only enrols");
    b.click("#passkey-factor-button").await;
    let home = b.wait_for_text("Trouver un compte").await;
    assert!(!home.contains("enrol-passkey"), "{home}");
    b.audit().await;
    b.client.close().await.unwrap();
    let config = d.config.display().to_string();
    let (_, export, _) =
        passerelle_integration_tests::cli(&["audit", "export", "--config", &config]);
    assert!(export.contains("admin passkey"), "{export}");
    assert!(export.contains("admin email_code"), "{export}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_passkey_works_on_a_second_profile_and_a_cloned_counter_is_refused() {
    let d = Deployment::start(1).await;
    flows::active_by_invitation(&d, EMAIL, PASSWORD, 0).await;
    let mut first = driver().await;
    let authenticator = first.add_virtual_authenticator().await;
    password_sign_in(&mut first, &d).await;
    first.click("#passkeys-link").await;
    first.wait_for_text("Aucune clé d'accès").await;
    first.fill("#new-name", "Téléphone").await;
    first.click("#add-passkey-button").await;
    first.wait_for_text("Clé d'accès ajoutée").await;
    // Two sign-ins on the first profile: its counter moves on.
    for _ in 0..2 {
        first
            .client
            .goto(&format!("{}/account", d.public_url))
            .await
            .unwrap();
        first.wait_for_text("Gérer votre compte").await;
        sign_out(&first).await;
        first
            .client
            .goto(&format!("{}/login", d.public_url))
            .await
            .unwrap();
        first.wait_for_text("Gérer votre compte").await;
    }
    let held = first.credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let count = held[0]["signCount"].as_u64().unwrap();
    assert!(count >= 2, "{held:?}");
    first.client.close().await.unwrap();

    // A second profile holding the same credential (synced, as a password manager
    // would): it signs in.
    let second = driver().await;
    let other = second.add_virtual_authenticator().await;
    let mut synced = held[0].clone();
    synced["signCount"] = serde_json::json!(count + 100);
    second.add_credential(&other, synced).await;
    second
        .client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    let page = second.wait_for_text("Gérer votre compte").await;
    assert!(page.contains(EMAIL), "{page}");
    second.client.close().await.unwrap();

    // A clone whose counter is behind what the server saw: refused.
    let third = driver().await;
    let clone = third.add_virtual_authenticator().await;
    let mut cloned = held[0].clone();
    cloned["signCount"] = serde_json::json!(1);
    third.add_credential(&clone, cloned).await;
    third
        .client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    third.wait_for_text("Clé d'accès refusée").await;
    third.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_asking_for_mfa_gets_it_from_a_passkey_step_up_and_prompt_login_keeps_asking() {
    use passerelle_integration_tests::OidcApp;
    use passerelle_integration_tests::chromium::app_site;
    use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET};
    const MFA: &str = "https://refeds.org/profile/mfa";

    let d = Deployment::start(1).await;
    flows::active_by_invitation(&d, EMAIL, PASSWORD, 0).await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let _site = app_site(&d.redirect_uri).await;
    let mut b = driver().await;
    b.add_virtual_authenticator().await;
    password_sign_in(&mut b, &d).await;
    b.click("#passkeys-link").await;
    b.wait_for_text("Aucune clé d'accès").await;
    b.fill("#new-name", "Téléphone").await;
    b.click("#add-passkey-button").await;
    b.wait_for_text("Clé d'accès ajoutée").await;

    // Signed in with a password, the app asks for REFEDS MFA: nothing is issued, the
    // step-up page offers the passkey; the passkey meets it.
    b.client
        .goto(
            &app.authorize(serde_json::json!({ "acr_values": MFA }))
                .await,
        )
        .await
        .unwrap();
    b.wait_for_text("Connexion renforcée demandée").await;
    b.audit().await;
    b.click("#passkey-form-button").await;
    let cb = b.wait_for_path("/cb?").await;
    let got = app.callback(cb.as_str()).await;
    assert_eq!(got["claims"]["acr"], MFA, "{got}");
    assert_eq!(
        got["claims"]["amr"],
        serde_json::json!(["pwd", "hwk"]),
        "{got}"
    );

    // prompt=login: a new sign-in, with the same requirement — the portal's passkey
    // (autofill) meets it on its own.
    b.client
        .goto(
            &app.authorize(serde_json::json!({ "acr_values": MFA, "prompt": "login" }))
                .await,
        )
        .await
        .unwrap();
    let cb = b.wait_for_path("/cb?").await;
    let got = app.callback(cb.as_str()).await;
    assert_eq!(got["claims"]["acr"], MFA, "{got}");
    assert_eq!(got["claims"]["amr"], serde_json::json!(["hwk"]), "{got}");
    b.client.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_only_account_recovers_by_email_code_then_a_new_passkey_and_by_reset_link() {
    use passerelle_integration_tests::{Browser, cli, code_in, link_in, smtp_mail};

    let d = Deployment::start(1).await;
    let mails = flows::active_by_invitation(&d, EMAIL, PASSWORD, 0).await;
    let mut b = driver().await;
    b.add_virtual_authenticator().await;
    password_sign_in(&mut b, &d).await;
    b.click("#passkeys-link").await;
    let none = b.wait_for_text("Aucune clé d'accès").await;
    assert!(
        !none.contains("drop-password"),
        "no passkey, no way to drop the password"
    );
    b.fill("#new-name", "Téléphone").await;
    b.click("#add-passkey-button").await;
    b.wait_for_text("Clé d'accès ajoutée").await;
    // With a passkey and a fresh sign-in, the password can go.
    b.click("#drop-password button").await;
    let page = b.wait_for_text("Mot de passe supprimé").await;
    assert!(page.contains("id=\"passkey-only\""), "{page}");
    b.audit().await;
    b.client.close().await.unwrap();

    // The password no longer signs in; the password page offers the passkey instead.
    let mut http = Browser::new(&d.public_url);
    let portal = http.get("/login").await;
    let pw = http
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", EMAIL)],
        )
        .await;
    flows::ok(&pw, 200, "sans mot de passe");
    let refused = http
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);

    // The device is lost: a new browser, no passkey. An e-mailed code signs in (it meets
    // no assurance class), then a new passkey is added: a recovery, recorded.
    let mut lost = driver().await;
    lost.add_virtual_authenticator().await;
    lost.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    lost.wait_for_text("Votre adresse email").await;
    lost.fill("#email", EMAIL).await;
    lost.click("main form[action='/login'] button[type=submit]")
        .await;
    lost.wait_for_text("sans mot de passe").await;
    lost.audit().await;
    lost.click("form[action='/login/code/send'] button").await;
    lost.wait_for_text("Code à 6 chiffres").await;
    let (_, text) = smtp_mail(&d.smtp, mails).await;
    lost.fill("#code", &code_in(&text).unwrap()).await;
    lost.click("main form[action='/login/code'] button[type=submit]")
        .await;
    lost.wait_for_text("Gérer votre compte").await;
    lost.client
        .goto(&format!("{}/account/passkeys", d.public_url))
        .await
        .unwrap();
    lost.wait_for_text("Téléphone").await;
    lost.fill("#new-name", "Nouveau téléphone").await;
    lost.click("#add-passkey-button").await;
    lost.wait_for_text("Clé d'accès ajoutée").await;
    lost.client.close().await.unwrap();

    // Or a password again, through « Mot de passe oublié ? »'s link: recorded too.
    let forgot = http
        .post("/password/forgot", &[("csrf", &refused.field("csrf"))])
        .await;
    assert_eq!(forgot.status, 200, "{}", forgot.body);
    let (_, text) = smtp_mail(&d.smtp, mails + 1).await;
    let done = flows::set_password(&mut http, &link_in(&text).unwrap(), "Nouveau-Mot2passe!").await;
    flows::ok(&done, 200, "réussi");

    let config = d.config.display().to_string();
    let (_, export, _) = cli(&["audit", "export", "--config", &config]);
    assert!(export.contains("password_dropped"), "{export}");
    assert!(export.contains("proof=email_code then=passkey"), "{export}");
    assert!(
        export.contains("proof=email_link then=password"),
        "{export}"
    );
}
