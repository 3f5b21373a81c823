//! `passerelle serve` speaking HTTPS itself (`[tls]`): it answers over TLS with the
//! configured certificate, sends HSTS, and picks up a renewed certificate from the same
//! files without a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use passerelle_dev_idp::IdpKeys;
use passerelle_integration_tests::{Passerelle, TempDir, tls};
use passerelle_testkit::free_port;

fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

fn client(root_pem: &str) -> reqwest::Client {
    tls();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_the_configured_certificate_and_a_renewal_is_picked_up() {
    let dir = TempDir::new("tls");
    let p = |n: &str| dir.0.join(n).display().to_string();
    let port = free_port().unwrap();
    let public = format!("https://localhost:{port}");
    let sp = IdpKeys::generate("tls test sp").unwrap();
    std::fs::write(p("sp.key"), sp.key_pem()).unwrap();
    std::fs::write(p("sp.crt"), sp.cert_pem()).unwrap();
    std::fs::write(p("secret"), "0f".repeat(32)).unwrap();
    let (cert, key) = certificate();
    std::fs::write(p("tls.crt"), &cert).unwrap();
    std::fs::write(p("tls.key"), &key).unwrap();
    let config = format!(
        r#"public_url = "{public}"
listen = "127.0.0.1:{port}"
secret_file = "{secret}"
[store]
url = "memory"
[tls]
cert = "{tls_crt}"
key = "{tls_key}"
reload_check_secs = 1
[mail]
from = "UNESS <no-reply@uness.test>"
transport = "outbox"
dir = "{outbox}"
[saml.sp]
entity_id = "{public}/saml/metadata"
acs_url = "{public}/saml/acs"
name_fr = "UNESS"
name_en = "UNESS"
description_fr = "Test"
description_en = "Test"
information_url = "https://www.uness.fr/"
privacy_url = "https://www.uness.fr/"
organization_name = "UNESS"
organization_url = "https://www.uness.fr/"
[[saml.sp.contacts]]
kind = "technical"
name = "Tests"
email = "tech@uness.test"
[saml.keys]
signing_key = "{sp_key}"
signing_cert = "{sp_crt}"
encryption_key = "{sp_key}"
encryption_cert = "{sp_crt}"
"#,
        secret = p("secret"),
        tls_crt = p("tls.crt"),
        tls_key = p("tls.key"),
        outbox = p("outbox"),
        sp_key = p("sp.key"),
        sp_crt = p("sp.crt"),
    );
    std::fs::write(p("passerelle.toml"), config).unwrap();
    let server = Passerelle::start_at(
        &["serve", "--config", &p("passerelle.toml")],
        &[],
        &public,
        client(&cert),
    )
    .await;

    let page = client(&cert)
        .get(format!("{public}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // Plain HTTP is not served on the TLS port.
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // A renewal replaces the files; new connections get the new certificate.
    let (renewed, renewed_key) = certificate();
    std::fs::write(p("tls.key"), &renewed_key).unwrap();
    std::fs::write(p("tls.crt"), &renewed).unwrap();
    let trusting_new = client(&renewed);
    let mut ok = false;
    for _ in 0..100 {
        if trusting_new
            .get(format!("{public}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ok,
        "the renewed certificate was not picked up:\n{}",
        server.log()
    );
    server.stop().await;
}
