//! Accounts: who may sign in with the fallback, and how.
//!
//! An account is keyed by its normalized e-mail. It is created *pending* when a
//! university vouches for the address (SAML), becomes *active* when its owner sets a
//! password through the activation link, and can be *disabled* by support. It may carry
//! one federated identity (IdP entityID + subject), indexed for lookup. The password
//! hash never leaves this crate and never appears in `Debug`.

use std::fmt;

use passerelle_store::Expiry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::hasher::Password;
use crate::{keys, throttle};

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Vouched for by a university, no password yet.
    PendingActivation,
    /// Has a password; may sign in.
    Active,
    /// Blocked by support; nothing works.
    Disabled,
}

/// A federated identity: the IdP that asserted it and the subject it gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FederatedId {
    /// The IdP's SAML entityID.
    pub idp: String,
    /// The subject (subject-id, pairwise-id, persistent NameID or ePPN).
    pub subject: String,
}

impl FederatedId {
    pub(crate) fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.idp.as_bytes(), self.subject.as_bytes()] {
            h.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            h.update(part);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Display attributes, as last received from the university.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// Full name for display.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Home institution (schacHomeOrganization or the IdP's name).
    pub institution: Option<String>,
    /// eduPersonAffiliation values.
    pub affiliations: Vec<String>,
    /// eduPersonPrincipalName, when the university asserted one in its scope.
    pub principal_name: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct StoredHash(pub(crate) String);

impl fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredHash(***)")
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The address the account is known by.
    pub email: Email,
    /// Where it stands.
    pub status: AccountStatus,
    /// The linked university identity.
    pub federated: Option<FederatedId>,
    /// Display attributes.
    #[serde(default)]
    pub profile: Profile,
    pub(crate) password_hash: Option<StoredHash>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When the first password was set.
    pub activated_at: Option<Timestamp>,
    /// Last successful fallback login.
    pub last_login_at: Option<Timestamp>,
    /// Last password change.
    pub password_changed_at: Option<Timestamp>,
}

impl Account {
    /// A new account waiting for its first password, linked to nothing.
    pub(crate) fn pending(email: &Email, now: Timestamp) -> Self {
        Self {
            email: email.clone(),
            status: AccountStatus::PendingActivation,
            federated: None,
            profile: Profile::default(),
            password_hash: None,
            created_at: now,
            updated_at: now,
            activated_at: None,
            last_login_at: None,
            password_changed_at: None,
        }
    }

    /// Whether a password is set.
    #[must_use]
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

impl LocalAuth {
    /// The account for this address, if any.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store is down.
    pub async fn account(&self, email: &Email) -> Result<Option<Account>, Error> {
        Ok(self.store.get(&keys::account(email)).await?)
    }

    /// The account linked to this federated identity, if any.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store is down.
    pub async fn account_by_federated(&self, id: &FederatedId) -> Result<Option<Account>, Error> {
        let Some(email) = self
            .store
            .get::<Email>(&keys::federated(&id.digest()))
            .await?
        else {
            return Ok(None);
        };
        let account = self.account(&email).await?;
        Ok(account.filter(|a| a.federated.as_ref() == Some(id)))
    }

    pub(crate) async fn save(&self, account: &Account) -> Result<(), Error> {
        Ok(self
            .store
            .set(&keys::account(&account.email), account, Expiry::Never)
            .await?)
    }

    /// Records that a university vouched for `email` as `id`: creates a pending account,
    /// or links and refreshes an existing one. Nothing is changed on conflict.
    ///
    /// # Errors
    /// [`Error::IdentityConflict`] when the address is linked to another identity or the
    /// identity to another address; [`Error::AccountDisabled`]; [`Error::Unavailable`].
    pub async fn register_federated(
        &self,
        email: &Email,
        id: &FederatedId,
        profile: Profile,
    ) -> Result<Account, Error> {
        let index = keys::federated(&id.digest());
        if let Some(linked) = self.store.get::<Email>(&index).await?
            && linked.key() != email.key()
            && self.account(&linked).await?.is_some()
        {
            return Err(Error::IdentityConflict);
        }
        let now = self.clock.now();
        let account = match self.account(email).await? {
            Some(mut a) => {
                if a.federated.as_ref().is_some_and(|f| f != id) {
                    return Err(Error::IdentityConflict);
                }
                if a.status == AccountStatus::Disabled {
                    return Err(Error::AccountDisabled);
                }
                a.federated = Some(id.clone());
                a.profile = profile;
                a.updated_at = now;
                self.save(&a).await?;
                a
            }
            None => {
                let fresh = Account {
                    federated: Some(id.clone()),
                    profile,
                    ..Account::pending(email, now)
                };
                let created = self
                    .store
                    .set_if_absent(&keys::account(email), &fresh, Expiry::Never)
                    .await?;
                if !created {
                    // Another instance created it between our read and write: start over
                    // from its record (it cannot loop: the account now exists).
                    return Box::pin(self.register_federated(email, id, fresh.profile)).await;
                }
                fresh
            }
        };
        self.store.set(&index, email, Expiry::Never).await?;
        Ok(account)
    }

    /// Signs in with a password. Unknown addresses, accounts without a password and
    /// wrong passwords cost the same argon2 work and give the same error. A success
    /// against weaker hash parameters stores a fresh hash.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`], [`Error::AccountDisabled`] (only after a correct
    /// password), [`Error::Throttled`], [`Error::Unavailable`].
    pub async fn login_password(
        &self,
        email: &Email,
        password: &Password,
        client: &str,
    ) -> Result<Account, Error> {
        let limits = &self.config;
        let from_client = keys::throttle_client(client, "login-failures");
        let failures = keys::throttle_account(email, "login-failures");
        // Failures are counted, successes are not; the checks and the count happen in
        // one hashing slot, so parallel guesses cannot all pass a nearly full window.
        let slot = self.hasher.slot().await?;
        throttle::check(&self.store, &from_client, limits.login_failures_per_client).await?;
        throttle::check(&self.store, &failures, limits.login_failures_per_account).await?;

        let account = self.account(email).await?;
        let stored = account
            .as_ref()
            .and_then(|a| a.password_hash.as_ref())
            .map(|h| h.0.as_str());
        let verified = self.hasher.verify_in(&slot, password, stored).await?;
        let Some(mut account) = account.filter(|_| verified.ok) else {
            for (key, limit) in [
                (&failures, limits.login_failures_per_account),
                (&from_client, limits.login_failures_per_client),
            ] {
                throttle::hit(&self.store, key, limit)
                    .await
                    .or_else(|e| match e {
                        Error::Throttled { .. } => Ok(()),
                        other => Err(other),
                    })?;
            }
            return Err(Error::InvalidCredentials);
        };
        // The rehash below takes a slot of its own.
        drop(slot);
        if account.status == AccountStatus::Disabled {
            return Err(Error::AccountDisabled);
        }
        let now = self.clock.now();
        if verified.needs_rehash {
            account.password_hash = Some(StoredHash(self.hasher.hash(password).await?));
        }
        account.last_login_at = Some(now);
        account.updated_at = now;
        self.save(&account).await?;
        let _ = self.store.delete(&failures).await;
        Ok(account)
    }

    /// Sets a new password on an account, after the policy and confirmation checks
    /// (the callers are the link flow and the account page, which prove the right to do
    /// so). A pending account becomes active.
    pub(crate) async fn store_password(
        &self,
        email: &Email,
        password: &Password,
        confirmation: &Password,
    ) -> Result<Account, Error> {
        let unmet = self.config.password_policy.check(password.expose());
        if !unmet.is_empty() {
            return Err(Error::PolicyUnmet(unmet));
        }
        if !crate::secret::ct_eq(password.expose(), confirmation.expose()) {
            return Err(Error::ConfirmationMismatch);
        }
        let mut account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        if account.status == AccountStatus::Disabled {
            return Err(Error::AccountDisabled);
        }
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        account.password_hash = Some(StoredHash(hash));
        account.password_changed_at = Some(now);
        account.updated_at = now;
        if account.status == AccountStatus::PendingActivation {
            account.status = AccountStatus::Active;
            account.activated_at = Some(now);
        }
        self.save(&account).await?;
        Ok(account)
    }

    /// Changes the password of a signed-in user who typed the current one.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong current password, the policy and
    /// confirmation errors, [`Error::Unavailable`].
    pub async fn change_password(
        &self,
        email: &Email,
        current: &Password,
        new: &Password,
        confirmation: &Password,
        client: &str,
    ) -> Result<Account, Error> {
        self.login_password(email, current, client).await?;
        self.store_password(email, new, confirmation).await
    }

    /// Disables an account (support). Returns the updated account.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::Unavailable`].
    pub async fn disable(&self, email: &Email) -> Result<Account, Error> {
        let mut account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        account.status = AccountStatus::Disabled;
        account.updated_at = self.clock.now();
        self.save(&account).await?;
        Ok(account)
    }

    /// Requires an account that may receive codes or reset links.
    pub(crate) async fn active_account(&self, email: &Email) -> Result<Account, Error> {
        let account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        match account.status {
            AccountStatus::Active => Ok(account),
            AccountStatus::PendingActivation => Err(Error::NotActivated),
            AccountStatus::Disabled => Err(Error::AccountDisabled),
        }
    }
}
