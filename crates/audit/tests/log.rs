//! The audit log on a real Redis (the harness's own `redis-server`, or `REDIS_URL`) and
//! in memory: concurrent writers never lose a record and the order is the order they
//! were written in; the cap and the retention drop only the oldest; export writes every
//! record once as JSON lines that read back as the same records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::collections::BTreeSet;

use passerelle_audit::{Action, Actor, AuditConfig, AuditLog, Entry, Filter, Record};
use passerelle_store::Store;
use passerelle_testkit::redis::redis_url;

fn unique(label: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{}-{n}", std::process::id())
}

fn stores() -> Vec<(Store, Option<passerelle_testkit::redis::TestRedis>)> {
    let redis = redis_url().unwrap();
    let on_redis = Store::open(&redis.url(), &unique("audit")).unwrap();
    vec![
        (on_redis, Some(redis)),
        (Store::memory(&unique("audit")), None),
    ]
}

fn record(n: usize) -> Record {
    Record::now(
        Actor::Staff {
            email: format!("agent{}@uness.fr", n % 7),
        },
        "203.0.113.9",
        Action::LinkSent,
    )
    .on(&format!("user{n}@univ.fr"))
    .because("ticket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_records_are_all_kept_in_the_order_written() {
    for (store, _redis) in stores() {
        let log = AuditLog::new(store, AuditConfig::default());
        let mut tasks = Vec::new();
        for n in 0..200 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                (n, log.record(record(n)).await.unwrap())
            }));
        }
        let mut written = Vec::new();
        for t in tasks {
            written.push(t.await.unwrap());
        }
        // Read back newest first, page by page.
        let mut read = Vec::new();
        let mut before = None;
        loop {
            let (page, next) = log.page(before, 30, &Filter::default()).await.unwrap();
            read.extend(page);
            match next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(read.len(), 200, "every record kept");
        // The log's order is the order of the ids the writers got back.
        written.sort_by_key(|(_, id)| *id);
        let expected: Vec<String> = written
            .iter()
            .rev()
            .map(|(n, _)| format!("user{n}@univ.fr"))
            .collect();
        let got: Vec<String> = read
            .iter()
            .map(|e| e.record.subject.clone().unwrap())
            .collect();
        assert_eq!(got, expected);
        let ids: BTreeSet<&String> = read.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), 200, "ids are unique");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_record_once_and_reads_back_the_same() {
    for (store, _redis) in stores() {
        let log = AuditLog::new(store, AuditConfig::default());
        for n in 0..25 {
            log.record(record(n).detail("kid=abc")).await.unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(log.export(&mut out, None).await.unwrap(), 25);
        let text = String::from_utf8(out).unwrap();
        let back: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back.len(), 25);
        let (newest, _) = log.page(None, 25, &Filter::default()).await.unwrap();
        let mut forward = newest.clone();
        forward.reverse();
        assert_eq!(back, forward, "export is the log, oldest first");
        assert!(text.lines().all(|l| l.contains("\"action\":\"link_sent\"")));
        // From an instant in the future: nothing.
        let mut none = Vec::new();
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        assert_eq!(log.export(&mut none, Some(later)).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_drops_only_the_oldest_records() {
    for (store, _redis) in stores() {
        let log = AuditLog::new(
            store,
            AuditConfig {
                max_records: 10,
                retention_days: 400,
            },
        );
        for n in 0..25 {
            log.record(record(n)).await.unwrap();
        }
        let (page, next) = log.page(None, 100, &Filter::default()).await.unwrap();
        assert_eq!(next, None);
        let subjects: Vec<String> = page
            .into_iter()
            .map(|e| e.record.subject.unwrap())
            .collect();
        let expected: Vec<String> = (15..25).rev().map(|n| format!("user{n}@univ.fr")).collect();
        assert_eq!(subjects, expected);
    }
}
