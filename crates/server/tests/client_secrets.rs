//! Client secrets as an operator meets them: the example configuration carries no usable
//! credential, and `check-config` and `serve` (the real binary) refuse a client whose
//! `secret_hash` is the digest of the empty secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

/// SHA-256 of the empty string, as `secret_hash` spells it.
const EMPTY_DIGEST: &str = "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

fn example() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/passerelle.example.toml");
    std::fs::read_to_string(path).unwrap()
}

fn passerelle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .env_remove("PASSERELLE_CONFIG")
        .output()
        .unwrap()
}

/// The example with its first client's `secret_hash` set to `digest`, in a temporary file.
struct Written(PathBuf);
impl Written {
    fn with_digest(digest: &str) -> Self {
        let text = example();
        let line = text
            .lines()
            .find(|l| l.starts_with("secret_hash = "))
            .expect("the example registers a client with a secret");
        let text = text.replacen(line, &format!("secret_hash = {digest:?}"), 1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "passerelle-client-secrets-{}-{nanos}.toml",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        Self(p)
    }
}
impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_example_configuration_registers_no_client_an_empty_secret_authenticates() {
    let text = example();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let clients: Vec<passerelle_oidc_provider::ClientConfig> =
        table["oidc"]["clients"].clone().try_into().unwrap();
    assert!(!clients.is_empty());
    for c in &clients {
        assert_ne!(
            c.secret_hash.as_deref(),
            Some(EMPTY_DIGEST),
            "{}: the digest of the empty secret",
            c.client_id
        );
    }
    let registry = passerelle_oidc_provider::Registry::new(&clients).unwrap();
    for c in registry.iter() {
        assert!(!c.secret_matches(""), "{}", c.id);
    }
}

#[test]
fn check_config_and_serve_refuse_the_digest_of_the_empty_secret() {
    let f = Written::with_digest(EMPTY_DIGEST);
    let path = f.0.display().to_string();
    for args in [
        vec!["check-config", path.as_str()],
        vec!["serve", "--config", path.as_str()],
    ] {
        let out = passerelle(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted it: {stderr}");
        assert!(
            stderr.contains("oidc.clients[0].secret_hash") && stderr.contains("empty secret"),
            "{args:?}: {stderr}"
        );
    }
}
