//! Fuzz target: the password policy check never panics, and only reports rules it lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_local_auth::PasswordPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let policy = PasswordPolicy::uness();
        let rules = policy.rules();
        for unmet in policy.check(s) {
            assert!(rules.contains(&unmet));
        }
    }
});
