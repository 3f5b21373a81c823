//! Fuzz target: the SAML response reader (routing peek and verified-content parse) never
//! panics on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_saml_sp::acs::response::{parse, peek};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = peek(s);
        let _ = parse(s);
    }
});
