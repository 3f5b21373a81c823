//! `private_key_jwt` client authentication (OIDC Core §9, RFC 7523): a JWT signed with a
//! key from the client's registered JWKS, inline or published at its `jwks_uri` (fetched,
//! cached ten minutes, fetched again at most once a minute when an assertion names a key
//! the cache lacks).
//!
//! Only RS256, ES256 and EdDSA are accepted (no `none`, no HMAC: a public key is never a
//! shared secret); signatures are checked by openidconnect's JWK code; `iss` and `sub` must
//! be the client, `aud` this issuer or its token endpoint as the only audience (a string,
//! or an array of that one value: draft-ietf-oauth-rfc7523bis), `exp` near, and each `jti`
//! is accepted once (set-if-absent in the store until the assertion expires).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey as _;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use passerelle_store::{Expiry, Key};
use serde::Deserialize;

use crate::client::Client;
use crate::error::Error;
use crate::jwt::Aud;
use crate::keys::SigningAlg;
use crate::provider::{Provider, unix_now};

/// The assertion type RFC 7523 names.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest an assertion may live, seconds.
const MAX_LIFETIME: i64 = 600;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Aud,
    exp: i64,
    jti: String,
}

/// The client an assertion claims to come from (`sub`), before any check.
#[must_use]
pub fn claimed_client(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Sub {
        sub: String,
    }
    let payload = assertion.split('.').nth(1)?;
    let sub: Sub = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(sub.sub)
}

/// How long fetched client keys are used before being fetched again.
const JWKS_FRESH: Duration = Duration::from_secs(600);
/// The largest JWKS document accepted.
const JWKS_MAX_BYTES: usize = 64 * 1024;

/// Keys fetched from a client's `jwks_uri`.
#[derive(Debug, Clone)]
pub(crate) struct RemoteKeys {
    keys: std::sync::Arc<Vec<CoreJsonWebKey>>,
    fetched: std::time::Instant,
}

impl Provider {
    async fn fetch_jwks(&self, uri: &url::Url) -> Result<Vec<CoreJsonWebKey>, String> {
        let response = self
            .http
            .get(uri.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > JWKS_MAX_BYTES as u64)
        {
            return Err("document too large".into());
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > JWKS_MAX_BYTES {
            return Err("document too large".into());
        }
        let set: CoreJsonWebKeySet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWKS document: {e}"))?;
        Ok(set.keys().clone())
    }

    /// The keys of a `jwks_uri` client: cached, fetched when stale, or — with `retry`,
    /// after an assertion the cache could not verify — fetched again if the cache is
    /// older than `Settings::jwks_refetch_after`. A failed fetch keeps what was cached.
    async fn remote_keys(
        &self,
        client: &Client,
        uri: &url::Url,
        retry: bool,
    ) -> Option<std::sync::Arc<Vec<CoreJsonWebKey>>> {
        let id = client.id.as_str().to_owned();
        let cached = self
            .remote_jwks
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned());
        if let Some(c) = &cached {
            // An assertion no cached key verifies fetches again, at most every
            // `jwks_refetch_after` per client: a rotation at the client is picked up, a
            // stream of forged assertions cannot make us hammer its server.
            let limit = if retry {
                Duration::from_secs(self.settings.jwks_refetch_after)
            } else {
                JWKS_FRESH
            };
            if c.fetched.elapsed() < limit {
                return if retry { None } else { Some(c.keys.clone()) };
            }
        }
        match self.fetch_jwks(uri).await {
            Ok(keys) => {
                let fresh = RemoteKeys {
                    keys: std::sync::Arc::new(keys),
                    fetched: std::time::Instant::now(),
                };
                if let Ok(mut m) = self.remote_jwks.lock() {
                    m.insert(id, fresh.clone());
                }
                Some(fresh.keys)
            }
            Err(e) => {
                tracing::warn!(client = %client.id, error = %e, "client jwks_uri not fetched");
                if retry { None } else { cached.map(|c| c.keys) }
            }
        }
    }

    /// Whether `assertion` authenticates `client`. `Ok(false)` for any bad assertion.
    ///
    /// # Errors
    /// Store errors only.
    pub(crate) async fn check_assertion(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<bool, Error> {
        let claims = match &client.jwks_uri {
            None => self.verified_claims(&client.jwks, assertion),
            Some(uri) => {
                let cached = self.remote_keys(client, uri, false).await;
                match cached.and_then(|k| self.verified_claims(&k, assertion)) {
                    Some(c) => Some(c),
                    // Perhaps the client rotated its keys: look again (rate-limited).
                    None => self
                        .remote_keys(client, uri, true)
                        .await
                        .and_then(|k| self.verified_claims(&k, assertion)),
                }
            }
        };
        let Some(claims) = claims else {
            return Ok(false);
        };
        let now = unix_now();
        // We must be the sole audience (draft-ietf-oauth-rfc7523bis): an assertion also
        // addressed to another party could be replayed to us by that party.
        let token_endpoint = format!("{}/token", self.settings.issuer);
        let aud_ok = claims
            .aud
            .sole()
            .is_some_and(|a| a == self.settings.issuer || a == token_endpoint);
        if claims.iss != client.id.as_str()
            || claims.sub != client.id.as_str()
            || !aud_ok
            || claims.exp <= now
            || claims.exp > now + MAX_LIFETIME
            || claims.jti.is_empty()
            || claims.jti.len() > 256
        {
            return Ok(false);
        }
        let ttl = u64::try_from(claims.exp - now + 60).unwrap_or(60);
        let key = Key::new("oidc-jti", client.id.as_str()).with(&claims.jti);
        Ok(self
            .store
            .set_if_absent(&key, &1u8, Expiry::After(Duration::from_secs(ttl)))
            .await?)
    }

    fn verified_claims(&self, keys: &[CoreJsonWebKey], assertion: &str) -> Option<Claims> {
        if assertion.len() > 8 * 1024 {
            return None;
        }
        let mut parts = assertion.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        let alg = SigningAlg::parse(&header.alg)?;
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let message = assertion.get(..h.len() + 1 + c.len())?;
        let verified = keys.iter().any(|k| {
            header
                .kid
                .as_deref()
                .is_none_or(|kid| k.key_id().is_some_and(|id| id.as_str() == kid))
                && k.verify_signature(&alg.core(), message.as_bytes(), &sig)
                    .is_ok()
        });
        if !verified {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
    }
}
