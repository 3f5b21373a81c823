//! A university speaks only for its own addresses, and its word links an identity only
//! in the browser that did the sign-in — on the real binary (`serve`, real Redis, real
//! SMTP, the dev IdP as one university, pysaml2's address as another's).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use passerelle_integration_tests::deploy::{Deployment, MALLORY, USER};
use passerelle_integration_tests::flows::{
    activate, activate_as, ok, set_password, through_university,
};
use passerelle_integration_tests::{Browser, cli, link_in, smtp_mail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_asserting_another_universitys_address_creates_links_and_mails_nothing() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    // Mallory signs in at Université de Test, which asserts camille@…pysaml2.test.
    let refused = activate_as(
        &mut b,
        &portal,
        "mallory@univ-test.fr",
        (MALLORY.0, MALLORY.1),
    )
    .await;
    ok(&refused, 422, "Adresse non reconnue pour cet établissement");
    ok(&refused, 422, MALLORY.2);
    ok(&refused, 422, "Université de Test");
    // Nothing was created, linked or sent.
    let (found, _, stderr) = cli(&["accounts", "show", MALLORY.2, "--config", &config]);
    assert!(!found && stderr.contains("no account"), "{stderr}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        d.smtp.messages().len(),
        0,
        "no mail to the other university's user"
    );
    // The operator sees why, with the IdP.
    let log = d.instances[0].log();
    assert!(
        log.contains("mail_outside_authority") && log.contains("idp.univ-test.fr"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opened_in_another_browser_sets_a_password_but_links_no_university_identity() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    // The university sign-in happens in one browser…
    let mut laptop = Browser::new(&d.public_url);
    let portal = laptop.get("/login").await;
    ok(&activate(&mut laptop, &portal).await, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    assert!(
        text.contains("Université de Test a confirmé"),
        "the mail names who asked: {text}"
    );
    // …the link is opened in another one (a phone): a password, no university link.
    let mut phone = Browser::new(&d.public_url);
    ok(
        &set_password(&mut phone, &link_in(&text).unwrap(), "Premier-Mot2passe").await,
        200,
        "réussi",
    );
    let (_, shown, stderr) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(
        shown.contains("status\tActive") && shown.contains("university\t-\n"),
        "{shown}{stderr}"
    );

    // Signing in with the university again, and opening that link in the same browser,
    // links the identity and signs in: nothing more to set.
    // (An active account: « Se connecter avec mon université » from the institution list.)
    let mut desk = Browser::new(&d.public_url);
    let select = desk.get("/activate?q=test").await;
    ok(
        &through_university(&mut desk, &select, (USER.0, USER.1)).await,
        200,
        USER.2,
    );
    let (_, text) = smtp_mail(&d.smtp, 1).await;
    let link = link_in(&text).unwrap();
    let confirm = desk.get(&link).await;
    let signed_in = desk.post(&link, &[("csrf", &confirm.field("csrf"))]).await;
    ok(&signed_in, 200, "Gérer votre compte UNESS");
    let (_, shown, _) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(
        shown.contains("university\thttps://idp.univ-test.fr/idp"),
        "{shown}"
    );
    // From now on the university sign-in is a sign-in, without mail.
    let mut kiosk = Browser::new(&d.public_url);
    let select = kiosk.get("/activate?q=test").await;
    let page = through_university(&mut kiosk, &select, (USER.0, USER.1)).await;
    ok(&page, 200, "Gérer votre compte UNESS");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(d.smtp.messages().len(), 2);
}
