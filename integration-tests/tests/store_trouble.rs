//! The real binary on a Redis in trouble: paused (what a slow fork, a stalled disk or a
//! failover looks like from a client). A page answers 503 within one store deadline,
//! not one deadline per store call it would have made.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use passerelle_integration_tests::Browser;
use passerelle_integration_tests::deploy::Deployment;
use passerelle_integration_tests::flows::ok;

/// The store's response timeout (`passerelle_store::Timeouts::default()`).
const DEADLINE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_paused_a_page_answers_503_within_one_deadline() {
    let d = Deployment::start(1).await;
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    ok(&portal, 200, "Votre adresse email");
    let csrf = portal.field("csrf");
    let lang = b
        .post_once(
            "/lang",
            &[("csrf", &csrf), ("lang", "fr"), ("back", "/login")],
        )
        .await;
    assert_eq!(lang.status, 303, "{}", lang.body);

    // Writes paused, reads answered: the portal's counter waits, then the session save
    // would wait as long again.
    d.redis.cli(&["CLIENT", "PAUSE", "10000", "WRITE"]).unwrap();
    let start = Instant::now();
    let page = b
        .post_once(
            "/login",
            &[("csrf", &csrf), ("email", "paused@etu.univ-test.fr")],
        )
        .await;
    let took = start.elapsed();
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.text().contains("indisponible"), "{}", page.body);
    assert!(
        took < DEADLINE + Duration::from_millis(900),
        "one deadline per request, not one per store call: {took:?}"
    );
    eprintln!("paused writes: 503 after {took:?}");

    // Everything paused: the session cannot even be read.
    d.redis.cli(&["CLIENT", "PAUSE", "10000", "ALL"]).unwrap();
    let start = Instant::now();
    let page = b.get_once("/login/password").await;
    let took = start.elapsed();
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(took < DEADLINE + Duration::from_millis(900), "{took:?}");
    eprintln!("paused: 503 after {took:?}");

    d.redis.cli(&["CLIENT", "UNPAUSE"]).unwrap();
    let back = b.get("/login").await;
    ok(&back, 200, "Votre adresse email");
}
