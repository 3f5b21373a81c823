//! `passerelle-local-auth` — the shared fallback: what lets a student sign in when the
//! university is not in the loop.
//!
//! Map of the crate:
//! - [`email`]: the typed, normalized [`Email`] every account is keyed by.
//! - [`policy`]: the configurable [`PasswordPolicy`] (UNESS preset by default) that
//!   reports every unmet rule at once, for the page's live checklist.
//! - [`hasher`]: argon2id hashing and verification off the async workers, under a
//!   bounded semaphore, with rehash-on-login and a dummy verify for unknown accounts.
//! - [`account`]: accounts (pending, active, disabled), their federated identity and
//!   password, looked up by e-mail or by identity.
//! - [`code`]: 6-digit e-mail codes — hashed, single use, short-lived, few tries.
//! - [`link`]: magic links for activation and password reset — hashed, single use,
//!   purpose-bound, re-sendable without invalidating what is already in the mailbox.
//! - [`throttle`]: fixed-window limits per account and per client address.
//! - [`invite`]: invitations (operator, support, apps): a pending account and a link
//!   to « Créez votre mot de passe UNESS », idempotent.
//! - [`register`]: self-registration in the mail domains the operator opens.
//! - [`vouch`]: a university's word for an address: an activation link naming the
//!   institution, the identity linked only when the link is confirmed in the browser
//!   that did the SAML login.
//! - [`erase`]: an account deleted with everything stored about its owner (RGPD
//!   article 17); support's indexes rebuilt from the accounts.
//! - [`passkey`]: passkeys through webauthn-rs — registration, discoverable sign-in,
//!   rename, delete; ceremonies single use in the store.
//! - [`mailer`]: French/English text+HTML messages sent through lettre (SMTP) or written
//!   to a file outbox.
//! - [`LocalAuth`]: the facade that ties these to one [`passerelle_store::Store`].
//!
//! What it must never do: store or log a secret in clear (passwords, codes, link
//! tokens), compare a secret in variable time, run argon2 on an async worker, or tell a
//! caller more than the typed [`Error`] says.

pub mod account;
pub mod activity;
pub mod clock;
pub mod code;
pub mod email;
pub mod erase;
pub mod error;
pub mod hasher;
pub mod invite;
pub mod keys;
pub mod link;
pub mod mailer;
pub mod passkey;
pub mod policy;
pub mod register;
pub mod secret;
pub mod support;
pub mod throttle;
pub mod vouch;

mod facade;

pub use account::{
    Account, AccountKind, AccountStatus, FederatedId, InvitationRecord, Inviter, Origin, Profile,
};
pub use activity::SignIn;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use code::{CodePurpose, IssuedCode};
pub use email::Email;
pub use erase::{Erased, Reindexed};
pub use error::Error;
pub use facade::{Config, LocalAuth};
pub use hasher::{HashParams, Password};
pub use invite::{Invitation, Invited};
pub use link::{IssuedLink, LinkGrant, LinkPurpose};
pub use mailer::{Lang, Mail, Mailer, MailerConfig, SmtpConfig, SmtpSecurity};
pub use passkey::{Ceremony, PasskeyConfig, PasskeyInfo};
pub use policy::{PasswordPolicy, Rule};
pub use register::{DomainPattern, Registered};
pub use throttle::Limit;
pub use vouch::{Vouch, Vouched};
