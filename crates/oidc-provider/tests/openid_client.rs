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
    // The tests of this file run in parallel: one npm install at a time.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/openid-client");
    std::fs::create_dir_all(&dir).unwrap();
    let installed = dir.join("node_modules/openid-client/package.json");
    let wanted = std::fs::read_to_string(&installed)
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{VERSION}\"")));
    if !wanted {
        assert!(
            Command::new("npm")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "openid-client needs node and npm: run scripts/deps.sh test"
        );
        std::fs::write(
            dir.join("package.json"),
            "{\"private\":true,\"type\":\"module\"}\n",
        )
        .unwrap();
        let ok = Command::new("npm")
            .current_dir(&dir)
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                &format!("openid-client@{VERSION}"),
            ])
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "npm install openid-client failed (npm registry unreachable?)"
        );
    }
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openid-client/rp.mjs"),
        dir.join("rp.mjs"),
    )
    .unwrap();
    dir
}

async fn run(client_id: &str, alg: &str) {
    let h = start().await;
    let dir = rp_dir();
    let issuer = h.issuer.clone();
    let (id, alg) = (client_id.to_owned(), alg.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&dir)
            .args([
                "rp.mjs",
                &issuer,
                &id,
                SECRET,
                &alg,
                "https://app.example/cb",
            ])
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
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
