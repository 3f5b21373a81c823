//! The demo binary, black box: a newcomer's first login from the demo app through a demo
//! university to the app's page with the ID token claims, then the later logins
//! (password, e-mail code) and logout — every step over real HTTP, mail read from the
//! outbox the demo writes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::flows::ok as assert_page;
use passerelle_integration_tests::{
    Browser, Page, Passerelle, TempDir, code_in, link_in, next_outbox_mail,
};
use passerelle_testkit::free_port;

const ALICE: &str = "alice.martin@etu.univ-lumiere.test";
const NEW_PASSWORD: &str = "Sant3-Publique!";

struct Demo {
    server: Passerelle,
    outbox: TempDir,
}

async fn demo() -> Demo {
    let port = free_port().unwrap();
    let outbox = TempDir::new("outbox");
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
    Demo { server, outbox }
}

/// Portal → institution → dev IdP → ACS → "link sent" page. Returns that page.
async fn activate_through_university(b: &mut Browser, email: &str, login: &str) -> Page {
    let portal = b.get("/demo-app/login").await;
    assert_page(&portal, 200, "Votre adresse email");
    assert!(
        portal.body.contains("Application de démonstration"),
        "the portal names the app"
    );
    let csrf = portal.field("csrf");
    let select = b.post("/login", &[("csrf", &csrf), ("email", email)]).await;
    assert_page(&select, 200, "Activez votre compte UNESS");
    let start = select
        .choices()
        .into_iter()
        .next()
        .expect("the institution matching the address is offered");
    assert!(select.body.contains("Université Lumière (démo)"));
    let idp_form = b.get(&start).await;
    assert_page(&idp_form, 200, "IdP de démonstration");
    let action = idp_form.form_action("SAMLRequest");
    let answer = b
        .post(
            &action,
            &[
                ("SAMLRequest", &idp_form.field("SAMLRequest")),
                ("RelayState", &idp_form.field("RelayState")),
                ("login", login),
                ("password", &format!("{login}-pw")),
            ],
        )
        .await;
    assert_page(&answer, 200, "SAMLResponse");
    let acs = answer.form_action("SAMLResponse");
    assert!(acs.ends_with("/saml/acs"), "{acs}");
    b.post(
        &acs,
        &[
            ("SAMLResponse", &answer.field("SAMLResponse")),
            ("RelayState", &answer.field("RelayState")),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_activates_through_the_university_and_reaches_the_app() {
    let d = demo().await;
    let mut b = Browser::new(&d.server.url);

    let sent = activate_through_university(&mut b, ALICE, "alice").await;
    assert_page(&sent, 200, "Vérifiez votre boîte email");
    assert!(
        sent.body.contains(ALICE),
        "the page shows where the link went"
    );

    let (to, text) = next_outbox_mail(&d.outbox.0, 0).await;
    assert_eq!(to, ALICE);
    let link = link_in(&text).expect("an activation link");
    // A GET (what a mail scanner does) consumes nothing.
    let confirm = b.get(&link).await;
    assert_page(&confirm, 200, "Continuer");
    let confirm = b.get(&link).await;
    let form = b.post(&link, &[("csrf", &confirm.field("csrf"))]).await;
    assert_page(&form, 200, "Créez votre mot de passe UNESS");
    assert!(
        form.body.contains("data-rule=\"special\""),
        "the policy checklist is shown"
    );

    // The server's policy check is the authority.
    let weak = b
        .post(
            "/password/new",
            &[
                ("csrf", &form.field("csrf")),
                ("password", "court"),
                ("confirmation", "court"),
            ],
        )
        .await;
    assert_page(&weak, 422, "ne respecte pas");
    assert!(weak.body.contains("class=\"unmet\""));
    let done = b
        .post(
            "/password/new",
            &[
                ("csrf", &form.field("csrf")),
                ("password", NEW_PASSWORD),
                ("confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_page(&done, 200, "Changement de votre mot de passe UNESS réussi");

    // « Se connecter »: the pending authorization resumes with the address pre-filled.
    let password = b.get("/login/password").await;
    assert_page(&password, 200, ALICE);
    let app = b
        .post(
            "/login/password",
            &[
                ("csrf", &password.field("csrf")),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_page(&app, 200, "Vous êtes connecté");
    assert!(
        app.text().contains(&format!("\"email\": \"{ALICE}\"")),
        "{}",
        app.body
    );
    assert!(app.text().contains("\"pwd\""), "amr says how: {}", app.body);

    // The link cannot be used twice.
    let again = b.get(&link).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(
        again.text().contains("déjà servi") && again.text().contains("actif"),
        "a used link says the account is active: {}",
        again.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_logins_work_by_password_and_by_emailed_code_and_logout_ends_the_session() {
    let d = demo_with_alice().await;

    // A fresh browser: password login, a wrong password first.
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/demo-app/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", ALICE)],
        )
        .await;
    assert_page(&pw, 200, "Votre mot de passe UNESS");
    let wrong = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", "Nope-123!")],
        )
        .await;
    assert_page(&wrong, 401, "incorrect");
    let app = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_page(&app, 200, "Vous êtes connecté");

    // Signed in: the next authorization needs no login at all.
    let again = b.get("/demo-app/login").await;
    assert_page(&again, 200, "Vous êtes connecté");

    // Logout from the app (id_token_hint) ends the session, then returns to the app.
    let logout = app
        .links()
        .into_iter()
        .find(|l| l.starts_with("/logout?"))
        .expect("logout link");
    let back = b.get(&logout).await;
    assert_page(&back, 200, "Se connecter avec UNESS");
    let account = b.get("/account").await;
    assert_page(&account, 200, "Votre adresse email");

    // A fresh browser: the e-mail code.
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/demo-app/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", ALICE)],
        )
        .await;
    let seen = std::fs::read_dir(&d.outbox.0).unwrap().count();
    let code_page = b
        .post("/login/code/send", &[("csrf", &pw.field("csrf"))])
        .await;
    assert_page(&code_page, 200, "Code à 6 chiffres");
    let (_, text) = next_outbox_mail(&d.outbox.0, seen).await;
    let code = code_in(&text).expect("a 6-digit code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let bad = b
        .post(
            "/login/code",
            &[("csrf", &code_page.field("csrf")), ("code", wrong)],
        )
        .await;
    assert_page(&bad, 401, "Code incorrect");
    let app = b
        .post(
            "/login/code",
            &[("csrf", &code_page.field("csrf")), ("code", &code)],
        )
        .await;
    assert_page(&app, 200, "Vous êtes connecté");
    assert!(app.text().contains("\"otp\""), "amr says how: {}", app.body);
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_forms_and_bad_requests_get_pages_not_crashes() {
    let d = demo().await;
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/login").await;
    assert_page(&portal, 200, "Votre adresse email");
    // No CSRF token, a wrong one, another origin.
    let p = b.post("/login", &[("email", ALICE)]).await;
    assert_page(&p, 403, "Formulaire expiré");
    let p = b
        .post("/login", &[("csrf", "forged"), ("email", ALICE)])
        .await;
    assert_eq!(p.status, 403);
    // Another site's Origin is refused even with the right token; `Origin: null` (what
    // browsers send under some referrer policies) leaves the token to decide.
    let csrf = portal.field("csrf");
    let p = b
        .post_with(
            "/login",
            &[("csrf", &csrf), ("email", ALICE)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(p.status, 403);
    let p = b
        .post_with(
            "/login",
            &[("csrf", &csrf), ("email", ALICE)],
            &[("origin", "null")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b
        .post_with(
            "/login",
            &[("csrf", &csrf), ("email", ALICE)],
            &[("origin", &d.server.url)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    // A malformed address is shown again with the error tied to the field.
    let p = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", "not an address")],
        )
        .await;
    assert_page(&p, 422, "aria-invalid=\"true\"");
    // An authorization request from an unknown client is a page, never a redirect.
    let p = b.get("/authorize?client_id=nobody&redirect_uri=https://evil.example/cb&response_type=code&scope=openid").await;
    assert_page(&p, 400, "Demande de connexion invalide");
    // A forged SAML response is refused with a page.
    let p = b
        .post(
            "/saml/acs",
            &[
                ("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlLz4="),
                ("RelayState", "x"),
            ],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    // Unknown link, unknown flow, unknown IdP.
    assert_eq!(
        b.get("/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status,
        410
    );
    assert_eq!(b.get("/saml/continue?flow=nope").await.status, 400);
    assert_eq!(
        b.get("/saml/login?idp=https://nowhere.example/idp")
            .await
            .status,
        404
    );
    // Security headers on every page.
    let p = b.get("/login").await;
    assert!(p.headers["content-security-policy"].contains("frame-ancestors 'none'"));
    assert_eq!(p.headers["cache-control"], "no-store");
    // Not `no-referrer`: browsers then send `Origin: null` on our own forms.
    assert_eq!(p.headers["referrer-policy"], "same-origin");
    assert!(b.cookies.keys().any(|k| k == "__Host-passerelle"));
    d.server.stop().await;
}

async fn signed_in_browser(d: &Demo) -> Browser {
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", ALICE)],
        )
        .await;
    let account = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_page(&account, 200, "Gérer votre compte UNESS");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_the_sessions_of_every_browser() {
    let d = demo_with_alice().await;

    let mut laptop = signed_in_browser(&d).await;
    let mut phone = signed_in_browser(&d).await;
    assert_page(&phone.get("/account").await, 200, ALICE);
    let page = laptop.get("/account").await;
    let bye = laptop
        .post(
            "/account/logout-everywhere",
            &[("csrf", &page.field("csrf"))],
        )
        .await;
    assert_page(&bye, 200, "tous vos appareils");
    // The phone's session is over too; a new sign-in works again.
    assert_page(&phone.get("/account").await, 200, "Votre adresse email");
    let mut again = signed_in_browser(&d).await;
    assert_page(&again.get("/account").await, 200, ALICE);
    d.server.stop().await;
}

/// A demo where alice has activated her account with `NEW_PASSWORD`.
async fn demo_with_alice() -> Demo {
    let d = demo().await;
    let mut b = Browser::new(&d.server.url);
    activate_through_university(&mut b, ALICE, "alice").await;
    let (_, text) = next_outbox_mail(&d.outbox.0, 0).await;
    let link = link_in(&text).unwrap();
    let confirm = b.get(&link).await;
    let form = b.post(&link, &[("csrf", &confirm.field("csrf"))]).await;
    let done = b
        .post(
            "/password/new",
            &[
                ("csrf", &form.field("csrf")),
                ("password", NEW_PASSWORD),
                ("confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_page(&done, 200, "réussi");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_account_signs_in_with_its_university_and_changes_its_password() {
    let d = demo_with_alice().await;
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/demo-app/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", ALICE)],
        )
        .await;
    assert!(
        pw.links().contains(&"/activate".to_owned()),
        "« Se connecter avec mon université » is offered"
    );
    let select = b.get("/activate").await;
    let start = select
        .choices()
        .into_iter()
        .find(|l| l.contains("univ-lumiere"))
        .unwrap();
    let form = b.get(&start).await;
    let answer = b
        .post(
            &form.form_action("SAMLRequest"),
            &[
                ("SAMLRequest", &form.field("SAMLRequest")),
                ("RelayState", &form.field("RelayState")),
                ("login", "alice"),
                ("password", "alice-pw"),
            ],
        )
        .await;
    let app = b
        .post(
            &answer.form_action("SAMLResponse"),
            &[
                ("SAMLResponse", &answer.field("SAMLResponse")),
                ("RelayState", &answer.field("RelayState")),
            ],
        )
        .await;
    assert_page(&app, 200, "Vous êtes connecté");
    assert!(
        app.text().contains("\"fed\""),
        "amr says the university: {}",
        app.body
    );

    // The account page: change the password (the current one is required).
    let account = b.get("/account").await;
    assert_page(&account, 200, "Université Lumière (démo)");
    let form = b
        .post("/account/password", &[("csrf", &account.field("csrf"))])
        .await;
    assert_page(&form, 200, "Mot de passe actuel");
    let wrong = b
        .post(
            "/account/password",
            &[
                ("csrf", &form.field("csrf")),
                ("current", "Pas-Le-Bon1!"),
                ("password", "Nouveau-Mot2!"),
                ("confirmation", "Nouveau-Mot2!"),
            ],
        )
        .await;
    assert_page(&wrong, 401, "actuel est incorrect");
    let changed = b
        .post(
            "/account/password",
            &[
                ("csrf", &form.field("csrf")),
                ("current", NEW_PASSWORD),
                ("password", "Nouveau-Mot2!"),
                ("confirmation", "Nouveau-Mot2!"),
            ],
        )
        .await;
    assert_page(&changed, 200, "a été changé");

    let metrics = b.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains(r#"passerelle_logins_total{method="fed",outcome="success"} 1"#),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(
            "passerelle_http_requests_total{route=\"/saml/acs\",method=\"POST\",status=\"303\"}"
        ),
        "{}",
        metrics.body
    );
    // The demo federation was confirmed at start: its age is known (not -1).
    let age = metrics
        .body
        .lines()
        .find(|l| l.starts_with("passerelle_federation_age_seconds{feed=\"demo\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<i64>().ok());
    assert!(age.is_some_and(|a| a >= 0), "{}", metrics.body);
    d.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_codes_too_often_says_when_to_try_again() {
    let d = demo_with_alice().await;
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", ALICE)],
        )
        .await;
    let csrf = pw.field("csrf");
    // Five codes per quarter of an hour by default; the sixth is refused with a delay.
    for _ in 0..5 {
        assert_page(
            &b.post("/login/code/send", &[("csrf", &csrf)]).await,
            200,
            "Code à 6 chiffres",
        );
    }
    let refused = b.post("/login/code/send", &[("csrf", &csrf)]).await;
    assert_page(&refused, 429, "Réessayez dans");
    d.server.stop().await;
}

const BRUNO: &str = "bruno.petit@etu.univ-lumiere.test";

/// Activates `email` (dev IdP login `login`) with `NEW_PASSWORD`; `seen` mails are in the
/// outbox before.
async fn activate(d: &Demo, email: &str, login: &str, seen: usize) {
    let mut b = Browser::new(&d.server.url);
    activate_through_university(&mut b, email, login).await;
    let (to, text) = next_outbox_mail(&d.outbox.0, seen).await;
    assert_eq!(to, email);
    let link = link_in(&text).unwrap();
    let confirm = b.get(&link).await;
    let form = b.post(&link, &[("csrf", &confirm.field("csrf"))]).await;
    let done = b
        .post(
            "/password/new",
            &[
                ("csrf", &form.field("csrf")),
                ("password", NEW_PASSWORD),
                ("confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_page(&done, 200, "réussi");
}

/// Signs `email` in from the demo app; returns the browser and the ID token the app got.
async fn signed_in_to_the_app(d: &Demo, email: &str) -> (Browser, String) {
    let mut b = Browser::new(&d.server.url);
    let portal = b.get("/demo-app/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", email)],
        )
        .await;
    let app = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_page(&app, 200, "Vous êtes connecté");
    let logout = app
        .links()
        .into_iter()
        .find(|l| l.starts_with("/logout?"))
        .expect("logout link");
    let id_token = url::form_urlencoded::parse(logout.trim_start_matches("/logout?").as_bytes())
        .find(|(k, _)| k == "id_token_hint")
        .map(|(_, v)| v.into_owned())
        .expect("the app's ID token");
    (b, id_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_hint_for_another_user_than_the_session_gets_no_code() {
    let d = demo_with_alice().await;
    activate(&d, BRUNO, "bruno", 1).await;
    let (mut alice, alice_hint) = signed_in_to_the_app(&d, ALICE).await;
    let (_, bruno_hint) = signed_in_to_the_app(&d, BRUNO).await;
    let authorize = |hint: &str, prompt: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", "demo-app")
            .append_pair(
                "redirect_uri",
                &format!("{}/demo-app/callback", d.server.url),
            )
            .append_pair("scope", "openid")
            .append_pair("state", "s-1")
            .append_pair("id_token_hint", hint);
        if let Some(p) = prompt {
            q.append_pair("prompt", p);
        }
        format!("/authorize?{}", q.finish())
    };
    let callback = format!("{}/demo-app/callback?", d.server.url);

    // Alice's own hint, silently: her session answers with a code.
    let own = alice.get_once(&authorize(&alice_hint, Some("none"))).await;
    let to = own.location.clone().unwrap_or_default();
    assert!(to.starts_with(&callback) && to.contains("code="), "{to}");

    // Bruno's hint in Alice's browser, silently: login_required, never Alice's code.
    let other = alice.get_once(&authorize(&bruno_hint, Some("none"))).await;
    let to = other.location.clone().unwrap_or_default();
    assert!(to.starts_with(&callback), "{to}");
    assert!(to.contains("error=login_required"), "{to}");
    assert!(!to.contains("code="), "{to}");

    // Without prompt=none: sign in again (the portal), not a code for Alice.
    let other = alice.get_once(&authorize(&bruno_hint, None)).await;
    assert_eq!(other.status, 303, "{}", other.body);
    assert_eq!(other.location.as_deref(), Some("/login"));
    d.server.stop().await;
}
