//! `private_key_jwt` client authentication (OIDC Core §9, RFC 7523): a JWT signed with a
//! key from the client's registered JWKS.
//!
//! Only RS256, ES256 and EdDSA are accepted (no `none`, no HMAC: a public key is never a
//! shared secret); signatures are checked by openidconnect's JWK code; `iss` and `sub` must
//! be the client, `aud` this issuer or its token endpoint, `exp` near, and each `jti` is
//! accepted once (set-if-absent in the store until the assertion expires).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey as _;
use passerelle_store::{Expiry, Key};
use serde::Deserialize;

use crate::client::Client;
use crate::error::Error;
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
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
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

impl Provider {
    /// Whether `assertion` authenticates `client`. `Ok(false)` for any bad assertion.
    ///
    /// # Errors
    /// Store errors only.
    pub(crate) async fn check_assertion(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<bool, Error> {
        let Some(claims) = self.verified_claims(client, assertion) else {
            return Ok(false);
        };
        let now = unix_now();
        let token_endpoint = format!("{}/token", self.settings.issuer);
        let aud_ok = match &claims.aud {
            Aud::One(a) => *a == self.settings.issuer || *a == token_endpoint,
            Aud::Many(v) => v
                .iter()
                .any(|a| *a == self.settings.issuer || *a == token_endpoint),
        };
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

    fn verified_claims(&self, client: &Client, assertion: &str) -> Option<Claims> {
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
        let verified = client.jwks.iter().any(|k| {
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
