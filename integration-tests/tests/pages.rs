//! Pages a real user trusts, on the real binary: the operator's branding (name in every
//! text, logo, favicon, colour), a 404 inside the usual frame with the support link, and
//! the password form's rules marked by icon and words (not colour alone), the special
//! characters as one unbreakable group, and a username field for password managers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use passerelle_integration_tests::deploy::Deployment;
use passerelle_integration_tests::flows::ok;
use passerelle_integration_tests::{Browser, TempDir, link_in, smtp_mail};

const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branding_a_framed_404_and_a_password_form_that_says_what_is_missing() {
    let dir = TempDir::new("branding");
    let png = base64::engine::general_purpose::STANDARD
        .decode(PIXEL)
        .unwrap();
    let logo = dir.0.join("logo.png");
    std::fs::write(&logo, &png).unwrap();
    let extra = format!(
        "[branding]\nname = \"Passerelle Santé\"\naccent = \"#7a1f5c\"\nlogo = \"{0}\"\nfavicon = \"{0}\"\n\n[local_auth]\nself_registration_domains = [\"chu-test.fr\"]\n",
        logo.display()
    );
    let d = Deployment::start_with(1, &extra).await;
    let mut b = Browser::new(&d.public_url);

    let portal = b.get("/login").await;
    ok(&portal, 200, "Connexion à Passerelle Santé");
    assert!(!portal.text().contains("UNESS"), "the brand replaces UNESS");
    assert!(
        portal
            .body
            .contains("<link rel=\"icon\" href=\"/favicon.ico\">")
    );
    assert!(portal.body.contains("src=\"/static/brand-logo\""));
    assert!(
        portal.body.contains("autocomplete=\"username webauthn\""),
        "the address is the username for password managers"
    );
    let css = b.get_once("/static/brand.css").await;
    assert!(css.body.contains("--accent: #7a1f5c"), "{}", css.body);
    for path in ["/static/brand-logo", "/favicon.ico"] {
        let image = b.get_once(path).await;
        assert_eq!(
            (image.status, image.headers["content-type"].as_str()),
            (200, "image/png"),
            "{path}"
        );
    }

    // An unknown path: the frame, the support link, a way back; 404.
    let lost = b.get_once("/no/such/page").await;
    assert_eq!(lost.status, 404);
    assert!(lost.body.contains("Page introuvable"), "{}", lost.body);
    assert!(lost.body.contains("<header>") && lost.body.contains("<footer>"));
    assert!(lost.body.contains("Passerelle Santé"));
    assert!(
        lost.body.contains("href=\"https://sos.uness.fr/\""),
        "the support link"
    );
    assert!(lost.links().contains(&"/login".to_owned()));

    // A page posted to (405) or flooded (413): the framed page for a browser, `Allow`
    // kept; a client asking for JSON gets the plain answer.
    let http = reqwest::Client::new();
    let wrong = http
        .post(format!("{}/activate", d.public_url))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert!(wrong.headers()["allow"].to_str().unwrap().contains("GET"));
    assert!(wrong.text().await.unwrap().contains("ouvre pas ainsi"));
    let huge = http
        .post(format!("{}/login", d.public_url))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 3 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert!(huge.text().await.unwrap().contains("Envoi trop volumineux"));
    let api = http
        .post(format!("{}/activate", d.public_url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 405);
    assert!(!api.text().await.unwrap().contains("<html"));

    // The password form: rules with icon and words, the special characters as one
    // group, a username field, and after a refusal the unmet rules said in words.
    let nurse = "cadre.sante@chu-test.fr";
    let open = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", nurse)],
        )
        .await;
    let _ = b.post("/register", &[("csrf", &open.field("csrf"))]).await;
    let (_, mail) = smtp_mail(&d.smtp, 0).await;
    let link = link_in(&mail).unwrap();
    let confirm = b.get(&link).await;
    let form = b.post(&link, &[("csrf", &confirm.field("csrf"))]).await;
    ok(&form, 200, "Créez votre mot de passe Passerelle Santé");
    assert!(form.body.contains("class=\"rule-icon\""));
    assert!(
        form.body.contains(&format!(
            "name=\"username\" value=\"{nurse}\" autocomplete=\"username\""
        )),
        "{}",
        form.body
    );
    let chars = form
        .body
        .split("<span class=\"chars\">")
        .nth(1)
        .and_then(|s| s.split("</span>").next())
        .expect("the special characters");
    assert!(
        !chars.contains(' '),
        "no breakable space inside the list: {chars:?}"
    );
    let refused = b
        .post(
            "/password/new",
            &[
                ("csrf", &form.field("csrf")),
                ("password", "court"),
                ("confirmation", "court"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("class=\"unmet\""));
    assert!(
        refused.text().contains("(non respectée)"),
        "unmet is said in words, not colour alone"
    );
}
