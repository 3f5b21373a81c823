//! Signature verification cost alone (libxml2 parse + canonicalization + digest + RSA),
//! on the real Renater aggregate when `../shared/fixtures/renater/` is present.
//! Run: `cargo bench -p passerelle-xmldsig`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use passerelle_xmldsig::{Key, verify_root};

fn verify(c: &mut Criterion) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/renater");
    let xml_path = dir.join("main-idps-renater-metadata-2023-06-16.xml");
    if !xml_path.exists() {
        eprintln!(
            "../shared/fixtures/renater absent: nothing to benchmark here (see passerelle-saml-sp's benches)"
        );
        return;
    }
    let xml = std::fs::read(xml_path).unwrap();
    let pem = std::fs::read(dir.join("renater-metadata-signing-cert.pem")).unwrap();
    let cert = openssl::x509::X509::from_pem(&pem).unwrap();
    let key = Key::from_cert_der(&cert.to_der().unwrap()).unwrap();
    let mut group = c.benchmark_group("xmldsig");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(xml.len() as u64));
    group.bench_function("verify_root: renater 2023-06-16", |b| {
        b.iter(|| verify_root(&xml, &[&key]).unwrap());
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
