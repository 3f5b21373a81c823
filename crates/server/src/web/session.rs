//! Browser sessions kept in the store, so any instance serves any step.
//!
//! The cookie `__Host-passerelle` (Secure, HttpOnly, SameSite=Lax, Path=/) carries 256
//! random bits; the store keeps the record under the id's SHA-256, so a store dump holds
//! no usable session. Nothing is stored for a visitor until a step needs state (a typed
//! address, a pending authorization, a language, a sign-in): until then the cookie is
//! the whole session, and its CSRF token is derived from the id (a digest: the token in
//! the page cannot give the id back, and only the holder of the cookie can match it).
//! Each address may start at most [`NEW_PER_ADDRESS`] stored anonymous sessions per
//! window, which bounds what one client can make the store hold. Anonymous sessions
//! live an hour; signed-in sessions have an idle and an absolute lifetime. Every
//! sign-in gets a new id (no fixation). This module never logs an id and never trusts
//! a record it cannot read (a corrupted record is a new session).

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_local_auth::{Lang, Limit, LinkGrant};
use passerelle_oidc_provider::Amr;
use passerelle_store::{Expiry, Key, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The session cookie's name (`__Host-`: host-only, Secure, Path=/).
pub(crate) const COOKIE_NAME: &str = "__Host-passerelle";

/// Who is signed in, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignedIn {
    /// The account's address.
    pub email: String,
    /// When the user last proved who they are (Unix seconds).
    pub auth_time: i64,
    /// How.
    pub amr: Vec<Amr>,
    /// The authentication context classes those methods met (a step-up adds to them).
    #[serde(default)]
    pub assurance: passerelle_oidc_provider::Assurance,
    /// The login session id given to the apps (`sid`), for logout.
    pub sid: String,
    /// The account's sign-out generation at sign-in: « se déconnecter partout » raises
    /// it, ending every sign-in made before.
    #[serde(default)]
    pub generation: u64,
}

/// What a session remembers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The anti-CSRF token every form carries.
    pub csrf: String,
    /// Creation (Unix seconds), for the absolute lifetime.
    pub created_at: i64,
    /// The language chosen with the switch.
    pub lang: Option<Lang>,
    /// The address typed on the portal.
    pub email: Option<String>,
    /// The OIDC authorization request waiting for this login.
    pub pending: Option<String>,
    /// The signed-in user.
    pub user: Option<SignedIn>,
    /// A consumed activation/reset link: the right to set a password once.
    pub grant: Option<LinkGrant>,
    /// The waiting app asked for a fresh authentication (prompt=login, max_age): a
    /// university login carries ForceAuthn.
    pub force_authn: bool,
    /// A university's answer for another address than the one typed, while the user
    /// chooses (« Vous avez saisi A ; X vous connaît comme C »).
    #[serde(default)]
    pub asserted: Option<crate::journey::activation::Vouched>,
    /// A staff member passed the console's second factor in this session.
    #[serde(default)]
    pub console: Option<crate::console::Grant>,
}

impl Record {
    /// The addresses (their keys) the record names: typed, signed in, of a link being
    /// used, asserted by a university. Its store name is listed under each, so that
    /// erasing an account reaches every session record naming it.
    fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = [
            self.email.as_deref(),
            self.user.as_ref().map(|u| u.email.as_str()),
            self.grant.as_ref().map(|g| g.email().as_str()),
            self.asserted
                .as_ref()
                .and_then(crate::journey::activation::Vouched::mail),
        ]
        .into_iter()
        .flatten()
        .filter_map(|a| passerelle_local_auth::Email::parse(a).ok())
        .map(|e| e.key())
        .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the record holds anything a later step needs (else nothing is stored).
    fn holds_state(&self) -> bool {
        self.user.is_some()
            || self.email.is_some()
            || self.pending.is_some()
            || self.grant.is_some()
            || self.force_authn
            || self.lang.is_some()
            || self.asserted.is_some()
            || self.console.is_some()
    }
}

/// Stored anonymous sessions one client address may start per window: ten times the
/// 2,000 sign-ins of a campus's busiest quarter hour; at most ~50,000 records
/// (~20 MB) held per address with the default lifetime of an hour.
pub(crate) const NEW_PER_ADDRESS: Limit = Limit::per_minutes(10_000, 15);

/// A loaded (or new) session.
#[derive(Debug)]
pub(crate) struct Session {
    id: String,
    /// The record.
    pub record: Record,
    /// The cookie must be set (a new id).
    fresh: bool,
    /// A record is in the store under this id.
    stored: bool,
    /// Already counted against its address's allowance of new stored journeys.
    admitted: bool,
    /// The addresses (keys) this id is already listed under ([`Record::addresses`]).
    noted: Vec<String>,
}

/// Lifetimes of sessions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    /// An anonymous session (a journey in progress).
    pub anonymous: Duration,
    /// A signed-in session without activity.
    pub idle: Duration,
    /// A signed-in session, whatever the activity.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            anonymous: Duration::from_secs(3600),
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The session store.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    store: Store,
    lifetimes: Lifetimes,
}

/// The store name of a session id: its SHA-256 (a store dump holds no usable id).
fn digest(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(id.as_bytes()))
}

fn key(id: &str) -> Key {
    Key::new("web-session", &digest(id))
}

/// 256 random bits, URL-safe.
pub(crate) fn random_id() -> Result<String, StoreError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| StoreError::Backend(format!("OS random source: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// The value of cookie `name` in the request, if any (the first one).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The CSRF token of a session not yet stored: a digest of its id (domain-separated
/// from the store key), so the form works before anything is stored.
fn derived_csrf(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("csrf\0{id}").as_bytes()))
}

/// A session with nothing stored: `id` (from the cookie, or new and `fresh`).
fn unstored(id: String, now: i64, fresh: bool) -> Session {
    Session {
        record: Record {
            csrf: derived_csrf(&id),
            created_at: now,
            ..Record::default()
        },
        id,
        fresh,
        stored: false,
        admitted: false,
        noted: Vec::new(),
    }
}

fn plausible_id(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Session {
    /// An empty, unsaved session (for pages rendered when the store is down).
    pub(crate) fn detached() -> Self {
        Self {
            id: String::new(),
            record: Record::default(),
            fresh: false,
            stored: false,
            admitted: false,
            noted: Vec::new(),
        }
    }
}

impl Sessions {
    pub(crate) fn new(store: Store, lifetimes: Lifetimes) -> Self {
        Self { store, lifetimes }
    }

    /// The session named by the request's cookie, or a new one (not stored until saved).
    /// A cookie whose record is gone (never stored, expired) keeps its id, unstored.
    pub(crate) async fn load(&self, headers: &HeaderMap, now: i64) -> Result<Session, StoreError> {
        if let Some(id) = cookie(headers, COOKIE_NAME).filter(|id| plausible_id(id)) {
            // A record that no longer deserializes (an upgrade) is a new session.
            let record = self
                .store
                .get::<Record>(&key(id))
                .await
                .or_else(|e| if e.is_unavailable() { Err(e) } else { Ok(None) })?;
            let Some(record) = record else {
                return Ok(unstored(id.to_owned(), now, false));
            };
            let age = now.saturating_sub(record.created_at);
            let limit = i64::try_from(self.lifetimes.absolute.as_secs()).unwrap_or(i64::MAX);
            if age <= limit {
                return Ok(Session {
                    id: id.to_owned(),
                    noted: record.addresses(),
                    record,
                    fresh: false,
                    stored: true,
                    admitted: false,
                });
            }
            let _ = self.store.delete(&key(id)).await;
        }
        Ok(unstored(random_id()?, now, true))
    }

    /// Counts a session about to be stored for the first time without a sign-in
    /// against its address's [`NEW_PER_ADDRESS`].
    ///
    /// # Errors
    /// `Throttled` past the limit, `Unavailable` when the store is down.
    pub(crate) async fn admit(
        &self,
        s: &Session,
        client: &str,
    ) -> Result<(), passerelle_local_auth::Error> {
        if s.stored || s.admitted || s.record.user.is_some() || !s.record.holds_state() {
            return Ok(());
        }
        let counter = passerelle_local_auth::keys::throttle_client(client, "session");
        passerelle_local_auth::throttle::hit(&self.store, &counter, NEW_PER_ADDRESS).await
    }

    /// Counts a new journey of an anonymous visitor *before* a step writes state of its
    /// own for it (the OIDC pending request at `/authorize`), under the same allowance as
    /// [`Sessions::admit`] (counted once): one address cannot make the store hold more
    /// than that many journeys per window, whatever the step that starts them.
    ///
    /// # Errors
    /// `Throttled` past the limit, `Unavailable` when the store is down.
    pub(crate) async fn admit_journey(
        &self,
        s: &mut Session,
        client: &str,
    ) -> Result<(), passerelle_local_auth::Error> {
        if s.stored || s.admitted || s.record.user.is_some() {
            return Ok(());
        }
        let counter = passerelle_local_auth::keys::throttle_client(client, "session");
        passerelle_local_auth::throttle::hit(&self.store, &counter, NEW_PER_ADDRESS).await?;
        s.admitted = true;
        Ok(())
    }

    /// Stores the record when it holds state (or already was stored); returns the
    /// cookie to set when the id is new.
    pub(crate) async fn save(&self, s: &mut Session) -> Result<Option<HeaderValue>, StoreError> {
        if s.stored || s.record.holds_state() {
            let ttl = if s.record.user.is_some() {
                self.lifetimes.idle
            } else {
                self.lifetimes.anonymous
            };
            self.store
                .set(&key(&s.id), &s.record, Expiry::After(ttl))
                .await?;
            s.stored = true;
            self.note_addresses(s).await?;
        }
        if !s.fresh {
            return Ok(None);
        }
        s.fresh = false;
        Ok(HeaderValue::from_str(&format!(
            "{COOKIE_NAME}={}; Path=/; Secure; HttpOnly; SameSite=Lax",
            s.id
        ))
        .ok())
    }

    /// Gives the session a new id and CSRF token (after every sign-in), keeping the
    /// journey. The old id stops working at once.
    pub(crate) async fn rotate(&self, s: &mut Session, now: i64) -> Result<(), StoreError> {
        self.store.delete(&key(&s.id)).await?;
        s.id = random_id()?;
        s.record.csrf = derived_csrf(&s.id);
        s.record.created_at = now;
        s.fresh = true;
        s.stored = false;
        s.noted.clear();
        Ok(())
    }

    /// Ends the session: the record is deleted and the cookie cleared.
    pub(crate) async fn destroy(&self, s: &mut Session) -> Result<HeaderValue, StoreError> {
        self.store.delete(&key(&s.id)).await?;
        s.record = Record::default();
        s.stored = false;
        Ok(HeaderValue::from_static(
            "__Host-passerelle=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
        ))
    }

    /// A stable, non-secret reference to this session (for the SAML round trip, which
    /// must come back to the same browser).
    pub(crate) fn binding(s: &Session) -> String {
        let digest = Sha256::digest(format!("binding\0{}", s.id).as_bytes());
        URL_SAFE_NO_PAD.encode(digest)
    }
}

/// The sign-in sessions of one account, for « se déconnecter partout » and erasure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UserSessions {
    /// `sid`s of recent sign-ins (the newest last, at most [`MAX_SIDS`]).
    pub sids: Vec<String>,
    /// Raised by « se déconnecter partout »: sign-ins of an older generation no longer
    /// count.
    pub generation: u64,
}

/// The most sign-in sessions remembered per account.
pub(crate) const MAX_SIDS: usize = 32;

pub(crate) fn user_key(email_key: &str) -> Key {
    Key::new("user-sessions", email_key)
}

/// The browser sessions (store names: id digests, never ids) whose record named an
/// address, in that address's slot: erasing the account deletes those records.
fn browsers_key(email_key: &str) -> Key {
    Key::new("user-browsers", email_key)
}

/// The most browser sessions remembered per address (older ones have expired by then:
/// the list lives as long as the longest session).
const MAX_BROWSERS: usize = 64;

impl Sessions {
    async fn user_sessions(&self, key: &Key) -> Result<UserSessions, StoreError> {
        // An unreadable record (an upgrade) starts again; an outage is an outage.
        let record: Option<UserSessions> = self
            .store
            .get(key)
            .await
            .or_else(|e| if e.is_unavailable() { Err(e) } else { Ok(None) })?;
        Ok(record.unwrap_or_default())
    }

    /// Remembers a sign-in of `email_key` (its `sid`); returns the account's current
    /// sign-out generation, to keep in the session.
    pub(crate) async fn remember_sign_in(
        &self,
        email_key: &str,
        sid: &str,
    ) -> Result<u64, StoreError> {
        let key = user_key(email_key);
        let mut record = self.user_sessions(&key).await?;
        record.sids.push(sid.to_owned());
        let excess = record.sids.len().saturating_sub(MAX_SIDS);
        record.sids.drain(..excess);
        self.store
            .set(&key, &record, Expiry::After(self.lifetimes.absolute))
            .await?;
        Ok(record.generation)
    }

    /// Ends every sign-in of `email_key`; returns their `sid`s.
    pub(crate) async fn sign_out_everywhere(
        &self,
        email_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let key = user_key(email_key);
        let record = self.user_sessions(&key).await?;
        let next = UserSessions {
            sids: Vec::new(),
            generation: record.generation.saturating_add(1),
        };
        self.store
            .set(&key, &next, Expiry::After(self.lifetimes.absolute))
            .await?;
        Ok(record.sids)
    }

    /// Lists the stored session under each address its record names that it is not
    /// listed under yet (an address typed, a sign-in, a rotation): one atomic append
    /// per new address, nothing on most requests.
    async fn note_addresses(&self, s: &mut Session) -> Result<(), StoreError> {
        for address in s.record.addresses() {
            if s.noted.contains(&address) {
                continue;
            }
            self.store
                .push_capped(
                    &browsers_key(&address),
                    &digest(&s.id),
                    MAX_BROWSERS,
                    Expiry::After(self.lifetimes.absolute.max(self.lifetimes.idle)),
                )
                .await?;
            s.noted.push(address);
        }
        Ok(())
    }

    /// The browser sessions signed in to `email_key` now (not signed out since): when
    /// each signed in and how, newest first (support's view; never an id).
    pub(crate) async fn active(&self, email_key: &str) -> Result<Vec<SignedIn>, StoreError> {
        let generation = self.user_sessions(&user_key(email_key)).await?.generation;
        let mut browsers: Vec<String> = self.store.list(&browsers_key(email_key)).await?;
        browsers.sort_unstable();
        browsers.dedup();
        let mut out = Vec::new();
        for browser in &browsers {
            // A record an upgrade cannot read is no session.
            let record: Option<Record> = self
                .store
                .get(&Key::new("web-session", browser))
                .await
                .or_else(|e| if e.is_unavailable() { Err(e) } else { Ok(None) })?;
            let Some(user) = record.and_then(|r| r.user) else {
                continue;
            };
            let same = passerelle_local_auth::Email::parse(&user.email)
                .is_ok_and(|e| e.key() == email_key);
            if same && user.generation >= generation {
                out.push(user);
            }
        }
        out.sort_by_key(|u| std::cmp::Reverse(u.auth_time));
        Ok(out)
    }

    /// Ends every sign-in of `email_key` for good (the account is being erased): the
    /// browser session records that were signed in to it are deleted — they name the
    /// address. Returns the `sid`s, for the apps' logout. The list itself stays (the
    /// account's erasure removes it with the rest of its slot), so a retry after a
    /// failure still finds the `sid`s.
    pub(crate) async fn end_browsers(&self, email_key: &str) -> Result<Vec<String>, StoreError> {
        let record = self.user_sessions(&user_key(email_key)).await?;
        let browsers: Vec<String> = self.store.list(&browsers_key(email_key)).await?;
        for browser in &browsers {
            self.store.delete(&Key::new("web-session", browser)).await?;
        }
        Ok(record.sids)
    }

    /// Whether a sign-in of `email_key` made at `generation` was ended since.
    pub(crate) async fn signed_out(
        &self,
        email_key: &str,
        generation: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.user_sessions(&user_key(email_key)).await?.generation > generation)
    }
}

/// Appends `Set-Cookie` headers to a response's header map.
pub(crate) fn set_cookies(headers: &mut HeaderMap, cookies: Vec<HeaderValue>) {
    for c in cookies {
        headers.append(SET_COOKIE, c);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[tokio::test]
    async fn a_saved_session_is_found_again_and_a_rotated_one_is_not() {
        let sessions = Sessions::new(Store::memory("t"), Lifetimes::default());
        let mut s = sessions.load(&HeaderMap::new(), 100).await.unwrap();
        s.record.email = Some("a@b.fr".into());
        let cookie_value = sessions.save(&mut s).await.unwrap().unwrap();
        let text = cookie_value.to_str().unwrap();
        assert!(text.starts_with("__Host-passerelle="), "{text}");
        assert!(
            text.contains("Secure") && text.contains("HttpOnly") && text.contains("SameSite=Lax")
        );
        let pair = text.split(';').next().unwrap();
        let again = sessions.load(&headers(pair), 200).await.unwrap();
        assert_eq!(again.record.email.as_deref(), Some("a@b.fr"));

        let mut s = again;
        sessions.rotate(&mut s, 300).await.unwrap();
        sessions.save(&mut s).await.unwrap().unwrap();
        let old = sessions.load(&headers(pair), 300).await.unwrap();
        assert_eq!(old.record.email, None, "the old id must be dead");
    }

    #[tokio::test]
    async fn a_session_past_its_absolute_lifetime_is_a_new_one() {
        let sessions = Sessions::new(Store::memory("t"), Lifetimes::default());
        let mut s = sessions.load(&HeaderMap::new(), 0).await.unwrap();
        s.record.email = Some("a@b.fr".into());
        let c = sessions.save(&mut s).await.unwrap().unwrap();
        let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
        let late = sessions.load(&headers(&pair), 8 * 24 * 3600).await.unwrap();
        assert_eq!(late.record.email, None);
    }

    #[tokio::test]
    async fn a_visitor_without_state_is_given_a_cookie_and_costs_the_store_nothing() {
        let store = Store::memory("t");
        let sessions = Sessions::new(store.clone(), Lifetimes::default());
        let mut s = sessions.load(&HeaderMap::new(), 100).await.unwrap();
        let csrf = s.record.csrf.clone();
        sessions.admit(&s, "192.0.2.1").await.unwrap();
        let c = sessions.save(&mut s).await.unwrap().unwrap();
        assert!(store.get::<Record>(&key(&s.id)).await.unwrap().is_none());
        let counter = passerelle_local_auth::keys::throttle_client("192.0.2.1", "session");
        assert_eq!(store.get::<u64>(&counter).await.unwrap(), None);
        // The same browser comes back: same id, same token, still nothing stored.
        let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut again = sessions.load(&headers(&pair), 200).await.unwrap();
        assert_eq!(again.record.csrf, csrf);
        assert!(sessions.save(&mut again).await.unwrap().is_none());
        // A step that needs state stores it, keeping the token the form carried.
        again.record.email = Some("a@b.fr".into());
        sessions.admit(&again, "192.0.2.1").await.unwrap();
        sessions.save(&mut again).await.unwrap();
        assert_eq!(store.get::<u64>(&counter).await.unwrap(), Some(1));
        let stored = sessions.load(&headers(&pair), 300).await.unwrap();
        assert_eq!(stored.record.email.as_deref(), Some("a@b.fr"));
        assert_eq!(stored.record.csrf, csrf);
    }

    #[tokio::test]
    async fn an_address_starts_a_bounded_number_of_stored_sessions() {
        let store = Store::memory("t");
        let sessions = Sessions::new(store.clone(), Lifetimes::default());
        let counter = passerelle_local_auth::keys::throttle_client("192.0.2.9", "session");
        store
            .set(
                &counter,
                &NEW_PER_ADDRESS.max,
                Expiry::After(NEW_PER_ADDRESS.window),
            )
            .await
            .unwrap();
        let mut s = sessions.load(&HeaderMap::new(), 0).await.unwrap();
        sessions.admit(&s, "192.0.2.9").await.unwrap();
        s.record.email = Some("a@b.fr".into());
        assert!(matches!(
            sessions.admit(&s, "192.0.2.9").await,
            Err(passerelle_local_auth::Error::Throttled { .. })
        ));
        assert!(sessions.admit(&s, "192.0.2.10").await.is_ok());
    }

    #[tokio::test]
    async fn a_forged_or_malformed_cookie_is_a_new_session() {
        let sessions = Sessions::new(Store::memory("t"), Lifetimes::default());
        for c in [
            "__Host-passerelle=../../x",
            "__Host-passerelle=",
            "other=1",
            "garbage",
        ] {
            let s = sessions.load(&headers(c), 0).await.unwrap();
            assert!(s.fresh);
        }
    }
}
