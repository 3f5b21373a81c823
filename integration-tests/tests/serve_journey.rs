//! `passerelle serve` as deployed: real Redis, real SMTP, a SAML IdP from another crate,
//! and openid-client (npm) as the app. The first-login journey, then a password login,
//! a code login, a password reset, prompt=login forcing a new authentication, and
//! logout — each ending in openid-client validating the ID token and calling userinfo.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::flows::{
    activate, back_to_app, ok, password_to_app, set_password,
};
use passerelle_integration_tests::{Browser, OidcApp, cli, code_in, link_in, smtp_mail};
use serde_json::json;

const PASSWORD: &str = "Premier-Mot2passe";
const RESET: &str = "Second-Mot2passe!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_on_redis_with_real_mail_and_openid_client_as_the_app() {
    let d = Deployment::start(1).await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;

    // 1. First login: e-mail → institution → SAML → link by mail → password → the app.
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b.get(&app.authorize(json!({})).await).await;
    ok(&portal, 200, "Application de test");
    let sent = activate(&mut b, &portal).await;
    ok(&sent, 200, USER.2);
    let (to, text) = smtp_mail(&d.smtp, 0).await;
    assert_eq!(to, USER.2);
    let done = set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");
    let cb = password_to_app(&mut b, PASSWORD, &d.redirect_uri).await;
    let first = app.callback(&cb).await;
    assert_eq!(first["claims"]["email"], USER.2, "{first}");
    assert_eq!(first["claims"]["amr"][0], "pwd", "{first}");
    assert_eq!(first["userinfo"]["email"], USER.2, "{first}");
    assert_eq!(
        first["userinfo"]["eduperson_affiliation"][0], "student",
        "{first}"
    );
    // eduPersonPrincipalName (in the university's scope) under `academic`; a name made
    // of givenName + sn when the university sends no displayName.
    assert_eq!(
        first["userinfo"]["eduperson_principal_name"], "alice@univ-test.fr",
        "{first}"
    );
    assert_eq!(
        first["claims"]["eduperson_principal_name"], "alice@univ-test.fr",
        "{first}"
    );
    assert_eq!(first["userinfo"]["name"], "Alice Durand", "{first}");
    let sub = first["claims"]["sub"].clone();

    // 2. prompt=login: the signed-in browser must authenticate again.
    let again = b
        .get(&app.authorize(json!({ "prompt": "login" })).await)
        .await;
    ok(&again, 200, "Votre adresse email");
    let pw = b
        .post(
            "/login",
            &[("csrf", &again.field("csrf")), ("email", USER.2)],
        )
        .await;
    ok(&pw, 200, "Votre mot de passe UNESS");
    let cb = back_to_app(
        &b.post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await,
        &d.redirect_uri,
    );
    let forced = app.callback(&cb).await;
    assert_eq!(forced["claims"]["sub"], sub);
    assert!(forced["claims"]["auth_time"].as_i64() >= first["claims"]["auth_time"].as_i64());

    // 3. Logout from the app ends the session: the next authorization asks again.
    let hint = forced["id_token"].as_str().unwrap();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", hint)
        .append_pair("post_logout_redirect_uri", &format!("{}/bye", d.public_url))
        .append_pair("state", "s1")
        .finish();
    let bye = b.get_once(&format!("/logout?{q}")).await;
    assert_eq!(bye.status, 303, "{}", bye.body);
    assert_eq!(
        bye.location.as_deref(),
        Some(format!("{}/bye?state=s1", d.public_url).as_str())
    );
    let portal = b
        .get(&app.authorize(json!({ "login_hint": USER.2 })).await)
        .await;
    ok(&portal, 200, "Votre adresse email");
    assert_eq!(
        portal.field("email"),
        USER.2,
        "login_hint pre-fills the address"
    );

    // 4. A code by e-mail instead of the password.
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    let code_page = b
        .post("/login/code/send", &[("csrf", &pw.field("csrf"))])
        .await;
    ok(&code_page, 200, "Code à 6 chiffres");
    let (_, text) = smtp_mail(&d.smtp, 1).await;
    let code = code_in(&text).unwrap();
    let cb = back_to_app(
        &b.post_once(
            "/login/code",
            &[("csrf", &code_page.field("csrf")), ("code", &code)],
        )
        .await,
        &d.redirect_uri,
    );
    let by_code = app.callback(&cb).await;
    assert_eq!(by_code["claims"]["amr"][0], "otp", "{by_code}");

    // 5. Forgotten password: a reset link, a new password, a login with it.
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b.get(&app.authorize(json!({})).await).await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    let sent = b
        .post("/password/forgot", &[("csrf", &pw.field("csrf"))])
        .await;
    ok(&sent, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 2).await;
    let done = set_password(&mut b, &link_in(&text).unwrap(), RESET).await;
    ok(&done, 200, "réussi");
    let pw = b.get("/login/password").await;
    let old = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    ok(&old, 401, "incorrect");
    let cb = back_to_app(
        &b.post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", RESET)],
        )
        .await,
        &d.redirect_uri,
    );
    let reset = app.callback(&cb).await;
    assert_eq!(reset["claims"]["sub"], sub, "same account, same subject");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_whose_steps_alternate_between_two_instances_completes() {
    let d = Deployment::start(2).await;
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(d.redirect_uri.clone());
    b.instances = d.origins();
    let portal = b.get(&app.authorize(json!({})).await).await;
    let sent = activate(&mut b, &portal).await;
    ok(&sent, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    let done = set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");
    let cb = password_to_app(&mut b, PASSWORD, &d.redirect_uri).await;
    let tokens = app.callback(&cb).await;
    assert_eq!(tokens["claims"]["email"], USER.2, "{tokens}");
    for (i, instance) in d.instances.iter().enumerate() {
        let served = instance
            .log()
            .lines()
            .filter(|l| l.contains("status="))
            .count();
        assert!(
            served >= 5,
            "instance {i} served {served} requests:\n{}",
            instance.log()
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_shows_a_503_page_and_service_comes_back_by_itself() {
    let mut d = Deployment::start(1).await;
    let mut b = Browser::new(&d.public_url);
    ok(&b.get("/login").await, 200, "Votre adresse email");
    // The test Redis keeps nothing on disk: readiness says so, without failing.
    let ready = b.get("/readyz").await;
    ok(&ready, 200, "does not persist");
    d.redis.stop();
    let down = b.get("/login").await;
    ok(&down, 503, "Service momentanément indisponible");
    let ready = b.get("/readyz").await;
    assert_eq!(ready.status, 503);
    d.redis.restart().unwrap();
    let mut back = b.get("/login").await;
    for _ in 0..50 {
        if back.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        back = b.get("/login").await;
    }
    ok(&back, 200, "Votre adresse email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sysadmin_verbs_work_against_a_running_deployment() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let (success, stdout, stderr) = cli(&["check-config", &config]);
    assert!(success, "{stderr}");
    assert!(stdout.contains("OK"));

    let (success, metadata, _) = cli(&["sp-metadata", "--config", &config]);
    assert!(
        success && metadata.contains("AssertionConsumerService"),
        "{metadata}"
    );

    let (success, clients, _) = cli(&["clients", "list", "--config", &config]);
    assert!(success && clients.contains(CLIENT_ID), "{clients}");

    // Rotation writes a second ES256 key to the shared store: published, not signing yet.
    let (success, rotated, stderr) = cli(&[
        "keys",
        "rotate",
        "--config",
        &config,
        "--alg",
        "ES256",
        "--publish-ahead",
        "3600",
    ]);
    assert!(success, "{stderr}");
    assert!(rotated.contains("published now"), "{rotated}");
    let (success, keys, stderr) = cli(&["keys", "list", "--config", &config]);
    assert!(success, "{stderr}");
    assert_eq!(
        keys.lines().filter(|l| l.contains("\tES256\t")).count(),
        2,
        "{keys}"
    );
    assert!(keys.contains("Published"), "{keys}");

    // An address nobody activated; then the account made by a university login.
    let (success, _, stderr) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(!success && stderr.contains("no account"), "{stderr}");
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let sent = activate(&mut b, &portal).await;
    ok(&sent, 200, USER.2);
    let (success, shown, stderr) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(success, "{stderr}");
    // Pending, and linked to nothing until the link is confirmed in this browser.
    assert!(
        shown.contains("PendingActivation") && shown.contains("university\t-\n"),
        "{shown}"
    );
    // Activate and sign in, so that a live session exists when support disables the account.
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );
    let pw = b.get("/login/password").await;
    let account = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    ok(&account, 200, "Gérer votre compte UNESS");
    let mut phone = Browser::new(&d.public_url);
    let portal = phone.get("/login").await;
    let pw = phone
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    let account = phone
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    ok(&account, 200, "Gérer votre compte UNESS");
    let (success, _, stderr) = cli(&["accounts", "disable", USER.2, "--config", &config]);
    assert!(success, "{stderr}");
    // Signed-in browsers lose their session: the account page sends to the portal…
    ok(&b.get("/account").await, 200, "Votre adresse email");
    // …and /authorize gives no code for the disabled account: it asks to sign in.
    let mut b = phone;
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &d.redirect_uri)
        .append_pair("scope", "openid email")
        .finish();
    b.stop_at = Some(d.redirect_uri.clone());
    let again = b.get(&format!("/authorize?{q}")).await;
    ok(&again, 200, "Votre adresse email");
    let portal = b.get("/login").await;
    let refused = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    ok(&refused, 403, "désactivé");

    // A broken configuration: the error names the file, the line and the key.
    let broken = d.config.with_file_name("broken.toml");
    let text = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("[store]", "[store]\ncolour = 1");
    std::fs::write(&broken, text).unwrap();
    let (success, _, stderr) = cli(&["check-config", broken.to_str().unwrap()]);
    assert!(!success);
    assert!(
        stderr.contains("broken.toml:") && stderr.contains("colour"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_university_running_pysaml2_activates_an_account_through_the_real_binary() {
    use base64::Engine as _;
    use passerelle_integration_tests::deploy::{PYSAML2_IDP, PYSAML2_MAIL};
    use std::io::Read as _;

    let d = Deployment::start(1).await;
    let target = passerelle_integration_tests::workspace().join("target");
    let python = passerelle_testkit::python::pysaml2(&target).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let select = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", PYSAML2_MAIL)],
        )
        .await;
    ok(&select, 200, "Université PySAML2");
    let start = select
        .choices()
        .into_iter()
        .find(|l| l.contains("pysaml2"))
        .unwrap();

    // Our signed AuthnRequest, as the university receives it.
    let to_idp = b.get_once(&start).await;
    assert_eq!(to_idp.status, 303, "{}", to_idp.body);
    let location = url::Url::parse(to_idp.location.as_deref().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{PYSAML2_IDP}/sso?")),
        "{location}"
    );
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(
        query["SigAlg"],
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(&query["SAMLRequest"])
        .unwrap();
    let mut request = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut request)
        .unwrap();
    let id = request
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // pysaml2 answers it: assertion signed and encrypted (AES-128-GCM) for our SP metadata.
    let metadata = b.get("/saml/metadata").await;
    let sp_metadata = d.config.with_file_name("sp-metadata.xml");
    std::fs::write(&sp_metadata, &metadata.body).unwrap();
    let script =
        passerelle_integration_tests::workspace().join("crates/saml-sp/tests/pysaml2/idp.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&sp_metadata)
        .arg(&d.pysaml2_keys.0)
        .arg(&d.pysaml2_keys.1)
        .arg(&id)
        .arg("enc-aes128-gcm")
        .arg(format!("{}/saml/metadata", d.public_url))
        .arg(format!("{}/saml/acs", d.public_url))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pysaml2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = String::from_utf8(out.stdout).unwrap();

    let sent = b
        .post(
            "/saml/acs",
            &[
                ("SAMLResponse", &response),
                ("RelayState", &query["RelayState"]),
            ],
        )
        .await;
    ok(&sent, 200, PYSAML2_MAIL);
    let (to, text) = smtp_mail(&d.smtp, 0).await;
    assert_eq!(to, PYSAML2_MAIL);
    let done = set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");

    // The same answer again is a replay: refused with a page.
    let replay = b
        .post(
            "/saml/acs",
            &[
                ("SAMLResponse", &response),
                ("RelayState", &query["RelayState"]),
            ],
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
}
