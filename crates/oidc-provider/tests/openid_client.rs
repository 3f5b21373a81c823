//! Interoperability with an independent relying party: node's openid-client (npm, installed
//! by this test into `target/openid-client`) completes code + PKCE, validates the ID token
//! (RS256, ES256 and EdDSA) and calls userinfo and refresh against the real endpoints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

const VERSION: &str = "6.9.0";

/// The directory holding openid-client and the RP script, made once per target directory.
fn rp_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/openid-client");
    let dir = passerelle_testkit::npm::install(&dir, &[&format!("openid-client@{VERSION}")])
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openid-client/rp.mjs"),
        dir.join("rp.mjs"),
    )
    .unwrap();
    dir
}

/// openid-client's answer (JSON) for one login of `client_id`; `extra`: the app's
/// `acr_values` and the stand-in login's `login_hint` (`passkey`: a device-bound passkey).
async fn rp(h: &Harness, client_id: &str, alg: &str, extra: &[&str]) -> serde_json::Value {
    let dir = rp_dir();
    let issuer = h.issuer.clone();
    let mut args: Vec<String> = [
        "rp.mjs",
        &issuer,
        client_id,
        SECRET,
        alg,
        "https://app.example/cb",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "openid-client failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn run(client_id: &str, alg: &str) {
    let h = start().await;
    let v = rp(&h, client_id, alg, &[]).await;
    assert_eq!(v["sub"], "acct-42");
    assert_eq!(v["email"], "prenom.nom@etu.unilim.fr");
    assert_eq!(v["affiliation"][0], "student");
    assert_eq!(v["amr"][0], "pwd");
    assert_eq!(v["refreshed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_completes_code_and_pkce_with_rs256() {
    run("cockpit", "RS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_completes_code_and_pkce_with_eddsa() {
    run("sides", "EdDSA").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_completes_code_and_pkce_with_es256() {
    run("es-app", "ES256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_asking_refeds_mfa_gets_it_from_a_passkey_and_an_error_from_a_password() {
    const MFA: &str = "https://refeds.org/profile/mfa";
    let h = start().await;
    // The app checks the acr it gets is the one it asked for (rp.mjs fails otherwise).
    let v = rp(&h, "cockpit", "RS256", &[MFA, "passkey"]).await;
    assert_eq!(v["acr"], MFA, "{v}");
    assert_eq!(v["amr"][0], "hwk", "{v}");
    let v = rp(&h, "cockpit", "RS256", &[MFA]).await;
    assert_eq!(v["error"], "unmet_authentication_requirements", "{v}");
}
