//! The OIDC signing keys of `passerelle serve`, black box: an instance whose stored keys
//! cannot sign yet (their first instant is ahead of its clock: clock skew between
//! instances, a hand-edited store) says so at `/readyz` instead of answering `/token`
//! with a 500 while looking ready.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::Browser;
use passerelle_integration_tests::deploy::Deployment;

/// The sealed key set, as the store holds it (prefix `it`, see `deploy.rs`).
const KEY_SET: &str = "it:oidc-keys:{keys}:set";

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli (scripts/deps.sh test)");
    assert!(out.status.success(), "redis-cli {args:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// Stops the one instance and starts it again on the same configuration and store.
async fn restart(d: &mut Deployment) {
    let old = d.instances.pop().unwrap();
    old.stop().await;
    d.start_instance(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_not_ready_while_no_signing_key_can_sign() {
    let mut d = Deployment::start(1).await;
    let port = d.redis.port();
    let original = redis_cli(port, &["GET", KEY_SET]);
    let mut set: serde_json::Value = serde_json::from_str(&original).unwrap();
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    for key in set["keys"].as_array_mut().unwrap() {
        key["published_at"] = later.into();
        key["signs_from"] = later.into();
    }
    redis_cli(port, &["SET", KEY_SET, &set.to_string()]);
    restart(&mut d).await;

    let mut b = Browser::new(&d.public_url);
    let ready = b.get_once("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.starts_with("not ready"), "{}", ready.body);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(
            ready
                .body
                .lines()
                .any(|l| l.starts_with("oidc signing keys: none signs") && l.contains(alg)),
            "{alg}: {}",
            ready.body
        );
    }
    assert_eq!(b.get_once("/healthz").await.status, 200, "alive, not ready");

    // Keys that sign now: ready again.
    redis_cli(port, &["SET", KEY_SET, &original]);
    restart(&mut d).await;
    let ready = b.get_once("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        ready.body.contains("oidc signing keys: ok"),
        "{}",
        ready.body
    );
}
