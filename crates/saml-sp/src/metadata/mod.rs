//! Federation metadata: typed IdP records out of a SAML metadata aggregate.
//!
//! [`parse`] streams the document once (quick-xml, namespace-aware, no DOM) and keeps
//! only what Passerelle uses of each IdP. It refuses DOCTYPEs and documents over the size
//! limit, fails on XML that is not well-formed (nothing in a broken feed can be trusted),
//! and skips — with a reason — entities that are malformed on their own (no or bad
//! entityID, an undecodable certificate), so one bad entity never takes the feed down.
//! [`Aggregate::check_validity`] applies the `validUntil` rules as of any instant.
//!
//! [`load`] is the entry point for feeds: it verifies the signature against pinned
//! certificates and parses only what the signature covers. `parse` alone is for
//! documents whose trust comes from elsewhere (tests, tools); it trusts nothing it reads.

pub mod duration;
mod parser;
mod verify;
pub mod writer;

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;
use crate::types::{EntityId, Scope, primary_language};

pub use parser::{ParseOptions, parse};
pub use verify::{PinnedCerts, load};

/// REFEDS Research and Scholarship entity category.
pub const CATEGORY_RESEARCH_AND_SCHOLARSHIP: &str =
    "http://refeds.org/category/research-and-scholarship";
/// REFEDS hide-from-discovery entity category.
pub const CATEGORY_HIDE_FROM_DISCOVERY: &str = "http://refeds.org/category/hide-from-discovery";
/// SAML 2.0 HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// SAML 2.0 HTTP-POST binding.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// A text with its language (`xml:lang`, primary subtag lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Localized {
    /// "fr", "en", … (empty when the document gave none).
    pub lang: String,
    /// The text, trimmed.
    pub value: String,
}

/// An `mdui:Logo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logo {
    /// Where the image is (https or data: URL, as published).
    pub url: String,
    /// Declared width in pixels.
    pub width: Option<u32>,
    /// Declared height in pixels.
    pub height: Option<u32>,
    /// Language, if any.
    pub lang: Option<String>,
}

/// A `SingleSignOnService` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The binding URI.
    pub binding: String,
    /// The endpoint URL.
    pub location: String,
}

/// One identity provider, as Passerelle needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdpRecord {
    /// The entityID.
    pub entity_id: EntityId,
    /// Display names: `mdui:DisplayName`s, else `OrganizationDisplayName`s.
    pub display_names: Vec<Localized>,
    /// `mdui:Logo`s.
    pub logos: Vec<Logo>,
    /// `mdui:InformationURL`s.
    pub information_urls: Vec<Localized>,
    /// `shibmd:Scope`s of the IdP role (and of the entity).
    pub scopes: Vec<Scope>,
    /// SAML 2.0 `SingleSignOnService` endpoints.
    pub sso: Vec<Endpoint>,
    /// DER certificates for signing (`use="signing"` or no `use`).
    #[serde(skip)]
    pub signing_certs: Vec<Vec<u8>>,
    /// DER certificates for encryption (`use="encryption"` or no `use`).
    #[serde(skip)]
    pub encryption_certs: Vec<Vec<u8>>,
    /// Entity categories (`http://macedir.org/entity-category` values).
    pub entity_categories: Vec<String>,
    /// `mdrpi:RegistrationInfo/@registrationAuthority`.
    pub registration_authority: Option<String>,
}

impl IdpRecord {
    /// A record with this entityID and nothing else (tests, tools, generated feeds).
    #[must_use]
    pub fn bare(entity_id: EntityId) -> Self {
        Self {
            entity_id,
            display_names: Vec::new(),
            logos: Vec::new(),
            information_urls: Vec::new(),
            scopes: Vec::new(),
            sso: Vec::new(),
            signing_certs: Vec::new(),
            encryption_certs: Vec::new(),
            entity_categories: Vec::new(),
            registration_authority: None,
        }
    }

    /// The display name in `lang`, else French, else English, else the first one, else
    /// the entityID.
    #[must_use]
    pub fn name(&self, lang: &str) -> &str {
        let wanted = primary_language(lang);
        [wanted.as_str(), "fr", "en"]
            .iter()
            .find_map(|l| self.display_names.iter().find(|n| n.lang == *l))
            .or_else(|| self.display_names.first())
            .map_or(self.entity_id.as_str(), |n| n.value.as_str())
    }

    /// When each signing certificate expires (as its `notAfter` reads, e.g. `Jun 25
    /// 08:30:30 2023 GMT`), or `unreadable` for one that does not parse. Metadata keys
    /// are pinned regardless of their dates (SAML metadata interoperability profile);
    /// operators watch them to see a university's key change coming.
    #[must_use]
    pub fn signing_cert_expiries(&self) -> Vec<String> {
        self.signing_certs
            .iter()
            .map(|der| {
                openssl::x509::X509::from_der(der)
                    .map_or_else(|_| "unreadable".to_owned(), |c| c.not_after().to_string())
            })
            .collect()
    }

    /// Whether the IdP asked not to be offered in discovery.
    #[must_use]
    pub fn hidden_from_discovery(&self) -> bool {
        self.entity_categories
            .iter()
            .any(|c| c == CATEGORY_HIDE_FROM_DISCOVERY)
    }

    /// The SSO endpoint for a binding.
    #[must_use]
    pub fn sso_location(&self, binding: &str) -> Option<&str> {
        self.sso
            .iter()
            .find(|e| e.binding == binding)
            .map(|e| e.location.as_str())
    }
}

/// An entity the parser left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its entityID, when it had a readable one.
    pub entity_id: Option<String>,
    /// Why it was left out.
    pub reason: String,
}

/// What a metadata document holds.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The root's `Name`, if any.
    pub name: Option<String>,
    /// The root's `validUntil`.
    pub valid_until: Option<OffsetDateTime>,
    /// The root's `cacheDuration`.
    pub cache_duration: Option<Duration>,
    /// The root's `mdrpi:PublicationInfo/@creationInstant`, when readable.
    pub published: Option<OffsetDateTime>,
    /// The identity providers, in document order.
    pub idps: Vec<IdpRecord>,
    /// Entities left out, with reasons.
    pub skipped: Vec<Skipped>,
    /// All `EntityDescriptor`s seen (IdPs, SPs, skipped).
    pub entities: usize,
}

/// RFC 3339 to the second (messages are read by people).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

impl Aggregate {
    /// An aggregate holding nothing (a feed not loaded yet).
    #[must_use]
    pub fn empty() -> Self {
        Self {
            name: None,
            valid_until: None,
            cache_duration: None,
            published: None,
            idps: Vec::new(),
            skipped: Vec::new(),
            entities: 0,
        }
    }

    /// When the federation published this document: its `creationInstant`, else its
    /// `validUntil` (feeds are re-signed with a later one each time). What orders two
    /// copies of a feed: an older one must never replace a newer one.
    #[must_use]
    pub fn publication_instant(&self) -> Option<OffsetDateTime> {
        self.published.or(self.valid_until)
    }

    /// Checks the validity window as of `now`: a `validUntil` must exist, lie in the
    /// future, and lie at most `max_validity` ahead.
    ///
    /// # Errors
    /// [`Error::Validity`], [`Error::Expired`], [`Error::ValidityTooLong`].
    pub fn check_validity(&self, now: OffsetDateTime, max_validity: Duration) -> Result<(), Error> {
        let valid_until = self
            .valid_until
            .ok_or_else(|| Error::Validity("the root element has no validUntil".into()))?;
        if valid_until <= now {
            return Err(Error::Expired {
                valid_until: rfc3339(valid_until),
                now: rfc3339(now),
            });
        }
        let max = time::Duration::try_from(max_validity).unwrap_or(time::Duration::MAX);
        if valid_until - now > max {
            return Err(Error::ValidityTooLong {
                valid_until: rfc3339(valid_until),
                now: rfc3339(now),
                max_days: max.whole_days(),
            });
        }
        Ok(())
    }
}
