//! Accounts: who may sign in with the fallback, and how.
//!
//! An account is keyed by its normalized e-mail. It is created *pending* — when a
//! university vouches for the address (SAML), when someone invites the address
//! (`invite.rs`), or when its owner proves the mailbox of a self-registration domain
//! (`register.rs`) — becomes *active* when its owner sets a password through a link,
//! and can be *disabled* by support. It records how it was created ([`Origin`]) and
//! what proved it (the mailbox, a linked university identity): [`Account::kind`] is
//! what apps are told. It may carry one federated identity (IdP entityID + subject),
//! indexed for lookup. The password hash never leaves this crate and never appears in
//! `Debug`.

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

/// How an account came to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A university vouched for the address (every account made before origins were
    /// recorded came this way).
    #[default]
    University,
    /// Someone invited the address (operator, support, an app).
    Invitation,
    /// The owner proved a mailbox in a self-registration domain the operator lists.
    SelfRegistration,
}

impl Origin {
    /// The stable name (logs, CLI, console).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::University => "university",
            Self::Invitation => "invitation",
            Self::SelfRegistration => "self_registration",
        }
    }
}

/// Who sent an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Inviter {
    /// The operator, with `passerelle accounts invite`.
    Operator,
    /// An app, through the machine API, authenticated as its OIDC client.
    App {
        /// The client id.
        client_id: String,
    },
    /// A member of the support staff (the console).
    Staff {
        /// The staff member's address.
        email: String,
    },
}

impl Inviter {
    /// One line for logs and the console: `operator`, `app:cockpit`, `staff:a@b.fr`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::App { client_id } => format!("app:{client_id}"),
            Self::Staff { email } => format!("staff:{email}"),
        }
    }
}

/// What the account's invitation said (the first one; later ones only re-send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRecord {
    /// Who invited.
    #[serde(flatten)]
    pub inviter: Inviter,
    /// The app the person was invited to (a client id), if any.
    pub app: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// What an app may rely on about who the account belongs to (the `account_kind` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A university identity is linked: the person signed in at a university that
    /// speaks for the address, and confirmed the mailbox in the same browser.
    University,
    /// Created by an invitation; the mailbox is proven, no university identity linked.
    Invited,
    /// Created by self-registration in a domain the operator lists; mailbox proven.
    SelfRegistered,
    /// The mailbox is proven, nothing more: a university asked for the activation,
    /// but its link was confirmed in another browser, so no identity is linked.
    Email,
}

impl AccountKind {
    /// The claim value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::University => "university",
            Self::Invited => "invited",
            Self::SelfRegistered => "self_registered",
            Self::Email => "email",
        }
    }
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

/// The hex SHA-256 of an IdP's entityID: the tag of its accounts' index.
pub(crate) fn idp_digest(idp: &str) -> String {
    Sha256::digest(idp.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// How it was created.
    #[serde(default)]
    pub origin: Origin,
    /// Its invitation, when it was invited (also kept when a university or
    /// self-registration created it first and someone invited it later).
    #[serde(default)]
    pub invitation: Option<InvitationRecord>,
    /// When a link last proved its owner reads the mailbox.
    #[serde(default)]
    pub mailbox_proved_at: Option<Timestamp>,
}

impl Account {
    /// A new account waiting for its first password, linked to nothing.
    pub(crate) fn pending(email: &Email, origin: Origin, now: Timestamp) -> Self {
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
            origin,
            invitation: None,
            mailbox_proved_at: None,
        }
    }

    /// What apps are told about whose account this is: a linked university identity
    /// first, else how it was created.
    #[must_use]
    pub fn kind(&self) -> AccountKind {
        if self.federated.is_some() {
            return AccountKind::University;
        }
        match self.origin {
            Origin::Invitation => AccountKind::Invited,
            Origin::SelfRegistration => AccountKind::SelfRegistered,
            Origin::University => AccountKind::Email,
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
        self.store
            .set(&keys::account(&account.email), account, Expiry::Never)
            .await?;
        // Accounts written before the index existed join it at their next change.
        self.index_account(&account.email).await?;
        self.index_institution(account).await
    }

    /// Lists a linked account under its university (support's search by institution;
    /// idempotent). The entry goes when the identity is unlinked or the account erased.
    pub(crate) async fn index_institution(&self, account: &Account) -> Result<(), Error> {
        if let Some(id) = &account.federated {
            self.store
                .index_add(
                    &keys::accounts_by_idp(&idp_digest(&id.idp)),
                    &account.email.key(),
                )
                .await?;
        }
        Ok(())
    }

    /// Addresses of the accounts linked to the university `idp` (its entityID), in
    /// order, at most `limit`, after `after` (the last address of the previous page).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn accounts_linked_to(
        &self,
        idp: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        Ok(self
            .store
            .index_prefix(&keys::accounts_by_idp(&idp_digest(idp)), "", after, limit)
            .await?)
    }

    /// Lists the address in support's search index (idempotent).
    pub(crate) async fn index_account(&self, email: &Email) -> Result<(), Error> {
        Ok(self
            .store
            .index_add(&keys::account_index(), &email.key())
            .await?)
    }

    /// Addresses of accounts starting with `prefix` (case-insensitive), in order, at
    /// most `limit`, after `after` (the last address of the previous page).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn find_accounts(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        Ok(self
            .store
            .index_prefix(
                &keys::account_index(),
                &prefix.trim().to_lowercase(),
                after,
                limit,
            )
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
                    ..Account::pending(email, Origin::University, now)
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
                self.index_account(email).await?;
                self.index_institution(&fresh).await?;
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
        let pair = keys::throttle_account_client(email, "login-failures", client);
        // Failures are counted, successes are not; the checks and the count happen in
        // one hashing slot, so parallel guesses cannot all pass a nearly full window.
        // Three windows: per client address (a campus shares one), per account and
        // client address (strict: a stranger's guesses fill their own), per account
        // alone (far higher: NIST SP 800-63B's cap on consecutive failures, which a
        // guesser spread over many addresses meets; the codes and links stay open).
        let slot = self.hasher.slot().await?;
        throttle::check(&self.store, &from_client, limits.login_failures_per_client).await?;
        throttle::check(&self.store, &pair, limits.login_failures_per_account_client).await?;
        throttle::check(&self.store, &failures, limits.login_failures_per_account).await?;

        let account = self.account(email).await?;
        let stored = account
            .as_ref()
            .and_then(|a| a.password_hash.as_ref())
            .map(|h| h.0.as_str());
        let verified = self.hasher.verify_in(&slot, password, stored).await?;
        let Some(mut account) = account.filter(|_| verified.ok) else {
            for (key, limit) in [
                (&pair, limits.login_failures_per_account_client),
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
        let _ = self.store.delete(&pair).await;
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
        mailbox_proved: bool,
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
        if mailbox_proved {
            account.mailbox_proved_at = Some(now);
        }
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
        self.store_password(email, new, confirmation, false).await
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
