//! What the portal's later buttons answer for an address without an account: a page
//! saying so (what the portal itself already shows by sending such an address to the
//! activation page), never « Une erreur s'est produite ».

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use passerelle_integration_tests::{Browser, Passerelle, TempDir};
use passerelle_testkit::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_or_a_reset_for_an_address_without_an_account_gets_a_page_not_a_500() {
    let port = free_port().unwrap();
    let outbox = TempDir::new("outbox");
    let listen = format!("127.0.0.1:{port}");
    let server = Passerelle::start(
        &[
            "demo",
            "--listen",
            &listen,
            "--outbox",
            outbox.0.to_str().unwrap(),
        ],
        &[],
        port,
    )
    .await;
    let mut b = Browser::new(&server.url);
    let portal = b.get("/login").await;
    let csrf = portal.field("csrf");
    let typed = b
        .post_once(
            "/login",
            &[("csrf", &csrf), ("email", "personne@etu.univ-lumiere.test")],
        )
        .await;
    assert_eq!(
        typed.location.as_deref(),
        Some("/activate"),
        "{}",
        typed.body
    );
    for (path, what) in [("/login/code/send", "code"), ("/password/forgot", "reset")] {
        let page = b.post_once(path, &[("csrf", &csrf)]).await;
        assert!(
            page.status < 500,
            "{what}: {} {}\n{}",
            page.status,
            page.url,
            page.body
        );
        assert_eq!(page.status, 404, "{what}: {}", page.body);
        let text = page.text();
        assert!(
            text.contains("Aucun compte UNESS actif"),
            "{what} says what is wrong: {text}"
        );
        assert!(
            page.body.contains("href=\"/activate\""),
            "{what} offers activation: {}",
            page.body
        );
        assert!(
            !text.contains("Une erreur s'est produite"),
            "{what}: {text}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&outbox.0).unwrap().count(),
        0,
        "no mail is sent"
    );
    assert!(!server.log().contains("internal error"), "{}", server.log());
}
