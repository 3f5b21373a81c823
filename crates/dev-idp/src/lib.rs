//! `passerelle-dev-idp` — a small SAML identity provider for the demo and the tests.
//!
//! It will serve configurable test users with a login form, sign (and optionally encrypt)
//! responses and publish its metadata. It exists so that the whole journey can be
//! exercised without a real university; it must never be deployed in production.
//!
//! Not built yet: see issue #3.
