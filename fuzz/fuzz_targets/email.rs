//! Fuzz target: `Email::parse` never panics, and what it accepts re-parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_local_auth::Email;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(e) = Email::parse(s)
    {
        let again = Email::parse(e.as_str()).expect("a parsed address re-parses");
        assert_eq!(again, e);
        assert_eq!(again.key(), e.key());
        assert!(e.domain().contains('.'));
    }
});
