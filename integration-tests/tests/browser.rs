//! The demo in a real headless Chromium (Debian's chromium + chromedriver, driven through
//! WebDriver with fantoccini): a newcomer clicks through the first-login journey — with
//! the university on another site, as in real life, so the cross-site return to the ACS
//! and the session cookie's SameSite=Lax are exercised — and axe-core (npm) checks every
//! page of ours against WCAG 2.1 A/AA. The dev IdP's pages stand for a university's and
//! are not ours to audit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use fantoccini::Locator;
use passerelle_integration_tests::chromium::{Driver, app_site, driver, driver_with};
use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::{
    OidcApp, Passerelle, TempDir, flows, institutions, link_in, next_outbox_mail, smtp_mail,
};
use passerelle_testkit::free_port;

const EMAIL: &str = "alice.martin@etu.univ-lumiere.test";
const PASSWORD: &str = "Navigat3ur-Sur!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_clicks_through_the_first_login_in_chromium_and_every_page_passes_axe() {
    newcomer_journey(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_login_works_with_javascript_off() {
    newcomer_journey(false).await;
}

/// The demo's first login, clicked through; with `javascript`, every page audited and
/// the script-only helps checked.
async fn newcomer_journey(javascript: bool) {
    let port = free_port().unwrap();
    let outbox = TempDir::new("browser-outbox");
    let listen = format!("127.0.0.1:{port}");
    let server = Passerelle::start(
        &[
            "demo",
            "--listen",
            &listen,
            "--outbox",
            outbox.0.to_str().unwrap(),
        ],
        &[],
        port,
    )
    .await;
    let mut d = driver_with(javascript).await;

    d.client
        .goto(&format!("{}/demo-app", server.url))
        .await
        .unwrap();
    d.wait_for_text("Se connecter avec UNESS").await;
    d.audit().await;
    d.click("#sign-in").await;
    d.wait_for_text("Votre adresse email").await;
    d.audit().await;

    // A slip the tutorial warns about: `etu` on the wrong side of the @.
    d.fill("#email", "alice.martin.etu@univ-lumiere.test").await;
    d.click("main form[action='/login'] button[type=submit]")
        .await;
    d.wait_for_text("Vouliez-vous dire").await;
    d.audit().await;
    d.click(".notice form button").await;

    d.wait_for_text("Activez votre compte UNESS").await;
    d.audit().await;
    // Search as you type (discovery.js) finds the other universities too; without
    // script, the search form does.
    d.fill("#q", "littoral").await;
    if !javascript {
        d.click("form[role=search] button[type=submit]").await;
    }
    d.wait_for_text("Université du Littoral").await;
    d.click("ul.institutions button[value*='univ-lumiere']")
        .await;

    // The university (another site: 127.0.0.1 instead of localhost).
    d.wait_for_text("IdP de démonstration").await;
    let idp_url = d.client.current_url().await.unwrap();
    assert_eq!(
        idp_url.host_str(),
        Some("127.0.0.1"),
        "the university is on another site"
    );
    d.fill("#login", "alice").await;
    d.fill("#password", "alice-pw").await;
    d.click("button[type=submit]").await;
    if !javascript {
        // The university's answer page submits itself with script; without, one button.
        d.wait_for_text("Retour vers le service").await;
        d.click("button[type=submit]").await;
    }

    // Back through the cross-site POST to the ACS, then the page saying where the link went.
    d.wait_for_text("Vérifiez votre boîte email").await;
    d.audit().await;
    let (_, text) = next_outbox_mail(&outbox.0, 0).await;
    d.client.goto(&link_in(&text).unwrap()).await.unwrap();
    d.wait_for_text("Continuer").await;
    d.audit().await;
    d.click("main form button[type=submit]").await;
    d.wait_for_text("Créez votre mot de passe UNESS").await;
    d.audit().await;
    // The live checklist ticks as the user types (with script).
    d.fill("#password", PASSWORD).await;
    if javascript {
        let ticked = d
            .client
            .find_all(Locator::Css("#policy li.met"))
            .await
            .unwrap()
            .len();
        let rules = d
            .client
            .find_all(Locator::Css("#policy li"))
            .await
            .unwrap()
            .len();
        assert_eq!(ticked, rules, "every rule is ticked for a good password");
    }
    d.fill("#confirmation", PASSWORD).await;
    d.click("#password-form button[type=submit]").await;
    d.wait_for_text("réussi").await;
    d.audit().await;
    d.click("a.button").await;
    d.wait_for_text("Votre mot de passe UNESS").await;
    d.audit().await;
    d.fill("#password", PASSWORD).await;
    d.click("main form[action='/login/password'] button[type=submit]")
        .await;

    let page = d.wait_for_text("Vous êtes connecté").await;
    assert!(
        page.contains(EMAIL),
        "the app shows the ID token's claims:\n{page}"
    );
    d.audit().await;

    // The account page, and the outbox.
    d.client
        .goto(&format!("{}/account", server.url))
        .await
        .unwrap();
    d.wait_for_text(EMAIL).await;
    d.audit().await;
    // Deleting the account: what it does, and the code that would confirm it.
    d.click("#delete-link").await;
    d.wait_for_text("Supprimer votre compte").await;
    d.audit().await;
    d.click("form[action='/account/delete/code'] button").await;
    d.wait_for_text("Code à 6 chiffres").await;
    d.audit().await;
    d.client
        .goto(&format!("{}/demo/outbox", server.url))
        .await
        .unwrap();
    d.wait_for_text("Boîte d'envoi").await;
    d.audit().await;
    if javascript {
        assert!(d.audited.len() >= 12, "{:?}", d.audited);
    }
    d.client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_on_the_renater_institutions_in_chromium_hides_none_shows_logos_and_passes_axe() {
    let idps = institutions::sample();
    let expected = institutions::matching(&idps, "paris");
    let d = Deployment::start_with_idps(1, "", idps).await;
    let mut js = driver().await;

    // The address two look-alikes speak for: both offered, with the warning.
    js.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    js.wait_for_text("Votre adresse email").await;
    js.fill(
        "#email",
        &format!("camille@{}", institutions::SHARED_DOMAIN),
    )
    .await;
    js.click("main form[action='/login'] button[type=submit]")
        .await;
    js.wait_for_text("Sorbonne Paris Nord (test)").await;
    let warning = js.client.find(Locator::Css("#several")).await.unwrap();
    assert!(warning.text().await.unwrap().contains("Vérifiez"));
    js.audit().await;

    // Search as you type: the first page, how many there are, the way to the rest.
    js.fill("#q", "paris").await;
    js.wait_for_text("id=\"next-page\"").await;
    let count = js
        .client
        .find(Locator::Css("#count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        count.contains(&expected.len().to_string()),
        "the count is said: {count:?}"
    );
    // Logos come from our origin and really load.
    let loaded = js
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#results img'))
                .map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);",
            vec![],
        )
        .await
        .unwrap();
    let loaded = loaded.as_array().unwrap();
    assert!(!loaded.is_empty(), "logos are shown");
    for l in loaded {
        assert!(l[0].as_str().unwrap().starts_with("/logos/"), "{l}");
        assert_eq!(l[1], true, "{l} did not load");
    }
    let domains = js
        .client
        .find_all(Locator::Css("#results .choice-domains"))
        .await
        .unwrap();
    assert!(!domains.is_empty(), "domains are shown");
    js.audit().await;

    // Without JavaScript: the search form and the pages reach every match, once each.
    let plain = driver_with(false).await;
    plain
        .client
        .goto(&format!("{}/activate", d.public_url))
        .await
        .unwrap();
    plain.wait_for_text("Rechercher votre établissement").await;
    plain.fill("#q", "paris").await;
    plain.click("form[role=search] button[type=submit]").await;
    plain.wait_for_path("/activate?q=paris").await;
    let mut seen = Vec::new();
    loop {
        seen.extend(plain.choices("#results button.choice").await);
        let Ok(next) = plain.client.find(Locator::Css("#next-page")).await else {
            break;
        };
        let before = plain.client.current_url().await.unwrap();
        next.click().await.unwrap();
        for _ in 0..100 {
            if plain.client.current_url().await.unwrap() != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen.len() <= expected.len(), "pages never end");
    }
    assert_eq!(seen.len(), expected.len(), "each institution once");
    assert_eq!(
        seen.into_iter().collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    // Choosing one (the test university) is remembered on this device, first next time.
    plain.fill("#q", "test").await;
    plain.click("form[role=search] button[type=submit]").await;
    plain.wait_for_path("/activate?q=test").await;
    plain
        .click("#results button[value='https://idp.univ-test.fr/idp']")
        .await;
    plain.wait_for_text("SAMLRequest").await;
    plain
        .client
        .goto(&format!("{}/activate", d.public_url))
        .await
        .unwrap();
    plain
        .wait_for_text("Votre dernier établissement sur cet appareil")
        .await;
    assert_eq!(
        plain.choices("#last button.choice").await,
        vec!["https://idp.univ-test.fr/idp".to_owned()]
    );
    // A university that knows the person under another address: said plainly first.
    js.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    js.wait_for_text("Votre adresse email").await;
    js.fill("#email", "autre.nom@etu.univ-test.fr").await;
    js.click("main form[action='/login'] button[type=submit]")
        .await;
    js.wait_for_text("Université de Test").await;
    js.click("#matched button[value='https://idp.univ-test.fr/idp']")
        .await;
    js.wait_for_text("id=\"login\"").await;
    js.fill("#login", USER.0).await;
    js.fill("#password", USER.1).await;
    js.click("button[type=submit]").await;
    js.wait_for_text(USER.2).await;
    js.wait_for_text("autre.nom@etu.univ-test.fr").await;
    js.audit().await;
    // And the 404, inside the frame.
    js.client
        .goto(&format!("{}/nulle/part", d.public_url))
        .await
        .unwrap();
    js.wait_for_text("Page introuvable").await;
    js.audit().await;
    plain.client.close().await.unwrap();
    js.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opened_on_a_second_browser_finishes_there_and_the_first_tab_moves_on_by_itself() {
    let d = Deployment::start_with(
        1,
        "[local_auth]\nself_registration_domains = [\"chu-test.fr\"]\n",
    )
    .await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let _app_site = app_site(&d.redirect_uri).await;
    let mut desk = driver().await;
    desk.client
        .goto(&app.authorize(serde_json::json!({})).await)
        .await
        .unwrap();
    desk.wait_for_text("Votre adresse email").await;
    // An address nobody speaks for first: the page says why, with the ways in.
    desk.fill("#email", "quelquun@ailleurs.test").await;
    desk.click("main form[action='/login'] button[type=submit]")
        .await;
    desk.wait_for_text("Pas encore d'accès").await;
    desk.audit().await;
    desk.client
        .goto(&format!("{}/login", d.public_url))
        .await
        .unwrap();
    desk.wait_for_text("Votre adresse email").await;
    let nurse = "infirmier.chef@chu-test.fr";
    desk.fill("#email", nurse).await;
    desk.click("main form[action='/login'] button[type=submit]")
        .await;
    desk.wait_for_text("Créer votre compte").await;
    desk.audit().await;
    desk.click("main form[action='/register'] button[type=submit]")
        .await;
    desk.wait_for_text("Vérifiez votre boîte email").await;
    desk.audit().await;

    // The phone: another browser, its own profile.
    let (_, mail) = smtp_mail(&d.smtp, 0).await;
    let link = link_in(&mail).unwrap();
    let mut phone = driver().await;
    phone.client.goto(&link).await.unwrap();
    phone.wait_for_text("Continuer").await;
    phone.audit().await;
    phone.click("main form button[type=submit]").await;
    phone.wait_for_text("Créez votre mot de passe").await;
    // The show-password toggle, made by the script; the rules say what is missing.
    phone.fill("#password", "court").await;
    let said = phone
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#policy li.unmet .rule-state'))
                .map(s => s.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let said = said.as_array().unwrap();
    assert!(!said.is_empty());
    assert!(
        said.iter()
            .all(|t| t.as_str().unwrap().contains("non respectée")),
        "unmet rules are said in words: {said:?}"
    );
    phone.click("button.reveal[aria-controls=password]").await;
    let shown = phone
        .client
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .attr("type")
        .await
        .unwrap();
    assert_eq!(shown.as_deref(), Some("text"));
    phone.audit().await;
    phone.fill("#password", PASSWORD).await;
    phone.fill("#confirmation", PASSWORD).await;
    phone.click("#password-form button[type=submit]").await;
    phone.wait_for_text("Continuer vers l'application").await;
    phone.audit().await;
    let onward = phone
        .client
        .find(Locator::Css("main a.button"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(onward.starts_with(&d.initiate_login_uri), "{onward}");
    phone.client.goto(&link).await.unwrap();
    phone.wait_for_text("déjà servi").await;
    phone.audit().await;

    // The first tab moved on by itself (waiting.js) to the password sign-in.
    desk.wait_for_path("/login/password").await;
    desk.audit().await;
    desk.fill("#password", PASSWORD).await;
    desk.click("main form[action='/login/password'] button[type=submit]")
        .await;
    let back = desk.wait_for_path("/cb?").await;
    let got = app.callback(back.as_str()).await;
    assert_eq!(got["claims"]["email"], nurse, "{got}");
    app.stop().await;
    phone.client.close().await.unwrap();
    desk.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_passes_axe_and_an_auditor_without_javascript_only_reads() {
    const ADMIN: &str = "admin.console@uness.test";
    const AUDITOR: &str = "audit.console@uness.test";
    let d = Deployment::start_with(
        1,
        &format!(
            "[console]\nstaff = [{{ email = \"{ADMIN}\", role = \"admin\" }}, {{ email = \"{AUDITOR}\", role = \"auditor\" }}]\n"
        ),
    )
    .await;
    let mut mails = flows::active_by_invitation(&d, ADMIN, PASSWORD, 0).await;
    mails = flows::active_by_invitation(&d, AUDITOR, PASSWORD, mails).await;

    async fn console_sign_in(b: &mut Driver, d: &Deployment, email: &str, mails: usize) -> usize {
        b.client
            .goto(&format!("{}/login", d.public_url))
            .await
            .unwrap();
        b.wait_for_text("Votre adresse email").await;
        b.fill("#email", email).await;
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
        b.audit().await;
        b.click("form[action='/console/code'] button").await;
        b.wait_for_text("Code à 6 chiffres").await;
        b.audit().await;
        let (_, text) = smtp_mail(&d.smtp, mails).await;
        b.fill(
            "#code",
            &passerelle_integration_tests::code_in(&text).unwrap(),
        )
        .await;
        b.click("form[action='/console/verify'] button").await;
        b.wait_for_text("Trouver un compte").await;
        b.audit().await;
        mails + 1
    }

    let mut admin = driver().await;
    mails = console_sign_in(&mut admin, &d, ADMIN, mails).await;
    admin.fill("#email", AUDITOR).await;
    admin.click("form[action='/console/accounts'] button").await;
    admin.wait_for_text("Agir sur ce compte").await;
    admin.audit().await;
    admin.click("#change-resend").await;
    admin.fill("#reason", "ticket 7: lien perdu").await;
    admin.click("#confirm").await;
    admin
        .click("form[action='/console/accounts/change'] button[type=submit]")
        .await;
    admin.wait_for_text("Lien envoyé").await;
    admin.audit().await;
    admin
        .client
        .goto(&format!("{}/console/audit", d.public_url))
        .await
        .unwrap();
    admin.wait_for_text("ticket 7: lien perdu").await;
    admin.audit().await;
    mails += 1; // the reset link the resend mailed
    // The service page; an admin rotates a key, with a reason.
    admin
        .client
        .goto(&format!("{}/console/service", d.public_url))
        .await
        .unwrap();
    admin.wait_for_text("Flux de fédération").await;
    admin.audit().await;
    admin.fill("#reason", "ticket 8: rotation annuelle").await;
    admin.click("#confirm").await;
    admin
        .click("form[action='/console/service/rotate'] button[type=submit]")
        .await;
    admin.wait_for_text("Nouvelle clé").await;
    admin.audit().await;
    admin
        .client
        .goto(&format!("{}/console/idps?q=test", d.public_url))
        .await
        .unwrap();
    admin.wait_for_text("Université de Test").await;
    admin.audit().await;
    admin.click("#idps a").await;
    admin.wait_for_text("univ-test.fr").await;
    admin.audit().await;
    admin.click("#linked-accounts").await;
    admin
        .wait_for_text("Comptes liés à Université de Test")
        .await;
    admin.audit().await;
    admin.fill("#institution-q", "test").await;
    admin.click("#find-institution button").await;
    admin.wait_for_text("Établissements correspondants").await;
    admin.audit().await;
    admin
        .client
        .goto(&format!(
            "{}/console/accounts?email=tuteur%40chu-test.fr",
            d.public_url
        ))
        .await
        .unwrap();
    admin.wait_for_text("Inviter cette adresse").await;
    admin.audit().await;

    // The auditor, without JavaScript: the log, and an account page with no action.
    let mut auditor = driver_with(false).await;
    console_sign_in(&mut auditor, &d, AUDITOR, mails).await;
    auditor
        .client
        .goto(&format!("{}/console/audit?action=link_sent", d.public_url))
        .await
        .unwrap();
    auditor.wait_for_text("ticket 7: lien perdu").await;
    auditor
        .client
        .goto(&format!("{}/console/accounts?email={ADMIN}", d.public_url))
        .await
        .unwrap();
    let page = auditor.wait_for_text(ADMIN).await;
    assert!(
        !page.contains("/console/accounts/change"),
        "an auditor gets no action button"
    );
    auditor.client.close().await.unwrap();
    admin.client.close().await.unwrap();
}
