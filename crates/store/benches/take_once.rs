//! Take-once (GETDEL) throughput: batches of values are written untimed, then taken
//! with 64 requests in flight, timed. Runs against a real Redis (`REDIS_URL`, else a
//! private redis-server started by the harness) and the in-memory backend.
//! Run: `cargo bench -p passerelle-store`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use passerelle_store::{Expiry, Key, Store};
use passerelle_testkit::redis::redis_url;

const BATCH: u64 = 2_000;
const IN_FLIGHT: usize = 64;

async fn take_batch(store: &Store, round: u64) -> Duration {
    let keys: Vec<Key> = (0..BATCH)
        .map(|i| Key::new("bench", &format!("flow-{round}-{i}")).with("state"))
        .collect();
    for k in &keys {
        store
            .set(
                k,
                &"pending-authorization",
                Expiry::After(Duration::from_secs(60)),
            )
            .await
            .expect("set");
    }
    let start = Instant::now();
    let chunks: Vec<Vec<Key>> = keys
        .chunks(keys.len().div_ceil(IN_FLIGHT))
        .map(<[Key]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let store = store.clone();
            tokio::spawn(async move {
                for k in chunk {
                    let got: Option<String> = store.take(&k).await.expect("take");
                    assert!(got.is_some());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

fn take_once(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let redis = redis_url().expect("redis-server (run scripts/deps.sh)");
    let backends = [
        (
            "redis",
            Store::open(&redis.url(), "bench").expect("redis store"),
        ),
        ("memory", Store::memory("bench")),
    ];
    let mut group = c.benchmark_group("take-once");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    for (name, store) in backends {
        let mut round = 0u64;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                round += 1;
                let base = round * 1_000_000;
                async move {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        total += take_batch(&store, base + i).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, take_once);
criterion_main!(benches);
