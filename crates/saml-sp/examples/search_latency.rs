//! Discovery search latency, as the server pays it per request: loads a feed (parsed, not
//! verified: the 2023 Renater file is expired) and times `Directory::search_page` (one
//! page of 20, the count of all matches) and `for_email` over a fixed set of queries,
//! printing p50 / p99 / max per query kind.
//! Run: `cargo run --release -p passerelle-saml-sp --example search_latency -- FEED.xml`
//! (e.g. `../shared/fixtures/renater/main-idps-renater-metadata-2023-06-16.xml`, or the
//! `gen_feed` example's 10,000 IdPs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)] // a developer tool

use std::time::Instant;

use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{ParseOptions, parse};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(label: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    println!(
        "{label:<34} n={:<6} p50={:>8.1} µs  p99={:>8.1} µs  max={:>8.1} µs",
        micros.len(),
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        micros[micros.len() - 1]
    );
}

fn main() {
    let path = std::env::args().nth(1).expect("FEED.xml");
    let xml = std::fs::read_to_string(path).unwrap();
    let agg = parse(&xml, ParseOptions::default()).unwrap();
    drop(xml);
    let dir = Directory::new(&agg.idps);
    println!("{} institutions offered", dir.len());
    let kinds: [(&str, &[&str]); 4] = [
        (
            "one word",
            &["paris", "univ", "lyon", "ecole", "zzz", "a", "universite"],
        ),
        (
            "two words",
            &[
                "universite paris",
                "university 42",
                "ecole nat",
                "institut de",
            ],
        ),
        (
            "five words",
            &[
                "universite de paris cite sud",
                "ecole nationale superieure des mines",
                "university number 4 2 1",
            ],
        ),
        ("second page", &["universite"]),
    ];
    for (label, queries) in kinds {
        let mut times = Vec::new();
        for _ in 0..200 {
            for q in queries {
                let offset = if label == "second page" { 20 } else { 0 };
                let start = Instant::now();
                let found = dir.search_page(q, "fr", offset, 20);
                std::hint::black_box(&found);
                times.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        report(label, times);
        // The slowest query of the kind, alone.
        let slowest = queries
            .iter()
            .map(|q| {
                let start = Instant::now();
                for _ in 0..50 {
                    std::hint::black_box(dir.search_page(q, "fr", 0, 20));
                }
                (start.elapsed().as_secs_f64() * 1e6 / 50.0, *q)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((micros, q)) = slowest {
            println!("  slowest: {q:?} {micros:.1} µs on average");
        }
    }
    let addresses = [
        "prenom.nom@etu.unilim.fr",
        "x@univ-4242.example.fr",
        "x@nowhere.example.com",
        "x@sub.etu.univ-paris-cite.fr",
    ];
    let mut times = Vec::new();
    for _ in 0..200 {
        for a in addresses {
            let start = Instant::now();
            std::hint::black_box(dir.for_email(a, "fr"));
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    report("e-mail lookup", times);
}
