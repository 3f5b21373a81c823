//! One campus, one address: what one client address can make the bridge do. Anonymous
//! visits cost the store nothing; per-address limits slow guessing, not success.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use passerelle_integration_tests::deploy::Deployment;
use passerelle_testkit::redis::RedisServer;

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
