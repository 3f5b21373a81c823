//! Black-box test support: the real `passerelle` binary as a process, and a small
//! cookie-keeping HTTP driver that walks the journey like a browser without JavaScript.
//!
//! - [`binary`] builds the binary once per test run (`cargo build -p passerelle`, a
//!   no-op when it is fresh) and returns its path.
//! - [`Passerelle`] is a started process (demo or serve), killed on drop, with its
//!   stderr kept for the failure message.
//! - [`Browser`] follows redirects by hand, keeps cookies per name (the server's
//!   `Secure` cookies are sent over loopback http, as browsers do for localhost), and
//!   reads forms' hidden fields.
//!
//! Test support only: helpers panic with a clear message, since a failed step is a
//! failed test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

pub mod chromium;
pub mod deploy;
pub mod flows;
pub mod institutions;

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after `label`.
    #[must_use]
    pub fn new(label: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let p = std::env::temp_dir().join(format!(
            "passerelle-it-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Installs rustls' ring provider (reqwest is built without a default one).
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The workspace root.
#[must_use]
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `passerelle` binary, built if needed (once per test process).
///
/// # Panics
/// When the build fails.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("PASSERELLE_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "passerelle",
                "--bin",
                "passerelle",
            ])
            .current_dir(workspace())
            .status()
            .expect("cargo build -p passerelle");
        assert!(status.success(), "building passerelle failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map_or_else(|_| workspace().join("target"), PathBuf::from);
        target.join("debug").join("passerelle")
    })
    .clone()
}

/// Runs `passerelle ARGS…` (a sysadmin's verb) to completion: (success, stdout, stderr).
///
/// # Panics
/// When the binary cannot be started.
#[must_use]
pub fn cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("passerelle {args:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `passerelle` process.
pub struct Passerelle {
    child: tokio::process::Child,
    /// `http://localhost:PORT`.
    pub url: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Passerelle {
    /// The process id (to send it signals).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts `passerelle ARGS…` with `env`, waits until `/healthz` answers.
    ///
    /// # Panics
    /// When it does not come up within 60 s (its log is printed).
    pub async fn start(args: &[&str], env: &[(&str, &str)], port: u16) -> Self {
        tls();
        Self::start_at(
            args,
            env,
            &format!("http://localhost:{port}"),
            reqwest::Client::new(),
        )
        .await
    }

    /// Starts `passerelle ARGS…`, waiting until `url/healthz` answers through `http`
    /// (an HTTPS client trusting the test certificate, for `[tls]`).
    ///
    /// # Panics
    /// When it does not come up within 60 s (its log is printed).
    pub async fn start_at(
        args: &[&str],
        env: &[(&str, &str)],
        url: &str,
        http: reqwest::Client,
    ) -> Self {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn passerelle");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let url = url.to_owned();
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                return Self { child, url, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "passerelle exited with {status}:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "passerelle did not come up:\n{}",
            log.lock().unwrap().join("\n")
        );
    }

    /// What the process wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// Final URL.
    pub url: String,
    /// `Location`, for a redirect.
    pub location: Option<String>,
    /// The body as text.
    pub body: String,
    /// Response headers (lower-case names; repeated ones joined by `\n`).
    pub headers: BTreeMap<String, String>,
}

impl Page {
    /// The value of the first `<input … name="NAME" value="…">` in the page (HTML
    /// entities for `&`, `<`, `>`, `"`, `'` decoded).
    ///
    /// # Panics
    /// When the field is missing.
    #[must_use]
    pub fn field(&self, name: &str) -> String {
        self.try_field(name)
            .unwrap_or_else(|| panic!("no field {name:?} in:\n{}", self.body))
    }

    /// Like [`Page::field`], `None` when missing.
    #[must_use]
    pub fn try_field(&self, name: &str) -> Option<String> {
        let wanted = format!("name=\"{name}\"");
        self.body.split("<input").skip(1).find_map(|tag| {
            let tag = tag.split('>').next()?;
            if !tag.contains(&wanted) {
                return None;
            }
            let start = tag.find(" value=\"")? + 8;
            Some(unescape(tag[start..].split('"').next()?))
        })
    }

    /// The `action` of the form that holds field `name`.
    #[must_use]
    pub fn form_action(&self, containing: &str) -> String {
        let at = self
            .body
            .find(&format!("name=\"{containing}\""))
            .expect("field");
        let form = self.body[..at].rfind("<form").expect("form");
        let tag = &self.body[form..at];
        let start = tag.find("action=\"").expect("action") + 8;
        unescape(tag[start..].split('"').next().unwrap())
    }

    /// The body with entities decoded (for looking for text).
    #[must_use]
    pub fn text(&self) -> String {
        unescape(&self.body)
    }

    /// Every `href` in the page, decoded.
    #[must_use]
    pub fn links(&self) -> Vec<String> {
        self.body
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(unescape)
            .collect()
    }

    /// The institutions the discovery page offers, as the `/saml/login?idp=…` their
    /// buttons submit (each button is `name="idp" value="ENTITY_ID"` in a GET form to
    /// `/saml/login`).
    #[must_use]
    pub fn choices(&self) -> Vec<String> {
        self.body
            .split("name=\"idp\" value=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(|v| {
                let id: String =
                    url::form_urlencoded::byte_serialize(unescape(v).as_bytes()).collect();
                format!("/saml/login?idp={id}")
            })
            .collect()
    }
}

/// Decodes the named entities our templates produce and every numeric one.
#[must_use]
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A browser without JavaScript: cookies by name, redirects followed by hand.
pub struct Browser {
    http: reqwest::Client,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    /// The origin relative URLs resolve against.
    pub base: String,
    /// Redirects to URLs starting with this are not followed (the app's redirect URI).
    pub stop_at: Option<String>,
    /// Other origins to spread requests over (several instances behind one public URL):
    /// the n-th request to `base` goes to `instances[n % len]` instead.
    pub instances: Vec<String>,
    turn: usize,
}

impl Browser {
    /// A browser whose relative URLs resolve against `base`.
    #[must_use]
    pub fn new(base: &str) -> Self {
        tls();
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            base: base.trim_end_matches('/').to_owned(),
            stop_at: None,
            instances: Vec::new(),
            turn: 0,
        }
    }

    /// A browser whose connections come from `ip` (a loopback address such as
    /// `127.0.0.2`): another client address for the bridge's per-address limits.
    #[must_use]
    pub fn from_address(base: &str, ip: std::net::IpAddr) -> Self {
        let mut b = Self::new(base);
        b.http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .local_address(ip)
            .build()
            .unwrap();
        b
    }

    fn absolute(&mut self, url: &str) -> String {
        let full = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        if self.instances.is_empty() {
            return full;
        }
        match full.strip_prefix(&self.base) {
            Some(rest) => {
                let origin = self.instances[self.turn % self.instances.len()].clone();
                self.turn += 1;
                format!("{origin}{rest}")
            }
            None => full,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: String) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let mut headers = BTreeMap::new();
        for (k, v) in r.headers() {
            let v = v.to_str().unwrap_or_default().to_owned();
            headers
                .entry(k.as_str().to_owned())
                .and_modify(|e: &mut String| {
                    e.push('\n');
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        for c in r.headers().get_all("set-cookie") {
            let text = c.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status().as_u16();
        let location = headers.get("location").cloned();
        let body = r.text().await.unwrap_or_default();
        Page {
            status,
            url,
            location,
            body,
            headers,
        }
    }

    /// GET, without following redirects.
    pub async fn get_once(&mut self, url: &str) -> Page {
        let url = self.absolute(url);
        let req = self.http.get(&url);
        self.send(req, url).await
    }

    /// POST a form, without following redirects.
    pub async fn post_once(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let url = self.absolute(url);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req, url).await
    }

    /// POST a form with extra request headers, without following redirects.
    pub async fn post_with(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let url = self.absolute(url);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req, url).await
    }

    /// Follows `page`'s redirects (GET), up to 10.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match (page.status, page.location.clone()) {
                (301 | 302 | 303 | 307, Some(to))
                    if !self.stop_at.as_deref().is_some_and(|p| to.starts_with(p)) =>
                {
                    let next = url::Url::parse(&page.url)
                        .unwrap()
                        .join(&to)
                        .unwrap()
                        .to_string();
                    page = self.get_once(&next).await;
                }
                _ => return page,
            }
        }
        panic!("too many redirects");
    }

    /// GET and follow redirects.
    pub async fn get(&mut self, url: &str) -> Page {
        let p = self.get_once(url).await;
        self.follow(p).await
    }

    /// POST a form and follow redirects.
    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let p = self.post_once(url, fields).await;
        self.follow(p).await
    }
}

/// The newest message in an outbox directory that was not in `seen`, waiting up to 10 s.
///
/// # Panics
/// When none arrives.
pub async fn next_outbox_mail(dir: &Path, seen: usize) -> (String, String) {
    for _ in 0..100 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() > seen {
            files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).unwrap());
            let raw = std::fs::read(files.last().unwrap()).unwrap();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let to = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            return (to, m.body_text(0).unwrap_or_default().into_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new mail in {}", dir.display());
}

/// The first `http(s)://…/link/TOKEN` URL in a text.
#[must_use]
pub fn link_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.contains("/link/"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
}

/// The six-digit code in a text.
#[must_use]
pub fn code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .map(str::to_owned)
}

/// The independent app: openid-client driven over stdin/stdout (see `openid-client/app.mjs`).
pub struct OidcApp {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

/// openid-client's pinned version.
pub const OPENID_CLIENT: &str = "openid-client@6.9.0";

impl OidcApp {
    /// Installs openid-client (once) and starts the app for `client_id`.
    pub async fn start(issuer: &str, client_id: &str, secret: &str, redirect_uri: &str) -> Self {
        let dir = passerelle_testkit::npm::install(
            &workspace().join("target/openid-client"),
            &[OPENID_CLIENT],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(
            workspace().join("integration-tests/openid-client/app.mjs"),
            dir.join("app.mjs"),
        )
        .unwrap();
        let mut child = tokio::process::Command::new("node")
            .current_dir(&dir)
            .args(["app.mjs", issuer, client_id, secret, redirect_uri])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    async fn line(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("openid-client answered in time")
            .unwrap()
            .expect("openid-client exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    async fn send(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt as _;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The authorization URL for a new login with extra `params`.
    pub async fn authorize(&mut self, params: serde_json::Value) -> String {
        self.send(&serde_json::json!({ "params": params }).to_string())
            .await;
        let v = self.line().await;
        v["authorize"]
            .as_str()
            .unwrap_or_else(|| panic!("no URL: {v}"))
            .to_owned()
    }

    /// Completes the login from the callback URL: `{claims, userinfo, id_token}` or `{error}`.
    pub async fn callback(&mut self, url: &str) -> serde_json::Value {
        self.send(url).await;
        self.line().await
    }

    /// Stops node.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `n`-th message (0-based) the SMTP sink received, waiting up to 15 s: (recipient,
/// text body).
///
/// # Panics
/// When it does not arrive.
pub async fn smtp_mail(sink: &passerelle_testkit::smtp::SmtpSink, n: usize) -> (String, String) {
    let all = sink.wait_for(n + 1, Duration::from_secs(15)).await;
    let m = all
        .get(n)
        .unwrap_or_else(|| panic!("mail #{n} never arrived ({} received)", all.len()));
    let parsed = mail_parser::MessageParser::default()
        .parse(&m.data)
        .unwrap();
    (
        m.to.join(","),
        parsed.body_text(0).unwrap_or_default().into_owned(),
    )
}
