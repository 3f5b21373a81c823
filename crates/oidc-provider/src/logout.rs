//! Logout: RP-initiated (`end_session`) decisions and back-channel logout (OpenID Connect
//! Back-Channel Logout 1.0).
//!
//! The server owns the login session; it asks [`Provider::end_session`] whether a logout
//! request is acceptable and where to send the browser after, ends its session, then calls
//! [`Provider::logout_session`]: every grant issued under that session is revoked and each
//! app that registered a back-channel URI gets a signed logout token, POSTed in the
//! background with retries — the user's page never waits for an app.
//! A post-logout redirect URI is used only when it matches the client's registration byte
//! for byte, and only when the client is known from a valid `id_token_hint` or `client_id`.

use std::time::Duration;

use passerelle_store::{Expiry, Key};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, ErrorCode, OAuthError};
use crate::jwt;
use crate::provider::{Provider, unix_now};
use crate::types::Opaque;

/// What the server should do for an accepted logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSession {
    /// The client named by the hint or `client_id`, if any.
    pub client_id: Option<String>,
    /// The session id (`sid`) of the hint, if any: the server ends that session.
    pub sid: Option<String>,
    /// Where to send the browser after (registered URI + `state`), or `None` for the
    /// provider's own "you are signed out" page.
    pub redirect: Option<String>,
}

/// The claims of an `id_token_hint` that logout reads.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    aud: jwt::Aud,
    sid: Option<String>,
}

/// The grants issued under one login session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SessionGrants {
    pub grants: Vec<(String, String)>,
}

/// The most grants remembered for one login session (the oldest are forgotten).
const MAX_GRANTS_PER_SESSION: usize = 64;

pub(crate) fn session_key(sid: &str) -> Key {
    Key::new("oidc-sid", sid)
}

/// The grants of a login session: a capped list, appended atomically.
pub(crate) fn session_list_key(sid: &str) -> Key {
    Key::new("oidc-sid-grants", sid)
}

impl Provider {
    /// Checks an RP-initiated logout request (query or form pairs).
    ///
    /// # Errors
    /// `invalid_request` for a bad hint, a client mismatch or an unregistered
    /// post-logout redirect URI: the server shows it as a page, never redirects.
    pub fn end_session(&self, pairs: &[(String, String)]) -> Result<EndSession, OAuthError> {
        let bad = |d: &str| OAuthError::new(ErrorCode::InvalidRequest, d);
        let get = |name: &str| -> Result<Option<&str>, OAuthError> {
            let mut it = pairs.iter().filter(|(k, _)| k == name);
            let v = it.next().map(|(_, v)| v.as_str());
            if it.next().is_some() {
                return Err(bad(&format!("{name} is repeated")));
            }
            Ok(v)
        };
        let mut client_id = get("client_id")?.map(str::to_owned);
        let mut sid = None;
        if let Some(hint) = get("id_token_hint")? {
            let ring = self.keys.ring();
            let claims: Hint = jwt::verify(&ring, None, hint)
                .filter(|c: &Hint| c.iss == self.settings.issuer)
                .ok_or_else(|| bad("id_token_hint is not an ID token issued here"))?;
            let aud = claims.aud.first().map(str::to_owned);
            if client_id.is_some() && client_id != aud {
                return Err(bad("client_id does not match the id_token_hint"));
            }
            client_id = aud;
            sid = claims.sid;
        }
        let state = get("state")?
            .map(|s| Opaque::parse("state", s).map_err(|e| bad(&e.0)))
            .transpose()?;
        let redirect = match get("post_logout_redirect_uri")? {
            None => None,
            Some(uri) => {
                let client = client_id
                    .as_deref()
                    .and_then(|c| self.clients.get(c))
                    .ok_or_else(|| {
                        bad("post_logout_redirect_uri needs id_token_hint or client_id")
                    })?;
                let registered = client
                    .post_logout_redirect_uris
                    .iter()
                    .find(|r| r.as_str() == uri)
                    .ok_or_else(|| {
                        bad("post_logout_redirect_uri is not registered for this client")
                    })?;
                let mut out = registered.as_str().to_owned();
                if let Some(s) = state {
                    let q = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("state", s.as_str())
                        .finish();
                    out.push(if out.contains('?') { '&' } else { '?' });
                    out.push_str(&q);
                }
                Some(out)
            }
        };
        if client_id
            .as_deref()
            .is_some_and(|c| self.clients.get(c).is_none())
        {
            return Err(bad("unknown client"));
        }
        Ok(EndSession {
            client_id,
            sid,
            redirect,
        })
    }

    /// Remembers that grant family `fid` of `client` belongs to session `sid`.
    pub(crate) async fn remember_grant(
        &self,
        sid: &str,
        client: &str,
        fid: &str,
    ) -> Result<(), Error> {
        let ttl = Duration::from_secs(
            self.settings
                .refresh_absolute
                .max(self.settings.token_lifetime),
        );
        // One atomic append (a session logs into a handful of apps; bounded all the
        // same): concurrent code exchanges of one session never lose each other's grant.
        self.store
            .push_capped(
                &session_list_key(sid),
                &(client.to_owned(), fid.to_owned()),
                MAX_GRANTS_PER_SESSION,
                Expiry::After(ttl),
            )
            .await?;
        Ok(())
    }

    /// Ends login session `sid` for every app: revokes the grants issued under it and sends
    /// back-channel logout tokens in the background. Returns how many apps will be told.
    ///
    /// # Errors
    /// Store errors (nothing is sent then; calling again is safe).
    pub async fn logout_session(&self, sid: &str) -> Result<usize, Error> {
        Ok(self.end_login_session(sid).await?.0)
    }

    /// As [`Provider::logout_session`] for each of `sids`, and then the grants are
    /// erased rather than kept revoked: their records (which hold the user's claims) and
    /// refresh tokens go, and tokens issued from them are refused as unknown. For an
    /// account being erased. Returns how many apps will be told.
    ///
    /// # Errors
    /// Store errors (calling again is safe).
    pub async fn forget_sessions(&self, sids: &[String]) -> Result<usize, Error> {
        let mut told = 0;
        let mut families = Vec::new();
        for sid in sids {
            let (n, grants) = self.end_login_session(sid).await?;
            told += n;
            families.extend(grants.into_iter().map(|(_, fid)| fid));
        }
        // The logout tokens are made: nothing more needs the families.
        let tags: Vec<&str> = families.iter().map(String::as_str).collect();
        self.store.purge_tags(&tags).await?;
        Ok(told)
    }

    /// Revokes the grants of `sid` and sends the logout tokens; how many apps will be
    /// told, and the grants (client, family).
    async fn end_login_session(&self, sid: &str) -> Result<(usize, Vec<(String, String)>), Error> {
        let mut grants: Vec<(String, String)> =
            self.store.take_list(&session_list_key(sid)).await?;
        // Records written before the list (one JSON document per session) still count.
        if let Some(old) = self.store.take::<SessionGrants>(&session_key(sid)).await? {
            grants.extend(old.grants);
        }
        let mut told = std::collections::BTreeSet::new();
        for (client_id, fid) in &grants {
            self.revoke_family(fid).await?;
            let Some(client) = self.clients.get(client_id) else {
                continue;
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            if !told.insert(client_id.clone()) {
                continue;
            }
            let family: Option<crate::token::Family> =
                self.store.get(&crate::token::family_key(fid)).await?;
            let Some(family) = family else { continue };
            let now = unix_now();
            let ring = self.keys.ring();
            let Some(key) = ring.signer(client.id_token_alg, now) else {
                continue;
            };
            let token = jwt::sign(
                &key,
                "logout+jwt",
                &json!({
                    "iss": self.settings.issuer,
                    "aud": client.id.as_str(),
                    "iat": now,
                    "exp": now + 120,
                    "jti": crate::authorize::random_token()?,
                    "sub": self.subject_for(client, &family.grant.auth.subject),
                    "sid": sid,
                    "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
                }),
            )?;
            let http = self.http.clone();
            let client_name = client.id.to_string();
            tokio::spawn(async move { deliver(http, uri, token, client_name).await });
        }
        Ok((told.len(), grants))
    }
}

async fn deliver(http: reqwest::Client, uri: url::Url, token: String, client: String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    for attempt in 0..4u32 {
        let sent = http
            .post(uri.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(%client, status = %r.status(), attempt, "back-channel logout refused")
            }
            Err(e) => tracing::warn!(%client, error = %e, attempt, "back-channel logout failed"),
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
    }
    tracing::error!(%client, "back-channel logout abandoned after 4 attempts");
}
