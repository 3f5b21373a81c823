//! The support console on the real binary (`serve`, Redis, SMTP, the dev IdP): nobody
//! but listed staff sees it (404 on every console URL), staff pass an e-mailed second
//! factor after a password sign-in, find an account, and each change — re-send, unlink a
//! wrong identity (the right person's university then links it), disable, enable, sign
//! out everywhere — needs a reason, refuses forged forms, and lands in the audit log,
//! which only `admin`/`auditor` read. A console session lapses when idle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use base64::Engine as _;

use passerelle_integration_tests::deploy::{Deployment, USER};
use passerelle_integration_tests::flows::{self, activate, active_by_invitation, ok, set_password};
use passerelle_integration_tests::{Browser, cli, link_in, smtp_mail};

const AGENT: &str = "agent.support@uness.test";
const AUDITOR: &str = "auditrice@uness.test";
const PASSWORD: &str = "Console-Sure-42";

fn staff_config(idle: u64) -> String {
    format!(
        "[console]\nidle_secs = {idle}\nstaff = [{{ email = \"{AGENT}\", role = \"support\" }}, {{ email = \"{AUDITOR}\", role = \"auditor\" }}]\n"
    )
}

async fn active(d: &Deployment, email: &str, mails: usize) -> usize {
    active_by_invitation(d, email, PASSWORD, mails).await
}

/// Signs `email` in with the password in a new browser.
async fn signed_in(d: &Deployment, email: &str) -> Browser {
    flows::signed_in(d, email, PASSWORD).await
}

async fn second_factor(d: &Deployment, b: &mut Browser, mails: usize) -> usize {
    flows::console_second_factor(d, b, mails).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_but_staff_sees_the_console_and_staff_changes_are_audited() {
    let d = Deployment::start_with(1, &staff_config(900)).await;
    // The user whose university identity was linked to the wrong account: USER's
    // university activates USER's address, then the identity is unlinked by support.
    let mut user = Browser::new(&d.public_url);
    let portal = user.get("/login").await;
    ok(
        &activate(&mut user, &portal).await,
        200,
        "Vérifiez votre boîte email",
    );
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut user, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );
    let mut mails = active(&d, AGENT, 1).await;
    mails = active(&d, AUDITOR, mails).await;

    // Strangers and plain users: 404 everywhere, GET or POST.
    let mut stranger = Browser::new(&d.public_url);
    let mut plain = signed_in(&d, USER.2).await;
    for b in [&mut stranger, &mut plain] {
        for path in [
            "/console",
            "/console/accounts?email=x%40y.fr",
            "/console/audit",
        ] {
            let page = b.get_once(path).await;
            assert_eq!(page.status, 404, "{path}");
            ok(&page, 404, "Page introuvable");
        }
        for path in [
            "/console/code",
            "/console/verify",
            "/console/accounts/change",
        ] {
            assert_eq!(
                b.post_once(path, &[("csrf", "x")]).await.status,
                404,
                "{path}"
            );
        }
    }

    // Support: password, then the e-mailed second factor.
    let mut agent = signed_in(&d, AGENT).await;
    mails = second_factor(&d, &mut agent, mails).await;
    let found = agent
        .get(&format!("/console/accounts?email={}", USER.2))
        .await;
    ok(&found, 200, "Université de Test");
    ok(&found, 200, "Agir sur ce compte");
    // By the start of the address: every match, in order, each a link to its page.
    let some = agent.get("/console/accounts?email=AUDIT").await;
    ok(&some, 200, "commence ainsi");
    assert!(
        some.links()
            .contains(&"/console/accounts?email=auditrice%40uness.test".to_owned()),
        "{}",
        some.body
    );
    assert!(!some.text().contains(AGENT));
    // The user's sign-ins (the password one; the university's was an activation).
    let seen = found
        .body
        .split("id=\"sign-ins\"")
        .nth(1)
        .expect("sign-ins");
    assert!(seen.contains("<td>pwd</td>"), "{seen}");
    assert!(seen.contains("Z</td>"), "dates in RFC 3339: {seen}");
    let own = plain.get("/account").await;
    ok(&own, 200, "Vos dernières connexions");
    ok(&own, 200, "mot de passe");
    // The user's own data (RGPD art. 15, 20): JSON, never the password hash.
    let data = plain.get_once("/account/data").await;
    assert_eq!(data.status, 200);
    assert!(data.headers["content-disposition"].starts_with("attachment"));
    assert!(!data.body.contains("argon2"), "no password hash");
    let data: serde_json::Value = serde_json::from_str(&data.body).unwrap();
    assert_eq!(data["account"]["email"], USER.2);
    assert_eq!(data["account"]["password_set"], true);
    assert_eq!(data["linked_identity"]["institution"], "Université de Test");
    assert_eq!(data["sign_ins"][0]["method"], "pwd");
    assert!(!found.body.contains("$argon2"), "no secret on the page");
    // No reason: refused, nothing changes.
    let csrf = found.field("csrf");
    let refused = agent
        .post(
            "/console/accounts/change",
            &[
                ("csrf", &csrf),
                ("email", USER.2),
                ("change", "unlink"),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&refused, 422, "motif");
    // A forged form (no token; another origin): refused.
    let forged = agent
        .post_once(
            "/console/accounts/change",
            &[
                ("email", USER.2),
                ("change", "disable"),
                ("reason", "x"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let foreign = agent
        .post_with(
            "/console/accounts/change",
            &[
                ("csrf", &csrf),
                ("email", USER.2),
                ("change", "disable"),
                ("reason", "x"),
                ("confirm", "1"),
            ],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(foreign.status, 403);
    for (what, reason) in [
        ("resend", "ticket 1: lost mail"),
        ("unlink", "ticket 2: linked to the wrong account"),
        ("disable", "ticket 3: stolen password"),
        ("enable", "ticket 3: password changed"),
        ("sign_out", "ticket 4: shared computer"),
    ] {
        let page = agent
            .post(
                "/console/accounts/change",
                &[
                    ("csrf", &csrf),
                    ("email", USER.2),
                    ("change", what),
                    ("reason", reason),
                    ("confirm", "1"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(page.body.contains("id=\"done\""), "{what}: {}", page.body);
    }
    // The re-send mailed a reset link to the user; the account page says a reset link
    // waits (purpose and expiry, never the link).
    let (to, text) = smtp_mail(&d.smtp, mails).await;
    assert_eq!(to, USER.2);
    let view = agent
        .get(&format!("/console/accounts?email={}", USER.2))
        .await;
    assert!(view.text().contains("reset → 20"), "{}", view.body);
    let token = link_in(&text).unwrap();
    assert!(!view.body.contains(token.rsplit('/').next().unwrap()));
    // The agent's own account: this browser session is open, signed in by password.
    let own = agent.get(&format!("/console/accounts?email={AGENT}")).await;
    let open = own
        .body
        .split("id=\"open-sessions\"")
        .nth(1)
        .expect("open sessions");
    assert!(open.contains("— pwd</li>"), "{open}");
    // An address without an account: support invites it, with a reason.
    let nurse = "infirmiere@chu-test.fr";
    let none = agent
        .get("/console/accounts?email=infirmiere%40chu-test.fr")
        .await;
    ok(&none, 200, "Inviter cette adresse");
    let no_reason = agent
        .post(
            "/console/accounts/invite",
            &[
                ("csrf", &none.field("csrf")),
                ("email", nurse),
                ("app", "it-app"),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&no_reason, 422, "motif");
    let invited = agent
        .post(
            "/console/accounts/invite",
            &[
                ("csrf", &no_reason.field("csrf")),
                ("email", nurse),
                ("name", "Claire Infirmière"),
                ("app", "it-app"),
                ("reason", "ticket 5: stage au CHU"),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&invited, 200, "Invitation envoyée");
    ok(&invited, 200, "activation → 20");
    let (to, text) = smtp_mail(&d.smtp, mails + 1).await;
    assert_eq!(to, nurse);
    assert!(text.contains("Claire"), "{text}");
    let mails = mails + 1;
    // Unlinked: the university's next sign-in for this address starts over (a link).
    let config = d.config.display().to_string();
    let (_, shown, _) = cli(&["accounts", "show", USER.2, "--config", &config]);
    assert!(shown.contains("university\t-"), "{shown}");
    // Signed out everywhere: the user's session is gone.
    let account = user.get_once("/account").await;
    assert_eq!(
        (account.status, account.location.as_deref()),
        (303, Some("/login")),
        "the user's session ended"
    );
    // Support does not read the log, nor the service pages.
    assert_eq!(agent.get_once("/console/audit").await.status, 404);
    assert_eq!(agent.get_once("/console/service").await.status, 404);

    // The auditor: reads the log, changes nothing.
    let mut auditor = signed_in(&d, AUDITOR).await;
    second_factor(&d, &mut auditor, mails + 1).await;
    let view = auditor
        .get(&format!("/console/accounts?email={}", USER.2))
        .await;
    ok(&view, 200, USER.2);
    assert!(
        !view.body.contains("/console/accounts/change"),
        "no action for an auditor"
    );
    let tried = auditor
        .post(
            "/console/accounts/change",
            &[
                ("csrf", &view.field("csrf")),
                ("email", USER.2),
                ("change", "disable"),
                ("reason", "curious"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(tried.status, 404);
    // The service: feeds, apps (never a secret), keys; no rotation for an auditor.
    let service = auditor.get("/console/service").await;
    ok(&service, 200, "Flux de fédération");
    assert!(service.body.contains("<td>it</td>") && service.body.contains("<td>it-app</td>"));
    assert!(
        service.body.contains("feed.xml</td>"),
        "the feed's source is shown"
    );
    assert!(!service.body.contains("sha256:") && !service.body.contains("secret_hash"));
    assert!(!service.body.contains("/console/service/rotate"));
    let rotate = auditor
        .post(
            "/console/service/rotate",
            &[
                ("csrf", &service.field("csrf")),
                ("alg", "ES256"),
                ("reason", "curious"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(rotate.status, 404);
    // An unsigned answer claiming to be from Université de Test: refused, and support
    // sees it on that IdP's page.
    let forged = base64::engine::general_purpose::STANDARD.encode(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_f\" Version=\"2.0\" IssueInstant=\"2026-12-07T10:00:00Z\"><saml:Issuer>https://idp.univ-test.fr/idp</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status></samlp:Response>",
    );
    let refused = Browser::new(&d.public_url)
        .post_once("/saml/acs", &[("SAMLResponse", &forged)])
        .await;
    assert_eq!(refused.status, 400);
    // The service page lists it with the federation's other refusals, naming the IdP.
    let service = auditor.get("/console/service").await;
    let overall = service
        .body
        .split("id=\"refusals\"")
        .nth(1)
        .expect("the federation-wide refusals");
    assert!(overall.contains("Université de Test"), "{overall}");
    assert!(overall.contains("/console/idps?id="), "{overall}");
    // The federation's IdPs: searched, then one IdP's page with its key's expiry.
    let idps = auditor.get("/console/idps?q=test").await;
    ok(&idps, 200, "Université de Test");
    let detail = idps
        .links()
        .into_iter()
        .find(|l| l.starts_with("/console/idps?id="))
        .unwrap();
    let idp = auditor.get(&detail).await;
    ok(&idp, 200, "univ-test.fr");
    assert!(
        idp.text().contains(" GMT"),
        "the certificate's notAfter: {}",
        idp.body
    );
    assert_eq!(agent.get_once("/console/idps").await.status, 404);
    let log = auditor.get("/console/audit").await;
    ok(&log, 200, "Journal d'audit");
    for action in [
        "staff_sign_in",
        "staff_second_factor_refused",
        "link_sent",
        "identity_unlinked",
        "account_disabled",
        "account_enabled",
        "signed_out_everywhere",
        "data_exported",
        "invited",
    ] {
        assert!(log.body.contains(action), "{action} in the log");
    }
    assert!(log.text().contains("ticket 2: linked to the wrong account"));
    let only = auditor.get("/console/audit?action=account_disabled").await;
    assert!(only.body.contains("ticket 3: stolen password"));
    assert!(!only.body.contains("ticket 1: lost mail"));
    // The same records through `passerelle audit export`.
    let (done, out, _) = cli(&["audit", "export", "--config", &config]);
    assert!(done, "{out}");
    assert!(
        out.contains(&format!("{{\"kind\":\"staff\",\"email\":\"{AGENT}\"}}"))
            && out.contains("ticket 4: shared computer"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_lapses_when_idle_and_asks_for_the_second_factor_again() {
    let d = Deployment::start_with(1, &staff_config(5)).await;
    let mails = active(&d, AGENT, 0).await;
    let mut agent = signed_in(&d, AGENT).await;
    second_factor(&d, &mut agent, mails).await;
    ok(&agent.get("/console").await, 200, "Trouver un compte");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let lapsed = agent.get("/console").await;
    ok(&lapsed, 200, "confirmez que c'est vous");

    // A staff session never carries app sign-ins: an app's sign-in closes the console.
    second_factor(&d, &mut agent, mails + 1).await;
    ok(&agent.get("/console").await, 200, "Trouver un compte");
    let verifier = "a-pkce-verifier-long-enough-to-be-valid-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", passerelle_integration_tests::deploy::CLIENT_ID)
        .append_pair("redirect_uri", &d.redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let app = agent.get_once(&format!("/authorize?{query}")).await;
    assert_eq!(app.status, 303, "{}", app.body);
    assert!(
        app.location
            .as_deref()
            .unwrap()
            .starts_with(&d.redirect_uri),
        "the staff member is signed in to the app"
    );
    ok(
        &agent.get("/console").await,
        200,
        "confirmez que c'est vous",
    );
}
