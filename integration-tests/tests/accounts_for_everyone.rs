//! Issue #12 on the real binary (`serve`, real Redis, real SMTP, the dev IdP, openid-client
//! as the app): people without a university get in (invitations from the CLI and from an
//! app through the machine API, self-registration for the domains the operator opens,
//! an explanation for every other address); the address a university asserts never
//! silently replaces the one typed; a stranger's wrong passwords never lock the owner out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use base64::Engine as _;
use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::flows::{
    activate_as, ok, password_to_app, set_password, through_university,
};
use passerelle_integration_tests::{Browser, OidcApp, cli, link_in, smtp_mail};
use serde_json::{Value, json};

const PASSWORD: &str = "Premier-Mot2passe";
const OTHER_ID: &str = "other-app";
const OTHER_SECRET: &str = "other-app-secret-with-enough-entropy-98765";

fn other_client() -> String {
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        <sha2::Sha256 as sha2::Digest>::digest(OTHER_SECRET.as_bytes()),
    );
    format!(
        "[[oidc.clients]]\nclient_id = \"{OTHER_ID}\"\nname = \"Autre application\"\nsecret_hash = \"sha256:{hash}\"\nredirect_uris = [\"http://127.0.0.1:9/cb\"]\n\n[[oidc.clients]]\nclient_id = \"public-app\"\nredirect_uris = [\"http://127.0.0.1:9/public\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_user_without_any_university_signs_in_to_an_app() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let nurse = "infirmiere.martin@chu-nulle-part.fr";
    let (done, stdout, stderr) = cli(&[
        "accounts",
        "invite",
        nurse,
        "--name",
        "Claire Martin",
        "--app",
        CLIENT_ID,
        "--config",
        &config,
    ]);
    assert!(done && stdout.contains("invited"), "{stdout}{stderr}");
    let (to, text) = smtp_mail(&d.smtp, 0).await;
    assert_eq!(to, nurse);
    assert!(
        text.contains("Bonjour Claire Martin") && text.contains("Application de test"),
        "the invitation greets the person and names the app: {text}"
    );
    // Inviting again is idempotent: a new link, the first one still works.
    let (done, stdout, _) = cli(&["accounts", "invite", nurse, "--config", &config]);
    assert!(done && stdout.contains("resent"), "{stdout}");
    let _ = smtp_mail(&d.smtp, 1).await;

    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b.get(&app.authorize(json!({})).await).await;
    // The portal knows the invitation: no institution list, the link offered again.
    let pending = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", nurse)],
        )
        .await;
    ok(&pending, 200, "attend son mot de passe");
    let done = set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");
    let cb = password_to_app(&mut b, PASSWORD, &d.redirect_uri).await;
    let got = app.callback(&cb).await;
    assert_eq!(got["claims"]["email"], nurse, "{got}");
    assert_eq!(got["claims"]["amr"], json!(["pwd"]), "{got}");
    assert_eq!(got["claims"]["account_kind"], "invited", "{got}");
    assert_eq!(got["userinfo"]["account_kind"], "invited", "{got}");
    assert_eq!(got["userinfo"]["name"], "Claire Martin", "{got}");
    let (_, shown, _) = cli(&["accounts", "show", nurse, "--config", &config]);
    assert!(
        shown.contains("origin\tinvitation") && shown.contains("by operator for it-app"),
        "{shown}"
    );
    // Once active, an invitation changes nothing and sends nothing.
    let (done, stdout, _) = cli(&["accounts", "invite", nurse, "--config", &config]);
    assert!(done && stdout.contains("already_active"), "{stdout}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(d.smtp.messages().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_invitation_file_is_idempotent_and_says_what_it_did() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let file = d.config.with_file_name("people.csv");
    std::fs::write(
        &file,
        "email,name,lang\n# the CHU\na@chu-x.fr,\"Dupont, Marie\",fr\nb@chu-x.fr,,en\nnot-an-address\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let (done, stdout, stderr) = cli(&["accounts", "invite", "--csv", &path, "--config", &config]);
    assert!(!done, "a refused row makes the run fail: {stdout}{stderr}");
    assert!(
        stdout.contains("line 5: not-an-address: refused")
            && stdout.contains("invited 2, resent 0, already active 0, refused 1"),
        "{stdout}"
    );
    let (_, second, _) = cli(&["accounts", "invite", "--csv", &path, "--config", &config]);
    assert!(
        second.contains("invited 0, resent 2, already active 0, refused 1"),
        "{second}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(d.smtp.messages().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_registration_domain_creates_an_account_and_another_unknown_domain_is_told_why() {
    let d = Deployment::start_with(
        1,
        "[local_auth]\nself_registration_domains = [\"chu-test.fr\", \"*.ars-test.fr\"]\n",
    )
    .await;
    let config = d.config.display().to_string();
    let mut b = Browser::new(&d.public_url);

    // An address nobody speaks for: a page that says why and what to do.
    let portal = b.get("/login").await;
    let none = b
        .post(
            "/login",
            &[
                ("csrf", &portal.field("csrf")),
                ("email", "someone@gmail.test"),
            ],
        )
        .await;
    ok(&none, 200, "Pas encore d'accès UNESS");
    ok(&none, 200, "Demandez une invitation");
    ok(&none, 200, "Chercher mon établissement");

    // An address in an open domain: « Créer votre compte UNESS » → link → password.
    let nurse = "aide.soignant@paca.ars-test.fr";
    let portal = b.get("/login").await;
    let open = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", nurse)],
        )
        .await;
    ok(&open, 200, "Créer votre compte UNESS");
    let sent = b.post("/register", &[("csrf", &open.field("csrf"))]).await;
    ok(&sent, 200, "Vérifiez votre boîte email");
    assert!(
        sent.body.contains(&format!("<strong>{nurse}</strong>")),
        "the address in bold: {}",
        sent.body
    );
    ok(&sent, 200, "ne sert qu'une fois");
    // Nothing is stored for the address until the link is confirmed.
    let (found, _, _) = cli(&["accounts", "show", nurse, "--config", &config]);
    assert!(!found);
    // Re-sending is allowed and does not cancel the first link.
    let again = b
        .post(
            "/register",
            &[("csrf", &sent.field("csrf")), ("resend", "1")],
        )
        .await;
    ok(&again, 200, "Vérifiez votre boîte email");
    let (_, first) = smtp_mail(&d.smtp, 0).await;
    let _ = smtp_mail(&d.smtp, 1).await;
    let done = set_password(&mut b, &link_in(&first).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");
    let (_, shown, _) = cli(&["accounts", "show", nurse, "--config", &config]);
    assert!(
        shown.contains("status\tActive")
            && shown.contains("kind\tself_registered")
            && shown.contains("origin\tself_registration"),
        "{shown}"
    );
    // The parent domain of a `*.` pattern is not open.
    let portal = b.get("/login").await;
    let parent = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", "x@ars-test.fr")],
        )
        .await;
    ok(&parent, 200, "Pas encore d'accès UNESS");
}

async fn api(d: &Deployment, basic: Option<(&str, &str)>, body: &str, kind: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/invitations", d.public_url))
        .header("content-type", kind)
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_machine_api_invites_for_an_authorised_app_and_refuses_everything_else() {
    passerelle_integration_tests::tls();
    let d = Deployment::start_with(
        1,
        &format!("[api]\ninvite = [\"{CLIENT_ID}\"]\n\n{}", other_client()),
    )
    .await;
    let json = "application/json";
    let me = Some((CLIENT_ID, CLIENT_SECRET));
    let body =
        r#"{"email": "Tuteur.Durand@cabinet-exemple.fr", "name": "Jean Durand", "lang": "en"}"#;

    let (status, answer) = api(&d, me, body, json).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "invited");
    assert_eq!(answer["email"], "Tuteur.Durand@cabinet-exemple.fr");
    // RFC 3339, as documented (it was the raw milliseconds before).
    let until = answer["link_expires_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339).is_ok(),
        "{answer}"
    );
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    assert!(
        text.contains("Hello Jean Durand") && text.contains("Application de test"),
        "{text}"
    );
    let (status, answer) = api(&d, me, body, json).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("resent")));

    // Refusals: each a JSON error with its code, nothing sent.
    // (credentials, body, content type, status, error code)
    type Case<'a> = (Option<(&'a str, &'a str)>, &'a str, &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            Some((CLIENT_ID, "wrong-secret-wrong-secret-wrong-secret")),
            body,
            json,
            401,
            "invalid_client",
        ),
        (None, body, json, 401, "invalid_client"),
        (
            Some((OTHER_ID, OTHER_SECRET)),
            body,
            json,
            403,
            "access_denied",
        ),
        // A public client authenticates with its id alone: never enough for the API.
        (
            None,
            r#"{"email": "a@b.fr", "client_id": "public-app"}"#,
            json,
            401,
            "invalid_client",
        ),
        (
            me,
            r#"{"email": "not an address"}"#,
            json,
            400,
            "invalid_request",
        ),
        (me, r#"{"mail": "a@b.fr"}"#, json, 400, "invalid_request"),
        (me, "{not json", json, 400, "invalid_request"),
        (
            me,
            body,
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
    ];
    for (who, body, kind, want, code) in cases {
        let (status, answer) = api(&d, who, body, kind).await;
        assert_eq!(status, want, "{body} → {answer}");
        assert_eq!(answer["error"], code, "{answer}");
        assert!(answer["error_description"].as_str().is_some(), "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        d.smtp.messages().len(),
        2,
        "nothing sent for a refused request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asserted_address_other_than_the_typed_one_asks_first_and_both_choices_work() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let typed = "a.durand@etu.univ-test.fr";
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let asked = activate_as(&mut b, &portal, typed, (USER.0, USER.1)).await;
    ok(&asked, 200, "Vous avez saisi");
    ok(&asked, 200, typed);
    ok(&asked, 200, "Université de Test vous connaît comme");
    ok(&asked, 200, USER.2);
    // Nothing happened yet: no account, no mail.
    let (found, _, _) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(!found);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(d.smtp.messages().len(), 0);

    // « Choisir un autre établissement »: back to the list, still nothing done.
    let back = b
        .post(
            "/saml/choose",
            &[("csrf", &asked.field("csrf")), ("choice", "other")],
        )
        .await;
    ok(&back, 200, "Université de Test");
    let (found, _, _) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(!found);

    // Again, and this time « Continuer avec … »: the link goes to the asserted address.
    let asked = through_university(&mut b, &back, (USER.0, USER.1)).await;
    ok(&asked, 200, "Vous avez saisi");
    let sent = b
        .post(
            "/saml/choose",
            &[("csrf", &asked.field("csrf")), ("choice", "asserted")],
        )
        .await;
    ok(&sent, 200, "Vérifiez votre boîte email");
    assert!(sent.body.contains(&format!("<strong>{}</strong>", USER.2)));
    let (to, _) = smtp_mail(&d.smtp, 0).await;
    assert_eq!(to, USER.2);
    // The choice is spent: posting it again does nothing.
    let replay = b
        .post(
            "/saml/choose",
            &[("csrf", &sent.field("csrf")), ("choice", "asserted")],
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_fifty_wrong_passwords_from_another_address_do_not_stop_the_owner() {
    let d = Deployment::start_with(
        1,
        "[local_auth.argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n",
    )
    .await;
    let config = d.config.display().to_string();
    let owner = "owner@chu-nulle-part.fr";
    assert!(cli(&["accounts", "invite", owner, "--config", &config]).0);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    let mut mine = Browser::new(&d.public_url);
    ok(
        &set_password(&mut mine, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );

    let mut stranger = Browser::from_address(&d.public_url, "127.0.0.2".parse().unwrap());
    let portal = stranger.get("/login").await;
    let pw = stranger
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", owner)],
        )
        .await;
    ok(&pw, 200, "Votre mot de passe UNESS");
    let csrf = pw.field("csrf");
    let mut paused = None;
    for i in 0..50 {
        let p = stranger
            .post(
                "/login/password",
                &[("csrf", &csrf), ("password", &format!("Wrong-{i}-pass"))],
            )
            .await;
        match p.status {
            401 => {}
            429 => {
                paused.get_or_insert(p);
            }
            other => panic!("wrong password {i}: {other}\n{}", p.body),
        }
    }
    // The stranger is paused for this account, and told which other ways exist.
    let paused = paused.expect("the stranger is paused");
    ok(&paused, 429, "Recevoir le code par email");
    ok(&paused, 429, "Mot de passe oublié");
    ok(&paused, 429, "restent ouvertes");

    // The owner, from their own address, signs in with the right password.
    let portal = mine.get("/login").await;
    let pw = mine
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", owner)],
        )
        .await;
    let done = mine
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    ok(&done, 200, "Gérer votre compte UNESS");
}
