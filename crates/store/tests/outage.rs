//! Redis going away and coming back: typed `Unavailable` errors while it is gone, no
//! panic, and the same `Store` handle working again once it is back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::time::{Duration, Instant};

use passerelle_store::{Expiry, Key, Store};
use passerelle_testkit::free_port;
use passerelle_testkit::redis::{RedisCluster, RedisServer};

async fn until_ok(store: &Store, key: &Key) -> Duration {
    let start = Instant::now();
    loop {
        if store.set(key, &1u8, Expiry::Never).await.is_ok() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the store never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_gives_unavailable_and_the_store_recovers_when_it_returns() {
    let mut server = RedisServer::start().unwrap();
    let store = Store::open(&server.url(), "outage").unwrap();
    let key = Key::new("t", "k");
    store.set(&key, &1u8, Expiry::Never).await.unwrap();

    server.stop();
    let started = Instant::now();
    let err = store.get::<u8>(&key).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let err = store
        .increment(&key, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "errors took {:?}",
        started.elapsed()
    );

    server.restart().unwrap();
    let took = until_ok(&store, &key).await;
    eprintln!("recovered {took:?} after restart");
    assert_eq!(store.get::<u8>(&key).await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_at_start_is_unavailable_until_it_comes_up() {
    let port = free_port().unwrap();
    let store = Store::open(&format!("redis://127.0.0.1:{port}"), "late").unwrap();
    let key = Key::new("t", "k");
    let err = store.set(&key, &1u8, Expiry::Never).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("unavailable"));
    let _server = RedisServer::start_on(port).unwrap();
    let took = until_ok(&store, &key).await;
    eprintln!("first connection {took:?} after the server came up");
    assert_eq!(store.get::<u8>(&key).await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_is_down_at_start_is_unavailable_not_a_panic() {
    let (a, b) = (free_port().unwrap(), free_port().unwrap());
    let store = Store::open(&format!("redis+cluster://127.0.0.1:{a},127.0.0.1:{b}"), "c").unwrap();
    let err = store.get::<u8>(&Key::new("t", "k")).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    // And a cluster that exists works through the same lazy handle.
    let cluster = RedisCluster::start().unwrap();
    let store = Store::open(&cluster.url(), "c").unwrap();
    store
        .set(&Key::new("t", "k"), &5u8, Expiry::Never)
        .await
        .unwrap();
    assert_eq!(store.get::<u8>(&Key::new("t", "k")).await.unwrap(), Some(5));
}

#[test]
fn opening_a_redis_store_outside_an_async_runtime_does_not_panic() {
    // Regression: the connection manager used to be created in `open`, which spawns a
    // task and panicked without a Tokio runtime (seen in the take-once benchmark).
    let store = Store::open("redis://127.0.0.1:1", "no-runtime").unwrap();
    let cluster = Store::open("redis+cluster://127.0.0.1:1,127.0.0.1:2", "no-runtime").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for s in [store, cluster] {
        let err = rt.block_on(s.get::<u8>(&Key::new("t", "k"))).unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_root_works_and_an_untrusted_certificate_is_refused() {
    let server = RedisServer::start_tls().unwrap();
    let url = format!("rediss://localhost:{}", server.port());
    let trusted = passerelle_store::StoreOptions {
        tls_root_pem: Some(server.cert_pem().unwrap().as_bytes().to_vec()),
        ..Default::default()
    };
    let store = Store::open_with(&url, "tls", &trusted).unwrap();
    store
        .set(&Key::new("t", "k"), &7u8, Expiry::Never)
        .await
        .unwrap();
    assert_eq!(store.get::<u8>(&Key::new("t", "k")).await.unwrap(), Some(7));
    // With the system roots only, the self-signed certificate is not accepted.
    let untrusted = Store::open(&url, "tls").unwrap();
    let err = untrusted.get::<u8>(&Key::new("t", "k")).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistence_is_reported_as_redis_is_configured() {
    let server = RedisServer::start().unwrap();
    let store = Store::open(&server.url(), "persist").unwrap();
    // The test server runs with `--save "" --appendonly no`.
    assert_eq!(store.persistence().await.unwrap(), Some(false));
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.persistence().await.unwrap(), Some(true));
    assert_eq!(Store::memory("m").persistence().await.unwrap(), Some(false));
}

/// Runs `args` on `server` through redis-cli; panics on failure (test set-up).
fn cli(server: &RedisServer, args: &[&str]) -> String {
    server.cli(args).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_loading_its_dataset_is_unavailable_not_a_backend_error() {
    let mut server = RedisServer::start().unwrap();
    let store = Store::open(&server.url(), "loading").unwrap();
    let key = Key::new("t", "k");
    store.set(&key, &1u8, Expiry::Never).await.unwrap();
    // 20,000 keys at 300 µs each: several seconds of LOADING after the restart.
    cli(
        &server,
        &[
            "EVAL",
            "for i=1,20000 do redis.call('SET','filler:'..i,'v') end return 1",
            "0",
        ],
    );
    server.restart_loading(300).unwrap();
    assert!(
        cli(&server, &["GET", "x"]).contains("LOADING"),
        "the server is loading"
    );
    // A fresh handle (a new instance starting) and the old one (reconnecting).
    let fresh = Store::open(&server.url(), "loading").unwrap();
    for s in [&store, &fresh] {
        let err = s.get::<u8>(&key).await.unwrap_err();
        assert!(err.is_unavailable(), "a read while loading: {err:?}");
        let err = s.set(&key, &2u8, Expiry::Never).await.unwrap_err();
        assert!(err.is_unavailable(), "a write while loading: {err:?}");
        let err = s.increment(&key, Duration::from_secs(1)).await.unwrap_err();
        assert!(err.is_unavailable(), "a script while loading: {err:?}");
    }
    assert!(
        cli(&server, &["GET", "x"]).contains("LOADING"),
        "the checks ran during the load"
    );
    // Once loaded, the same handle serves the data that was saved.
    let start = Instant::now();
    loop {
        match store.get::<u8>(&key).await {
            Ok(v) => {
                assert_eq!(v, Some(1));
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "{e:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_replica_is_unavailable_for_writes_not_a_backend_error() {
    let primary = RedisServer::start().unwrap();
    let replica = RedisServer::start().unwrap();
    // What a client still pointed at a node demoted by a failover sees.
    cli(
        &replica,
        &["REPLICAOF", "127.0.0.1", &primary.port().to_string()],
    );
    assert!(cli(&replica, &["CONFIG", "GET", "replica-read-only"]).contains("yes"));
    let store = Store::open(&replica.url(), "ro").unwrap();
    let key = Key::new("t", "k");
    let err = store.set(&key, &1u8, Expiry::Never).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("read only"), "{err}");
    let err = store
        .increment(&key, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let err = store.take::<u8>(&key).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_refusing_writes_for_its_configuration_is_unavailable() {
    let server = RedisServer::start().unwrap();
    let store = Store::open(&server.url(), "misconf").unwrap();
    let key = Key::new("t", "k");
    store.set(&key, &1u8, Expiry::Never).await.unwrap();
    // A failed snapshot with save points set: Redis refuses writes (MISCONF). Its
    // working directory disappears (`dir` cannot be changed at run time).
    cli(&server, &["CONFIG", "SET", "save", "3600 1"]);
    std::fs::remove_dir_all(server.dir()).unwrap();
    cli(&server, &["BGSAVE"]);
    let start = Instant::now();
    while !cli(&server, &["INFO", "persistence"]).contains("rdb_last_bgsave_status:err") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "BGSAVE never failed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = store.set(&key, &2u8, Expiry::Never).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("MISCONF"), "{err}");
    // An ACL that forbids our commands is a misconfiguration too.
    cli(
        &server,
        &["ACL", "SETUSER", "limited", "on", ">pw", "~*", "+ping"],
    );
    let limited = Store::open(
        &format!("redis://limited:pw@127.0.0.1:{}", server.port()),
        "misconf",
    )
    .unwrap();
    let err = limited.get::<u8>(&key).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}
