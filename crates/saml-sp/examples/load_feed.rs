//! Loads a signed feed as Passerelle does (verify with the pinned certificate, parse the
//! signed content, index the directory) and prints the time. Pair with
//! `/usr/bin/time -v` for peak memory.
//! Run: `cargo run --release -p passerelle-saml-sp --example load_feed -- FEED.xml CERT.pem`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a developer tool

use std::time::{Duration, Instant};

use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, load};

fn main() {
    let mut args = std::env::args().skip(1);
    let (xml, pem) = (
        args.next().expect("FEED.xml"),
        args.next().expect("CERT.pem"),
    );
    let xml = std::fs::read_to_string(xml).unwrap();
    let pinned = PinnedCerts::from_pem(&std::fs::read_to_string(pem).unwrap()).unwrap();
    let start = Instant::now();
    let agg = load(
        &xml,
        &pinned,
        time::OffsetDateTime::now_utc(),
        Duration::from_secs(31 * 86_400),
        ParseOptions::default(),
    )
    .unwrap();
    let verified_and_parsed = start.elapsed();
    let dir = Directory::new(&agg.idps);
    println!(
        "{} bytes: {} IdPs, {} offered; verify + parse {:?}, + index {:?}",
        xml.len(),
        agg.idps.len(),
        dir.len(),
        verified_and_parsed,
        start.elapsed()
    );
}
