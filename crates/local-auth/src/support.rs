//! What support may change on an account beyond disabling it: enable it again, and
//! unlink a university identity (« Compte déjà lié »: an identity linked to the wrong
//! account). The console calls these after its own checks (role, reason, audit).
//!
//! What it must never do: leave an identity index pointing at an account that no longer
//! holds that identity, or make an account active that has no password.

use crate::account::{Account, AccountStatus, FederatedId};
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;

impl LocalAuth {
    /// Enables a disabled account again: active when it has a password, else pending
    /// (its owner must still choose one). Any other state is left as it is.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::Unavailable`].
    pub async fn enable(&self, email: &Email) -> Result<Account, Error> {
        let mut account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        if account.status == AccountStatus::Disabled {
            account.status = if account.has_password() {
                AccountStatus::Active
            } else {
                AccountStatus::PendingActivation
            };
            account.updated_at = self.clock.now();
            self.save(&account).await?;
        }
        Ok(account)
    }

    /// Unlinks the university identity of an account: the account keeps its address,
    /// password and state; the identity may then be linked again (to this account or
    /// another) through the university. Returns the identity that was unlinked.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::NotFound`] when no identity is linked;
    /// [`Error::Unavailable`].
    pub async fn unlink(&self, email: &Email) -> Result<FederatedId, Error> {
        let mut account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        let id = account.federated.take().ok_or(Error::NotFound)?;
        account.updated_at = self.clock.now();
        self.save(&account).await?;
        // The index goes only if it still names this account (a later link elsewhere
        // must not be undone).
        let index = keys::federated(&id.digest());
        if self
            .store
            .get::<Email>(&index)
            .await?
            .is_some_and(|e| e.key() == email.key())
        {
            self.store.delete(&index).await?;
        }
        self.store
            .index_remove(
                &keys::accounts_by_idp(&crate::account::idp_digest(&id.idp)),
                &email.key(),
            )
            .await?;
        Ok(id)
    }
}
