//! Metadata load cost: parse (quick-xml streaming) + directory index, for the real Renater
//! aggregate (when `../shared/fixtures/renater/` is present) and a generated aggregate of
//! 10,000 IdPs; and the full signed load (xmlsec verify with the pinned certificate,
//! parse of the signed content, index) of the Renater aggregate.
//! Run: `cargo bench -p passerelle-saml-sp`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // bench code

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, load, parse};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn metadata_load(c: &mut Criterion) {
    let mut docs = Vec::new();
    if let Some((xml, _)) = support::renater_fixture() {
        docs.push((
            "renater 2023-06-16 (352 IdPs)".to_owned(),
            std::fs::read_to_string(xml).unwrap(),
        ));
    } else {
        eprintln!("../shared/fixtures/renater absent: benchmarking generated metadata only");
    }
    docs.push((
        "generated 10000 IdPs".to_owned(),
        support::generated(10_000),
    ));
    let mut group = c.benchmark_group("metadata load");
    group.sample_size(10);
    for (name, xml) in &docs {
        group.throughput(Throughput::Bytes(xml.len() as u64));
        group.bench_function(format!("parse + index: {name}"), |b| {
            b.iter(|| {
                let agg = parse(xml, ParseOptions::default()).unwrap();
                Directory::new(&agg.idps).len()
            });
        });
    }
    if let Some((xml, cert)) = support::renater_fixture() {
        let xml = std::fs::read_to_string(xml).unwrap();
        let pinned = PinnedCerts::from_pem(&std::fs::read_to_string(cert).unwrap()).unwrap();
        let now = OffsetDateTime::parse("2023-06-16T12:00:00Z", &Rfc3339).unwrap();
        let month = std::time::Duration::from_secs(31 * 86_400);
        group.throughput(Throughput::Bytes(xml.len() as u64));
        group.bench_function(
            "verify + parse + index: renater 2023-06-16 (352 IdPs)",
            |b| {
                b.iter(|| {
                    let agg = load(&xml, &pinned, now, month, ParseOptions::default()).unwrap();
                    Directory::new(&agg.idps).len()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, metadata_load);
criterion_main!(benches);
