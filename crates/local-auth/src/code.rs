//! Six-digit e-mail codes (« Recevoir le code »).
//!
//! A code is drawn from the OS CSPRNG, stored only as an HMAC bound to its random id,
//! valid `code_ttl_secs` (3 minutes), and answers at most `code_max_tries` (5) guesses:
//! every guess first takes a number from an atomic counter, and guesses past the limit
//! are refused before any comparison, so even 200 parallel guesses evaluate at most 5.
//! Issuing a new code replaces the old one (and its try counter). A correct code is
//! taken from the store atomically, so it works once. Issuing is throttled per account
//! and per client address.

use std::fmt;
use std::time::Duration;

use passerelle_store::Expiry;
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::mailer::{Lang, Mail};
use crate::secret::{ct_eq, random_six_digits, random_token};
use crate::{keys, throttle};

/// Extra lifetime of a code record past its expiry, so a late guess reads "expired"
/// rather than "no code".
const GRACE: Duration = Duration::from_secs(600);

/// What a code is for; a code issued for one purpose is refused for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    /// Signing in instead of a password.
    Login,
    /// Proving presence again (prompt=login, max_age, sensitive account changes).
    Reauthenticate,
}

impl CodePurpose {
    /// Every purpose.
    pub const ALL: [Self; 2] = [Self::Login, Self::Reauthenticate];

    /// The stable name (store keys, the console).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Reauthenticate => "reauth",
        }
    }
}

/// A freshly issued code. The code itself is only for the e-mail; it never appears in
/// `Debug` output.
#[derive(Clone)]
pub struct IssuedCode {
    /// The six digits.
    pub code: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCode")
            .field("code", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CodeRecord {
    id: String,
    mac: String,
    expires_at: Timestamp,
}

impl LocalAuth {
    fn code_mac(&self, email: &Email, purpose: CodePurpose, id: &str, code: &str) -> String {
        self.secret.mac(&[
            b"code",
            email.key().as_bytes(),
            purpose.as_str().as_bytes(),
            id.as_bytes(),
            code.as_bytes(),
        ])
    }

    /// The codes waiting to be typed for this account: purpose and expiry, never the
    /// code (support's view).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn pending_codes(
        &self,
        email: &Email,
    ) -> Result<Vec<(CodePurpose, Timestamp)>, Error> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for purpose in CodePurpose::ALL {
            let record: Option<CodeRecord> =
                self.store.get(&keys::code(email, purpose.as_str())).await?;
            if let Some(r) = record.filter(|r| r.expires_at > now) {
                out.push((purpose, r.expires_at));
            }
        }
        Ok(out)
    }

    /// Issues a new code for an active account, retiring any previous one.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::NotActivated`], [`Error::AccountDisabled`],
    /// [`Error::Throttled`], [`Error::Unavailable`].
    pub async fn issue_code(
        &self,
        email: &Email,
        purpose: CodePurpose,
        client: &str,
    ) -> Result<IssuedCode, Error> {
        throttle::hit(
            &self.store,
            &keys::throttle_client(client, "code"),
            self.config.code_issue_per_client,
        )
        .await?;
        self.active_account(email).await?;
        throttle::hit(
            &self.store,
            &keys::throttle_account(email, "code"),
            self.config.code_issue_per_account,
        )
        .await?;
        let code = random_six_digits()?;
        let id = random_token()?;
        let ttl = self.config.code_ttl();
        let expires_at = self.clock.now().plus(ttl);
        let record = CodeRecord {
            mac: self.code_mac(email, purpose, &id, &code),
            id,
            expires_at,
        };
        self.store
            .set(
                &keys::code(email, purpose.as_str()),
                &record,
                Expiry::After(ttl + GRACE),
            )
            .await?;
        Ok(IssuedCode { code, expires_at })
    }

    /// Issues a code and e-mails it. Returns when it expires.
    ///
    /// # Errors
    /// As [`LocalAuth::issue_code`], and [`Error::Mail`] when the mail cannot be sent.
    pub async fn send_code(
        &self,
        email: &Email,
        purpose: CodePurpose,
        lang: Lang,
        client: &str,
    ) -> Result<Timestamp, Error> {
        let issued = self.issue_code(email, purpose, client).await?;
        let mail = Mail::LoginCode {
            code: issued.code.clone(),
            valid_for: self.config.code_ttl(),
        };
        self.mailer.send(email, lang, &mail).await?;
        Ok(issued.expires_at)
    }

    /// Checks a code. On success the code is used up and the account returned.
    ///
    /// # Errors
    /// [`Error::NotFound`] (no code pending), [`Error::Expired`], [`Error::WrongCode`]
    /// with the tries left, [`Error::TooManyAttempts`], [`Error::AlreadyUsed`] (a
    /// concurrent submission won), account state errors, [`Error::Unavailable`].
    pub async fn verify_code(
        &self,
        email: &Email,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<Account, Error> {
        let key = keys::code(email, purpose.as_str());
        let record: CodeRecord = self.store.get(&key).await?.ok_or(Error::NotFound)?;
        let now = self.clock.now();
        if now >= record.expires_at {
            return Err(Error::Expired);
        }
        let tries = keys::code_tries(email, purpose.as_str(), &record.id);
        let n = self
            .store
            .increment(&tries, now.until(record.expires_at) + GRACE)
            .await?;
        let max = u64::from(self.config.code_max_tries);
        if n > max {
            return Err(Error::TooManyAttempts);
        }
        let candidate = code.trim();
        let well_formed = candidate.len() == 6 && candidate.bytes().all(|b| b.is_ascii_digit());
        let expected = self.code_mac(email, purpose, &record.id, candidate);
        if !(well_formed && ct_eq(&expected, &record.mac)) {
            return Err(Error::WrongCode {
                remaining: u32::try_from(max - n).unwrap_or(0),
            });
        }
        match self.store.take::<CodeRecord>(&key).await? {
            Some(taken) if taken.id == record.id => {}
            _ => return Err(Error::AlreadyUsed),
        }
        let _ = self.store.delete(&tries).await;
        let mut account = self.active_account(email).await?;
        account.last_login_at = Some(now);
        account.updated_at = now;
        self.store
            .set(&keys::account(email), &account, Expiry::Never)
            .await?;
        Ok(account)
    }
}
