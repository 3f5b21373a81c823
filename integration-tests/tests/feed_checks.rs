//! A federation feed that is expired or does not verify with its pinned certificates, as
//! a sysadmin meets it: `check-config` warns about it (exit 0: the file may be replaced
//! before the next refresh), and `serve` started on it says at start-up which feed
//! serves nothing and why, then `/readyz` names it (black box, real binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::deploy::Deployment;
use passerelle_integration_tests::{Browser, binary};

fn check_config(d: &Deployment) -> (bool, String, String) {
    let out = std::process::Command::new(binary())
        .arg("check-config")
        .arg(&d.config)
        .env_remove("PASSERELLE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The deployment's feed, signed but past its `validUntil`.
fn expired(d: &Deployment) -> String {
    d.feed
        .signed(time::OffsetDateTime::now_utc() - time::Duration::days(1))
}

/// The deployment's feed, valid, with signed content changed after signing.
fn tampered(d: &Deployment) -> String {
    let signed = d
        .feed
        .signed(time::OffsetDateTime::now_utc() + time::Duration::days(5));
    assert!(signed.contains("Université de Test"));
    signed.replacen("Université de Test", "Université de Tost", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_warns_about_a_feed_that_is_expired_or_does_not_verify_with_its_pinned_certificates()
 {
    let d = Deployment::start(1).await;
    let (ok, stdout, stderr) = check_config(&d);
    assert!(ok && stdout.contains(": OK"), "{stdout}{stderr}");
    assert!(!stderr.contains("warning"), "a good feed: {stderr}");

    let text = std::fs::read_to_string(&d.config).unwrap();
    let line = text.lines().position(|l| l.starts_with("file = ")).unwrap() + 1;
    let located = format!(
        "{}:{line}: saml.federations[0].file: warning: feed it does not load now",
        d.config.display()
    );
    for (feed, reason) in [(expired(&d), "(expired)"), (tampered(&d), "(signature)")] {
        std::fs::write(&d.feed.path, feed).unwrap();
        let (ok, stdout, stderr) = check_config(&d);
        assert!(
            ok && stdout.contains(": OK"),
            "a warning, not an error: {stdout}{stderr}"
        );
        let warning = stderr
            .lines()
            .find(|l| l.starts_with(&located))
            .unwrap_or_else(|| panic!("{located} in:\n{stderr}"));
        assert!(warning.contains(reason), "{warning}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_an_expired_feed_it_never_loaded_says_why_at_start_up_and_readyz_names_it() {
    let mut d = Deployment::start(1).await;
    d.instances.pop().unwrap().stop().await;
    // No last good copy to fall back on: the feed never loaded on this machine.
    let cache = d.config.parent().unwrap().join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::write(&d.feed.path, expired(&d)).unwrap();
    d.start_instance(0).await;
    let log = d.instances[0].log();

    let start_up = log
        .lines()
        .find(|l| l.contains("federation feed not loaded at start-up"))
        .unwrap_or_else(|| panic!("no start-up line for the feed:\n{log}"));
    assert!(
        start_up.contains("feed=it") && start_up.contains("reason=expired"),
        "{start_up}"
    );
    let up = log
        .lines()
        .find(|l| l.contains("passerelle is up"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        up.contains("not ready") && up.contains("federation feeds serving no IdP: it"),
        "the up line says what is missing: {up}"
    );

    let mut b = Browser::new(&d.public_url);
    let ready = b.get_once("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let feed = ready
        .body
        .lines()
        .find(|l| l.starts_with("federation it: no data"))
        .unwrap_or_else(|| panic!("{}", ready.body));
    assert!(feed.contains("(expired)"), "{feed}");
}
