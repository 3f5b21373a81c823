//! One campus, one address: what one client address can make the bridge do. Anonymous
//! visits cost the store nothing; per-address limits slow guessing, not success.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use passerelle_integration_tests::deploy::{Deployment, USER};
use passerelle_integration_tests::flows::{activate, ok, set_password};
use passerelle_integration_tests::{Browser, link_in, smtp_mail};
use passerelle_testkit::redis::RedisServer;

const PASSWORD: &str = "Campus-Mot2passe!";

/// Cheap argon2 costs (the one thing changed from the defaults): 2,000 OWASP hashes on
/// a shared CI core would take minutes; the limits are the defaults.
const CHEAP_ARGON2: &str = "[local_auth.argon2]\nmemory_kib = 8\niterations = 1\nparallelism = 1\n";

/// One student's sign-in from a browser with no cookie: portal, address, password.
async fn sign_in(url: &str, email: &str, password: &str) -> (u16, String) {
    let mut b = Browser::new(url);
    let portal = b.get("/login").await;
    assert_eq!(portal.status, 200, "{}", portal.body);
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", email)],
        )
        .await;
    if pw.status != 200 {
        return (pw.status, pw.text());
    }
    let done = b
        .post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", password)],
        )
        .await;
    let text = done.text();
    (done.status, done.location.unwrap_or(text))
}

/// `(keys, used_memory)` of the deployment's Redis.
fn store_size(redis: &RedisServer) -> (u64, u64) {
    let keys = redis.cli(&["DBSIZE"]).unwrap().trim().parse().unwrap();
    let info = redis.cli(&["INFO", "memory"]).unwrap();
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (keys, used)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_anonymous_visits_from_one_address_leave_the_store_flat() {
    const VISITS: usize = 100_000;
    const TASKS: usize = 8;
    let d = Deployment::start(1).await;
    let before = store_size(&d.redis);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let client = client.clone();
        let url = format!("{}/login", d.public_url);
        tasks.push(tokio::spawn(async move {
            let mut csrf_seen = 0usize;
            for _ in 0..VISITS / TASKS {
                // No cookie: every visit is a new visitor.
                let r = client.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                assert!(r.headers().get("set-cookie").is_some(), "a cookie is set");
                let body = r.text().await.unwrap();
                csrf_seen += usize::from(body.contains("name=\"csrf\""));
            }
            csrf_seen
        }));
    }
    let mut forms = 0;
    for t in tasks {
        forms += t.await.unwrap();
    }
    let took = start.elapsed();
    assert_eq!(forms, VISITS, "every portal carries its CSRF token");
    let after = store_size(&d.redis);
    eprintln!(
        "{VISITS} GET /login in {took:?}: keys {} -> {}, used_memory {} -> {} bytes",
        before.0, after.0, before.1, after.1
    );
    assert!(
        after.0 <= before.0 + 10,
        "keys grew from {} to {}",
        before.0,
        after.0
    );
    assert!(
        after.1 < before.1 + 1024 * 1024,
        "memory grew from {} to {}",
        before.1,
        after.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_sign_ins_from_one_address_pass_while_wrong_passwords_are_slowed() {
    const SIGN_INS: usize = 2_000;
    const TASKS: usize = 8;
    let d = Deployment::start_with(1, CHEAP_ARGON2).await;
    // One activated account (every request comes from 127.0.0.1, like a campus NAT).
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let sent = activate(&mut b, &portal).await;
    ok(&sent, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    let done = set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await;
    ok(&done, 200, "réussi");

    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let url = d.public_url.clone();
        tasks.push(tokio::spawn(async move {
            let mut refused = Vec::new();
            for _ in 0..SIGN_INS / TASKS {
                let (status, to) = sign_in(&url, USER.2, PASSWORD).await;
                if !(status == 303 && to == "/account") {
                    refused.push((status, to));
                }
            }
            refused
        }));
    }
    let mut refused = Vec::new();
    for t in tasks {
        refused.extend(t.await.unwrap());
    }
    let took = start.elapsed();
    eprintln!("{SIGN_INS} sign-ins from one address in {took:?}");
    assert!(
        refused.is_empty(),
        "{} of {SIGN_INS} refused, first: {:?}",
        refused.len(),
        refused.first()
    );

    // Guessing from the same address is still slowed: 500 failures (the default), ten
    // per address (the per-account default), then every password from it waits.
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..50 {
        let mut b = Browser::new(&d.public_url);
        let portal = b.get("/login").await;
        let email = format!("guess{i}@etu.univ-test.fr");
        b.post_once(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", &email)],
        )
        .await;
        let pw = b.get("/login/password").await;
        for n in 0..10 {
            let p = b
                .post_once(
                    "/login/password",
                    &[
                        ("csrf", &pw.field("csrf")),
                        ("password", &format!("Wrong-{n}x")),
                    ],
                )
                .await;
            *statuses.entry(p.status).or_insert(0) += 1;
        }
    }
    assert_eq!(statuses.get(&401), Some(&500), "{statuses:?}");
    let (status, text) = sign_in(&d.public_url, USER.2, PASSWORD).await;
    assert_eq!(
        status, 429,
        "the address is slowed, right password or not: {text}"
    );
    assert!(text.contains("minute"), "{text}");
}

/// `n` cookie-less `GET /authorize` (valid client and redirect URI) on 8 tasks: how many
/// answered (the portal, or the redirect to it) and how many got 429.
async fn authorize_storm(d: &Deployment, n: usize) -> (usize, usize) {
    const TASKS: usize = 8;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", passerelle_integration_tests::deploy::CLIENT_ID)
        .append_pair("redirect_uri", &d.redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let url = format!("{}/authorize?{q}", d.public_url);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut limited) = (0, 0);
            for _ in 0..n / TASKS {
                match client.get(&url).send().await.unwrap().status().as_u16() {
                    200 | 303 => ok += 1,
                    429 => limited += 1,
                    other => panic!("/authorize answered {other}"),
                }
            }
            (ok, limited)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (ok, limited) = t.await.unwrap();
        total = (total.0 + ok, total.1 + limited);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_from_one_address_cannot_grow_the_store_past_its_allowance() {
    let d = Deployment::start(1).await;
    // Each visit stores a journey (the pending request and its session): up to the
    // address's allowance of new journeys (10,000 per 15 minutes)…
    let (ok, limited) = authorize_storm(&d, 10_000).await;
    assert_eq!((ok, limited), (10_000, 0));
    let full = store_size(&d.redis);
    // …and not one more: further visits are refused and write nothing.
    let (ok, limited) = authorize_storm(&d, 2_000).await;
    assert_eq!((ok, limited), (0, 2_000));
    let after = store_size(&d.redis);
    eprintln!(
        "keys at the allowance {}, after 2,000 more visits {}",
        full.0, after.0
    );
    assert!(
        after.0 <= full.0 + 2,
        "keys grew from {} to {}",
        full.0,
        after.0
    );
}
