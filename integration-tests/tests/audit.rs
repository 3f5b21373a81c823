//! The audit log on the real binary and a real Redis: what an operator changes from the
//! command line is recorded (who, from where, what, on whom) and `passerelle audit
//! export` writes it back as JSON lines, oldest first, from an instant when asked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::cli;
use passerelle_integration_tests::deploy::Deployment;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_changes_are_audited_and_exported_as_json_lines() {
    let d = Deployment::start(1).await;
    let config = d.config.display().to_string();
    let start = time::OffsetDateTime::now_utc();
    let nurse = "audit.infirmier@chu-audit.fr";
    let (ok, out, err) = cli(&["accounts", "invite", nurse, "--config", &config]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&["accounts", "disable", nurse, "--config", &config]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&["keys", "rotate", "--alg", "ES256", "--config", &config]);
    assert!(ok, "{out}{err}");

    let (ok, out, err) = cli(&["audit", "export", "--config", &config]);
    assert!(ok, "{err}");
    assert!(err.contains("3 audit records exported"), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["invited", "account_disabled", "keys_rotated"]);
    for l in &lines {
        assert_eq!(l["actor"]["kind"], "operator", "{l}");
        assert_eq!(l["from"], "cli", "{l}");
        assert!(l["id"].as_str().unwrap().contains('-'), "{l}");
    }
    assert_eq!(lines[0]["subject"], nurse);
    assert_eq!(lines[1]["subject"], nurse);
    assert!(lines[2]["detail"].as_str().unwrap().starts_with("kid="));
    assert!(
        !out.contains("secret") && !out.contains("/link/"),
        "no secret in the log"
    );

    // From an instant: only what came after.
    let since = (start + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (ok, out, err) = cli(&["audit", "export", "--config", &config, "--since", &since]);
    assert!(ok && out.is_empty(), "{out}{err}");
    let (ok, _, err) = cli(&["audit", "export", "--config", &config, "--since", "hier"]);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
}
