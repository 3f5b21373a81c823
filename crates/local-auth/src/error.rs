//! The crate's one error type: each variant says what went wrong for the user, so the
//! server can pick the page ("link expired — ask for a new one", "too many tries", …).
//!
//! Variants never carry secrets. `Unavailable` is the store being unreachable (503).

use std::time::Duration;

use crate::policy::Rule;

/// What went wrong in the local fallback.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not an e-mail address this service accepts.
    #[error("not a valid e-mail address: {0}")]
    InvalidEmail(&'static str),
    /// Wrong e-mail or password (deliberately the same error for both).
    #[error("wrong e-mail address or password")]
    InvalidCredentials,
    /// The account exists but has been disabled by support.
    #[error("this account is disabled")]
    AccountDisabled,
    /// No account for this address.
    #[error("no account for this address")]
    UnknownAccount,
    /// The account exists but has not been activated (no password yet).
    #[error("this account is not activated yet")]
    NotActivated,
    /// The password breaks one or more rules of the policy; all of them are listed.
    #[error("the password does not meet the policy ({} rule(s) unmet)", .0.len())]
    PolicyUnmet(Vec<Rule>),
    /// The password and its confirmation differ.
    #[error("the password and its confirmation differ")]
    ConfirmationMismatch,
    /// The code or link is past its validity.
    #[error("this code or link has expired")]
    Expired,
    /// The code or link was already used.
    #[error("this code or link was already used")]
    AlreadyUsed,
    /// A newer link of the same kind was used since this one was sent.
    #[error("a newer link was used since this one was sent")]
    Superseded,
    /// No such link (mistyped or forged), or no code pending.
    #[error("this code or link is not valid")]
    NotFound,
    /// The code is wrong; `remaining` tries are left before it is retired.
    #[error("wrong code ({remaining} tries left)")]
    WrongCode {
        /// Tries left on this code.
        remaining: u32,
    },
    /// The code was retired after too many wrong tries.
    #[error("too many wrong tries: ask for a new code")]
    TooManyAttempts,
    /// Too many requests; the client may try again after the given delay.
    #[error("too many requests: try again in {} s", .retry_after.as_secs())]
    Throttled {
        /// How long until the window reopens.
        retry_after: Duration,
    },
    /// The address's domain is not open to self-registration (and it has no account).
    #[error("this address's domain is not open to self-registration")]
    RegistrationClosed,
    /// The federated identity is already linked to another account, or this account is
    /// linked to another identity.
    #[error("this address is linked to another identity")]
    IdentityConflict,
    /// A passkey ceremony failed (unknown or spent ceremony, unknown credential, a
    /// check of the answer); the text is for the log, never for the page.
    #[error("passkey refused: {0}")]
    PasskeyRefused(String),
    /// The password cannot be dropped: the account holds no passkey to sign in with.
    #[error("the account has no passkey: add one before dropping the password")]
    PasskeyRequired,
    /// No relying party configured.
    #[error("passkeys are not configured")]
    PasskeysOff,
    /// The store cannot be reached: try again later (HTTP 503).
    #[error("the account store is unavailable")]
    Unavailable(#[source] passerelle_store::StoreError),
    /// The mail could not be handed to the mail server or the outbox.
    #[error("the e-mail could not be sent: {0}")]
    Mail(String),
    /// Configuration is invalid (reported at start-up).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An internal failure (OS random source, hashing, corrupted record).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<passerelle_store::StoreError> for Error {
    fn from(e: passerelle_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e)
        } else {
            Self::Internal(e.to_string())
        }
    }
}
