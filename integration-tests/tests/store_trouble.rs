//! The real binary on a Redis in trouble: paused (what a slow fork, a stalled disk or a
//! failover looks like from a client). A page answers 503 within one store deadline,
//! not one deadline per store call it would have made. Down at start-up (a host booting,
//! Redis not up yet): the bridge starts anyway, not ready, and completes what needed the
//! store (the OIDC signing keys) once Redis answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use passerelle_integration_tests::deploy::{CLIENT_ID, CLIENT_SECRET, Deployment, USER};
use passerelle_integration_tests::flows::{activate, ok, password_to_app, set_password};
use passerelle_integration_tests::{Browser, OidcApp, link_in, smtp_mail};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_started_while_redis_is_down_answers_503_then_works_once_redis_is_up() {
    let mut d = Deployment::start(1).await;
    d.instances.pop().unwrap().stop().await;
    d.redis.stop();
    // Comes up (`/healthz` answers) instead of exiting.
    d.start_instance(0).await;
    let mut b = Browser::new(&d.public_url);
    assert_eq!(b.get_once("/healthz").await.status, 200, "alive");
    // The portal needs no stored state to be shown; submitting it needs the store.
    let portal = b.get("/login").await;
    ok(&portal, 200, "Votre adresse email");
    let page = b
        .post_once(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", USER.2)],
        )
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.text().contains("indisponible"), "{}", page.body);
    let ready = b.get_once("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("store: unavailable"), "{}", ready.body);
    assert!(
        ready.body.contains("oidc signing keys: none signs"),
        "no key until the store answers: {}",
        ready.body
    );

    // Redis starts (empty, as on a first start): the keys are made, the instance is ready.
    d.redis.restart().unwrap();
    let mut ready = b.get_once("/readyz").await;
    for _ in 0..100 {
        if ready.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready = b.get_once("/readyz").await;
    }
    assert_eq!(
        ready.status,
        200,
        "{}\n{}",
        ready.body,
        d.instances[0].log()
    );
    assert!(
        ready.body.contains("oidc signing keys: ok"),
        "{}",
        ready.body
    );

    // The whole journey, to signed tokens the app verifies.
    let mut app = OidcApp::start(&d.public_url, CLIENT_ID, CLIENT_SECRET, &d.redirect_uri).await;
    b.stop_at = Some(d.redirect_uri.clone());
    let portal = b.get(&app.authorize(serde_json::json!({})).await).await;
    let sent = activate(&mut b, &portal).await;
    ok(&sent, 200, USER.2);
    let (_, text) = smtp_mail(&d.smtp, 0).await;
    let done = set_password(&mut b, &link_in(&text).unwrap(), "Premier-Mot2passe").await;
    ok(&done, 200, "réussi");
    let cb = password_to_app(&mut b, "Premier-Mot2passe", &d.redirect_uri).await;
    let tokens = app.callback(&cb).await;
    assert_eq!(tokens["claims"]["email"], USER.2, "{tokens}");
    app.stop().await;
}
