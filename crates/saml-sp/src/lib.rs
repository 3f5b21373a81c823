//! `passerelle-saml-sp` — the SAML 2.0 service provider that faces the universities.
//!
//! It will hold federation metadata (signed aggregates, refresh), the institution
//! directory used for discovery, AuthnRequest construction, Response validation and the
//! mapping of attributes to a typed identity, plus the SP's own metadata. It must never
//! trust a signature it did not verify with a pinned or metadata key, and never reads a
//! byte of an assertion that the verifier did not cover.
//!
//! Not built yet: see issue #3.
