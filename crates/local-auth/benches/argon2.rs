//! argon2id cost with the default (OWASP) parameters, as the login path pays it: a
//! verify of the right password, of a wrong one, and the dummy verify an unknown
//! address gets (which must cost the same). Run: `cargo bench -p passerelle-local-auth`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use criterion::{Criterion, criterion_group, criterion_main};
use passerelle_local_auth::hasher::Hasher;
use passerelle_local_auth::{HashParams, Password};

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hasher = Hasher::new(HashParams::OWASP, 2).expect("hasher");
    let right = Password::new("Abcdef1!");
    let wrong = Password::new("Abcdef1?");
    let stored = rt.block_on(hasher.hash(&right)).expect("hash");
    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group.sample_size(30);
    group.bench_function("verify right password", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(
                hasher
                    .verify(&right, Some(&stored))
                    .await
                    .expect("verify")
                    .ok
            );
        });
    });
    group.bench_function("verify wrong password", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(
                !hasher
                    .verify(&wrong, Some(&stored))
                    .await
                    .expect("verify")
                    .ok
            );
        });
    });
    group.bench_function("dummy verify (unknown address)", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(!hasher.verify(&right, None).await.expect("verify").ok);
        });
    });
    group.bench_function("hash (new password)", |b| {
        b.to_async(&rt)
            .iter(|| async { hasher.hash(&right).await.expect("hash") });
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
