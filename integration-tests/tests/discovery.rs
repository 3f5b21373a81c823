//! « Sélectionnez votre établissement » on the real binary (`serve` + Redis + SMTP), with
//! the real Renater aggregate's institutions (re-signed by the test federation; generated
//! look-alikes when `../shared/fixtures/renater/` is absent): every match reachable page
//! by page, domains and logos shown, logos served from our origin (inline ones from the
//! feed, a remote one fetched over HTTPS by the server), the look-alike warning, and the
//! institution last chosen on the device offered first.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use passerelle_integration_tests::deploy::Deployment;
use passerelle_integration_tests::institutions::{PIXEL, SHARED_DOMAIN, matching, record, sample};
use passerelle_integration_tests::{Browser, unescape};
use passerelle_saml_sp::metadata::IdpRecord;
use passerelle_testkit::https::HttpsServer;

/// The institutions of the test federation beyond the deployment's two: Renater's (or
/// generated ones) and the look-alikes, plus one whose logo is on a web server.
fn institutions(logo_host: &HttpsServer) -> Vec<IdpRecord> {
    let mut idps = sample();
    idps.push(record(
        "https://idp.logo-distant.test/idp",
        "Université au logo distant",
        "logo-distant.test",
        Some(logo_host.url("/logo.png")),
    ));
    idps
}

/// The « Résultats suivants » link, if any.
fn next_page(body: &str) -> Option<String> {
    let (before, _) = body.split_once(" rel=\"next\"")?;
    let at = before.rfind("href=\"")?;
    Some(unescape(before.get(at + 6..before.len() - 1)?))
}

fn entity_of(choice: &str) -> String {
    let encoded = choice.strip_prefix("/saml/login?idp=").unwrap();
    url::form_urlencoded::parse(format!("x={encoded}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_institution_is_reachable_with_its_domains_and_logo_and_the_last_one_comes_first() {
    let png = base64::engine::general_purpose::STANDARD
        .decode(PIXEL)
        .unwrap();
    let logo_host = HttpsServer::start(HashMap::from([(
        "/logo.png".to_owned(),
        (200, png.clone()),
    )]))
    .await
    .unwrap();
    let idps = institutions(&logo_host);
    let root = std::env::temp_dir().join(format!("discovery-root-{}.pem", std::process::id()));
    std::fs::write(&root, logo_host.cert_pem()).unwrap();
    let extra = format!("[saml.logos]\nextra_root = \"{}\"\n", root.display());
    let d = Deployment::start_with_idps(1, &extra, idps.clone()).await;
    let mut b = Browser::new(&d.public_url);

    // Every "paris" institution, page after page; the page says how many.
    let expected = matching(&idps, "paris");
    eprintln!("{} institutions match \"paris\"", expected.len());
    assert!(expected.len() > 30, "{}", expected.len());
    let mut seen = Vec::new();
    let mut next = Some("/activate?q=paris".to_owned());
    while let Some(url) = next.take() {
        let page = b.get(&url).await;
        assert_eq!(page.status, 200);
        assert!(
            page.text().contains(&format!("sur {}", expected.len())),
            "the page says how many matched"
        );
        seen.extend(page.choices().iter().map(|c| entity_of(c)));
        next = next_page(&page.body);
        assert!(seen.len() <= expected.len() + 20, "pages never end");
    }
    assert_eq!(seen.len(), expected.len(), "each once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);

    // Domains and logos tell look-alikes apart; logos come from our origin only.
    let page = b.get("/activate?q=paris").await;
    assert!(
        page.body.contains("class=\"choice-domains\""),
        "domains shown"
    );
    let logos: Vec<String> = page
        .body
        .split("<img src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    assert!(!logos.is_empty());
    assert!(logos.iter().all(|l| l.starts_with("/logos/")), "{logos:?}");
    let csp = &page.headers["content-security-policy"];
    assert!(csp.contains("img-src 'self';"), "{csp}");
    let image = b.get_once(&logos[0]).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.headers["content-type"], "image/png");
    for bad in [
        "/logos/00000000000000000000000000000000",
        "/logos/..%2f..%2fetc%2fpasswd",
        "/logos/ABC",
    ] {
        assert_eq!(b.get_once(bad).await.status, 404, "{bad}");
    }

    // The remote logo: fetched by the server at start-up, then served by us.
    let mut remote = None;
    for _ in 0..50 {
        let page = b.get("/activate?q=distant").await;
        remote = page
            .body
            .split("<img src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_owned);
        if remote.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let remote = remote.expect("the remote logo is fetched and shown");
    let image = b.get_once(&remote).await;
    assert_eq!(
        (image.status, image.headers["content-type"].as_str()),
        (200, "image/png")
    );

    // An address two universities speak for: both offered, with the warning.
    let portal = b.get("/login").await;
    let select = b
        .post(
            "/login",
            &[
                ("csrf", &portal.field("csrf")),
                ("email", &format!("camille@{SHARED_DOMAIN}")),
            ],
        )
        .await;
    assert_eq!(select.status, 200);
    let text = select.text();
    assert!(
        text.contains("Sorbonne Université (test)") && text.contains("Sorbonne Paris Nord (test)")
    );
    assert!(select.body.contains("id=\"several\""), "{}", select.body);

    // The institution chosen is offered first next time on this device (and only there).
    let chosen = b
        .get_once("/saml/login?idp=https%3A%2F%2Fidp.univ-test.fr%2Fidp")
        .await;
    assert_eq!(chosen.status, 303);
    let again = b.get("/activate").await;
    let last = again
        .body
        .split("id=\"last\"")
        .nth(1)
        .expect("a last institution");
    assert!(last.contains("Université de Test"), "{last}");
    let mut other_device = Browser::new(&d.public_url);
    assert!(
        !other_device
            .get("/activate")
            .await
            .body
            .contains("id=\"last\"")
    );
    // A forged cookie names nothing: ignored.
    b.cookies.insert(
        "__Host-passerelle-idp".into(),
        "aHR0cHM6Ly9ldmlsLmV4YW1wbGUvaWRw".into(),
    );
    assert!(!b.get("/activate").await.body.contains("id=\"last\""));
    let _ = std::fs::remove_file(root);
}
