//! Erasure (RGPD article 17) and index upkeep: an account deleted with everything this
//! crate stores about its owner, and the support indexes rebuilt from the accounts.
//!
//! What erasing reaches: the account record, its codes and their tries, its throttle
//! windows (also those kept per client address), its sign-in activity, the links issued
//! for it and what became of them (both name the address), its university identity's
//! index entry, and its place in support's indexes. It is idempotent: run again after a
//! failure, it finishes the job. What it must never do: touch another account (an
//! identity index naming someone else stays), or keep anything that names the address.

use passerelle_store::ScanCursor;

use crate::account::{Account, idp_digest};
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;

/// What [`LocalAuth::erase`] removed.
#[derive(Debug)]
pub struct Erased {
    /// The account as it was (`None` when there was none: only traces were erased).
    pub account: Option<Account>,
    /// How many stored values went.
    pub values: u64,
}

/// What [`LocalAuth::reindex`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reindexed {
    /// Accounts listed in the address index.
    pub accounts: u64,
    /// Of those, accounts listed under their university.
    pub linked: u64,
}

impl LocalAuth {
    /// Erases the account of `email` and every value stored about it (see the module).
    /// The caller stops what could write for the account first (sessions, pending
    /// sign-ins); values the server keeps under the account's tag go too.
    ///
    /// # Errors
    /// [`Error::Unavailable`]: part may be erased; calling again finishes.
    pub async fn erase(&self, email: &Email) -> Result<Erased, Error> {
        let account = self.account(email).await?;
        let mut values = 0u64;
        // Links first: their digests are only known from the account's slot.
        let digests: Vec<String> = self.store.list(&keys::account_links(email)).await?;
        for digest in &digests {
            values += u64::from(self.store.delete(&keys::link(digest)).await?);
            values += u64::from(self.store.delete(&keys::link_outcome(digest)).await?);
        }
        if let Some(id) = account.as_ref().and_then(|a| a.federated.as_ref()) {
            let index = keys::federated(&id.digest());
            if self
                .store
                .get::<Email>(&index)
                .await?
                .is_some_and(|e| e.key() == email.key())
            {
                values += u64::from(self.store.delete(&index).await?);
            }
            self.store
                .index_remove(&keys::accounts_by_idp(&idp_digest(&id.idp)), &email.key())
                .await?;
        }
        self.store
            .index_remove(&keys::account_index(), &email.key())
            .await?;
        values += self.forget_passkey_user(email).await?;
        // Last: the account record (what a retry starts from) and everything in its slot.
        values += self.store.purge_tag(&email.key()).await?;
        Ok(Erased { account, values })
    }

    /// Lists every stored account in support's indexes (by address, by university):
    /// for accounts written before an index existed, or after restoring a backup.
    /// Walks the store's keys; a maintenance command, not a request path.
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn reindex(&self) -> Result<Reindexed, Error> {
        let mut done = Reindexed::default();
        let mut cursor = Some(ScanCursor::START);
        while let Some(c) = cursor {
            let (tags, next) = self.store.scan_kind(keys::ACCOUNT_KIND, c).await?;
            for tag in tags {
                let Some(account) = self
                    .store
                    .get::<Account>(&keys::account_tagged(&tag))
                    .await?
                else {
                    continue;
                };
                self.index_account(&account.email).await?;
                self.index_institution(&account).await?;
                done.accounts += 1;
                done.linked += u64::from(account.federated.is_some());
            }
            cursor = next;
        }
        Ok(done)
    }
}
