//! Fuzz target: the metadata parser never panics, and whatever it accepts indexes and
//! answers directory queries without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{ParseOptions, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(agg) = parse(s, ParseOptions::default())
    {
        let dir = Directory::new(&agg.idps);
        let _ = dir.search("univ", "fr", 5);
        let _ = dir.for_email("a@b.example.fr", "fr");
    }
});
