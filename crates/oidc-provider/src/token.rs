//! The token endpoint's grants, client authentication, and the grant families that let a
//! misuse revoke everything issued from one login.
//!
//! A code is taken from the store exactly once (GETDEL): of two concurrent redemptions
//! one wins. A second use finds the "used" marker and revokes the family, so every access
//! and refresh token issued from that code stops working. Refresh tokens are opaque,
//! stored as SHA-256 digests, rotated on each use; an old one presented again revokes the
//! family too. Access tokens are RFC 9068 JWTs carrying the family id (`gid`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use passerelle_store::{Expiry, Key, Rotated, Rotation};
use serde::{Deserialize, Serialize};

use crate::authorize::{CodeGrant, code_key, code_used_key, digest, random_token};
use crate::client::{AuthMethod, Client};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::jwt;
use crate::keys::SigningAlg;
use crate::provider::{Grant, Provider, unix_now};
use crate::types::CodeVerifier;

/// What the client sent to authenticate, before it is checked.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// From the `Authorization: Basic` header.
    pub basic: Option<(String, String)>,
    /// `client_id` from the body.
    pub body_id: Option<String>,
    /// `client_secret` from the body.
    pub body_secret: Option<String>,
    /// `client_assertion_type` from the body.
    pub assertion_type: Option<String>,
    /// `client_assertion` from the body.
    pub assertion: Option<String>,
}

impl ClientCredentials {
    /// Reads an `Authorization` header value (Basic, form-encoded parts per RFC 6749
    /// §2.3.1).
    #[must_use]
    pub fn parse_basic(header: &str) -> Option<(String, String)> {
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((dec(id)?, dec(secret)?))
    }
}

/// A successful token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// RFC 9068 JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime, seconds.
    pub expires_in: u64,
    /// The ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token, when the client gets them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes.
    pub scope: String,
}

/// A grant family: every token issued from one code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Family {
    pub grant: Grant,
    pub revoked: bool,
    pub absolute_expiry: i64,
}

/// A stored refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshRecord {
    family: String,
}

/// RFC 9068 access token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    pub gid: String,
    pub auth_time: i64,
}

/// A refresh token made for a response, with where and how long it is stored.
struct MintedRefresh {
    token: String,
    key: Key,
    ttl: Duration,
}

pub(crate) fn family_key(fid: &str) -> Key {
    Key::new("oidc-fam", fid)
}
fn refresh_key(fid: &str, digest: &str) -> Key {
    Key::new("oidc-fam", fid).with("rt").with(digest)
}
fn refresh_used_key(fid: &str, digest: &str) -> Key {
    Key::new("oidc-fam", fid).with("rt-used").with(digest)
}

fn err(code: ErrorCode, d: &str) -> OAuthError {
    OAuthError::new(code, d)
}

impl Provider {
    /// Authenticates the client by its registered method only.
    ///
    /// # Errors
    /// `invalid_client` (or `invalid_request` when two methods are mixed).
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
    ) -> Result<&Client, OAuthError> {
        let bad = || err(ErrorCode::InvalidClient, "client authentication failed");
        let methods = usize::from(creds.basic.is_some())
            + usize::from(creds.body_secret.is_some())
            + usize::from(creds.assertion.is_some());
        if methods > 1 {
            return Err(err(
                ErrorCode::InvalidRequest,
                "use one client authentication method",
            ));
        }
        // RFC 7523 lets a client_assertion name the client by itself (`sub`, checked later
        // against the signature).
        let asserted = creds
            .assertion
            .as_deref()
            .and_then(crate::assertion::claimed_client);
        let id = match (&creds.basic, &creds.body_id) {
            (Some((b, _)), Some(i)) if b != i => {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "client_id does not match the credentials",
                ));
            }
            (Some((b, _)), _) => b.as_str(),
            (None, Some(i)) => i.as_str(),
            (None, None) => asserted.as_deref().ok_or_else(bad)?,
        };
        let client = self.clients.get(id).ok_or_else(bad)?;
        let ok = match client.auth_method {
            AuthMethod::ClientSecretBasic => creds
                .basic
                .as_ref()
                .is_some_and(|(_, s)| client.secret_matches(s)),
            AuthMethod::ClientSecretPost => {
                creds.basic.is_none()
                    && creds
                        .body_secret
                        .as_deref()
                        .is_some_and(|s| client.secret_matches(s))
            }
            AuthMethod::PrivateKeyJwt => match (&creds.assertion_type, &creds.assertion) {
                (Some(t), Some(a)) if t == crate::assertion::JWT_BEARER => {
                    self.check_assertion(client, a).await?
                }
                _ => false,
            },
            AuthMethod::None => methods == 0,
        };
        if ok { Ok(client) } else { Err(bad()) }
    }

    /// The token endpoint: `params` is the form body, `creds` the client's credentials.
    ///
    /// # Errors
    /// An RFC 6749 error.
    pub async fn token(
        &self,
        params: &[(String, String)],
        creds: &ClientCredentials,
    ) -> Result<TokenResponse, OAuthError> {
        let get = |name: &str| -> Result<Option<&str>, OAuthError> {
            let mut it = params.iter().filter(|(k, _)| k == name);
            let first = it.next().map(|(_, v)| v.as_str());
            if it.next().is_some() {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    &format!("parameter {name} is repeated"),
                ));
            }
            Ok(first)
        };
        let client = self.authenticate_client(creds).await?;
        match get("grant_type")? {
            Some("authorization_code") => {
                let code = get("code")?
                    .ok_or_else(|| err(ErrorCode::InvalidRequest, "code is required"))?;
                let redirect = get("redirect_uri")?;
                let verifier = get("code_verifier")?;
                self.redeem_code(client, code, redirect, verifier).await
            }
            Some("refresh_token") => {
                let rt = get("refresh_token")?
                    .ok_or_else(|| err(ErrorCode::InvalidRequest, "refresh_token is required"))?;
                self.refresh(client, rt, get("scope")?).await
            }
            Some(_) => Err(err(
                ErrorCode::UnsupportedGrantType,
                "supported: authorization_code, refresh_token",
            )),
            None => Err(err(ErrorCode::InvalidRequest, "grant_type is required")),
        }
    }

    async fn redeem_code(
        &self,
        client: &Client,
        code: &str,
        redirect: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if code.is_empty() || code.len() > 128 {
            return Err(err(ErrorCode::InvalidGrant, "invalid code"));
        }
        let d = digest(code);
        let Some(stored) = self.store.take::<CodeGrant>(&code_key(&d)).await? else {
            // Used before? Then whatever it produced is revoked (RFC 6749 §4.1.2).
            if let Some(fid) = self.store.get::<String>(&code_used_key(&d)).await? {
                self.revoke_family(&fid).await?;
                tracing::warn!(client = %client.id, "authorization code reused: grant revoked");
            }
            return Err(err(
                ErrorCode::InvalidGrant,
                "the code is invalid, expired or already used",
            ));
        };
        let fid = random_token()?;
        if stored.grant.client_id != client.id.as_str() {
            return Err(err(
                ErrorCode::InvalidGrant,
                "the code was issued to another client",
            ));
        }
        if redirect != Some(stored.redirect_uri.as_str()) {
            return Err(err(
                ErrorCode::InvalidGrant,
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&stored.code_challenge, verifier) {
            (Some(ch), Some(v)) => {
                let v = CodeVerifier::parse(v).map_err(|e| err(ErrorCode::InvalidGrant, &e.0))?;
                if !ch.is_met_by(&v) {
                    return Err(err(
                        ErrorCode::InvalidGrant,
                        "code_verifier does not match the challenge",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(err(ErrorCode::InvalidGrant, "code_verifier is required"));
            }
            (None, Some(_)) => {
                return Err(err(ErrorCode::InvalidGrant, "no code_challenge was sent"));
            }
            (None, None) => {}
        }
        let now = unix_now();
        let absolute =
            now.saturating_add(i64::try_from(self.settings.refresh_absolute).unwrap_or(i64::MAX));
        let family = Family {
            grant: stored.grant,
            revoked: false,
            absolute_expiry: absolute,
        };
        // Four independent writes in one round trip (the multiplexed connection pipelines
        // concurrent commands): the used-marker (a replay from now on revokes the family),
        // the family, the session's record of its grants (logout), the refresh token.
        let family_ttl = Duration::from_secs(
            self.settings
                .refresh_absolute
                .max(self.settings.token_lifetime),
        );
        let refresh = self.mint_refresh(client, &fid, Some(family.absolute_expiry), now)?;
        tokio::try_join!(
            self.store_refresh(&fid, refresh.as_ref()),
            async {
                self.store
                    .set(
                        &code_used_key(&d),
                        &fid,
                        Expiry::After(Duration::from_secs(600)),
                    )
                    .await
                    .map_err(Error::from)
            },
            async {
                self.store
                    .set(&family_key(&fid), &family, Expiry::After(family_ttl))
                    .await
                    .map_err(Error::from)
            },
            self.remember_grant(&family.grant.auth.sid, client.id.as_str(), &fid),
        )?;
        self.issue(client, &fid, &family, now, true, refresh.map(|r| r.token))
    }

    /// A new refresh token for a family, when the client gets them (not stored yet): it
    /// lives the idle lifetime, cut at the family's absolute expiry when known (a record
    /// that outlives it is harmless: its family is gone by then, so it is refused).
    fn mint_refresh(
        &self,
        client: &Client,
        fid: &str,
        absolute_expiry: Option<i64>,
        now: i64,
    ) -> Result<Option<MintedRefresh>, Error> {
        if !client.refresh_tokens {
            return Ok(None);
        }
        let token = format!("{fid}.{}", random_token()?);
        let left = absolute_expiry.map_or(u64::MAX, |a| {
            u64::try_from(a.saturating_sub(now)).unwrap_or(0)
        });
        Ok(Some(MintedRefresh {
            key: refresh_key(fid, &digest(&token)),
            ttl: Duration::from_secs(self.settings.refresh_idle.min(left).max(1)),
            token,
        }))
    }

    /// Stores a minted refresh token (nothing to do without one).
    async fn store_refresh(&self, fid: &str, minted: Option<&MintedRefresh>) -> Result<(), Error> {
        if let Some(m) = minted {
            self.store
                .set(
                    &m.key,
                    &RefreshRecord {
                        family: fid.to_owned(),
                    },
                    Expiry::After(m.ttl),
                )
                .await?;
        }
        Ok(())
    }

    async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = || {
            err(
                ErrorCode::InvalidGrant,
                "the refresh token is invalid, expired or revoked",
            )
        };
        let (fid, _) = token.split_once('.').ok_or_else(invalid)?;
        if fid.len() != 43 || token.len() > 128 {
            return Err(invalid());
        }
        let d = digest(token);
        let now = unix_now();
        // One round trip (one script on the family's slot): the token is taken, marked
        // spent, its family read and the next token stored — or, gone, whether it was
        // spent (a replay, which revokes the family).
        let next = self.mint_refresh(client, fid, None, now)?;
        let record = RefreshRecord {
            family: fid.to_owned(),
        };
        let (take, spent, fam) = (
            refresh_key(fid, &d),
            refresh_used_key(fid, &d),
            family_key(fid),
        );
        let rotated = self
            .store
            .rotate::<RefreshRecord, Family, RefreshRecord>(Rotation {
                take: &take,
                mark: (
                    &spent,
                    Expiry::After(Duration::from_secs(self.settings.refresh_absolute)),
                ),
                read: &fam,
                put: next
                    .as_ref()
                    .map(|m| (&m.key, &record, Expiry::After(m.ttl))),
            })
            .await?;
        let family = match rotated {
            Rotated::Taken { taken, read } if taken.family == fid => read,
            Rotated::Taken { .. } | Rotated::Missing { spent: false } => None,
            Rotated::Missing { spent: true } => {
                self.revoke_family(fid).await?;
                tracing::warn!(client = %client.id, "refresh token reused: grant revoked");
                None
            }
        };
        let Some(family) = family else {
            return Err(invalid());
        };
        if family.revoked || family.absolute_expiry <= now {
            return Err(invalid());
        }
        if family.grant.client_id != client.id.as_str() {
            self.revoke_family(fid).await?;
            return Err(invalid());
        }
        let mut family = family;
        if let Some(s) = scope {
            let asked =
                crate::types::Scopes::parse(s).map_err(|e| err(ErrorCode::InvalidScope, &e.0))?;
            if !asked.is_subset(&family.grant.scopes) {
                return Err(err(
                    ErrorCode::InvalidScope,
                    "a refresh cannot widen the scopes",
                ));
            }
            family.grant.scopes = asked;
        }
        self.issue(
            client,
            fid,
            &family,
            now,
            family.grant.scopes.contains("openid"),
            next.map(|r| r.token),
        )
    }

    fn issue(
        &self,
        client: &Client,
        fid: &str,
        family: &Family,
        now: i64,
        with_id_token: bool,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let lifetime = client
            .access_token_lifetime
            .unwrap_or(self.settings.token_lifetime);
        let grant = &family.grant;
        let ring = self.keys.ring();
        // Access tokens (RFC 9068) are signed ES256 when that key exists: resource servers'
        // JWT libraries verify it far more often than EdDSA, and ring signs P-256 about
        // twice as fast as Ed25519 (a third of a code exchange's CPU was Ed25519).
        let key = ring
            .signer(SigningAlg::Es256, now)
            .or_else(|| ring.signer(SigningAlg::EdDsa, now))
            .or_else(|| ring.signer(client.id_token_alg, now))
            .ok_or_else(|| OAuthError::from(Error::Keys("no signing key".into())))?;
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: self.subject_for(client, &grant.auth.subject),
            aud: client.id.to_string(),
            client_id: client.id.to_string(),
            exp: now.saturating_add(i64::try_from(lifetime).unwrap_or(300)),
            iat: now,
            jti: random_token()?,
            scope: grant.scopes.to_string(),
            gid: fid.to_owned(),
            auth_time: grant.auth.auth_time,
        };
        let access_token = jwt::sign(&key, "at+jwt", &claims)?;
        let id_token = if with_id_token {
            Some(self.id_token(client, grant, &access_token, now)?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: lifetime,
            id_token,
            refresh_token,
            scope: grant.scopes.to_string(),
        })
    }

    /// Marks a grant family revoked: its refresh tokens fail, its access tokens fail at
    /// userinfo and introspection.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_family(&self, fid: &str) -> Result<(), Error> {
        let key = family_key(fid);
        if let Some(mut f) = self.store.get::<Family>(&key).await? {
            f.revoked = true;
            let ttl = self.settings.token_lifetime.max(60);
            self.store
                .set(&key, &f, Expiry::After(Duration::from_secs(ttl)))
                .await?;
        }
        Ok(())
    }

    /// Checks an access token: signature by our keys, issuer, expiry, family not revoked.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) async fn check_access_token(
        &self,
        token: &str,
    ) -> Result<Option<(AccessClaims, Family)>, Error> {
        let ring = self.keys.ring();
        let Some(claims) = jwt::verify::<AccessClaims>(&ring, Some("at+jwt"), token) else {
            return Ok(None);
        };
        if claims.iss != self.settings.issuer || claims.exp <= unix_now() {
            return Ok(None);
        }
        match self.store.get::<Family>(&family_key(&claims.gid)).await? {
            Some(f) if !f.revoked => Ok(Some((claims, f))),
            _ => Ok(None),
        }
    }

    /// Revocation (RFC 7009): revokes the family of an access or refresh token of this
    /// client. Unknown tokens are not an error.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        if let Some((claims, _)) = self.check_access_token(token).await? {
            if claims.client_id == client.id.as_str() {
                self.revoke_family(&claims.gid).await?;
            }
            return Ok(());
        }
        if let Some((fid, _)) = token.split_once('.')
            && fid.len() == 43
            && let Some(f) = self.store.get::<Family>(&family_key(fid)).await?
        {
            let live = self
                .store
                .get::<RefreshRecord>(&refresh_key(fid, &digest(token)))
                .await?
                .is_some();
            if live && f.grant.client_id == client.id.as_str() {
                self.revoke_family(fid).await?;
            }
        }
        Ok(())
    }

    /// Introspection (RFC 7662) for a token of this client.
    ///
    /// # Errors
    /// Store errors.
    pub async fn introspect(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<serde_json::Value, OAuthError> {
        use serde_json::json;
        if let Some((c, _)) = self.check_access_token(token).await?
            && c.client_id == client.id.as_str()
        {
            return Ok(json!({
                "active": true, "token_type": "Bearer", "scope": c.scope,
                "client_id": c.client_id, "sub": c.sub, "aud": c.aud, "iss": c.iss,
                "exp": c.exp, "iat": c.iat, "jti": c.jti,
            }));
        }
        if let Some((fid, _)) = token.split_once('.')
            && fid.len() == 43
        {
            let live = self
                .store
                .get::<RefreshRecord>(&refresh_key(fid, &digest(token)))
                .await?
                .is_some();
            if let (true, Some(f)) = (live, self.store.get::<Family>(&family_key(fid)).await?)
                && !f.revoked
                && f.grant.client_id == client.id.as_str()
            {
                return Ok(json!({
                    "active": true, "token_type": "refresh_token",
                    "scope": f.grant.scopes.to_string(), "client_id": f.grant.client_id,
                    "sub": self.subject_for(client, &f.grant.auth.subject),
                    "exp": f.absolute_expiry, "iss": self.settings.issuer,
                }));
            }
        }
        Ok(json!({ "active": false }))
    }
}
