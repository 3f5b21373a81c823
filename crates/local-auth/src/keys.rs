//! Every store key this crate uses, built in one place.
//!
//! The keys of one account (its record, codes, tries, throttles, link state) share the
//! account's hash tag, so on a Redis Cluster they live in one slot.

use passerelle_store::Key;

use crate::email::Email;

/// The kind of account records (for walks over every account).
pub const ACCOUNT_KIND: &str = "acct";

/// The account record.
#[must_use]
pub fn account(email: &Email) -> Key {
    Key::new(ACCOUNT_KIND, &email.key())
}

/// The account record under a tag found by a walk ([`passerelle_store::Store::scan_kind`]).
#[must_use]
pub fn account_tagged(tag: &str) -> Key {
    Key::new(ACCOUNT_KIND, tag)
}

/// Every account's address (lower-cased), ordered: support's search by prefix.
#[must_use]
pub fn account_index() -> Key {
    Key::new("acct-index", "all")
}

/// The accounts linked to one university (their addresses, ordered), tagged by the
/// digest of the IdP's entityID: support's search by institution.
#[must_use]
pub fn accounts_by_idp(idp_digest: &str) -> Key {
    Key::new("acct-by-idp", idp_digest)
}

/// The digests of the links issued for an account (in its slot), so that erasing the
/// account reaches its link records and their outcomes, which name the address.
#[must_use]
pub fn account_links(email: &Email) -> Key {
    Key::new("acct-links", &email.key())
}

/// The account's recent sign-ins (a journal, in the account's slot).
#[must_use]
pub fn sign_ins(email: &Email) -> Key {
    Key::new("signins", &email.key())
}

/// Federated identity → account key index (tagged by the identity's digest).
#[must_use]
pub fn federated(digest: &str) -> Key {
    Key::new("fedid", digest)
}

/// The pending e-mail code of an account for a purpose.
#[must_use]
pub fn code(email: &Email, purpose: &str) -> Key {
    Key::new("code", &email.key()).with(purpose)
}

/// Wrong-try counter of one code.
#[must_use]
pub fn code_tries(email: &Email, purpose: &str, code_id: &str) -> Key {
    Key::new("code-tries", &email.key())
        .with(purpose)
        .with(code_id)
}

/// A magic link record, by token digest.
#[must_use]
pub fn link(digest: &str) -> Key {
    Key::new("link", digest)
}

/// What happened to a link that is gone (used, expired), by token digest.
#[must_use]
pub fn link_outcome(digest: &str) -> Key {
    Key::new("link-done", digest)
}

/// When a link of this purpose was last used for this account.
#[must_use]
pub fn link_used_at(email: &Email, purpose: &str) -> Key {
    Key::new("link-used", &email.key()).with(purpose)
}

/// A throttle window for an account and an action.
#[must_use]
pub fn throttle_account(email: &Email, action: &str) -> Key {
    Key::new("throttle", &email.key()).with(action)
}

/// A throttle window for an account, an action and one client address (what a
/// stranger guessing from elsewhere fills without touching the owner's window).
#[must_use]
pub fn throttle_account_client(email: &Email, action: &str, client: &str) -> Key {
    Key::new("throttle", &email.key()).with(action).with(client)
}

/// A throttle window for a client address and an action.
#[must_use]
pub fn throttle_client(client: &str, action: &str) -> Key {
    Key::new("throttle-ip", client).with(action)
}

/// An account's passkeys and its WebAuthn user handle (in the account's slot).
#[must_use]
pub fn passkeys(email: &Email) -> Key {
    Key::new("passkeys", &email.key())
}

/// WebAuthn user handle → the account's address.
#[must_use]
pub fn passkey_user(user: &str) -> Key {
    Key::new("passkey-user", user)
}

/// A WebAuthn ceremony in progress (single use, short-lived).
#[must_use]
pub fn ceremony(id: &str) -> Key {
    Key::new("webauthn", id)
}
