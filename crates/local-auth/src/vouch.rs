//! A university's word for an address, and the only way it becomes a link.
//!
//! When a university (already checked to speak for the address: `passerelle-saml-sp`'s
//! authority rule) vouches for `email` on behalf of a federated identity,
//! [`LocalAuth::vouch`] either signs in the account already linked to that identity, or
//! e-mails an activation link that carries the [`Vouch`] — the identity, the profile,
//! the institution's name (the mail says who asked) and an opaque binding of the browser
//! that did the SAML login. Nothing is linked yet: a pending account records no identity,
//! so a wrong or hostile vouch never locks out a later university that is authoritative
//! for the address.
//!
//! The identity is linked only by [`LocalAuth::bind_vouched`], with the grant of the
//! consumed link *and* the same browser binding: the mailbox owner who opens the link
//! elsewhere may still set a password, but never binds someone else's university
//! identity to the account.
//!
//! What it must never do: link an identity without both the link and the browser; move
//! an identity already linked to another active account.

use passerelle_store::Expiry;
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountStatus, FederatedId, Origin, Profile};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;
use crate::link::{LinkContext, LinkGrant, LinkPurpose};
use crate::mailer::Lang;
use crate::secret::ct_eq;

/// What a university vouched for, waiting for the mailbox owner's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouch {
    /// The identity at the university.
    pub federated: FederatedId,
    /// What the university said about the person.
    pub profile: Profile,
    /// The institution's name, for the mail ("at the request of …").
    pub institution: String,
    /// An opaque binding of the browser that did the SAML login (the caller's; compared
    /// in constant time when the link is confirmed).
    pub browser: String,
}

/// What [`LocalAuth::vouch`] did.
#[derive(Debug, Clone)]
pub enum Vouched {
    /// The account is active and already linked to this identity: sign it in.
    SignedIn(Box<Account>),
    /// An activation link naming the institution was e-mailed.
    LinkSent {
        /// When the link stops working.
        expires_at: Timestamp,
    },
}

impl LocalAuth {
    /// Acts on a university's word for `email`: signs in the account linked to the
    /// identity, or creates the account if needed (pending, linked to nothing) and
    /// e-mails an activation link carrying `vouch`.
    ///
    /// # Errors
    /// [`Error::IdentityConflict`] when the identity is linked to another active account
    /// or the active account to another identity; [`Error::AccountDisabled`]; the errors
    /// of sending a link ([`Error::Throttled`], [`Error::Mail`]); [`Error::Unavailable`].
    pub async fn vouch(
        &self,
        email: &Email,
        vouch: Vouch,
        lang: Lang,
        client: &str,
        app: Option<&str>,
    ) -> Result<Vouched, Error> {
        if let Some(other) = self.account_by_federated(&vouch.federated).await?
            && other.email.key() != email.key()
            && other.status == AccountStatus::Active
            && other.federated.as_ref() == Some(&vouch.federated)
        {
            return Err(Error::IdentityConflict);
        }
        match self.account(email).await? {
            Some(a) if a.status == AccountStatus::Disabled => Err(Error::AccountDisabled),
            Some(mut a)
                if a.status == AccountStatus::Active
                    && a.federated.as_ref() == Some(&vouch.federated) =>
            {
                a.profile = vouch.profile;
                a.updated_at = self.clock.now();
                self.save(&a).await?;
                Ok(Vouched::SignedIn(Box::new(a)))
            }
            Some(a) if a.status == AccountStatus::Active && a.federated.is_some() => {
                Err(Error::IdentityConflict)
            }
            existing => {
                if existing.is_none() {
                    self.create_pending(email, Origin::University).await?;
                }
                let expires_at = self
                    .send_vouched_link(email, vouch, lang, client, app)
                    .await?;
                Ok(Vouched::LinkSent { expires_at })
            }
        }
    }

    /// Links the grant's vouched identity to its account, if the link was confirmed in
    /// the browser that did the SAML login (`browser`, the same opaque binding given to
    /// [`LocalAuth::vouch`]). Returns the account when it linked, `None` when the grant
    /// carries no vouch or the browser differs (nothing changes then).
    ///
    /// # Errors
    /// [`Error::IdentityConflict`] when the identity is meanwhile linked to another active
    /// account; [`Error::UnknownAccount`]; [`Error::Unavailable`].
    pub async fn bind_vouched(
        &self,
        grant: &LinkGrant,
        browser: &str,
    ) -> Result<Option<Account>, Error> {
        let Some(vouch) = grant.vouch() else {
            return Ok(None);
        };
        if !ct_eq(&vouch.browser, browser) {
            tracing::warn!(
                reason = "other_browser",
                "a vouched link was confirmed in another browser than the university sign-in: identity not linked"
            );
            return Ok(None);
        }
        if let Some(other) = self.account_by_federated(&vouch.federated).await?
            && other.email.key() != grant.email().key()
            && other.status == AccountStatus::Active
            && other.federated.as_ref() == Some(&vouch.federated)
        {
            return Err(Error::IdentityConflict);
        }
        let mut account = self
            .account(grant.email())
            .await?
            .ok_or(Error::UnknownAccount)?;
        if account.status == AccountStatus::Disabled {
            return Err(Error::AccountDisabled);
        }
        let now = self.clock.now();
        account.federated = Some(vouch.federated.clone());
        account.profile = vouch.profile.clone();
        account.updated_at = now;
        account.mailbox_proved_at = Some(now);
        self.save(&account).await?;
        self.store
            .set(
                &keys::federated(&vouch.federated.digest()),
                &account.email,
                Expiry::Never,
            )
            .await?;
        Ok(Some(account))
    }

    /// A pending account linked to nothing (kept if another request made it first).
    pub(crate) async fn create_pending(&self, email: &Email, origin: Origin) -> Result<(), Error> {
        let fresh = Account::pending(email, origin, self.clock.now());
        self.store
            .set_if_absent(&keys::account(email), &fresh, Expiry::Never)
            .await?;
        self.index_account(email).await
    }

    async fn send_vouched_link(
        &self,
        email: &Email,
        vouch: Vouch,
        lang: Lang,
        client: &str,
        app: Option<&str>,
    ) -> Result<Timestamp, Error> {
        let cx = LinkContext {
            client: Some(client),
            vouch: Some(vouch),
            app,
        };
        self.send_link_with(email, LinkPurpose::Activation, lang, cx)
            .await
    }
}
