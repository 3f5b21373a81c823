//! Headless Chromium for the black-box tests (Debian's chromium + chromedriver, driven
//! through WebDriver with fantoccini): one session per [`Driver`], its own profile, with
//! or without JavaScript; axe-core (npm) audits pages against WCAG 2.1 A/AA; a WebAuthn
//! virtual authenticator stands in for a passkey device.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step is a failed test

use std::process::Stdio;
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use passerelle_testkit::free_port;

use crate::workspace;

const AXE: &str = "axe-core@4.10.3";

/// A Chromium session.
pub struct Driver {
    _process: tokio::process::Child,
    /// The WebDriver client.
    pub client: Client,
    axe: String,
    /// The pages audited so far.
    pub audited: Vec<String>,
    /// Scripts run in pages (axe-core audits only then).
    javascript: bool,
}

/// A Chromium session with JavaScript.
pub async fn driver() -> Driver {
    driver_with(true).await
}

/// A Chromium session (its own profile); `javascript: false` turns scripts off, to check
/// every page works without them.
pub async fn driver_with(javascript: bool) -> Driver {
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
            "prefs": {
                "intl.accept_languages": "fr-FR,fr",
                "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }
            }
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
                    javascript,
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
    pub async fn audit(&mut self) {
        if !self.javascript {
            return;
        }
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

    /// Types `text` into the element `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The page source once it contains `text` (10 s at most).
    pub async fn wait_for_text(&self, text: &str) -> String {
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

/// WebDriver's « Add Virtual Authenticator » (WebAuthn §11.3): a CTAP2 platform
/// authenticator with resident keys and user verification that always consents.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// WebDriver's « Get Credentials » / « Add Credential » on a virtual authenticator.
#[derive(Debug)]
struct Credentials {
    authenticator: String,
    add: Option<serde_json::Value>,
}

impl WebDriverCompatibleCommand for Credentials {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let what = if self.add.is_some() {
            "credential"
        } else {
            "credentials"
        };
        base_url.join(&format!(
            "session/{}/webauthn/authenticator/{}/{what}",
            session_id.unwrap_or_default(),
            self.authenticator
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        match &self.add {
            Some(c) => (http::Method::POST, Some(c.to_string())),
            None => (http::Method::GET, None),
        }
    }
}

impl Driver {
    /// The credentials a virtual authenticator holds (with their private keys and
    /// signature counters), as WebDriver gives them.
    pub async fn credentials(&self, authenticator: &str) -> Vec<serde_json::Value> {
        let got = self
            .client
            .issue_cmd(Credentials {
                authenticator: authenticator.to_owned(),
                add: None,
            })
            .await
            .unwrap_or_else(|e| panic!("get credentials: {e}"));
        got.as_array().cloned().unwrap_or_default()
    }

    /// Puts `credential` (as [`Driver::credentials`] gives it) into a virtual
    /// authenticator: the same passkey on another browser profile.
    pub async fn add_credential(&self, authenticator: &str, credential: serde_json::Value) {
        self.client
            .issue_cmd(Credentials {
                authenticator: authenticator.to_owned(),
                add: Some(credential),
            })
            .await
            .unwrap_or_else(|e| panic!("add credential: {e}"));
    }

    /// Gives this browser a virtual passkey authenticator; returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let id = self
            .client
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .unwrap_or_else(|e| panic!("virtual authenticator: {e}"));
        id.as_str().unwrap_or_default().to_owned()
    }
}

impl Driver {
    /// Waits until the current URL's path (and query) starts with `prefix`.
    pub async fn wait_for_path(&self, prefix: &str) -> url::Url {
        for _ in 0..200 {
            let url = self.client.current_url().await.unwrap();
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            if path.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "never reached {prefix}: at {}",
            self.client.current_url().await.unwrap()
        );
    }

    /// The `value`s (entityIDs) of the institution buttons in `css`.
    pub async fn choices(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.attr("value").await.unwrap().unwrap_or_default());
        }
        out
    }
}

/// Something listening where the app's redirect URI points, so the browser's return
/// there loads a page (the test reads the code from the URL).
pub async fn app_site(redirect_uri: &str) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let port = url::Url::parse(redirect_uri).unwrap().port().unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let page = "<!doctype html><title>app</title><p>app</p>";
            let _ = tcp
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                        page.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    })
}
