//! Self-registration: people without a university (hospital staff, regional health
//! agencies, training centres) whose mail domain the operator lists may create an
//! account by proving their mailbox.
//!
//! The operator lists [`DomainPattern`]s: `chu-limoges.fr` (that domain exactly) or
//! `*.aphp.fr` (any subdomain of `aphp.fr`, not `aphp.fr` itself: list both when both
//! are wanted). [`LocalAuth::register`] e-mails a registration link and stores nothing
//! else: the account (pending, [`Origin::SelfRegistration`]) is created only when the
//! link is confirmed, so a stranger typing addresses leaves no accounts behind.
//!
//! What it must never do: open registration to a domain the operator did not list, or
//! touch an account that already exists (a pending one gets its activation link, an
//! active one nothing).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::account::{AccountStatus, Origin};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::link::{LinkContext, LinkPurpose};
use crate::mailer::Lang;

/// A mail domain the operator opens to self-registration: exact, or `*.` + a suffix
/// (subdomains only).
#[derive(Clone, PartialEq, Eq)]
pub struct DomainPattern {
    domain: String,
    subdomains: bool,
}

impl DomainPattern {
    /// Parses `chu-limoges.fr` or `*.aphp.fr` (lower-cased; a bare top-level domain,
    /// a wildcard elsewhere than in front, or an empty label is refused).
    ///
    /// # Errors
    /// [`Error::Config`] with the reason.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim().to_ascii_lowercase();
        let (domain, subdomains) = match t.strip_prefix("*.") {
            Some(rest) => (rest.to_owned(), true),
            None => (t.clone(), false),
        };
        let bad = |why: &str| Err(Error::Config(format!("domain {text:?}: {why}")));
        if domain.is_empty() || domain.contains('*') {
            return bad("write `example.fr` or `*.example.fr`");
        }
        if !domain.contains('.') {
            return bad("a whole top-level domain cannot be opened");
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !domain.split('.').all(label_ok) {
            return bad("not a domain name");
        }
        Ok(Self { domain, subdomains })
    }

    /// Whether `domain` (lower-cased) is covered.
    #[must_use]
    pub fn covers(&self, domain: &str) -> bool {
        if self.subdomains {
            domain
                .strip_suffix(self.domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            domain == self.domain
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subdomains {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

impl fmt::Debug for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainPattern({self})")
    }
}

impl Serialize for DomainPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DomainPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What [`LocalAuth::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A link to create the account was e-mailed.
    LinkSent {
        /// When the link stops working.
        expires_at: Timestamp,
    },
    /// The account exists and is active: nothing was sent (sign in instead).
    AlreadyActive,
}

impl LocalAuth {
    /// Whether `email`'s domain is open to self-registration.
    #[must_use]
    pub fn self_registration_open(&self, email: &Email) -> bool {
        self.config
            .self_registration_domains
            .iter()
            .any(|p| p.covers(email.domain()))
    }

    /// Self-registration: e-mails a link that creates the account when confirmed. A
    /// pending account (invited, or started by a university) gets its activation link
    /// instead; an active one gets nothing. Earlier links stay valid.
    ///
    /// # Errors
    /// [`Error::RegistrationClosed`] for a domain the operator did not open (and no
    /// pending account); [`Error::AccountDisabled`]; the errors of sending a link
    /// ([`Error::Throttled`], [`Error::Mail`]); [`Error::Unavailable`].
    pub async fn register(
        &self,
        email: &Email,
        lang: Lang,
        client: &str,
        app: Option<&str>,
    ) -> Result<Registered, Error> {
        let purpose = match self.account(email).await?.map(|a| a.status) {
            Some(AccountStatus::Active) => return Ok(Registered::AlreadyActive),
            Some(AccountStatus::Disabled) => return Err(Error::AccountDisabled),
            Some(AccountStatus::PendingActivation) => LinkPurpose::Activation,
            None if self.self_registration_open(email) => LinkPurpose::Registration,
            None => return Err(Error::RegistrationClosed),
        };
        let expires_at = self
            .send_link_with(
                email,
                purpose,
                lang,
                LinkContext {
                    client: Some(client),
                    vouch: None,
                    app,
                },
            )
            .await?;
        Ok(Registered::LinkSent { expires_at })
    }

    /// The account a confirmed registration link creates (kept if it exists).
    pub(crate) async fn create_registered(&self, email: &Email) -> Result<(), Error> {
        self.create_pending(email, Origin::SelfRegistration).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exact_domains_and_subdomain_wildcards_cover_what_they_say() {
        let exact = DomainPattern::parse("CHU-Limoges.fr").unwrap();
        assert!(exact.covers("chu-limoges.fr"));
        assert!(!exact.covers("x.chu-limoges.fr"));
        assert!(!exact.covers("notchu-limoges.fr"));
        let wild = DomainPattern::parse("*.aphp.fr").unwrap();
        assert!(wild.covers("psl.aphp.fr"));
        assert!(wild.covers("a.b.aphp.fr"));
        assert!(!wild.covers("aphp.fr"), "subdomains only");
        assert!(!wild.covers("evilaphp.fr"));
        assert!(!wild.covers(".aphp.fr"));
        assert_eq!(wild.to_string(), "*.aphp.fr");
    }

    #[test]
    fn top_level_domains_inner_wildcards_and_non_domains_are_refused() {
        for bad in [
            "",
            "*",
            "*.fr",
            "fr",
            "a.*.fr",
            "*.*.fr",
            "exa mple.fr",
            "-a.fr",
            "a..fr",
            "a.fr.",
            "@a.fr",
        ] {
            assert!(DomainPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
