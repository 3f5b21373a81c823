//! Sign-in activity: each account's recent sign-ins (when, how, to which app, from
//! where), kept in a bounded journal under the account's hash tag (one Redis Cluster
//! slot per account) for `sign_in_retention_days`, at most `sign_in_history` of them.
//! The account page shows its owner theirs; the support console shows them too.
//!
//! What it must never do: keep a secret, or grow without bound.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;

/// One sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// When.
    pub at: Timestamp,
    /// How: an RFC 8176 `amr` value (`pwd`, `otp`, `fed`, …).
    pub method: String,
    /// The app it was for (client id), if one was waiting.
    #[serde(default)]
    pub app: Option<String>,
    /// The client address.
    pub from: String,
}

impl LocalAuth {
    /// Remembers a sign-in of `email` (now, by `method`, for `app`, from `from`).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn record_sign_in(
        &self,
        email: &Email,
        method: &str,
        app: Option<&str>,
        from: &str,
    ) -> Result<(), Error> {
        let entry = SignIn {
            at: self.clock.now(),
            method: method.to_owned(),
            app: app.map(str::to_owned),
            from: from.to_owned(),
        };
        let keep = Duration::from_secs(self.config.sign_in_retention_days.saturating_mul(86_400));
        self.store
            .journal_append(
                &keys::sign_ins(email),
                &entry,
                self.config.sign_in_history,
                keep,
            )
            .await?;
        Ok(())
    }

    /// The account's recent sign-ins, newest first (at most `count`).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn recent_sign_ins(&self, email: &Email, count: usize) -> Result<Vec<SignIn>, Error> {
        Ok(self
            .store
            .journal_before::<SignIn>(&keys::sign_ins(email), None, count)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }
}
