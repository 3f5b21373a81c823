//! Discovery never hides an institution, and shows what tells look-alikes apart: pages
//! that reach every match (on generated feeds and on the real Renater aggregate when
//! `../shared/fixtures/renater/` is present), the domains each institution speaks for,
//! and logos — inline ones decoded from the feed, remote ones fetched over HTTPS into the
//! cache directory, anything that is not a raster image refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::logo::{
    ImageKind, LogoCache, LogoFetcher, LogoId, LogoRefusal, LogoSource, choose,
};
use passerelle_saml_sp::metadata::{IdpRecord, Logo, ParseOptions, parse};
use passerelle_testkit::https::HttpsServer;
use proptest::prelude::*;
use support::*;

/// A 1×1 PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x56, 0xc7, 0x2f, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn all_pages(dir: &Directory, q: &str, size: usize) -> (usize, Vec<String>) {
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = dir.search_page(q, "fr", offset, size);
        assert!(page.items.len() <= size);
        seen.extend(page.items.iter().map(|i| i.entity_id.as_str().to_owned()));
        offset += size;
        if offset >= page.total {
            return (page.total, seen);
        }
    }
}

#[test]
fn every_match_is_on_some_page_once_and_the_total_says_how_many() {
    let agg = parse(&generated(137), ParseOptions::default()).unwrap();
    let dir = Directory::new(&agg.idps);
    let (total, seen) = all_pages(&dir, "universite", 20);
    assert_eq!(total, 137);
    assert_eq!(seen.len(), 137);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        137,
        "no repeats"
    );
    // The one-shot search of tools is the first page of the same order.
    let first: Vec<String> = dir
        .search("universite", "fr", 20)
        .iter()
        .map(|i| i.entity_id.as_str().to_owned())
        .collect();
    assert_eq!(first, seen[..20]);
    // Past the end: an empty page, the same total.
    let past = dir.search_page("universite", "fr", 500, 20);
    assert_eq!((past.total, past.items.len()), (137, 0));
}

#[test]
fn each_institution_shows_its_domains_and_can_be_looked_up_by_entity_id() {
    let agg = parse(&generated(3), ParseOptions::default()).unwrap();
    let dir = Directory::new(&agg.idps);
    let i = dir
        .get("https://idp.univ-1.example.fr/idp/shibboleth", "en")
        .unwrap();
    assert_eq!(i.name, "University number 1");
    assert_eq!(i.domains, vec!["univ-1.example.fr"]);
    assert!(dir.get("https://idp.nowhere.example/idp", "fr").is_none());
}

#[test]
fn on_the_renater_aggregate_every_paris_institution_is_reachable_with_its_domains_and_logo() {
    let Some((xml, _cert)) = renater_fixture() else {
        eprintln!("../shared/fixtures/renater absent: covered by the generated-feed tests only");
        return;
    };
    let agg = parse(
        &std::fs::read_to_string(xml).unwrap(),
        ParseOptions::default(),
    )
    .unwrap();
    let dir = Directory::new(&agg.idps);
    let (total, seen) = all_pages(&dir, "paris", 20);
    // Every offered IdP whose name (any language) has a word starting with "paris".
    let expected: BTreeSet<String> = agg
        .idps
        .iter()
        .filter(|i| !i.hidden_from_discovery())
        .filter(|i| {
            i.display_names.iter().any(|n| {
                passerelle_saml_sp::directory::fold(&n.value)
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.starts_with("paris"))
            })
        })
        .map(|i| i.entity_id.as_str().to_owned())
        .collect();
    assert!(total > 30, "more than the old silent cap of 30: {total}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);
    // Renater publishes its logos inline (data: PNGs): each one decodes.
    let shown: Vec<_> = dir.search_page("", "fr", 0, 1000).items;
    let with_logo = shown.iter().filter(|i| i.logo.is_some()).count();
    let publishing = agg
        .idps
        .iter()
        .filter(|i| !i.hidden_from_discovery() && !i.logos.is_empty())
        .count();
    assert!(with_logo > 300, "{with_logo} of {publishing}");
    assert!(
        shown.iter().filter(|i| !i.domains.is_empty()).count() > 340,
        "scopes are shown"
    );
    let snapshot = Snapshot::from_idps(agg.idps.clone());
    let some = shown.iter().find_map(|i| i.logo).unwrap();
    let image = snapshot.inline_logo(some).unwrap();
    assert_eq!(image.kind, ImageKind::Png);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Pages of any size partition the matches of any query, in the one-shot order.
    #[test]
    fn pages_partition_the_matches(n in 0usize..60, size in 1usize..25, q in "[a-z ]{0,8}") {
        let agg = parse(&generated(n), ParseOptions::default()).unwrap();
        let dir = Directory::new(&agg.idps);
        let everyone: Vec<String> = dir
            .search(&q, "fr", usize::MAX)
            .iter()
            .map(|i| i.entity_id.as_str().to_owned())
            .collect();
        let (total, seen) = all_pages(&dir, &q, size);
        prop_assert_eq!(total, everyone.len());
        prop_assert_eq!(seen, everyone);
    }
}

fn record(n: usize, logo_url: &str) -> IdpRecord {
    let mut r = IdpRecord::bare(
        passerelle_saml_sp::types::EntityId::parse(&format!("https://idp{n}.example.fr/idp"))
            .unwrap(),
    );
    r.logos.push(Logo {
        url: logo_url.to_owned(),
        width: Some(32),
        height: Some(32),
        lang: None,
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_logos_are_fetched_once_checked_kept_on_disk_and_pruned_when_gone() {
    let mut huge = PIXEL.to_vec();
    huge.resize(200 * 1024, 0);
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    let routes = HashMap::from([
        ("/a.png".to_owned(), (200, PIXEL.to_vec())),
        ("/b.svg".to_owned(), (200, svg.to_vec())),
        ("/c.png".to_owned(), (500, PIXEL.to_vec())),
        ("/huge.png".to_owned(), (200, huge)),
    ]);
    let server = HttpsServer::start(routes).await.unwrap();
    let url = |p: &str| server.url(p);
    let cert = server.cert_pem().to_owned();
    let dir = std::env::temp_dir().join(unique("logos"));
    let fetcher = LogoFetcher::new(Some(&cert), std::time::Duration::from_secs(5)).unwrap();
    let cache = Arc::new(LogoCache::new(dir.clone(), fetcher.clone()));
    let wanted: Vec<(LogoId, String)> = ["/a.png", "/b.svg", "/c.png", "/huge.png", "/missing.png"]
        .iter()
        .map(|p| (LogoId::of_url(&url(p)), url(p)))
        .collect();
    let report = cache.sync(&wanted).await;
    assert_eq!((report.available, report.fetched), (1, 1), "{report:?}");
    let reasons: BTreeSet<&str> = report.refused.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        BTreeSet::from(["not_an_image", "http_status", "too_large"]),
        "{report:?}"
    );
    let a = wanted[0].0;
    assert_eq!(cache.read(a).await.unwrap().bytes, PIXEL);
    assert!(
        cache.read(wanted[1].0).await.is_none(),
        "the SVG is never served"
    );
    // A second pass fetches nothing: what is on disk stays, what failed waits a day.
    let again = cache.sync(&wanted).await;
    assert_eq!(
        (again.fetched, again.waiting, again.refused.len()),
        (0, 4, 0)
    );
    // A restart finds the disk copy without the network.
    let restarted = Arc::new(LogoCache::new(dir.clone(), fetcher));
    assert!(restarted.has(a));
    // The feed drops the logo: its file goes.
    let report = restarted.sync(&wanted[1..]).await;
    assert_eq!(report.available, 0);
    assert!(!restarted.has(a));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // Plain http is never fetched.
    assert_eq!(
        LogoFetcher::new(None, std::time::Duration::from_secs(1))
            .unwrap()
            .get(&url("/a.png").replacen("https", "http", 1))
            .await,
        Err(LogoRefusal::UnsupportedUrl)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_snapshot_serves_inline_logos_and_lists_the_remote_ones_to_fetch() {
    let inline = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PIXEL)
    );
    let idps = vec![
        record(1, &inline),
        record(2, "https://logos.example.fr/2.png"),
        record(3, "http://logos.example.fr/3.png"),
    ];
    assert!(matches!(
        choose(&idps[0]),
        Some((_, LogoSource::Inline(ImageKind::Png)))
    ));
    let snapshot = Snapshot::from_idps(idps);
    let id = LogoId::of_url(&inline);
    assert_eq!(snapshot.inline_logo(id).unwrap().bytes, PIXEL);
    assert!(
        snapshot
            .inline_logo(LogoId::of_url("https://logos.example.fr/2.png"))
            .is_none()
    );
    assert_eq!(
        snapshot.remote_logos(),
        vec![(
            LogoId::of_url("https://logos.example.fr/2.png"),
            "https://logos.example.fr/2.png".to_owned()
        )]
    );
}
