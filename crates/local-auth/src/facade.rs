//! [`LocalAuth`]: the one handle the server holds for the local fallback, and its
//! [`Config`]. The operations live next to their rules: accounts in `account.rs`,
//! codes in `code.rs`, links in `link.rs`; this file only assembles the parts.

use std::sync::Arc;
use std::time::Duration;

use passerelle_store::Store;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::hasher::{HashParams, Hasher};
use crate::mailer::Mailer;
use crate::policy::PasswordPolicy;
use crate::secret::SecretKey;
use crate::throttle::Limit;

/// Configuration of the local fallback (the `[local_auth]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The password policy (UNESS preset by default).
    pub password_policy: PasswordPolicy,
    /// argon2id costs (OWASP by default).
    pub argon2: HashParams,
    /// How many hashes may run at once (each holds `argon2.memory_kib` of memory).
    pub hash_concurrency: usize,
    /// Validity of an e-mail code, in seconds (3 minutes).
    pub code_ttl_secs: u64,
    /// Wrong tries allowed per code (5).
    pub code_max_tries: u32,
    /// Codes sent per account.
    pub code_issue_per_account: Limit,
    /// Codes requested per client address. Client limits are sized for a campus: a
    /// whole university can reach us from one NAT address (or from a proxy missing
    /// from `trusted_proxies`).
    pub code_issue_per_client: Limit,
    /// Validity of an activation link, in seconds (24 hours).
    pub activation_link_ttl_secs: u64,
    /// Validity of a password-reset link, in seconds (1 hour).
    pub reset_link_ttl_secs: u64,
    /// Links sent per account and purpose (resends within the window are allowed up to
    /// this count; earlier links stay valid).
    pub link_issue_per_account: Limit,
    /// Links requested per client address.
    pub link_issue_per_client: Limit,
    /// Failed password logins per account from one client address before that address
    /// pauses for that account (strict: only the guesser waits).
    pub login_failures_per_account_client: Limit,
    /// Failed password logins per account, from every address together, before password
    /// sign-in pauses for the account (NIST SP 800-63B: at most 100 consecutive
    /// failures; a success starts the count again). E-mail codes, reset links and the
    /// university stay open.
    pub login_failures_per_account: Limit,
    /// Failed password logins per client address (wrong password, unknown address);
    /// successes are not counted, so a campus behind one address signs in freely while
    /// guessing from it is slowed. Once full, every login from the address waits,
    /// right or wrong. (`login_attempts_per_client`, its former name, is accepted.)
    #[serde(alias = "login_attempts_per_client")]
    pub login_failures_per_client: Limit,
    /// Links in e-mails are `{link_base_url}/{token}`.
    pub link_base_url: String,
    /// Mail domains whose people may create an account by proving their mailbox:
    /// `chu-limoges.fr` (exactly) or `*.aphp.fr` (its subdomains).
    pub self_registration_domains: Vec<crate::register::DomainPattern>,
    /// Sign-ins remembered per account (its owner and support see them).
    pub sign_in_history: usize,
    /// How long a sign-in is remembered, days.
    pub sign_in_retention_days: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::uness(),
            argon2: HashParams::OWASP,
            hash_concurrency: 2,
            code_ttl_secs: 180,
            code_max_tries: 5,
            code_issue_per_account: Limit::per_minutes(5, 15),
            code_issue_per_client: Limit::per_minutes(1000, 15),
            activation_link_ttl_secs: 24 * 3600,
            reset_link_ttl_secs: 3600,
            link_issue_per_account: Limit::per_minutes(3, 15),
            link_issue_per_client: Limit::per_minutes(300, 15),
            login_failures_per_account_client: Limit::per_minutes(10, 15),
            login_failures_per_account: Limit::per_minutes(100, 24 * 60),
            login_failures_per_client: Limit::per_minutes(500, 15),
            link_base_url: "http://localhost:8080/link".into(),
            self_registration_domains: Vec::new(),
            sign_in_history: 50,
            sign_in_retention_days: 90,
        }
    }
}

impl Config {
    /// Checks the values that cannot be caught by types.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn validate(&self) -> Result<(), Error> {
        self.password_policy.validate().map_err(Error::Config)?;
        if self.code_ttl_secs == 0
            || self.activation_link_ttl_secs == 0
            || self.reset_link_ttl_secs == 0
        {
            return Err(Error::Config(
                "local_auth: code and link lifetimes must be positive".into(),
            ));
        }
        if self.code_max_tries == 0 {
            return Err(Error::Config(
                "local_auth.code_max_tries must be at least 1".into(),
            ));
        }
        if !(self.link_base_url.starts_with("https://")
            || self.link_base_url.starts_with("http://"))
        {
            return Err(Error::Config(
                "local_auth.link_base_url must be an http(s) URL".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn code_ttl(&self) -> Duration {
        Duration::from_secs(self.code_ttl_secs)
    }
}

/// The local fallback, bound to a store, a mailer, a secret key and a clock.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Store,
    pub(crate) hasher: Hasher,
    pub(crate) mailer: Mailer,
    pub(crate) secret: SecretKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) passkeys: Option<crate::passkey::Relying>,
}

impl LocalAuth {
    /// Assembles the fallback. Computes the dummy password hash (one hash's time).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn new(
        config: Config,
        store: Store,
        mailer: Mailer,
        secret: SecretKey,
    ) -> Result<Self, Error> {
        Self::with_clock(config, store, mailer, secret, Arc::new(SystemClock))
    }

    /// As [`LocalAuth::new`], with another clock (tests).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn with_clock(
        config: Config,
        store: Store,
        mailer: Mailer,
        secret: SecretKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let hasher = Hasher::new(config.argon2, config.hash_concurrency)?;
        Ok(Self {
            config: Arc::new(config),
            store,
            hasher,
            mailer,
            secret,
            clock,
            passkeys: None,
        })
    }

    /// Enables passkeys for `config`'s relying party.
    ///
    /// # Errors
    /// [`Error::Config`] when the RP ID does not fit the origin.
    pub fn with_passkeys(mut self, config: &crate::passkey::PasskeyConfig) -> Result<Self, Error> {
        self.passkeys = Some(crate::passkey::Relying::new(config)?);
        Ok(self)
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The password policy (for the checklist).
    #[must_use]
    pub fn policy(&self) -> &PasswordPolicy {
        &self.config.password_policy
    }

    /// The mailer (for the server's own messages).
    #[must_use]
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }
}
