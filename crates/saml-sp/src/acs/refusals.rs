//! The last answers refused from each IdP, kept so support sees « l'université X chiffre
//! en 3DES » before users call: a bounded journal per IdP (the last [`KEPT`], for
//! [`KEEP_FOR`]) of when and why, and one across the federation (the last
//! [`KEPT_OVERALL`], naming the IdP) for the service page.
//!
//! Only responses whose Issuer names an IdP of the current snapshot are recorded; that
//! Issuer is as claimed by the (refused, so unverified) response — this is a diagnostic,
//! never a basis for a decision, and its size is bounded whatever is posted.

use std::time::Duration;

use passerelle_store::{Key, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Refusals kept per IdP.
pub const KEPT: usize = 20;

/// Refusals kept across the federation.
pub const KEPT_OVERALL: usize = 100;

/// How long a refusal is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(30 * 86_400);

/// One refused answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// When (RFC 3339).
    pub at: String,
    /// Why: a [`super::Rejection::as_str`] value.
    pub reason: String,
    /// The IdP it claimed to come from (in the federation-wide journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

fn key(entity_id: &str) -> Key {
    let digest = openssl::sha::sha256(entity_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Key::new("acs-refusals", &hex)
}

/// The federation-wide journal (its tag cannot be an IdP's: those are hex digests).
fn overall_key() -> Key {
    Key::new("acs-refusals", "all")
}

/// Records a refusal of an answer claiming to come from `entity_id`, in its IdP's
/// journal and in the federation-wide one.
///
/// # Errors
/// The store's.
pub async fn record(store: &Store, entity_id: &str, refusal: &Refusal) -> Result<(), StoreError> {
    store
        .journal_append(&key(entity_id), refusal, KEPT, KEEP_FOR)
        .await?;
    let named = Refusal {
        idp: Some(entity_id.to_owned()),
        ..refusal.clone()
    };
    store
        .journal_append(&overall_key(), &named, KEPT_OVERALL, KEEP_FOR)
        .await?;
    Ok(())
}

/// The last refusals across the federation, newest first, each naming its IdP.
///
/// # Errors
/// The store's.
pub async fn recent_overall(store: &Store, count: usize) -> Result<Vec<Refusal>, StoreError> {
    Ok(store
        .journal_before::<Refusal>(&overall_key(), None, count.min(KEPT_OVERALL))
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// The last refusals for `entity_id`, newest first.
///
/// # Errors
/// The store's.
pub async fn recent(store: &Store, entity_id: &str) -> Result<Vec<Refusal>, StoreError> {
    Ok(store
        .journal_before::<Refusal>(&key(entity_id), None, KEPT)
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}
