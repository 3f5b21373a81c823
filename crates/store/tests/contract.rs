//! The store contract: every behaviour below must hold on every backend. Each behaviour
//! is one async function; the macro at the bottom runs it on the in-memory backend and
//! on a real redis-server, and one test runs them all on a real three-node Redis Cluster.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::time::Duration;

use passerelle_store::{Expiry, Key, Store, StoreError};
use passerelle_testkit::redis::{RedisCluster, redis_url};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flow {
    id: String,
    step: u8,
}

fn flow(step: u8) -> Flow {
    Flow {
        id: "é{x}:y".into(),
        step,
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;

async fn missing_key_reads_as_none(s: Store) {
    let got: Option<Flow> = s.get(&Key::new("t", "missing")).await.unwrap();
    assert_eq!(got, None);
}

async fn set_then_get_round_trips_a_typed_value(s: Store) {
    let k = Key::new("t", "a@b.fr").with("flow");
    s.set(&k, &flow(1), Expiry::Never).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(flow(1)));
    s.set(&k, &flow(2), Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(flow(2)));
}

async fn values_disappear_when_their_ttl_runs_out(s: Store) {
    let k = Key::new("t", "ttl");
    s.set(&k, &flow(1), Expiry::After(MS(150))).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(flow(1)));
    tokio::time::sleep(MS(300)).await;
    assert_eq!(s.get::<Flow>(&k).await.unwrap(), None);
}

async fn set_if_absent_writes_only_the_first_value(s: Store) {
    let k = Key::new("t", "nx");
    assert!(
        s.set_if_absent(&k, &flow(1), Expiry::After(MS(150)))
            .await
            .unwrap()
    );
    assert!(!s.set_if_absent(&k, &flow(2), Expiry::Never).await.unwrap());
    assert_eq!(s.get(&k).await.unwrap(), Some(flow(1)));
    tokio::time::sleep(MS(300)).await;
    assert!(s.set_if_absent(&k, &flow(3), Expiry::Never).await.unwrap());
    assert_eq!(s.get(&k).await.unwrap(), Some(flow(3)));
}

async fn concurrent_set_if_absent_has_exactly_one_winner(s: Store) {
    let k = Key::new("t", "nx-race");
    let tasks: Vec<_> = (0..50u8)
        .map(|i| {
            let (s, k) = (s.clone(), k.clone());
            tokio::spawn(async move { s.set_if_absent(&k, &flow(i), Expiry::Never).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

async fn take_returns_a_value_once(s: Store) {
    let k = Key::new("t", "once");
    s.set(&k, &flow(7), Expiry::After(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(s.take(&k).await.unwrap(), Some(flow(7)));
    assert_eq!(s.take::<Flow>(&k).await.unwrap(), None);
    assert_eq!(s.get::<Flow>(&k).await.unwrap(), None);
}

async fn concurrent_takes_have_exactly_one_winner(s: Store) {
    let k = Key::new("t", "once-race");
    s.set(&k, &flow(1), Expiry::Never).await.unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (s, k) = (s.clone(), k.clone());
            tokio::spawn(async move { s.take::<Flow>(&k).await.unwrap().is_some() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

async fn delete_reports_whether_a_value_existed(s: Store) {
    let k = Key::new("t", "del");
    assert!(!s.delete(&k).await.unwrap());
    s.set(&k, &1u8, Expiry::Never).await.unwrap();
    assert!(s.delete(&k).await.unwrap());
    assert_eq!(s.get::<u8>(&k).await.unwrap(), None);
}

async fn counters_count_within_a_window_fixed_at_the_first_increment(s: Store) {
    let k = Key::new("t", "ctr");
    assert_eq!(s.increment(&k, MS(300)).await.unwrap(), 1);
    tokio::time::sleep(MS(100)).await;
    assert_eq!(s.increment(&k, MS(300)).await.unwrap(), 2);
    assert_eq!(s.increment(&k, MS(300)).await.unwrap(), 3);
    // The window did not slide: the deadline is the first increment's.
    match s.ttl(&k).await.unwrap() {
        Some(Expiry::After(left)) => assert!(left <= MS(210), "window slid: {left:?} left"),
        other => panic!("counter has no deadline: {other:?}"),
    }
    // A counter reads like any other value.
    assert_eq!(s.get::<u64>(&k).await.unwrap(), Some(3));
    tokio::time::sleep(MS(350)).await;
    assert_eq!(s.increment(&k, MS(300)).await.unwrap(), 1);
}

async fn concurrent_increments_are_all_counted(s: Store) {
    let k = Key::new("t", "ctr-race");
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (s, k) = (s.clone(), k.clone());
            tokio::spawn(async move { s.increment(&k, Duration::from_secs(60)).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=200).collect::<Vec<u64>>());
}

async fn ttl_tells_missing_persistent_and_remaining(s: Store) {
    let k = Key::new("t", "ttl-q");
    assert_eq!(s.ttl(&k).await.unwrap(), None);
    s.set(&k, &1u8, Expiry::Never).await.unwrap();
    assert_eq!(s.ttl(&k).await.unwrap(), Some(Expiry::Never));
    s.set(&k, &1u8, Expiry::After(Duration::from_secs(30)))
        .await
        .unwrap();
    match s.ttl(&k).await.unwrap() {
        Some(Expiry::After(left)) => {
            assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30));
        }
        other => panic!("unexpected ttl {other:?}"),
    }
}

async fn touch_gives_an_existing_key_a_new_lifetime(s: Store) {
    let k = Key::new("t", "touch");
    assert!(!s.touch(&k, Expiry::After(MS(500))).await.unwrap());
    s.set(&k, &1u8, Expiry::After(MS(200))).await.unwrap();
    assert!(
        s.touch(&k, Expiry::After(Duration::from_secs(30)))
            .await
            .unwrap()
    );
    tokio::time::sleep(MS(350)).await;
    assert_eq!(s.get::<u8>(&k).await.unwrap(), Some(1));
    assert!(s.touch(&k, Expiry::Never).await.unwrap());
    assert_eq!(s.ttl(&k).await.unwrap(), Some(Expiry::Never));
}

async fn a_value_of_another_shape_is_a_codec_error(s: Store) {
    let k = Key::new("t", "shape");
    s.set(&k, &"text", Expiry::Never).await.unwrap();
    let err = s.get::<Flow>(&k).await.unwrap_err();
    assert!(matches!(err, StoreError::Codec(_)), "{err:?}");
    assert!(!err.is_unavailable());
}

async fn prefixes_keep_namespaces_apart(s: Store) {
    let k = Key::new("t", "ns");
    let other = s.with_prefix("other-namespace");
    s.set(&k, &1u8, Expiry::Never).await.unwrap();
    assert_eq!(other.get::<u8>(&k).await.unwrap(), None);
    other.set(&k, &2u8, Expiry::Never).await.unwrap();
    assert_eq!(s.get::<u8>(&k).await.unwrap(), Some(1));
    assert!(s.ping().await.is_ok());
}

async fn capped_lists_keep_the_newest_items_and_are_taken_once(s: Store) {
    let k = Key::new("list", "a");
    assert_eq!(s.take_list::<u32>(&k).await.unwrap(), Vec::<u32>::new());
    for i in 0..5u32 {
        s.push_capped(&k, &i, 3, Expiry::After(Duration::from_secs(60)))
            .await
            .unwrap();
    }
    assert_eq!(s.take_list::<u32>(&k).await.unwrap(), vec![2, 3, 4]);
    assert_eq!(s.take_list::<u32>(&k).await.unwrap(), Vec::<u32>::new());
    s.push_capped(&k, &7u32, 3, Expiry::After(Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        s.take_list::<u32>(&k).await.unwrap(),
        Vec::<u32>::new(),
        "expired"
    );
}

async fn a_capped_list_reads_without_being_taken(s: Store) {
    let k = Key::new("list", "read");
    assert!(s.list::<u32>(&k).await.unwrap().is_empty());
    for i in 0..5u32 {
        s.push_capped(&k, &i, 3, Expiry::Never).await.unwrap();
    }
    assert_eq!(s.list::<u32>(&k).await.unwrap(), vec![2, 3, 4]);
    assert_eq!(s.list::<u32>(&k).await.unwrap(), vec![2, 3, 4]);
    assert_eq!(s.take_list::<u32>(&k).await.unwrap(), vec![2, 3, 4]);
}

async fn concurrent_pushes_are_all_kept(s: Store) {
    let k = Key::new("list", "b");
    let pushes = (0..32u32).map(|i| {
        let s = s.clone();
        let k = k.clone();
        tokio::spawn(async move { s.push_capped(&k, &i, 64, Expiry::Never).await.unwrap() })
    });
    for p in pushes.collect::<Vec<_>>() {
        p.await.unwrap();
    }
    let mut got = s.take_list::<u32>(&k).await.unwrap();
    got.sort_unstable();
    assert_eq!(got, (0..32).collect::<Vec<_>>());
}

async fn journals_page_both_ways_and_keep_only_the_newest_within_the_cap(s: Store) {
    let k = Key::new("journal", "a");
    let mut ids = Vec::new();
    for i in 0..12u32 {
        ids.push(
            s.journal_append(&k, &i, 10, Duration::from_secs(3600))
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let newest: Vec<u32> = s
        .journal_before::<u32>(&k, None, 4)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(newest, vec![11, 10, 9, 8]);
    let before: Vec<u32> = s
        .journal_before::<u32>(&k, Some(ids[8]), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(before, vec![7, 6, 5, 4, 3, 2], "the cap dropped 0 and 1");
    let after: Vec<(passerelle_store::JournalId, u32)> =
        s.journal_after(&k, Some(ids[9]), 100).await.unwrap();
    assert_eq!(after, vec![(ids[10], 10), (ids[11], 11)]);
    assert!(
        s.journal_before::<u32>(&Key::new("journal", "none"), None, 5)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn journals_drop_entries_past_their_retention(s: Store) {
    let k = Key::new("journal", "b");
    s.journal_append(&k, &1u32, 100, Duration::from_millis(150))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.journal_append(&k, &2u32, 100, Duration::from_millis(150))
        .await
        .unwrap();
    let left: Vec<u32> = s
        .journal_after::<u32>(&k, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(left, vec![2]);
}

async fn concurrent_journal_appends_are_all_kept_with_distinct_ids(s: Store) {
    let k = Key::new("journal", "c");
    let appends = (0..64u32).map(|i| {
        let s = s.clone();
        let k = k.clone();
        tokio::spawn(async move {
            s.journal_append(&k, &i, 1000, Duration::from_secs(60))
                .await
                .unwrap()
        })
    });
    let mut ids = Vec::new();
    for a in appends.collect::<Vec<_>>() {
        ids.push(a.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(
        s.journal_after::<u32>(&k, None, 1000).await.unwrap().len(),
        64
    );
}

async fn indexes_find_members_by_prefix_in_order_and_page(s: Store) {
    let k = Key::new("index", "a");
    for m in [
        "bob@b.fr",
        "alice@a.fr",
        "alain@a.fr",
        "alice@a.fr",
        "albert@c.fr",
        "zoé@z.fr",
    ] {
        s.index_add(&k, m).await.unwrap();
    }
    assert_eq!(
        s.index_prefix(&k, "al", None, 10).await.unwrap(),
        vec!["alain@a.fr", "albert@c.fr", "alice@a.fr"]
    );
    assert_eq!(
        s.index_prefix(&k, "al", Some("albert@c.fr"), 10)
            .await
            .unwrap(),
        vec!["alice@a.fr"]
    );
    assert_eq!(s.index_prefix(&k, "al", None, 2).await.unwrap().len(), 2);
    assert_eq!(
        s.index_prefix(&k, "zo", None, 10).await.unwrap(),
        vec!["zoé@z.fr"]
    );
    assert_eq!(s.index_prefix(&k, "", None, 10).await.unwrap().len(), 5);
    assert!(s.index_remove(&k, "alice@a.fr").await.unwrap());
    assert!(!s.index_remove(&k, "alice@a.fr").await.unwrap());
    assert!(
        s.index_prefix(&k, "alice", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.index_prefix(&Key::new("index", "none"), "a", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn purge_tag_erases_every_key_of_one_owner_and_nothing_else(s: Store) {
    let owner = "a*b?[c]@x.fr";
    let near = ["a*b?[c]@x.fr2", "axb?[c]@x.fr", "other"];
    let write = |tag: &'static str| {
        let s = s.clone();
        async move {
            s.set(&Key::new("acct", tag), &flow(1), Expiry::Never)
                .await
                .unwrap();
            s.set(
                &Key::new("code", tag).with("login").with("x:y"),
                &flow(2),
                Expiry::After(Duration::from_secs(60)),
            )
            .await
            .unwrap();
            s.increment(
                &Key::new("throttle", tag).with("login").with("192.0.2.1"),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
            s.push_capped(&Key::new("list", tag), &1u8, 4, Expiry::Never)
                .await
                .unwrap();
            s.journal_append(&Key::new("journal", tag), &1u8, 10, Duration::from_secs(60))
                .await
                .unwrap();
            s.index_add(&Key::new("index", tag), "m").await.unwrap();
        }
    };
    write(owner).await;
    for n in near {
        write(n).await;
    }
    let elsewhere = s.with_prefix("elsewhere-purge");
    elsewhere
        .set(&Key::new("acct", owner), &flow(1), Expiry::Never)
        .await
        .unwrap();

    assert_eq!(s.purge_tag(owner).await.unwrap(), 6);
    assert_eq!(s.get::<Flow>(&Key::new("acct", owner)).await.unwrap(), None);
    assert_eq!(
        s.ttl(&Key::new("throttle", owner).with("login").with("192.0.2.1"))
            .await
            .unwrap(),
        None
    );
    assert!(
        s.journal_after::<u8>(&Key::new("journal", owner), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.index_prefix(&Key::new("index", owner), "", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for n in near {
        assert_eq!(
            s.get(&Key::new("acct", n)).await.unwrap(),
            Some(flow(1)),
            "{n}"
        );
        assert_eq!(
            s.index_prefix(&Key::new("index", n), "", None, 10)
                .await
                .unwrap(),
            vec!["m"]
        );
    }
    assert_eq!(
        elsewhere.get(&Key::new("acct", owner)).await.unwrap(),
        Some(flow(1))
    );
    assert_eq!(s.purge_tag(owner).await.unwrap(), 0);
    elsewhere.purge_tag(owner).await.unwrap();
}

async fn scan_kind_walks_every_tag_of_a_kind_page_by_page(s: Store) {
    let mut expected = std::collections::BTreeSet::new();
    for i in 0..1200u32 {
        let tag = format!("user{i}:{{x}}@b.fr");
        s.set(&Key::new("acct", &tag), &i, Expiry::Never)
            .await
            .unwrap();
        expected.insert(tag);
    }
    s.set(&Key::new("acct-other", "user1@b.fr"), &1u8, Expiry::Never)
        .await
        .unwrap();
    s.set(
        &Key::new("code", "user2@b.fr").with("acct"),
        &1u8,
        Expiry::Never,
    )
    .await
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = Some(passerelle_store::ScanCursor::START);
    let mut pages = 0;
    while let Some(c) = cursor {
        let (tags, next) = s.scan_kind("acct", c).await.unwrap();
        seen.extend(tags);
        cursor = next;
        pages += 1;
        assert!(pages < 100_000, "the walk ends");
    }
    assert_eq!(seen, expected);
}

async fn a_rotation_takes_once_marks_reads_and_puts_in_one_step(s: Store) {
    use passerelle_store::{Rotated, Rotation};
    let fam = Key::new("fam", "f{1}*");
    let (t1, t1_spent) = (
        fam.clone().with("rt").with("a"),
        fam.clone().with("used").with("a"),
    );
    let t2 = fam.clone().with("rt").with("b");
    s.set(&fam, &flow(7), Expiry::Never).await.unwrap();
    s.set(&t1, &flow(1), Expiry::After(MS(60_000)))
        .await
        .unwrap();
    let rotate = |take: &Key, spent: &Key, next: Option<&Key>| {
        let (s, take, spent, fam) = (s.clone(), take.clone(), spent.clone(), fam.clone());
        let next = next.cloned();
        async move {
            let value = flow(2);
            s.rotate::<Flow, Flow, Flow>(Rotation {
                take: &take,
                mark: (&spent, Expiry::After(MS(60_000))),
                read: &fam,
                put: next
                    .as_ref()
                    .map(|n| (n, &value, Expiry::After(MS(60_000)))),
            })
            .await
        }
    };
    // Concurrent rotations of one token: exactly one takes it.
    let (a, b) = tokio::join!(
        rotate(&t1, &t1_spent, Some(&t2)),
        rotate(&t1, &t1_spent, Some(&t2))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let taken = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Rotated::Taken { .. }))
        .count();
    assert_eq!(taken, 1, "{a:?} {b:?}");
    let winner = if matches!(a, Rotated::Taken { .. }) {
        a
    } else {
        b
    };
    assert_eq!(
        winner,
        Rotated::Taken {
            taken: flow(1),
            read: Some(flow(7))
        }
    );
    // The next token exists with its lifetime; the spent one is a replay from now on.
    assert_eq!(s.get::<Flow>(&t2).await.unwrap(), Some(flow(2)));
    assert!(matches!(s.ttl(&t2).await.unwrap(), Some(Expiry::After(_))));
    assert_eq!(
        rotate(&t1, &t1_spent, None).await.unwrap(),
        Rotated::Missing { spent: true }
    );
    // Never seen: not spent, and nothing written.
    let (t9, t9_spent) = (
        fam.clone().with("rt").with("z"),
        fam.clone().with("used").with("z"),
    );
    assert_eq!(
        rotate(&t9, &t9_spent, Some(&t2)).await.unwrap(),
        Rotated::Missing { spent: false }
    );
    assert_eq!(s.get::<u8>(&t9_spent).await.unwrap(), None);
    // Without a next token; a grant that is gone reads as none.
    s.delete(&fam).await.unwrap();
    let last = rotate(&t2, &fam.clone().with("used").with("b"), None)
        .await
        .unwrap();
    assert_eq!(
        last,
        Rotated::Taken {
            taken: flow(2),
            read: None
        }
    );
    // Keys of another tag (another slot on a cluster) are refused before anything runs.
    let other = Key::new("fam", "other").with("rt");
    s.set(&t1, &flow(1), Expiry::Never).await.unwrap();
    assert!(matches!(
        rotate(&t1, &other, None).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(s.get::<Flow>(&t1).await.unwrap(), Some(flow(1)));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(passerelle_store::Store::memory("test")).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let redis = passerelle_testkit::redis::redis_url().unwrap();
                    let prefix = format!("test-{}-{}", stringify!($name), std::process::id());
                    let store = passerelle_store::Store::open(&redis.url(), &prefix).unwrap();
                    super::$name(store).await;
                }
            )*
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_whole_contract_holds_on_a_three_node_redis_cluster() {
            let cluster = RedisCluster::start().unwrap();
            let store = Store::open(&cluster.url(), "cluster-test").unwrap();
            $( $name(store.with_prefix(stringify!($name))).await; )*
        }
    };
}

contract!(
    missing_key_reads_as_none,
    set_then_get_round_trips_a_typed_value,
    values_disappear_when_their_ttl_runs_out,
    set_if_absent_writes_only_the_first_value,
    concurrent_set_if_absent_has_exactly_one_winner,
    take_returns_a_value_once,
    concurrent_takes_have_exactly_one_winner,
    delete_reports_whether_a_value_existed,
    counters_count_within_a_window_fixed_at_the_first_increment,
    concurrent_increments_are_all_counted,
    ttl_tells_missing_persistent_and_remaining,
    touch_gives_an_existing_key_a_new_lifetime,
    a_value_of_another_shape_is_a_codec_error,
    prefixes_keep_namespaces_apart,
    capped_lists_keep_the_newest_items_and_are_taken_once,
    concurrent_pushes_are_all_kept,
    a_capped_list_reads_without_being_taken,
    journals_page_both_ways_and_keep_only_the_newest_within_the_cap,
    journals_drop_entries_past_their_retention,
    concurrent_journal_appends_are_all_kept_with_distinct_ids,
    indexes_find_members_by_prefix_in_order_and_page,
    purge_tag_erases_every_key_of_one_owner_and_nothing_else,
    scan_kind_walks_every_tag_of_a_kind_page_by_page,
    a_rotation_takes_once_marks_reads_and_puts_in_one_step,
);

#[test]
fn an_unknown_url_scheme_is_an_invalid_url_error() {
    let err = Store::open("postgres://localhost/db", "p").unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
    assert!(Store::open("memory://", "p").unwrap().is_ephemeral());
    // A reachable environment is not needed to open: connections are lazy.
    let _ = redis_url;
}
