//! What one refresh-token grant costs Redis: a grant is made, then refreshed N times in a
//! row (each answer's token feeds the next), against a real redis-server; prints Redis's
//! commands per refresh (INFO commandstats before/after) and its CPU per refresh
//! (`used_cpu_sys + used_cpu_user`, INFO cpu), and the provider's time per refresh.
//! Run: `REDIS_URL=redis://127.0.0.1:PORT cargo run --release -p passerelle-oidc-provider
//! --example refresh_cost -- 20000` (a redis-server of its own: the figures are its totals).
#![allow(clippy::print_stdout, clippy::expect_used, clippy::panic)] // a bench tool

use std::time::Instant;

use passerelle_oidc_provider::{
    Amr, Assurance, Authentication, Authorize, ClientConfig, ClientCredentials, Completion,
    Provider, Registry, Settings, SubjectType, UserClaims, hash_secret, unix_now,
};
use passerelle_store::Store;

const SECRET: &str = "bench-secret-0123456789-abcdefghij";

/// Redis's INFO as `field → value`.
fn info(url: &str, section: &str) -> std::collections::HashMap<String, String> {
    let client = redis::Client::open(url).expect("redis url");
    let mut c = client.get_connection().expect("redis");
    let text: String = redis::cmd("INFO").arg(section).query(&mut c).expect("INFO");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

fn cpu(url: &str) -> f64 {
    let i = info(url, "cpu");
    ["used_cpu_sys", "used_cpu_user"]
        .iter()
        .map(|k| i.get(*k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        .sum()
}

fn calls(url: &str) -> u64 {
    info(url, "commandstats")
        .values()
        .filter_map(|v| {
            v.split(',')
                .next()?
                .strip_prefix("calls=")?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("N"));
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = Store::open(&url, &format!("refresh-cost-{}", unix_now())).expect("store");
    let client = ClientConfig {
        client_id: "bench".into(),
        name: None,
        secret_hash: Some(hash_secret(SECRET)),
        token_endpoint_auth_method: None,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        scopes: Some("openid email offline_access".into()),
        subject_type: SubjectType::Public,
        sector_identifier: None,
        backchannel_logout_uri: None,
        id_token_signed_response_alg: Some("ES256".into()),
        access_token_lifetime: None,
        refresh_tokens: None,
        jwks: None,
        jwks_uri: None,
        initiate_login_uri: None,
        client_uri: None,
        default_acr_values: Vec::new(),
    };
    let provider = Provider::new(
        Settings::new("http://127.0.0.1:9"),
        Registry::new(&[client]).expect("client"),
        store,
        &[9u8; 32],
    )
    .await
    .expect("provider");
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let Ok(Authorize::Login(p)) = provider
        .authorize(&pairs(&[
            ("response_type", "code"),
            ("client_id", "bench"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid email offline_access"),
        ]))
        .await
    else {
        panic!("authorize");
    };
    let auth = Authentication {
        subject: "bench".into(),
        auth_time: unix_now(),
        amr: vec![Amr::Pwd],
        assurance: Assurance::of(&[Amr::Pwd], None),
        acr: None,
        sid: "sid".into(),
        claims: UserClaims::default(),
    };
    let Completion::Redirect(to) = provider.complete(&p.id, auth).await.expect("complete") else {
        panic!("complete");
    };
    let code = url::Url::parse(&to)
        .expect("redirect")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let creds = ClientCredentials {
        basic: Some(("bench".into(), SECRET.into())),
        ..ClientCredentials::default()
    };
    let first = provider
        .token(
            &pairs(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/cb"),
            ]),
            &creds,
        )
        .await
        .expect("code exchange");
    let mut token = first.refresh_token.expect("a refresh token");
    let (cpu0, calls0, t0) = (cpu(&url), calls(&url), Instant::now());
    for _ in 0..n {
        let answer = provider
            .token(
                &pairs(&[("grant_type", "refresh_token"), ("refresh_token", &token)]),
                &creds,
            )
            .await
            .expect("refresh");
        token = answer.refresh_token.expect("rotated");
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // (Two INFO calls are in the after-counts: negligible against N.)
    let (cpu1, calls1) = (cpu(&url), calls(&url));
    let n_f = n as f64;
    println!(
        "{n} refreshes: {:.2} Redis commands each, Redis CPU {:.1} µs each, {:.1} µs each end to end (one client, sequential)",
        (calls1 - calls0) as f64 / n_f,
        (cpu1 - cpu0) / n_f * 1e6,
        elapsed / n_f * 1e6
    );
}
