//! Protocol values as types, parsed once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A SAML entityID: an absolute URI (URL or URN) of at most 1024 characters, without
/// whitespace or control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(String);

impl EntityId {
    /// Parses an entityID.
    ///
    /// # Errors
    /// [`Error::Input`] for an empty, over-long, relative or whitespace-carrying value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 1024 {
            return Err(Error::Input("an entityID has 1 to 1024 characters".into()));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Input("an entityID has no whitespace".into()));
        }
        let scheme_ok = s.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && !rest.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        });
        if !scheme_ok {
            return Err(Error::Input("an entityID is an absolute URI".into()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The entityID text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EntityId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<EntityId> for String {
    fn from(e: EntityId) -> Self {
        e.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({})", self.0)
    }
}

/// A `shibmd:Scope`: the domains whose scoped attributes (and e-mail addresses) an IdP
/// speaks for. A literal scope is lower-cased; a regexp scope keeps its pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The domain, or the pattern when `regexp`.
    pub value: String,
    /// Whether `value` is a regular expression (matched whole, case-insensitively).
    pub regexp: bool,
}

/// A language tag as found in `xml:lang` (lower-cased primary subtag: "fr", "en").
#[must_use]
pub fn primary_language(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_are_absolute_uris() {
        for ok in [
            "https://idp.unilim.fr/idp/shibboleth",
            "urn:mace:cru.fr:federation:univ-lille.fr",
        ] {
            assert_eq!(EntityId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "idp.unilim.fr",
            "https://a b",
            ":x",
            "1http://x",
            &"h:".repeat(600),
        ] {
            assert!(EntityId::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn language_tags_reduce_to_their_primary_subtag() {
        assert_eq!(primary_language("fr-FR"), "fr");
        assert_eq!(primary_language("EN"), "en");
    }
}
