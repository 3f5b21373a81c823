//! The load run of issue #5: full password-login journeys against `passerelle serve` on
//! loopback (real Redis, one instance), `WORKERS` browsers at once (50 by default) for
//! `SECONDS` (20), each journey being what an app's user does: `/authorize` → portal →
//! e-mail → password page → password → back to the app with a code → `/token`.
//! Prints journeys per second and the latency of `/token` and of whole journeys while
//! the password logins (argon2id, OWASP parameters) run.
//!
//! Run with a release binary:
//!   cargo build --release -p passerelle
//!   PASSERELLE_BIN=target/release/passerelle cargo run --release -p passerelle-integration-tests --example load

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::flows::{activate, back_to_app, ok, set_password};
use passerelle_integration_tests::{Browser, link_in, smtp_mail};

const PASSWORD: &str = "Charge-Mot2passe!";
/// Every request comes from 127.0.0.1: lift the per-address limits for the run.
const EXTRA: &str = r#"
[local_auth]
login_attempts_per_client = { max = 100000000, window = 900 }
login_failures_per_account = { max = 100000000, window = 900 }

[limits]
portal_per_client = { max = 100000000, window = 900 }
"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let workers = env("WORKERS", 50) as usize;
    let seconds = env("SECONDS", 20);
    let d = Deployment::start_with(1, EXTRA).await;

    // One account, activated through the university like any newcomer.
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    ok(&activate(&mut b, &portal).await, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    ok(
        &set_password(&mut b, &link_in(&text).unwrap(), PASSWORD).await,
        200,
        "réussi",
    );

    let redirect = d.redirect_uri.clone();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid email profile")
        .append_pair("state", "load")
        .append_pair("nonce", "load")
        .finish();
    let authorize = format!("{}/authorize?{q}", d.public_url);
    let token_url = format!("{}/token", d.public_url);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (authorize, token_url, redirect, public) = (
            authorize.clone(),
            token_url.clone(),
            redirect.clone(),
            d.public_url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            passerelle_integration_tests::tls();
            let http = reqwest::Client::new();
            let mut journeys = Vec::new();
            let mut tokens = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let mut b = Browser::new(&public);
                b.stop_at = Some(redirect.clone());
                let portal = b.get(&authorize).await;
                let pw = b
                    .post(
                        "/login",
                        &[("csrf", &portal.field("csrf")), ("email", USER.2)],
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
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "authorization_code")
                    .append_pair("code", &code)
                    .append_pair("redirect_uri", &redirect)
                    .finish();
                let t1 = Instant::now();
                let r = http
                    .post(&token_url)
                    .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "/token answered {}", r.status());
                let _ = r.bytes().await;
                tokens.push(t1.elapsed());
                journeys.push(t0.elapsed());
            }
            (journeys, tokens)
        }));
    }
    let mut journeys = Vec::new();
    let mut tokens = Vec::new();
    for t in tasks {
        let (j, k) = t.await.unwrap();
        journeys.extend(j);
        tokens.extend(k);
    }
    let elapsed = started.elapsed().as_secs_f64();
    journeys.sort();
    tokens.sort();
    println!(
        "{workers} concurrent password-login journeys for {elapsed:.1} s: {} journeys, {:.1} journeys/s",
        journeys.len(),
        journeys.len() as f64 / elapsed
    );
    println!(
        "journey latency p50 {:?} p99 {:?}; /token latency p50 {:?} p99 {:?} max {:?}",
        percentile(&journeys, 50.0),
        percentile(&journeys, 99.0),
        percentile(&tokens, 50.0),
        percentile(&tokens, 99.0),
        tokens.last().copied().unwrap_or_default()
    );
}
