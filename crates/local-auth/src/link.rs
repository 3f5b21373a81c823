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
const GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

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
    fn as_str(self) -> &'static str {
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
}

/// Proof that a link was consumed: lets its holder set the account's password once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkGrant {
    email: Email,
    purpose: LinkPurpose,
    /// The university's word the link carries, if it came from one.
    #[serde(default)]
    vouch: Option<Vouch>,
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
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkRecord {
    email: Email,
    purpose: LinkPurpose,
    issued_at: Timestamp,
    expires_at: Timestamp,
    #[serde(default)]
    vouch: Option<Vouch>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Used,
    Expired,
}

impl LocalAuth {
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
        self.issue_link_for(email, purpose, Some(client), None)
            .await
    }

    /// [`LocalAuth::issue_link`], counted against `client`'s allowance when one is given
    /// (invitations have their inviter's own limits), carrying a university's word.
    pub(crate) async fn issue_link_for(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        client: Option<&str>,
        vouch: Option<Vouch>,
    ) -> Result<IssuedLink, Error> {
        if let Some(client) = client {
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
            vouch,
        };
        self.store
            .set(
                &keys::link(&token_digest(&token)),
                &record,
                Expiry::After(ttl + GRACE),
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
        self.send_link_with(email, purpose, lang, Some(client), None)
            .await
    }

    /// [`LocalAuth::send_link`], the link carrying a university's word (the mail names
    /// the institution that asked).
    pub(crate) async fn send_link_with(
        &self,
        email: &Email,
        purpose: LinkPurpose,
        lang: Lang,
        client: Option<&str>,
        vouch: Option<Vouch>,
    ) -> Result<Timestamp, Error> {
        let institution = vouch.as_ref().map(|v| v.institution.clone());
        let link = self.issue_link_for(email, purpose, client, vouch).await?;
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
                .get::<Outcome>(&keys::link_outcome(digest))
                .await?
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
        if now >= record.expires_at {
            self.store
                .set(&tombstone, &Outcome::Expired, Expiry::After(GRACE))
                .await?;
            return Err(Error::Expired);
        }
        if self.superseded(&record).await? {
            self.store
                .set(&tombstone, &Outcome::Used, Expiry::After(GRACE))
                .await?;
            return Err(Error::Superseded);
        }
        self.store
            .set(&tombstone, &Outcome::Used, Expiry::After(GRACE))
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
