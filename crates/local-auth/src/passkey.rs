//! Passkeys (WebAuthn Level 3) through webauthn-rs: registering one from the account
//! page, signing in with one on the portal (discoverable credentials, no address typed),
//! listing, renaming and deleting them.
//!
//! Ceremony state lives in the store (any instance finishes what another started),
//! single use ([`passerelle_store::Store::take`]) and short-lived. Credentials live in
//! one record per account under its hash tag, with the WebAuthn user handle (a random
//! UUID, never the address) indexed to find the account at sign-in. User verification
//! is required; counters and backup flags are checked by webauthn-rs, and a counter that
//! goes backwards (a cloned authenticator) is refused.
//!
//! What it must never do: accept an assertion for a credential the account does not hold,
//! replay a ceremony, or sign in a disabled account.

use std::sync::Arc;
use std::time::Duration;

use passerelle_store::Expiry;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Uuid, Webauthn, WebauthnBuilder,
};

use webauthn_rs_proto::ResidentKeyRequirement;

use crate::account::{Account, AccountStatus};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::error::Error;
use crate::facade::LocalAuth;
use crate::keys;
use crate::secret::random_token;

/// How long a ceremony may take, from the options to the answer.
const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// Where passkeys are valid.
#[derive(Debug, Clone)]
pub struct PasskeyConfig {
    /// The relying party ID: the host of the public URL (or a registrable suffix of it).
    pub rp_id: String,
    /// The public origin pages are served from.
    pub origin: Url,
    /// The name authenticators show.
    pub rp_name: String,
    /// The most passkeys one account may hold.
    pub max_per_account: usize,
}

impl PasskeyConfig {
    /// Checks the configuration as [`LocalAuth::with_passkeys`] will (for
    /// `check-config`).
    ///
    /// # Errors
    /// [`Error::Config`] when the RP ID does not fit the origin, or no passkey is allowed.
    pub fn check(&self) -> Result<(), Error> {
        Relying::new(self).map(|_| ())
    }
}

/// The WebAuthn relying party, made once.
#[derive(Clone)]
pub(crate) struct Relying {
    webauthn: Arc<Webauthn>,
    max_per_account: usize,
}

impl std::fmt::Debug for Relying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relying")
            .field("max_per_account", &self.max_per_account)
            .finish_non_exhaustive()
    }
}

impl Relying {
    /// Checks the configuration and makes the relying party.
    ///
    /// # Errors
    /// [`Error::Config`] when the RP ID is not the origin's host or a suffix of it.
    pub(crate) fn new(config: &PasskeyConfig) -> Result<Self, Error> {
        let webauthn = WebauthnBuilder::new(&config.rp_id, &config.origin)
            .and_then(|b| b.rp_name(&config.rp_name).build())
            .map_err(|e| {
                Error::Config(format!(
                    "passkeys: rp_id {:?} does not fit the origin {}: {e}",
                    config.rp_id, config.origin
                ))
            })?;
        if config.max_per_account == 0 {
            return Err(Error::Config(
                "passkeys: max_per_account must be ≥ 1".into(),
            ));
        }
        Ok(Self {
            webauthn: Arc::new(webauthn),
            max_per_account: config.max_per_account,
        })
    }
}

/// One registered passkey.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    name: String,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    /// Backup eligible (synced), as its last sign-in said: unknown before the first.
    #[serde(default)]
    synced: Option<bool>,
    passkey: Passkey,
}

/// An account's passkeys and its WebAuthn user handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Set {
    user: Uuid,
    keys: Vec<Stored>,
}

/// What the account page shows of a passkey (never its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// The credential ID (base64url), to name it in a rename or a delete.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it last signed in.
    pub last_used_at: Option<Timestamp>,
    /// Whether it may be synced to other devices (backup eligible: a cloud-synced
    /// passkey) or stays on its authenticator (a security key, a device-bound passkey),
    /// as its authenticator said at its last sign-in; `None` before the first.
    pub synced: Option<bool>,
}

/// A started ceremony: its id (sent back with the answer) and the options for
/// `navigator.credentials` (JSON).
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The id the answer must carry.
    pub id: String,
    /// `{ "publicKey": … }` (and `mediation` for a sign-in).
    pub options: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
enum State {
    Register {
        email: Email,
        user: Uuid,
        state: PasskeyRegistration,
    },
    SignIn {
        state: DiscoverableAuthentication,
    },
    Check {
        email: Email,
        state: PasskeyAuthentication,
    },
}

fn refused(what: &str) -> Error {
    Error::PasskeyRefused(what.to_owned())
}

fn credential_id(p: &Passkey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p.cred_id().as_ref())
}

impl LocalAuth {
    fn relying(&self) -> Result<&Relying, Error> {
        self.passkeys.as_ref().ok_or(Error::PasskeysOff)
    }

    async fn passkey_set(&self, email: &Email) -> Result<Option<Set>, Error> {
        Ok(self.store.get(&keys::passkeys(email)).await?)
    }

    async fn ceremony(&self, state: &State, options: &impl Serialize) -> Result<Ceremony, Error> {
        let options = serde_json::to_value(options)
            .map_err(|e| Error::Internal(format!("passkey options: {e}")))?;
        let id = random_token()?;
        self.store
            .set(&keys::ceremony(&id), state, Expiry::After(CEREMONY_TTL))
            .await?;
        Ok(Ceremony { id, options })
    }

    /// The passkeys of an account (what its page lists).
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn passkeys(&self, email: &Email) -> Result<Vec<PasskeyInfo>, Error> {
        Ok(self
            .passkey_set(email)
            .await?
            .map(|s| {
                s.keys
                    .iter()
                    .map(|k| PasskeyInfo {
                        id: credential_id(&k.passkey),
                        name: k.name.clone(),
                        created_at: k.created_at,
                        last_used_at: k.last_used_at,
                        synced: k.synced,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Starts adding a passkey to an active account: the options for
    /// `navigator.credentials.create` (a discoverable credential, user verification
    /// required, the account's existing passkeys excluded).
    ///
    /// # Errors
    /// [`Error::PasskeysOff`]; [`Error::UnknownAccount`], [`Error::NotActivated`],
    /// [`Error::AccountDisabled`]; [`Error::PasskeyRefused`] past the per-account
    /// maximum; [`Error::Unavailable`].
    pub async fn start_passkey_registration(&self, email: &Email) -> Result<Ceremony, Error> {
        let relying = self.relying()?;
        let account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        match account.status {
            AccountStatus::Active => {}
            AccountStatus::Disabled => return Err(Error::AccountDisabled),
            AccountStatus::PendingActivation => return Err(Error::NotActivated),
        }
        let set = self.passkey_set(email).await?;
        let user = set.as_ref().map_or_else(Uuid::new_v4, |s| s.user);
        let existing: Vec<_> = set
            .iter()
            .flat_map(|s| s.keys.iter().map(|k| k.passkey.cred_id().clone()))
            .collect();
        if existing.len() >= relying.max_per_account {
            return Err(refused("too_many"));
        }
        let display = account
            .profile
            .display_name
            .clone()
            .unwrap_or_else(|| email.as_str().to_owned());
        let (mut options, state) = relying
            .webauthn
            .start_passkey_registration(user, email.as_str(), &display, Some(existing))
            .map_err(|e| Error::Internal(format!("passkey registration: {e}")))?;
        // Discoverable: the portal signs in without an address.
        if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(ResidentKeyRequirement::Required);
            sel.require_resident_key = true;
        }
        self.ceremony(
            &State::Register {
                email: email.clone(),
                user,
                state,
            },
            &options,
        )
        .await
    }

    /// Finishes adding a passkey named `name` with the browser's answer (JSON).
    ///
    /// # Errors
    /// [`Error::PasskeyRefused`] for an unknown or spent ceremony, another account's
    /// ceremony, or an answer webauthn-rs refuses; [`Error::Unavailable`].
    pub async fn finish_passkey_registration(
        &self,
        email: &Email,
        ceremony: &str,
        answer: &str,
        name: &str,
    ) -> Result<PasskeyInfo, Error> {
        let relying = self.relying()?;
        let Some(State::Register {
            email: owner,
            user,
            state,
        }) = self.store.take::<State>(&keys::ceremony(ceremony)).await?
        else {
            return Err(refused("ceremony"));
        };
        if owner.key() != email.key() {
            return Err(refused("ceremony"));
        }
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| refused("answer"))?;
        let passkey = relying
            .webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| refused(&format!("registration: {e}")))?;
        let mut set = self.passkey_set(email).await?.unwrap_or(Set {
            user,
            keys: Vec::new(),
        });
        if set.user != user || set.keys.len() >= relying.max_per_account {
            return Err(refused("too_many"));
        }
        let name: String = name.trim().chars().take(80).collect();
        let now = self.clock.now();
        let stored = Stored {
            name: if name.is_empty() {
                format!("Clé {}", set.keys.len() + 1)
            } else {
                name
            },
            created_at: now,
            last_used_at: None,
            synced: None,
            passkey,
        };
        let info = PasskeyInfo {
            id: credential_id(&stored.passkey),
            name: stored.name.clone(),
            created_at: now,
            last_used_at: None,
            synced: None,
        };
        set.keys.push(stored);
        self.store
            .set(&keys::passkey_user(&user.to_string()), email, Expiry::Never)
            .await?;
        self.store
            .set(&keys::passkeys(email), &set, Expiry::Never)
            .await?;
        Ok(info)
    }

    /// Starts a passkey sign-in (no address: the browser offers the discoverable
    /// credentials of this site, through autofill or its own dialog).
    ///
    /// # Errors
    /// [`Error::PasskeysOff`], [`Error::Unavailable`].
    pub async fn start_passkey_sign_in(&self) -> Result<Ceremony, Error> {
        let relying = self.relying()?;
        let (options, state) = relying
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("passkey sign-in: {e}")))?;
        self.ceremony(&State::SignIn { state }, &options).await
    }

    /// Finishes a passkey sign-in with the browser's answer (JSON): the account, and
    /// whether the passkey is device-bound (not backed up to a cloud).
    ///
    /// # Errors
    /// [`Error::PasskeyRefused`] for an unknown or spent ceremony, an unknown
    /// credential, a counter gone backwards or any check webauthn-rs refuses;
    /// [`Error::AccountDisabled`], [`Error::NotActivated`]; [`Error::Unavailable`].
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        answer: &str,
    ) -> Result<(Account, bool), Error> {
        let relying = self.relying()?;
        let Some(State::SignIn { state }) =
            self.store.take::<State>(&keys::ceremony(ceremony)).await?
        else {
            return Err(refused("ceremony"));
        };
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| refused("answer"))?;
        let (user, _) = relying
            .webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(|_| refused("user_handle"))?;
        let email: Email = self
            .store
            .get(&keys::passkey_user(&user.to_string()))
            .await?
            .ok_or_else(|| refused("unknown_credential"))?;
        let mut set = self
            .passkey_set(&email)
            .await?
            .filter(|s| s.user == user)
            .ok_or_else(|| refused("unknown_credential"))?;
        let discoverable: Vec<DiscoverableKey> =
            set.keys.iter().map(|k| (&k.passkey).into()).collect();
        let result = relying
            .webauthn
            .finish_discoverable_authentication(&answer, state, &discoverable)
            .map_err(|e| refused(&format!("assertion: {e}")))?;
        let account = self.account(&email).await?.ok_or(Error::UnknownAccount)?;
        match account.status {
            AccountStatus::Active => {}
            AccountStatus::Disabled => return Err(Error::AccountDisabled),
            AccountStatus::PendingActivation => return Err(Error::NotActivated),
        }
        let now = self.clock.now();
        let bound = self.record_use(&email, &mut set, &result).await?;
        let mut account = account;
        account.last_login_at = Some(now);
        self.save(&account).await?;
        Ok((account, bound))
    }

    /// Keeps what an assertion changed (counter, backup state, last use); whether the
    /// passkey is device-bound.
    async fn record_use(
        &self,
        email: &Email,
        set: &mut Set,
        result: &AuthenticationResult,
    ) -> Result<bool, Error> {
        let now = self.clock.now();
        for k in &mut set.keys {
            if k.passkey.cred_id() == result.cred_id() {
                k.passkey.update_credential(result);
                k.last_used_at = Some(now);
                k.synced = Some(result.backup_eligible());
            }
        }
        self.store
            .set(&keys::passkeys(email), &*set, Expiry::Never)
            .await?;
        Ok(!result.backup_eligible())
    }

    /// Whether the account holds a passkey.
    ///
    /// # Errors
    /// [`Error::Unavailable`].
    pub async fn has_passkey(&self, email: &Email) -> Result<bool, Error> {
        Ok(self
            .passkey_set(email)
            .await?
            .is_some_and(|s| !s.keys.is_empty()))
    }

    /// Drops the account's password: from now on it signs in with a passkey (or its
    /// university, or an e-mailed code — which meets no assurance class). Only an
    /// active account that holds at least one passkey may do so; the recovery paths
    /// that remain (docs/passkeys.md) are the e-mailed code or link followed by a new
    /// passkey or password, and the linked university.
    ///
    /// # Errors
    /// [`Error::PasskeyRequired`] without a passkey; [`Error::UnknownAccount`],
    /// [`Error::AccountDisabled`], [`Error::NotActivated`]; [`Error::Unavailable`].
    pub async fn drop_password(&self, email: &Email) -> Result<Account, Error> {
        let mut account = self.account(email).await?.ok_or(Error::UnknownAccount)?;
        match account.status {
            AccountStatus::Active => {}
            AccountStatus::Disabled => return Err(Error::AccountDisabled),
            AccountStatus::PendingActivation => return Err(Error::NotActivated),
        }
        if !self.has_passkey(email).await? {
            return Err(Error::PasskeyRequired);
        }
        let now = self.clock.now();
        account.password_hash = None;
        account.password_changed_at = Some(now);
        account.updated_at = now;
        self.save(&account).await?;
        Ok(account)
    }

    /// Starts a check that the signed-in owner of `email` holds one of its passkeys (a
    /// second factor: the browser's dialog lists only this account's credentials).
    ///
    /// # Errors
    /// [`Error::PasskeysOff`]; [`Error::NotFound`] when the account has no passkey;
    /// [`Error::Unavailable`].
    pub async fn start_passkey_check(&self, email: &Email) -> Result<Ceremony, Error> {
        let relying = self.relying()?;
        let set = self
            .passkey_set(email)
            .await?
            .filter(|s| !s.keys.is_empty())
            .ok_or(Error::NotFound)?;
        let held: Vec<Passkey> = set.keys.iter().map(|k| k.passkey.clone()).collect();
        let (options, state) = relying
            .webauthn
            .start_passkey_authentication(&held)
            .map_err(|e| Error::Internal(format!("passkey check: {e}")))?;
        self.ceremony(
            &State::Check {
                email: email.clone(),
                state,
            },
            &options,
        )
        .await
    }

    /// Finishes a [`LocalAuth::start_passkey_check`]: whether the passkey used is
    /// device-bound.
    ///
    /// # Errors
    /// [`Error::PasskeyRefused`] for an unknown, spent or other account's ceremony, or an
    /// answer webauthn-rs refuses (user verification, counter, signature);
    /// [`Error::Unavailable`].
    pub async fn finish_passkey_check(
        &self,
        email: &Email,
        ceremony: &str,
        answer: &str,
    ) -> Result<bool, Error> {
        let relying = self.relying()?;
        let Some(State::Check {
            email: owner,
            state,
        }) = self.store.take::<State>(&keys::ceremony(ceremony)).await?
        else {
            return Err(refused("ceremony"));
        };
        if owner.key() != email.key() {
            return Err(refused("ceremony"));
        }
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| refused("answer"))?;
        let result = relying
            .webauthn
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| refused(&format!("assertion: {e}")))?;
        let mut set = self
            .passkey_set(email)
            .await?
            .ok_or_else(|| refused("unknown_credential"))?;
        self.record_use(email, &mut set, &result).await
    }

    /// Renames a passkey of the account.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the account holds no such passkey; [`Error::Unavailable`].
    pub async fn rename_passkey(&self, email: &Email, id: &str, name: &str) -> Result<(), Error> {
        let mut set = self.passkey_set(email).await?.ok_or(Error::NotFound)?;
        let name: String = name.trim().chars().take(80).collect();
        let key = set
            .keys
            .iter_mut()
            .find(|k| credential_id(&k.passkey) == id)
            .ok_or(Error::NotFound)?;
        if !name.is_empty() {
            key.name = name;
        }
        self.store
            .set(&keys::passkeys(email), &set, Expiry::Never)
            .await?;
        Ok(())
    }

    /// Deletes a passkey of the account (it no longer signs in).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the account holds no such passkey; [`Error::Unavailable`].
    pub async fn delete_passkey(&self, email: &Email, id: &str) -> Result<(), Error> {
        let mut set = self.passkey_set(email).await?.ok_or(Error::NotFound)?;
        let before = set.keys.len();
        set.keys.retain(|k| credential_id(&k.passkey) != id);
        if set.keys.len() == before {
            return Err(Error::NotFound);
        }
        self.store
            .set(&keys::passkeys(email), &set, Expiry::Never)
            .await?;
        Ok(())
    }

    /// The user handle index of an account's passkeys, for erasure.
    pub(crate) async fn forget_passkey_user(&self, email: &Email) -> Result<u64, Error> {
        let Some(set) = self.passkey_set(email).await? else {
            return Ok(0);
        };
        Ok(u64::from(
            self.store
                .delete(&keys::passkey_user(&set.user.to_string()))
                .await?,
        ))
    }
}
