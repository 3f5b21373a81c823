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

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use passerelle_integration_tests::{Passerelle, TempDir, link_in, next_outbox_mail, workspace};
use passerelle_testkit::free_port;

const AXE: &str = "axe-core@4.10.3";
const EMAIL: &str = "alice.martin@etu.univ-lumiere.test";
const PASSWORD: &str = "Navigat3ur-Sur!";

struct Driver {
    _process: tokio::process::Child,
    client: Client,
    axe: String,
    audited: Vec<String>,
}

async fn driver() -> Driver {
    for tool in ["chromium", "chromedriver"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: run scripts/deps.sh test (it installs chromium and chromium-driver)"
        );
    }
    let dir = passerelle_testkit::npm::install(&workspace().join("target/axe-core"), &[AXE])
        .unwrap_or_else(|e| panic!("{e}"));
    let axe = std::fs::read_to_string(dir.join("node_modules/axe-core/axe.min.js")).unwrap();
    let port = free_port().unwrap();
    let process = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=fr-FR"],
            "prefs": { "intl.accept_languages": "fr-FR,fr" }
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => {
                return Driver {
                    _process: process,
                    client,
                    axe,
                    audited: Vec::new(),
                };
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

impl Driver {
    /// Runs axe-core on the current page; panics with every WCAG 2.1 A/AA violation.
    async fn audit(&mut self) {
        let url = self.client.current_url().await.unwrap().to_string();
        self.client.execute(&self.axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                    .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.html).slice(0, 3) }))))
                    .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .unwrap();
        let violations = result.as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "axe-core found violations on {url}:\n{}",
            serde_json::to_string_pretty(&result).unwrap()
        );
        self.audited.push(url);
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn wait_for_text(&self, text: &str) -> String {
        for _ in 0..100 {
            let source = self.client.source().await.unwrap();
            if source.contains(text) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self.client.current_url().await.unwrap();
        panic!(
            "{url} never showed {text:?}:\n{}",
            self.client.source().await.unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_clicks_through_the_first_login_in_chromium_and_every_page_passes_axe() {
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
    let mut d = driver().await;

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
    // Search as you type (discovery.js) finds the other universities too.
    d.fill("#q", "littoral").await;
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
    // The live checklist ticks as the user types.
    d.fill("#password", PASSWORD).await;
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
    d.client
        .goto(&format!("{}/demo/outbox", server.url))
        .await
        .unwrap();
    d.wait_for_text("Boîte d'envoi").await;
    d.audit().await;
    assert!(d.audited.len() >= 12, "{:?}", d.audited);
    d.client.close().await.unwrap();
    server.stop().await;
}
