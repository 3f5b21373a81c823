//! Black-box tests of the real `passerelle` binary.
//!
//! The tests under `tests/` start the compiled binary as a process, against a real
//! redis-server, real SMTP listener, independent SAML and OIDC peers and a headless
//! browser. They never link the server's code: what they check is what a user sees.
//!
//! The journey tests arrive with issue #5; until then this crate only holds the harness.
