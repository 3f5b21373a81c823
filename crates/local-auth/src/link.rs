//! Magic links: account activation and self-registration (24 h), password reset (1 h).
//!
//! A link carries a 256-bit token; the store keeps only its SHA-256, with the account,
//! the purpose, and issue and expiry times. Asking again sends a new link and leaves
//! the earlier ones valid (the first mail may simply be slow), within a per-account
//! limit. Opening a link shows a confirmation page ([`LocalAuth::inspect_link`] reads
//! without consuming, because mail scanners fetch links); confirming consumes it
//! atomically ([`LocalAuth::consume_link`]) and yields a [`LinkGrant`], the only way to
//! set a password through a link. Using one link retires every link of that purpose
//! sent before it. A consumed or expired token leaves a short tombstone so the page can
//! say "already used" or "expired" instead of "unknown".

use std::fmt;
use std::time::Duration;

use passerelle_store::Expiry;
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountStatus};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::hasher::Password;
use crate::mailer::{Lang, Mail};
use crate::secret::{random_token, token_digest};
use crate::vouch::Vouch;
use crate::{keys, throttle};

/// How long after expiry a link still reads "expired", and how long a tombstone stays.
pub(crate) const GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most link digests an account remembers (links are also capped per account and
/// per hour by `link_issue_per_account`).
const MAX_LINKS_REMEMBERED: usize = 256;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// First password, after a university vouched for the address.
    Activation,
    /// « Mot de passe oublié ».
    PasswordReset,
    /// Self-registration in a domain the operator opened: the account is created when
    /// the link is confirmed.
    Registration,
}

impl LinkPurpose {
    /// The stable name (store keys, the console).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::PasswordReset => "reset",
            Self::Registration => "registration",
        }
    }
}

/// A freshly issued link; the URL holds the token, so it never appears in `Debug`.
#[derive(Clone)]
pub struct IssuedLink {
    /// The URL to put in the e-mail.
    pub url: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedLink")
            .field("url", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a valid, unconsumed link is about (for the confirmation page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The account.
    pub email: Email,
    /// The purpose.
    pub purpose: LinkPurpose,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The app (OIDC client id) the user was on the way to when the link was sent.
    pub app: Option<String>,
}

/// Proof that a link was consumed: lets its holder set the account's password once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkGrant {
    email: Email,
    purpose: LinkPurpose,
    /// The university's word the link carries, if it came from one.
    #[serde(default)]
    vouch: Option<Vouch>,
    /// The app the user was on the way to when the link was sent.
    #[serde(default)]
    app: Option<String>,
}

impl LinkGrant {
    /// The account the link was for.
    #[must_use]
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The link's purpose.
    #[must_use]
    pub fn purpose(&self) -> LinkPurpose {
        self.purpose
    }

    /// The university's word the link carries (see [`LocalAuth::bind_vouched`]).
    #[must_use]
    pub fn vouch(&self) -> Option<&Vouch> {
        self.vouch.as_ref()
    }

    /// The app (OIDC client id) the user was on the way to when the link was sent:
    /// where to continue when the link is used on another device.
    #[must_use]
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    email: Email,
    purpose: LinkPurpose,
    issued_at: Timestamp,
    expires_at: Timestamp,
    #[serde(default)]
    vouch: Option<Vouch>,
    #[serde(default)]
    app: Option<String>,
}

/// What a link carries besides its account and purpose, and whose allowance it uses.
#[derive(Debug, Default)]
pub(crate) struct LinkContext<'a> {
    /// The client address whose allowance it counts against (none for invitations:
    /// their inviter has its own limits).
    pub client: Option<&'a str>,
    /// The university's word.
    pub vouch: Option<Vouch>,
    /// The app the user was on the way to.
    pub app: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Used,
    Expired,
}

/// What is left of a link after it was used or found expired: the outcome, and for
/// whom (so « déjà utilisé » can say whether that account is active). Earlier versions
/// stored the bare outcome; both read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Tombstone {
    Now { outcome: Outcome, email: Email },
    Before(Outcome),
}

impl Tombstone {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Now { outcome, .. } | Self::Before(outcome) => *outcome,
        }
    }
}

impl LocalAuth {
    /// The longest any link lives.
    fn longest_link_ttl(&self) -> Duration {
        Duration::from_secs(
            self.config
                .activation_link_ttl_secs
                .max(self.config.reset_link_ttl_secs),
        )
    }

    pub(crate) fn link_ttl(&self, purpose: LinkPurpose) -> Duration {
        Duration::from_secs(match purpose {
            LinkPurpose::Activation | LinkPurpose::Registration => {
                self.config.activation_link_ttl_secs
            }
            LinkPurpose::PasswordReset => self.config.reset_link_ttl_secs,
        })
    }

    /// Issues a link. Activation needs an account (pending or active); reset needs an
    /// active one; registration a domain open to self-registration. Earlier links stay
    /// valid.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::NotActivated`], [`Error::AccountDisabled`],
    /// [`Error::Throttled`], [`Error::Unavailable`].
    pub async fn issue_link(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        client: &str,
    ) -> Result<IssuedLink, Error> {
        self.issue_link_for(
            email,
            purpose,
            LinkContext {
                client: Some(client),
                ..LinkContext::default()
            },
        )
        .await
    }

    /// [`LocalAuth::issue_link`], with what `cx` says (allowance, university's word, app).
    pub(crate) async fn issue_link_for(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        cx: LinkContext<'_>,
    ) -> Result<IssuedLink, Error> {
        if let Some(client) = cx.client {
            throttle::hit(
                &self.store,
                &keys::throttle_client(client, "link"),
                self.config.link_issue_per_client,
            )
            .await?;
        }
        match (self.account(email).await?.map(|a| a.status), purpose) {
            (Some(AccountStatus::Disabled), _) => return Err(Error::AccountDisabled),
            (Some(AccountStatus::PendingActivation), LinkPurpose::PasswordReset) => {
                return Err(Error::NotActivated);
            }
            (None, LinkPurpose::Registration) if self.self_registration_open(email) => {}
            (None, _) => return Err(Error::UnknownAccount),
            (Some(AccountStatus::Active), LinkPurpose::Registration) => {
                return Err(Error::NotFound);
            }
            _ => {}
        }
        throttle::hit(
            &self.store,
            &keys::throttle_account(email, &format!("link-{}", purpose.as_str())),
            self.config.link_issue_per_account,
        )
        .await?;
        let token = random_token()?;
        let ttl = self.link_ttl(purpose);
        let now = self.clock.now();
        let record = LinkRecord {
            email: email.clone(),
            purpose,
            issued_at: now,
            expires_at: now.plus(ttl),
            vouch: cx.vouch,
            app: cx.app.map(str::to_owned),
        };
        let digest = token_digest(&token);
        self.store
            .set(&keys::link(&digest), &record, Expiry::After(ttl + GRACE))
            .await?;
        // The account remembers its links (only their digests) for as long as a link or
        // its outcome can exist: erasing the account erases them too.
        self.store
            .push_capped(
                &keys::account_links(email),
                &digest,
                MAX_LINKS_REMEMBERED,
                Expiry::After(self.longest_link_ttl() + GRACE + GRACE),
            )
            .await?;
        Ok(IssuedLink {
            url: format!(
                "{}/{token}",
                self.config.link_base_url.trim_end_matches('/')
            ),
            expires_at: record.expires_at,
        })
    }

    /// Issues a link and e-mails it. Returns when it expires.
    ///
    /// # Errors
    /// As [`LocalAuth::issue_link`], and [`Error::Mail`] when the mail cannot be sent.
    pub async fn send_link(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        lang: Lang,
        client: &str,
    ) -> Result<Timestamp, Error> {
        self.send_link_for_app(email, purpose, lang, client, None)
            .await
    }

    /// [`LocalAuth::send_link`] on the way to `app` (the OIDC client waiting for this
    /// sign-in): the link remembers it, so a user who opens it on another device can
    /// continue there.
    ///
    /// # Errors
    /// As [`LocalAuth::send_link`].
    pub async fn send_link_for_app(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        lang: Lang,
        client: &str,
        app: Option<&str>,
    ) -> Result<Timestamp, Error> {
        let cx = LinkContext {
            client: Some(client),
            vouch: None,
            app,
        };
        self.send_link_with(email, purpose, lang, cx).await
    }

    /// Issues a link as `cx` says and mails it (a university's word: the mail names the
    /// institution that asked).
    pub(crate) async fn send_link_with(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        lang: Lang,
        cx: LinkContext<'_>,
    ) -> Result<Timestamp, Error> {
        let institution = cx.vouch.as_ref().map(|v| v.institution.clone());
        let link = self.issue_link_for(email, purpose, cx).await?;
        let valid_for = self.link_ttl(purpose);
        let mail = match purpose {
            LinkPurpose::Activation => Mail::Activation {
                url: link.url,
                valid_for,
                institution,
            },
            LinkPurpose::PasswordReset => Mail::PasswordReset {
                url: link.url,
                valid_for,
            },
            LinkPurpose::Registration => Mail::Registration {
                url: link.url,
                valid_for,
            },
        };
        self.mailer.send(email, lang, &mail).await?;
        Ok(link.expires_at)
    }

    async fn gone(&self, digest: &str) -> Result<Error, Error> {
        Ok(
            match self
                .store
                .get::<Tombstone>(&keys::link_outcome(digest))
                .await?
                .map(|t| t.outcome())
            {
                Some(Outcome::Used) => Error::AlreadyUsed,
                Some(Outcome::Expired) => Error::Expired,
                None => Error::NotFound,
            },
        )
    }

    async fn superseded(&self, record: &LinkRecord) -> Result<bool, Error> {
        let key = keys::link_used_at(&record.email, record.purpose.as_str());
        let used_at: Option<Timestamp> = self.store.get(&key).await?;
        Ok(used_at.is_some_and(|t| record.issued_at < t))
    }

    /// The links issued for this account that still work: purpose and expiry, never
    /// the token (support's view). Links issued before accounts listed them are not seen.
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn pending_links(
        &self,
        email: &Email,
    ) -> Result<Vec<(LinkPurpose, Timestamp)>, Error> {
        let now = self.clock.now();
        let digests: Vec<String> = self.store.list(&keys::account_links(email)).await?;
        let mut out = Vec::new();
        for digest in &digests {
            let Some(record) = self.store.get::<LinkRecord>(&keys::link(digest)).await? else {
                continue;
            };
            if record.expires_at > now && !self.superseded(&record).await? {
                out.push((record.purpose, record.expires_at));
            }
        }
        Ok(out)
    }

    /// For a link already used: the state of its account now (`None` for any other
    /// token, or a use recorded before accounts were kept with it). Lets the page say
    /// « votre compte est déjà actif » and offer to sign in.
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn used_link_account(&self, token: &str) -> Result<Option<AccountStatus>, Error> {
        let digest = token_digest(token);
        let Some(Tombstone::Now {
            outcome: Outcome::Used,
            email,
        }) = self
            .store
            .get::<Tombstone>(&keys::link_outcome(&digest))
            .await?
        else {
            return Ok(None);
        };
        Ok(self.account(&email).await?.map(|a| a.status))
    }

    /// Reads a link without consuming it (the confirmation page behind a GET).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Expired`], [`Error::AlreadyUsed`],
    /// [`Error::Superseded`], [`Error::Unavailable`].
    pub async fn inspect_link(&self, token: &str) -> Result<LinkInfo, Error> {
        let digest = token_digest(token);
        let Some(record) = self.store.get::<LinkRecord>(&keys::link(&digest)).await? else {
            return Err(self.gone(&digest).await?);
        };
        if self.clock.now() >= record.expires_at {
            return Err(Error::Expired);
        }
        if self.superseded(&record).await? {
            return Err(Error::Superseded);
        }
        Ok(LinkInfo {
            email: record.email,
            purpose: record.purpose,
            expires_at: record.expires_at,
            app: record.app,
        })
    }

    /// Consumes a link for `purpose` (the confirmation POST). Exactly one of any number
    /// of concurrent confirmations succeeds.
    ///
    /// # Errors
    /// As [`LocalAuth::inspect_link`]; a link of another purpose reads as
    /// [`Error::NotFound`] and stays valid for its own purpose.
    pub async fn consume_link(
        &self,
        token: &str,
        purpose: LinkPurpose,
    ) -> Result<LinkGrant, Error> {
        let digest = token_digest(token);
        let key = keys::link(&digest);
        let Some(record) = self.store.take::<LinkRecord>(&key).await? else {
            return Err(self.gone(&digest).await?);
        };
        let now = self.clock.now();
        if record.purpose != purpose {
            let left = now.until(record.expires_at) + GRACE;
            self.store
                .set_if_absent(&key, &record, Expiry::After(left))
                .await?;
            return Err(Error::NotFound);
        }
        let tombstone = keys::link_outcome(&digest);
        let left = |outcome| Tombstone::Now {
            outcome,
            email: record.email.clone(),
        };
        if now >= record.expires_at {
            self.store
                .set(&tombstone, &left(Outcome::Expired), Expiry::After(GRACE))
                .await?;
            return Err(Error::Expired);
        }
        if self.superseded(&record).await? {
            self.store
                .set(&tombstone, &left(Outcome::Used), Expiry::After(GRACE))
                .await?;
            return Err(Error::Superseded);
        }
        self.store
            .set(&tombstone, &left(Outcome::Used), Expiry::After(GRACE))
            .await?;
        self.store
            .set(
                &keys::link_used_at(&record.email, purpose.as_str()),
                &now,
                Expiry::After(self.link_ttl(purpose)),
            )
            .await?;
        if purpose == LinkPurpose::Registration {
            self.create_registered(&record.email).await?;
        }
        Ok(LinkGrant {
            email: record.email,
            purpose,
            vouch: record.vouch,
            app: record.app,
        })
    }

    /// Sets the password the grant allows (activation, registration or reset). A
    /// pending account becomes active; the mailbox is recorded as proven. The grant is
    /// used up.
    ///
    /// # Errors
    /// [`Error::PolicyUnmet`] with every unmet rule, [`Error::ConfirmationMismatch`],
    /// account state errors, [`Error::Unavailable`]. On error the grant is handed back
    /// untouched by the caller keeping its copy (the page shows the form again).
    pub async fn complete_link(
        &self,
        grant: &LinkGrant,
        password: &Password,
        confirmation: &Password,
    ) -> Result<Account, Error> {
        self.store_password(&grant.email, password, confirmation, true)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tombstones_written_before_they_named_their_account_still_read() {
        let old: Tombstone = serde_json::from_str("\"used\"").unwrap();
        assert!(matches!(old, Tombstone::Before(Outcome::Used)));
        let now = Tombstone::Now {
            outcome: Outcome::Expired,
            email: Email::parse("a@b.fr").unwrap(),
        };
        let back: Tombstone = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert!(matches!(back.outcome(), Outcome::Expired));
        assert!(matches!(back, Tombstone::Now { .. }));
    }
}
