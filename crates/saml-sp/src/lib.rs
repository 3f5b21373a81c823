//! `passerelle-saml-sp` — the SAML 2.0 service provider that faces the universities.
//!
//! Map of the crate:
//! - [`metadata`]: a streaming parser (quick-xml) that turns a federation aggregate into
//!   typed [`metadata::IdpRecord`]s — names by language, logos, scopes, SSO endpoints,
//!   keys by use, entity categories — skipping malformed entities with a reason and
//!   refusing DOCTYPEs; and the validity window of the aggregate, checkable "as of" any
//!   instant.
//! - [`acs`]: the assertion consumer: signed responses verified with the IdP's metadata
//!   keys, only signed content read, every SAML check, replay cache, pending request taken
//!   once, attributes mapped to a typed identity.
//! - [`fetch`]: HTTPS feeds with conditional GET, size cap, timeout.
//! - [`federation`]: all feeds verified and merged into one snapshot swapped atomically
//!   on refresh, last good copies on disk, stale data dropped at its validUntil.
//! - [`directory`]: the institution directory behind discovery: accent- and
//!   case-insensitive word-prefix search, and e-mail address → institutions.
//! - [`logo`]: institution logos checked (raster only, size-capped) and served from our
//!   origin: inline ones decoded from the feed, https ones fetched and kept on disk.
//! - [`authority`]: which addresses an IdP speaks for (its `shibmd:Scope`s and parent
//!   domains, regexp scopes anchored and linear-time, plus the operator's mail domains):
//!   one rule for discovery and for the `mail` the ACS accepts.
//! - [`sp`]: the service provider: configuration and keys, the SP metadata we publish
//!   (signing and encryption keys, accepted encryption methods, requested attributes),
//!   and signed HTTP-Redirect AuthnRequests kept pending in the store.
//! - [`attributes`]: the one table of attribute names (OIDs) we request and read.
//! - [`types`]: protocol values as types ([`types::EntityId`], [`types::Scope`]).
//!
//! What this crate must never do: trust a signature it did not verify with a pinned or
//! metadata key, or read a byte of an assertion that the verifier did not cover.

pub mod acs;
pub mod attributes;
pub mod authority;
pub mod directory;
pub mod error;
pub mod federation;
pub mod fetch;
pub mod logo;
pub mod metadata;
mod signature;
pub mod sp;
pub mod types;
mod xml;

pub use error::Error;
