//! [`Email`]: an e-mail address parsed once at the edge.
//!
//! Normalization: surrounding whitespace trimmed, domain lower-cased; the local part is
//! kept as typed (it is what the mail server expects) but accounts are keyed by the
//! fully lower-cased form ([`Email::key`]) so `Prenom.Nom@…` and `prenom.nom@…` can
//! never become two accounts. Rejected: anything `email_address` rejects, addresses
//! longer than 254 characters, domains without a dot, and address literals (`[1.2.3.4]`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A normalized e-mail address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email {
    full: String,
    at: usize,
}

impl Email {
    /// Parses and normalizes `input`.
    ///
    /// # Errors
    /// [`Error::InvalidEmail`] with the reason.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::InvalidEmail("empty"));
        }
        if s.len() > 254 {
            return Err(Error::InvalidEmail("longer than 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(Error::InvalidEmail("no @"));
        };
        if domain.starts_with('[') {
            return Err(Error::InvalidEmail("address literals are not accepted"));
        }
        if !domain.contains('.') || domain.ends_with('.') || domain.starts_with('.') {
            return Err(Error::InvalidEmail("the domain has no dot"));
        }
        let domain = domain.to_lowercase();
        let full = format!("{local}@{domain}");
        email_address::EmailAddress::from_str(&full)
            .map_err(|_| Error::InvalidEmail("not an address"))?;
        Ok(Self {
            at: local.len(),
            full,
        })
    }

    /// The address as it should be written to (domain lower-cased).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before the `@`, as typed.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.full.get(..self.at).unwrap_or_default()
    }

    /// The lower-cased domain.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.full.get(self.at + 1..).unwrap_or_default()
    }

    /// The account key: the whole address lower-cased.
    #[must_use]
    pub fn key(&self) -> String {
        self.full.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.full)
    }
}

impl FromStr for Email {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_lowercases_the_domain_only() {
        let e = Email::parse("  Prenom.Nom@ETU.Unilim.FR \n").unwrap();
        assert_eq!(e.as_str(), "Prenom.Nom@etu.unilim.fr");
        assert_eq!(e.local_part(), "Prenom.Nom");
        assert_eq!(e.domain(), "etu.unilim.fr");
        assert_eq!(e.key(), "prenom.nom@etu.unilim.fr");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            " ",
            "prenom.nom",
            "@unilim.fr",
            "a@",
            "a@localhost",
            "a@[127.0.0.1]",
            "a b@unilim.fr",
            "a@uni lim.fr",
            "a@@unilim.fr",
            "a@.fr",
            "a@unilim.",
        ] {
            assert!(Email::parse(bad).is_err(), "accepted {bad:?}");
        }
        let long = format!("{}@unilim.fr", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn serde_round_trips_and_rejects_invalid_text() {
        let e = Email::parse("a@b.fr").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"a@b.fr\"");
        assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                let again = Email::parse(e.as_str()).unwrap();
                prop_assert_eq!(again, e);
            }
        }
    }
}
