//! The live federation: feeds merged in order with duplicates reported, a failed refresh
//! serving the last good data until its validUntil, last good copies re-verified at
//! start-up, readers never seeing a half-built snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use passerelle_saml_sp::federation::{
    Federation, FeedEvent, FeedEventKind, FeedFailure, Location, Source,
};
use passerelle_saml_sp::fetch::Fetcher;
use passerelle_saml_sp::metadata::writer::{SignatureAlgorithm, sign_aggregate};
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, parse};
use support::sign::{TestKey, rsa_key};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// A signed feed of the named IdPs (entity `https://idp.NAME.fr/idp`).
fn feed(key: &TestKey, valid_until: &str, names: &[&str]) -> String {
    let entities: String = names
        .iter()
        .map(|n| {
            support::idp(
                &format!("https://idp.{n}.fr/idp"),
                &format!("Université {n}"),
                n,
                &format!("{n}.fr"),
            )
        })
        .collect();
    let xml = support::aggregate(valid_until, &entities);
    // Re-write through our writer so the root has the ID the signer references.
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    let xml = passerelle_saml_sp::metadata::writer::write_aggregate(
        "t",
        "_feed",
        agg.valid_until.unwrap(),
        Duration::from_secs(3600),
        &agg.idps,
    )
    .unwrap();
    sign_aggregate(
        &xml,
        &key.key_der,
        &key.cert_der(),
        SignatureAlgorithm::RsaSha256,
    )
    .unwrap()
}

fn source(name: &str, path: &Path, key: &TestKey) -> Source {
    Source {
        name: name.into(),
        location: Location::File(path.to_path_buf()),
        pinned: PinnedCerts::from_pem(&key.cert_pem).unwrap(),
        max_validity: Duration::from_secs(60 * 86_400),
        max_bytes: 256 << 20,
    }
}

fn tempdir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(support::unique(label));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_merge_in_order_and_a_failed_refresh_keeps_the_last_good_data_until_it_expires() {
    let dir = tempdir("fed");
    let (renater_key, edugain_key) = (rsa_key(), rsa_key());
    let (a, b) = (dir.join("renater-feed.xml"), dir.join("edugain-feed.xml"));
    std::fs::write(
        &a,
        feed(
            &renater_key,
            "2026-12-05T00:00:00Z",
            &["unilim", "ubordeaux", "shared"],
        ),
    )
    .unwrap();
    std::fs::write(
        &b,
        feed(&edugain_key, "2026-12-20T00:00:00Z", &["oxford", "shared"]),
    )
    .unwrap();
    let fed = Federation::new(
        vec![
            source("renater", &a, &renater_key),
            source("edugain", &b, &edugain_key),
        ],
        Some(dir.join("cache")),
    )
    .unwrap();
    assert!(fed.snapshot().idps.is_empty());
    let mut events = fed.events();

    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    let snap = fed.snapshot();
    assert_eq!(snap.idps.len(), 4);
    assert_eq!((statuses[0].idps, statuses[1].idps), (3, 1));
    assert_eq!(snap.duplicates.len(), 1);
    assert_eq!(
        snap.duplicates[0].entity_id.as_str(),
        "https://idp.shared.fr/idp"
    );
    assert_eq!(
        (
            snap.duplicates[0].kept_from.as_str(),
            snap.duplicates[0].dropped_from.as_str()
        ),
        ("renater", "edugain")
    );
    assert!(snap.idp("https://idp.oxford.fr/idp").is_some());
    assert_eq!(snap.directory.for_email("a@etu.unilim.fr", "fr").len(), 1);

    // The Renater file is replaced by a tampered one: its last good data keeps serving.
    let tampered = std::fs::read_to_string(&a)
        .unwrap()
        .replace("Université unilim", "Université evil");
    std::fs::write(&a, tampered).unwrap();
    let statuses = fed.refresh(at("2026-11-29T00:00:00Z")).await;
    assert!(
        statuses[0].error.as_deref().unwrap().contains("signature"),
        "{statuses:?}"
    );
    assert!(statuses[0].stale);
    // The age of what is served: still the first refresh's (the failed one confirms
    // nothing); the other feed was confirmed again.
    assert_eq!(statuses[0].checked_at, Some(at("2026-11-28T00:00:00Z")));
    assert_eq!(statuses[1].checked_at, Some(at("2026-11-29T00:00:00Z")));
    let after = fed.snapshot();
    assert_eq!(after.idps.len(), 4);
    assert_eq!(
        after.idp("https://idp.unilim.fr/idp").unwrap().name("fr"),
        "Université unilim"
    );
    // The reader who held the old snapshot still sees it whole.
    assert_eq!(snap.idps.len(), 4);
    // The refusal is an event (the audit log's), once: not again on every retry.
    let refused = FeedEvent {
        feed: "renater".into(),
        kind: FeedEventKind::Refused(FeedFailure::Signature),
    };
    assert_eq!(events.try_recv().unwrap(), refused);
    fed.refresh(at("2026-11-30T00:00:00Z")).await;
    assert!(events.try_recv().is_err(), "a lasting refusal is one event");

    // Past Renater's validUntil, its data is dropped loudly; eduGAIN's stays, and now
    // contributes the entity Renater no longer does.
    let statuses = fed.refresh(at("2026-12-06T00:00:00Z")).await;
    assert!(
        statuses[0].error.as_deref().unwrap().contains("dropped"),
        "{statuses:?}"
    );
    assert_eq!(
        events.try_recv().unwrap(),
        FeedEvent {
            feed: "renater".into(),
            kind: FeedEventKind::Expired,
        }
    );
    assert!(events.try_recv().is_err());
    let late = fed.snapshot();
    assert!(late.idp("https://idp.unilim.fr/idp").is_none());
    assert_eq!(late.idps.len(), 2);
    assert!(late.duplicates.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_serves_the_verified_last_good_copy_without_the_feed() {
    let dir = tempdir("fedcache");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    std::fs::write(&path, feed(&key, "2026-12-05T00:00:00Z", &["unilim"])).unwrap();
    let cache = dir.join("cache");
    let first = Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    first.refresh(at("2026-11-28T00:00:00Z")).await;
    assert!(cache.join("renater.xml").is_file());

    // The feed's server is gone; a new process starts from the cache.
    std::fs::remove_file(&path).unwrap();
    let second =
        Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    second.start_from_cache(at("2026-11-28T01:00:00Z")).await;
    let snap = second.snapshot();
    assert_eq!(snap.idps.len(), 1);
    assert!(snap.sources[0].stale);
    // A refresh that cannot read the feed keeps the cached data.
    let statuses = second.refresh(at("2026-11-28T02:00:00Z")).await;
    assert!(
        statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("cannot read")
    );
    assert_eq!(second.snapshot().idps.len(), 1);

    // A tampered cache is not trusted.
    let copy = std::fs::read_to_string(cache.join("renater.xml")).unwrap();
    std::fs::write(cache.join("renater.xml"), copy.replace("unilim", "evil")).unwrap();
    let third = Federation::new(vec![source("renater", &path, &key)], Some(cache)).unwrap();
    third.start_from_cache(at("2026-11-28T01:00:00Z")).await;
    assert!(third.snapshot().idps.is_empty());
}

#[test]
fn source_names_must_be_safe_file_names_and_unique() {
    let key = rsa_key();
    let p = Path::new("/nonexistent");
    assert!(Federation::new(vec![source("../x", p, &key)], None).is_err());
    assert!(Federation::new(vec![source("a", p, &key), source("a", p, &key)], None).is_err());
    assert!(Federation::new(vec![source("renater", p, &key)], None).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_picks_up_a_new_feed_without_a_restart() {
    let dir = tempdir("fedloop");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    let until = (OffsetDateTime::now_utc() + time::Duration::days(10))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let fed =
        std::sync::Arc::new(Federation::new(vec![source("renater", &path, &key)], None).unwrap());
    let task = std::sync::Arc::clone(&fed).spawn_refresher(Duration::from_millis(50));
    // No file yet: the refresher backs off (capped at the interval) and tries again.
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(fed.snapshot().idps.is_empty());
    std::fs::write(&path, feed(&key, &until, &["unilim", "ubordeaux"])).unwrap();
    let start = std::time::Instant::now();
    while fed.snapshot().idps.len() != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new feed was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
}

/// A tiny HTTPS feed server: serves `body` with an ETag, answers 304 to a matching
/// If-None-Match, and counts full responses.
async fn feed_server(
    body: std::sync::Arc<std::sync::Mutex<String>>,
    full: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body, full) = (acceptor.clone(), body.clone(), full.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).to_lowercase();
                let text = body.lock().unwrap().clone();
                let etag = format!("\"{}\"", text.len());
                let reply = if request.contains(&format!("if-none-match: {etag}")) {
                    "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    full.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                };
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_feed_is_fetched_once_then_revalidated_with_conditional_gets() {
    let key = rsa_key();
    let body = std::sync::Arc::new(std::sync::Mutex::new(feed(
        &key,
        "2026-12-05T00:00:00Z",
        &["unilim"],
    )));
    let full = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (port, root) = feed_server(body.clone(), full.clone()).await;
    let fetcher = Fetcher::new(Some(&root), Duration::from_secs(10), 64 * 1024 * 1024).unwrap();
    let src = Source {
        name: "renater".into(),
        location: Location::Url {
            url: format!("https://localhost:{port}/metadata.xml"),
            fetcher,
        },
        pinned: PinnedCerts::from_pem(&key.cert_pem).unwrap(),
        max_validity: Duration::from_secs(60 * 86_400),
        max_bytes: 256 << 20,
    };
    let fed = Federation::new(vec![src], None).unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert_eq!(statuses[0].error, None, "{statuses:?}");
    assert_eq!(fed.snapshot().idps.len(), 1);
    // Unchanged: a 304, nothing re-downloaded or re-verified.
    fed.refresh(at("2026-11-28T01:00:00Z")).await;
    fed.refresh(at("2026-11-28T02:00:00Z")).await;
    assert_eq!(full.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(fed.snapshot().idps.len(), 1);
    // Changed: fetched and verified again.
    *body.lock().unwrap() = feed(&key, "2026-12-05T00:00:00Z", &["unilim", "ubordeaux"]);
    let statuses = fed.refresh(at("2026-11-28T03:00:00Z")).await;
    assert_eq!(statuses[0].error, None, "{statuses:?}");
    assert_eq!(fed.snapshot().idps.len(), 2);
    assert_eq!(full.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_feed_server_or_plain_http_is_refused_and_changes_nothing() {
    let key = rsa_key();
    let body = std::sync::Arc::new(std::sync::Mutex::new(feed(
        &key,
        "2026-12-05T00:00:00Z",
        &["unilim"],
    )));
    let (port, _root) = feed_server(
        body,
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    )
    .await;
    // System roots only: the self-signed feed server is not trusted.
    let fetcher = Fetcher::new(None, Duration::from_secs(5), 1024 * 1024).unwrap();
    let src = |url: String, fetcher: Fetcher| Source {
        name: "renater".into(),
        location: Location::Url { url, fetcher },
        pinned: PinnedCerts::from_pem(&key.cert_pem).unwrap(),
        max_validity: Duration::from_secs(60 * 86_400),
        max_bytes: 256 << 20,
    };
    let fed = Federation::new(
        vec![src(
            format!("https://localhost:{port}/m.xml"),
            fetcher.clone(),
        )],
        None,
    )
    .unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert!(statuses[0].error.is_some());
    assert!(fed.snapshot().idps.is_empty());
    let fed = Federation::new(
        vec![src("http://feeds.example/m.xml".into(), fetcher)],
        None,
    )
    .unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert!(
        statuses[0]
            .error
            .as_deref()
            .unwrap()
            .contains("must be https"),
        "{statuses:?}"
    );
}

/// Like [`feed`], with an `mdrpi:PublicationInfo/@creationInstant` on the root.
fn feed_published(key: &TestKey, created: &str, valid_until: &str, names: &[&str]) -> String {
    let signed_without = feed(key, valid_until, names);
    // Re-sign with the publication info in the root's Extensions.
    let start = signed_without.find("<ds:Signature").unwrap();
    let end = signed_without.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let unsigned = format!(
        "{}<md:Extensions><mdrpi:PublicationInfo publisher=\"https://federation.test/\" creationInstant=\"{created}\"/></md:Extensions>{}",
        &signed_without[..start],
        &signed_without[end..]
    );
    sign_aggregate(
        &unsigned,
        &key.key_der,
        &key.cert_der(),
        SignatureAlgorithm::RsaSha256,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_signed_feed_never_replaces_a_newer_one_even_across_restarts() {
    let dir = tempdir("rollback");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    let cache = dir.join("cache");
    // Published two days apart, both correctly signed and still valid: the older one
    // still lists an IdP the newer one removed.
    let older = feed(&key, "2026-12-18T00:00:00Z", &["unilim", "retired"]);
    let newer = feed(&key, "2026-12-20T00:00:00Z", &["unilim"]);
    std::fs::write(&path, &newer).unwrap();
    let fed = Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert!(statuses[0].error.is_none(), "{statuses:?}");
    assert_eq!(
        statuses[0].newest_published,
        Some(at("2026-12-20T00:00:00Z"))
    );

    std::fs::write(&path, &older).unwrap();
    let statuses = fed.refresh(at("2026-11-29T00:00:00Z")).await;
    let error = statuses[0].error.as_deref().unwrap();
    assert!(error.contains("older"), "{error}");
    assert_eq!(statuses[0].last_failure, Some(FeedFailure::Rollback));
    assert_eq!(statuses[0].failures, vec![(FeedFailure::Rollback, 1)]);
    assert!(fed.snapshot().idp("https://idp.retired.fr/idp").is_none());
    // The last good copy on disk is still the newer feed.
    assert_eq!(
        std::fs::read_to_string(cache.join("renater.xml")).unwrap(),
        newer
    );

    // A restart remembers what was accepted: the older file is refused again, and so is
    // an older copy dropped into the cache directory.
    std::fs::write(cache.join("renater.xml"), &older).unwrap();
    let restarted =
        Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    restarted.start_from_cache(at("2026-11-29T01:00:00Z")).await;
    assert!(restarted.snapshot().idps.is_empty());
    let statuses = restarted.refresh(at("2026-11-29T02:00:00Z")).await;
    assert_eq!(statuses[0].last_failure, Some(FeedFailure::Rollback));
    assert!(
        restarted
            .snapshot()
            .idp("https://idp.retired.fr/idp")
            .is_none()
    );

    // The same or a newer publication is taken again.
    std::fs::write(&path, &newer).unwrap();
    let statuses = restarted.refresh(at("2026-11-29T03:00:00Z")).await;
    assert!(statuses[0].error.is_none(), "{statuses:?}");
    assert_eq!(statuses[0].last_failure, None);
    assert_eq!(restarted.snapshot().idps.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_are_verified_and_parsed_once_even_across_a_restart() {
    let dir = tempdir("once");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    let cache = dir.join("cache");
    std::fs::write(&path, feed(&key, "2026-12-18T00:00:00Z", &["unilim"])).unwrap();
    let fed = Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    let s = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert_eq!(s[0].loaded_at, Some(at("2026-11-28T00:00:00Z")));
    // Unchanged: confirmed (checked), not verified and parsed again.
    let s = fed.refresh(at("2026-11-28T01:00:00Z")).await;
    assert_eq!(s[0].loaded_at, Some(at("2026-11-28T00:00:00Z")));
    assert_eq!(s[0].checked_at, Some(at("2026-11-28T01:00:00Z")));
    assert!(s[0].error.is_none() && !s[0].stale, "{s:?}");

    // A restart loads the cached copy; the source is the same bytes: one load in all.
    let restarted =
        Federation::new(vec![source("renater", &path, &key)], Some(cache.clone())).unwrap();
    restarted.start_from_cache(at("2026-11-29T00:00:00Z")).await;
    let s = restarted.refresh(at("2026-11-29T00:00:05Z")).await;
    assert_eq!(s[0].loaded_at, Some(at("2026-11-29T00:00:00Z")));
    assert_eq!(s[0].checked_at, Some(at("2026-11-29T00:00:05Z")));
    assert!(!s[0].stale, "{s:?}");
    assert_eq!(restarted.snapshot().idps.len(), 1);

    // New bytes are loaded (and checked as ever: a newer publication).
    std::fs::write(
        &path,
        feed(&key, "2026-12-20T00:00:00Z", &["unilim", "limoges"]),
    )
    .unwrap();
    let s = restarted.refresh(at("2026-11-29T01:00:00Z")).await;
    assert_eq!(s[0].loaded_at, Some(at("2026-11-29T01:00:00Z")));
    assert_eq!(restarted.snapshot().idps.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publication_instant_orders_feeds_before_their_valid_until() {
    let dir = tempdir("published");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    // Published later but valid for less long: still the newer one.
    let newer = feed_published(
        &key,
        "2026-11-27T00:00:00Z",
        "2026-12-10T00:00:00Z",
        &["unilim"],
    );
    let older = feed_published(
        &key,
        "2026-11-25T00:00:00Z",
        "2026-12-20T00:00:00Z",
        &["unilim", "retired"],
    );
    std::fs::write(&path, &newer).unwrap();
    let fed = Federation::new(vec![source("renater", &path, &key)], None).unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert_eq!(
        statuses[0].newest_published,
        Some(at("2026-11-27T00:00:00Z")),
        "{statuses:?}"
    );
    std::fs::write(&path, &older).unwrap();
    let statuses = fed.refresh(at("2026-11-28T01:00:00Z")).await;
    assert_eq!(statuses[0].last_failure, Some(FeedFailure::Rollback));
    assert_eq!(fed.snapshot().idps.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_size_cap_is_refused_without_being_read() {
    let dir = tempdir("cap");
    let key = rsa_key();
    let path = dir.join("feed.xml");
    let signed = feed(&key, "2026-12-20T00:00:00Z", &["unilim"]);
    std::fs::write(&path, &signed).unwrap();
    let mut src = source("renater", &path, &key);
    src.max_bytes = signed.len() - 1;
    let fed = Federation::new(vec![src], None).unwrap();
    let statuses = fed.refresh(at("2026-11-28T00:00:00Z")).await;
    assert_eq!(statuses[0].last_failure, Some(FeedFailure::TooLarge));
    assert!(statuses[0].error.as_deref().unwrap().contains("over the"));
}
