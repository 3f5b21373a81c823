//! The federation's trust rules on the real binary (`serve`, real Redis, a signed feed
//! file): a feed smuggling an IdP through its encoding declaration is refused by the
//! refresh and never offered; an older, correctly signed feed never replaces the newer
//! one, across a restart; both refusals are named by `/readyz`, counted in `/metrics`
//! and written to the audit log (`feed_dropped`), while the last good data keeps serving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use passerelle_integration_tests::Browser;
use passerelle_integration_tests::deploy::Deployment;
use passerelle_testkit::utf7::{Place, smuggle};

const FAKE: &str = "https://idp.fake-lille.example/idp";

/// `/readyz` once it contains `wanted` (the refresh runs in the background).
async fn readyz_saying(b: &mut Browser, wanted: &str) -> String {
    for _ in 0..100 {
        let page = b.get_once("/readyz").await;
        if page.body.contains(wanted) {
            return page.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "/readyz never said {wanted:?}: {}",
        b.get_once("/readyz").await.body
    );
}

fn hang_up(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_utf7_smuggled_feed_and_an_older_feed_and_keeps_serving_the_good_one() {
    let mut d = Deployment::start(1).await;
    let mut b = Browser::new(&d.public_url);
    let ready = b.get_once("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("federation it: ok"), "{}", ready.body);

    // 1. The genuine feed re-declared UTF-7 with an IdP hidden in a UTF-7 comment.
    let genuine = std::fs::read_to_string(&d.feed.path).unwrap();
    let fake = format!(
        r#"<md:EntityDescriptor entityID="{FAKE}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">univ-test.fr</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Universite de Lille</mdui:DisplayName></mdui:UIInfo></md:Extensions><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://evil.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    let forged = smuggle(
        &genuine,
        &fake,
        Place::InsideRoot,
        "</md:EntitiesDescriptor>",
    )
    .unwrap();
    std::fs::write(&d.feed.path, forged).unwrap();
    hang_up(d.instances[0].pid().unwrap());
    let body = readyz_saying(&mut b, "refused (encoding)").await;
    assert!(body.contains("UTF-7"), "{body}");
    assert!(
        body.starts_with("ready"),
        "the last good data still serves: {body}"
    );
    let found = b.get_once("/institutions?q=lille").await;
    assert!(!found.body.contains("fake-lille"), "{}", found.body);
    let login = b
        .get_once(&format!("/saml/login?idp={}", url_encode(FAKE)))
        .await;
    assert!(
        !login
            .location
            .as_deref()
            .is_some_and(|l| l.contains("evil.example")),
        "{login:?}"
    );
    assert!(login.status >= 400, "{}", login.status);

    // 2. An older feed (validUntil a day earlier), correctly signed, still valid.
    let older = d
        .feed
        .signed(time::OffsetDateTime::now_utc() + time::Duration::days(4));
    std::fs::write(&d.feed.path, older).unwrap();
    // Across a restart: the bridge remembers what it accepted.
    d.instances.remove(0).stop().await;
    d.start_instance(0).await;
    let body = readyz_saying(&mut b, "refused (rollback)").await;
    assert!(
        body.contains("older than the copy already accepted"),
        "{body}"
    );
    assert!(body.starts_with("ready"), "{body}");
    let metrics = b.get_once("/metrics").await.body;
    assert!(
        metrics.contains(
            r#"passerelle_federation_refresh_refusals_total{feed="it",reason="rollback"} "#
        ),
        "{metrics}"
    );
    assert!(d.instances[0].log().contains("metadata refresh refused"));
    // The IdP of the good feed is still offered.
    let found = b.get_once("/institutions?q=test").await;
    assert!(found.body.contains("univ-test.fr"), "{}", found.body);
    // Both refusals are in the audit log, by the system, with their reason.
    let config = d.config.display().to_string();
    let (done, export, err) =
        passerelle_integration_tests::cli(&["audit", "export", "--config", &config]);
    assert!(done, "{err}");
    for reason in ["encoding", "rollback"] {
        let line = export
            .lines()
            .find(|l| l.contains("\"feed_dropped\"") && l.contains(&format!("\"{reason}\"")))
            .unwrap_or_else(|| panic!("no feed_dropped record for {reason}: {export}"));
        assert!(line.contains("\"kind\":\"system\""), "{line}");
        assert!(line.contains("\"subject\":\"it\""), "{line}");
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_answer_is_one_page_for_the_user_and_its_real_reason_for_the_operator() {
    let d = Deployment::start(1).await;
    let mut b = Browser::new(&d.public_url);
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    // 1.5 MiB: over the cap (not "no Issuer" from the form the size left empty).
    let huge = "A".repeat(1536 * 1024);
    let too_large = b.post_once("/saml/acs", &[("SAMLResponse", &huge)]).await;
    // Nested too deep: a response problem, not "metadata".
    let deep = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">{}{}</samlp:Response>"#,
        "<a>".repeat(300),
        "</a>".repeat(300)
    );
    let nested = b
        .post_once("/saml/acs", &[("SAMLResponse", &b64(&deep))])
        .await;
    for page in [&too_large, &nested] {
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.text().contains("Choisir à nouveau"), "{}", page.body);
    }
    let log = d.instances[0].log();
    assert!(log.contains("too_large"), "{log}");
    assert!(
        log.contains("response is malformed") && log.contains("nested deeper than"),
        "{log}"
    );
    assert!(!log.contains("metadata is not well-formed"), "{log}");
    let metrics = b.get_once("/metrics").await.body;
    assert!(
        metrics.contains(r#"passerelle_saml_rejections_total{reason="too_large"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"passerelle_saml_rejections_total{reason="malformed"} 1"#),
        "{metrics}"
    );
}
