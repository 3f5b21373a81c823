//! ACS validation cost per response: a signed Response carrying an AES-128-GCM encrypted
//! assertion (RSA-2048 keys), through every check (signature, decryption, conditions,
//! replay cache, pending request) on the in-memory store. Responses are made before the
//! clock starts. Run: `cargo bench -p passerelle-saml-sp --bench acs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // bench code

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use passerelle_saml_sp::acs::{AcsRequest, AcsSettings, consume};
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_saml_sp::sp::request::LoginOptions;
use passerelle_store::Store;
use support::respond::{AES128_GCM, RSA_OAEP_MGF1P, Resp};
use time::OffsetDateTime;

fn acs(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sp_key = support::sign::rsa_key();
    let sp = support::service_provider(&sp_key);
    let idp_key = support::sign::rsa_key();
    let xml = support::aggregate(
        "2099-01-01T00:00:00Z",
        &support::idp(
            support::respond::IDP,
            "Université de Limoges",
            "University of Limoges",
            "unilim.fr",
        ),
    );
    let mut idp = parse(&xml, ParseOptions::default()).unwrap().idps.remove(0);
    idp.signing_certs = vec![idp_key.cert_der()];
    let snapshot = Snapshot::from_idps(vec![idp.clone()]);
    let store = Store::memory("bench");
    let settings = AcsSettings::default();

    let mut group = c.benchmark_group("acs");
    group.sample_size(20);
    group.bench_function("signed response + AES-128-GCM encrypted assertion", |b| {
        b.iter_custom(|iters| {
            let posts: Vec<(String, String)> = (0..iters)
                .map(|_| {
                    let login = rt
                        .block_on(sp.start_login(
                            &store,
                            &idp,
                            LoginOptions::default(),
                            OffsetDateTime::now_utc(),
                        ))
                        .unwrap();
                    let mut resp = Resp::new(&login.request_id);
                    resp.sign_response = true;
                    resp.sign_assertion = false;
                    resp.encrypt = Some((sp_key.cert_pem.clone(), AES128_GCM, RSA_OAEP_MGF1P));
                    (resp.post(&idp_key), login.relay_state)
                })
                .collect();
            let start = Instant::now();
            for (body, relay) in &posts {
                let input = AcsRequest {
                    saml_response: body,
                    relay_state: Some(relay),
                };
                rt.block_on(consume(
                    &sp,
                    &snapshot,
                    &store,
                    input,
                    &settings,
                    OffsetDateTime::now_utc(),
                ))
                .unwrap();
            }
            start.elapsed().max(Duration::from_nanos(1))
        });
    });
    group.finish();
}

criterion_group!(benches, acs);
criterion_main!(benches);
