//! Invitations: how people without a university login (hospital staff, tutors, regional
//! health agencies) get an account.
//!
//! [`LocalAuth::invite`] creates a pending account for the address
//! ([`Origin::Invitation`], the [`InvitationRecord`] saying who asked and for which
//! app) and e-mails an activation link that leads to « Créez votre mot de passe
//! UNESS ». It is idempotent: inviting a pending account again re-sends a link (the
//! first one stays valid), an active account is left alone. Who may invite, and how
//! often, is the caller's rule (the CLI, the console, the machine API): this module
//! applies only the per-account limit on links, so a mailbox is never flooded.
//!
//! What it must never do: change an active or disabled account, or link anything.

use passerelle_store::Expiry;

use crate::account::{Account, AccountStatus, InvitationRecord, Inviter, Origin};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;
use crate::link::{LinkContext, LinkPurpose};
use crate::mailer::{Lang, Mail};

/// One invitation to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Who invites.
    pub inviter: Inviter,
    /// The app the person is invited to (a client id), if any.
    pub app: Option<String>,
    /// The app's display name, for the mail.
    pub app_name: Option<String>,
    /// The person's name, when the inviter knows it (kept as the display name of a new
    /// account, used in the mail's greeting).
    pub name: Option<String>,
}

/// What [`LocalAuth::invite`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invited {
    /// A new pending account; the invitation was e-mailed.
    Created {
        /// When the link stops working.
        expires_at: Timestamp,
    },
    /// The account was already waiting for its password: a new link was e-mailed, the
    /// earlier ones stay valid.
    Resent {
        /// When the new link stops working.
        expires_at: Timestamp,
    },
    /// The account is active: nothing was sent.
    AlreadyActive,
}

impl Invited {
    /// The stable name (API answers, CLI summaries).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created { .. } => "invited",
            Self::Resent { .. } => "resent",
            Self::AlreadyActive => "already_active",
        }
    }
}

impl LocalAuth {
    /// Invites `email`: creates a pending account if there is none and e-mails the
    /// invitation (see the module documentation).
    ///
    /// # Errors
    /// [`Error::AccountDisabled`]; [`Error::Throttled`] past the per-account link limit;
    /// [`Error::Mail`]; [`Error::Unavailable`].
    pub async fn invite(
        &self,
        email: &Email,
        invitation: &Invitation,
        lang: Lang,
    ) -> Result<Invited, Error> {
        let now = self.clock.now();
        let record = InvitationRecord {
            inviter: invitation.inviter.clone(),
            app: invitation.app.clone(),
            at: now,
        };
        let created = match self.account(email).await? {
            Some(a) if a.status == AccountStatus::Active => return Ok(Invited::AlreadyActive),
            Some(a) if a.status == AccountStatus::Disabled => return Err(Error::AccountDisabled),
            Some(mut pending) => {
                if pending.invitation.is_none() {
                    pending.invitation = Some(record);
                    pending.updated_at = now;
                    self.save(&pending).await?;
                }
                false
            }
            None => {
                let mut fresh = Account::pending(email, Origin::Invitation, now);
                fresh.invitation = Some(record);
                fresh.profile.display_name = invitation
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned);
                // Another request may have made it meanwhile: theirs stands, the link
                // below is sent all the same.
                let created = self
                    .store
                    .set_if_absent(&keys::account(email), &fresh, Expiry::Never)
                    .await?;
                self.index_account(email).await?;
                created
            }
        };
        let link = self
            .issue_link_for(
                email,
                LinkPurpose::Activation,
                LinkContext {
                    app: invitation.app.as_deref(),
                    ..LinkContext::default()
                },
            )
            .await?;
        let mail = Mail::Invitation {
            url: link.url,
            valid_for: self.link_ttl(LinkPurpose::Activation),
            app: invitation.app_name.clone(),
            name: invitation.name.clone(),
        };
        self.mailer.send(email, lang, &mail).await?;
        tracing::info!(
            inviter = %invitation.inviter.label(),
            app = invitation.app.as_deref().unwrap_or("-"),
            created,
            "invitation sent"
        );
        Ok(if created {
            Invited::Created {
                expires_at: link.expires_at,
            }
        } else {
            Invited::Resent {
                expires_at: link.expires_at,
            }
        })
    }
}
