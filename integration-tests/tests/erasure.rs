//! Deleting an account with its owner's data (RGPD article 17) on the real binary
//! (`serve`, Redis, SMTP, the dev IdP): the owner deletes their own account after an
//! e-mailed code, support deletes another from the console with a reason. Each time the
//! app the person signed in to gets a back-channel logout, its refresh token stops
//! working, and a scan of every key and value in Redis finds nothing of the person but
//! the audit log's records. Support finds accounts by their linked institution, and
//! `passerelle accounts reindex` rebuilds the indexes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use passerelle_integration_tests::deploy::{CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::flows::{
    activate, active_by_invitation, back_to_app, console_second_factor, ok, set_password, signed_in,
};
use passerelle_integration_tests::{Browser, cli, code_in, link_in, smtp_mail};

const AGENT: &str = "agent.support@uness.test";
const BOB: &str = "bob.martin@uness.test";
const PASSWORD: &str = "Erasure-Sure-42";
const APP: &str = "bcl-app";

/// An app's back-channel logout endpoint: the logout tokens it received.
struct LogoutSink {
    port: u16,
    tokens: Arc<Mutex<Vec<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl LogoutSink {
    async fn start() -> Self {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        let router = axum::Router::new().route(
            "/bcl",
            axum::routing::post(move |body: String| {
                let seen = seen.clone();
                async move {
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    seen.lock().unwrap().push(token);
                    http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            port,
            tokens,
            _task: task,
        }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    /// Waits for `n` logout tokens; returns them.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let got = self.tokens.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no back-channel logout arrived");
    }
}

fn config(sink: &LogoutSink) -> String {
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(CLIENT_SECRET.as_bytes()));
    format!(
        r#"[console]
staff = [{{ email = "{AGENT}", role = "support" }}]

[[oidc.clients]]
client_id = "{APP}"
name = "Application déconnectée"
secret_hash = "sha256:{hash}"
redirect_uris = ["{redirect}"]
backchannel_logout_uri = "http://127.0.0.1:{port}/bcl"
scopes = "openid email profile offline_access"
"#,
        redirect = sink.redirect_uri(),
        port = sink.port,
    )
}

/// Signs `email` in to the app from a new browser and exchanges the code: the app's
/// refresh token.
async fn app_sign_in(d: &Deployment, sink: &LogoutSink, email: &str) -> (Browser, String) {
    let redirect = sink.redirect_uri();
    let mut b = Browser::new(&d.public_url);
    b.stop_at = Some(redirect.clone());
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", APP)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid email profile offline_access")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .finish();
    let portal = b.get(&format!("/authorize?{q}")).await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", email)],
        )
        .await;
    let done = b
        .post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", PASSWORD)],
        )
        .await;
    let back = back_to_app(&done, &redirect);
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, body) = token(
        d,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    (b, refresh.to_owned())
}

async fn token(d: &Deployment, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    passerelle_integration_tests::tls();
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = reqwest::Client::new()
        .post(format!("{}/token", d.public_url))
        .basic_auth(APP, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Every key of the store with its values (by type), one line each: one Lua script
/// walking the keyspace inside redis-server (SCAN in a script), one redis-cli run.
const DUMP: &str = r"
local out = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do
    local t = redis.call('TYPE', k).ok
    local v = {}
    if t == 'string' then v = { redis.call('GET', k) }
    elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1)
    elseif t == 'set' then v = redis.call('SMEMBERS', k)
    elseif t == 'hash' then v = redis.call('HGETALL', k)
    elseif t == 'stream' then
      for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do
        v[#v + 1] = table.concat(e[2], ' ')
      end
    end
    local line = k .. '\t' .. table.concat(v, ' ')
    out[#out + 1] = (string.gsub(line, '\n', ' '))
  end
until cursor == '0'
return out
";

/// Every key of the deployment whose name or value mentions one of `needles`
/// (case-insensitive): a scan of the whole store, values read by their type.
fn traces(d: &Deployment, needles: &[&str]) -> Vec<String> {
    let dump = d.redis.cli(&["eval", DUMP, "0", "it:*"]).unwrap();
    let mut found: Vec<String> = dump
        .lines()
        .filter(|line| {
            let text = line.to_lowercase();
            needles.iter().any(|n| text.contains(&n.to_lowercase()))
        })
        .filter_map(|line| line.split('\t').next().map(str::to_owned))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The audit log's key: the one place that keeps that a deletion happened.
const AUDIT_KEY: &str = "it:audit:{log}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_account_leaves_nothing_of_the_person_in_the_store_but_the_audit_record() {
    let sink = LogoutSink::start().await;
    let d = Deployment::start_with(1, &config(&sink)).await;
    let conf = d.config.display().to_string();

    // Alice: activated through her university (her identity is linked), then signed in
    // to the app; a wrong password from elsewhere leaves throttle windows behind.
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
    let mut mails = active_by_invitation(&d, AGENT, PASSWORD, 1).await;
    mails = active_by_invitation(&d, BOB, PASSWORD, mails).await;
    let (mut alice, refresh) = app_sign_in(&d, &sink, USER.2).await;
    let mut stranger = Browser::from_address(&d.public_url, "127.0.0.7".parse().unwrap());
    let p = stranger.get("/login").await;
    let pw = stranger
        .post("/login", &[("csrf", &p.field("csrf")), ("email", USER.2)])
        .await;
    let wrong = stranger
        .post_once(
            "/login/password",
            &[
                ("csrf", &pw.field("csrf")),
                ("password", "not-her-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        traces(&d, &["alice"]).len() > 5,
        "the person is in the store"
    );

    // Support finds her by her institution.
    let mut agent = signed_in(&d, AGENT, PASSWORD).await;
    mails = console_second_factor(&d, &mut agent, mails).await;
    let picked = agent.get("/console/accounts?institution=test").await;
    let to_idp = picked
        .links()
        .into_iter()
        .find(|l| l.starts_with("/console/accounts?idp="))
        .expect("the institution is offered");
    let linked = agent.get(&to_idp).await;
    ok(&linked, 200, "Comptes liés à Université de Test");
    assert!(linked.text().contains(USER.2), "{}", linked.body);
    assert!(!linked.text().contains(BOB), "Bob has no institution");

    // Alice deletes her account: the page says what happens, a code confirms it.
    alice.stop_at = None;
    let page = alice.get("/account").await;
    assert!(page.links().contains(&"/account/delete".to_owned()));
    let intro = alice.get("/account/delete").await;
    ok(&intro, 200, "Supprimer votre compte");
    let sent = alice
        .post("/account/delete/code", &[("csrf", &intro.field("csrf"))])
        .await;
    ok(&sent, 200, "Code à 6 chiffres");
    let (to, text) = smtp_mail(&d.smtp, mails).await;
    assert_eq!(to, USER.2);
    mails += 1;
    let code = code_in(&text).unwrap();
    let unconfirmed = alice
        .post(
            "/account/delete",
            &[("csrf", &sent.field("csrf")), ("code", &code)],
        )
        .await;
    ok(&unconfirmed, 422, "Cochez la case");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = alice
        .post(
            "/account/delete",
            &[
                ("csrf", &unconfirmed.field("csrf")),
                ("code", wrong),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&refused, 422, "pas le bon");
    let forged = Browser::new(&d.public_url)
        .post_once("/account/delete", &[("code", &code), ("confirm", "1")])
        .await;
    assert_eq!(forged.status, 403, "no token: refused");
    assert!(cli(&["accounts", "show", USER.2, "--config", &conf]).0);
    let done = alice
        .post(
            "/account/delete",
            &[
                ("csrf", &refused.field("csrf")),
                ("code", &code),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&done, 200, "Votre compte est supprimé");

    // The app was told, its refresh token is dead, every session is gone.
    let logout = sink.wait_for(1).await;
    assert_eq!(logout[0].split('.').count(), 3, "a signed logout token");
    let (status, body) = token(
        &d,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let gone = user.get_once("/account").await;
    assert_eq!(gone.location.as_deref(), Some("/login"));
    let (found, _, _) = cli(&["accounts", "show", USER.2, "--config", &conf]);
    assert!(!found, "no account any more");
    let after = agent.get(&to_idp).await;
    assert!(!after.text().contains(USER.2));
    // Nothing of her in the store but the audit log, which says it happened.
    assert_eq!(traces(&d, &["alice", "durand"]), vec![AUDIT_KEY.to_owned()]);
    let (_, export, _) = cli(&["audit", "export", "--config", &conf]);
    let deleted = export
        .lines()
        .find(|l| l.contains("\"account_deleted\""))
        .expect("the deletion is audited");
    assert!(deleted.contains("\"kind\":\"user\""), "{deleted}");

    // Support deletes Bob's account: a reason, then nothing of him is left either.
    let (_bob, bob_refresh) = app_sign_in(&d, &sink, BOB).await;
    let view = agent.get(&format!("/console/accounts?email={BOB}")).await;
    ok(&view, 200, "Supprimer le compte");
    let no_reason = agent
        .post(
            "/console/accounts/change",
            &[
                ("csrf", &view.field("csrf")),
                ("email", BOB),
                ("change", "delete"),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&no_reason, 422, "motif");
    let deleted = agent
        .post(
            "/console/accounts/change",
            &[
                ("csrf", &no_reason.field("csrf")),
                ("email", BOB),
                ("change", "delete"),
                ("reason", "ticket 9: RGPD erasure request by mail"),
                ("confirm", "1"),
            ],
        )
        .await;
    ok(&deleted, 200, "Compte supprimé");
    sink.wait_for(2).await;
    let (status, _) = token(
        &d,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &bob_refresh),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(traces(&d, &["bob.martin"]), vec![AUDIT_KEY.to_owned()]);
    let (_, export, _) = cli(&["audit", "export", "--config", &conf]);
    assert!(export.contains("ticket 9: RGPD erasure request by mail"));

    // The indexes rebuilt from what is left: the agent alone.
    let (ok_, out, err) = cli(&["accounts", "reindex", "--config", &conf]);
    assert!(ok_, "{out}{err}");
    assert!(
        out.starts_with("1 accounts indexed, 0 of them linked"),
        "{out}"
    );
    let _ = mails;
}
