//! The provider: settings, the authenticated subject the server hands over, and the
//! issuing of ID and access tokens.
//!
//! The provider never decides who the user is: [`Authentication`] comes from the server
//! after its own login pages. What it decides is what each client may see of it (scopes,
//! public or pairwise subject) and how that is signed.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone as _, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, EndUserEmail, EndUserFamilyName, EndUserGivenName, EndUserName,
    IdToken, IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, StandardClaims, SubjectIdentifier,
};
use passerelle_store::Store;
use serde::{Deserialize, Serialize};

use crate::assurance::{Acr, Assurance};
use crate::client::{Client, Registry, SubjectType};
use crate::error::Error;
use crate::keys::{Keys, SigningAlg};
use crate::types::{Amr, Scopes};

/// The scope that releases the academic claims (affiliation, home organisation, eppn).
pub const ACADEMIC_SCOPE: &str = "academic";

/// Provider settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer (the public URL, no trailing slash).
    pub issuer: String,
    /// Authorization code lifetime, seconds (≤ 60 by default).
    pub code_lifetime: u64,
    /// Access and ID token lifetime, seconds.
    pub token_lifetime: u64,
    /// Refresh token idle (sliding) lifetime, seconds.
    pub refresh_idle: u64,
    /// Refresh token absolute lifetime, seconds.
    pub refresh_absolute: u64,
    /// Pending authorization request lifetime, seconds.
    pub request_lifetime: u64,
    /// A `private_key_jwt` assertion no cached key of a `jwks_uri` client verifies makes
    /// the provider fetch that client's keys again, at most this often, seconds.
    pub jwks_refetch_after: u64,
}

impl Settings {
    /// Defaults for `issuer`: code 60 s, tokens 5 min, refresh 1 day idle / 30 days.
    #[must_use]
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            code_lifetime: 60,
            token_lifetime: 300,
            refresh_idle: 86_400,
            refresh_absolute: 30 * 86_400,
            request_lifetime: 1800,
            jwks_refetch_after: 60,
        }
    }
}

/// The user's claims, as the server knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// E-mail address.
    pub email: Option<String>,
    /// Whether the address was verified (a link or code was received there).
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// eduPersonAffiliation values.
    pub affiliation: Vec<String>,
    /// schacHomeOrganization (the institution's domain).
    pub home_organization: Option<String>,
    /// eduPersonPrincipalName.
    pub eppn: Option<String>,
    /// Whose account this is, as far as Passerelle knows (`university`, `invited`,
    /// `self_registered`, `email`: see docs/oidc-claims.md); released with `profile`.
    #[serde(default)]
    pub account_kind: Option<String>,
}

/// An authenticated subject, handed over by the server after its login pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// The account's stable local subject.
    pub subject: String,
    /// When the user last authenticated (Unix seconds).
    pub auth_time: i64,
    /// How.
    pub amr: Vec<Amr>,
    /// The classes this sign-in met ([`Assurance::of`] its methods).
    #[serde(default)]
    pub assurance: Assurance,
    /// The `acr` asserted: chosen by [`Provider::complete`] from the request and
    /// [`Authentication::assurance`]; whatever the caller puts here is replaced.
    #[serde(default)]
    pub acr: Option<Acr>,
    /// The login session's id as shown to apps (`sid`; never the session cookie).
    pub sid: String,
    /// The user's claims.
    pub claims: UserClaims,
}

/// Claims beyond the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    /// Login session id (back-channel logout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// eduPersonAffiliation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub eduperson_affiliation: Vec<String>,
    /// schacHomeOrganization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schac_home_organization: Option<String>,
    /// eduPersonPrincipalName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eduperson_principal_name: Option<String>,
    /// How the account was created and proven (with `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_kind: Option<String>,
}
impl AdditionalClaims for ExtraClaims {}

/// The ID token type this provider issues.
pub type PasserelleIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a grant carries from the login to every token issued from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The client.
    pub client_id: String,
    /// Scopes granted.
    pub scopes: Scopes,
    /// The nonce of the authorization request.
    pub nonce: Option<String>,
    /// The login.
    pub auth: Authentication,
}

/// The OpenID provider.
pub struct Provider {
    pub(crate) settings: Settings,
    pub(crate) clients: Registry,
    pub(crate) keys: Arc<Keys>,
    pub(crate) store: Store,
    pub(crate) http: reqwest::Client,
    pairwise_salt: ring::hmac::Key,
    /// Keys fetched from clients' `jwks_uri`, by client id.
    pub(crate) remote_jwks:
        std::sync::Mutex<std::collections::HashMap<String, crate::assertion::RemoteKeys>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// Now, as Unix seconds.
#[must_use]
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

impl Provider {
    /// Builds a provider; `secret` (≥ 32 bytes) seals the keys and salts pairwise subjects.
    ///
    /// # Errors
    /// Invalid issuer, key or store errors.
    pub async fn new(
        settings: Settings,
        clients: Registry,
        store: Store,
        secret: &[u8],
    ) -> Result<Self, Error> {
        let provider = Self::with_keys_unloaded(settings, clients, store, secret)?;
        provider.keys.load(unix_now()).await?;
        Ok(provider)
    }

    /// Builds a provider without touching the store: its keys are loaded later with
    /// [`Keys::load`] (or [`Keys::refresh`]); until then nothing signs and
    /// [`Keys::unable_to_sign`] lists every algorithm. For a start while the store is
    /// unavailable.
    ///
    /// # Errors
    /// Invalid issuer or secret.
    pub fn with_keys_unloaded(
        settings: Settings,
        clients: Registry,
        store: Store,
        secret: &[u8],
    ) -> Result<Self, Error> {
        let issuer = url::Url::parse(&settings.issuer)
            .map_err(|e| Error::Config(format!("issuer {:?}: {e}", settings.issuer)))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::Config("the issuer has no query or fragment".into()));
        }
        let mut algs: Vec<SigningAlg> = clients.iter().map(|c| c.id_token_alg).collect();
        // Always: RS256 (the OIDC default), ES256 (access tokens) and EdDSA.
        algs.extend([SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa]);
        algs.sort_by_key(|a| a.as_str());
        algs.dedup();
        let lifetime = i64::try_from(settings.token_lifetime.max(settings.code_lifetime))
            .map_err(|_| Error::Config("token lifetime too large".into()))?;
        let keys = Keys::unloaded(store.clone(), secret, &algs, lifetime)?;
        let prk =
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"passerelle pairwise").extract(secret);
        let okm = prk
            .expand(&[b"salt v1"], ring::hmac::HMAC_SHA256)
            .map_err(|_| Error::Internal("HKDF".into()))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            settings,
            clients,
            keys: Arc::new(keys),
            store,
            http,
            pairwise_salt: ring::hmac::Key::from(okm),
            remote_jwks: std::sync::Mutex::default(),
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    /// The relying parties.
    #[must_use]
    pub fn clients(&self) -> &Registry {
        &self.clients
    }
    /// The signing keys.
    #[must_use]
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// The `sub` this client sees for this account.
    #[must_use]
    pub fn subject_for(&self, client: &Client, local: &str) -> String {
        match client.subject_type {
            SubjectType::Public => local.to_owned(),
            SubjectType::Pairwise => {
                let mut ctx = ring::hmac::Context::with_key(&self.pairwise_salt);
                ctx.update(client.sector.as_bytes());
                ctx.update(&[0]);
                ctx.update(local.as_bytes());
                URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
            }
        }
    }

    /// The claims a grant releases, keyed as in the ID token and userinfo.
    pub(crate) fn released(
        &self,
        client: &Client,
        grant: &Grant,
    ) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        let c = &grant.auth.claims;
        m.insert(
            "sub".into(),
            Value::String(self.subject_for(client, &grant.auth.subject)),
        );
        if grant.scopes.contains("email")
            && let Some(e) = &c.email
        {
            m.insert("email".into(), Value::String(e.clone()));
            m.insert("email_verified".into(), Value::Bool(c.email_verified));
        }
        if grant.scopes.contains("profile") {
            for (k, v) in [
                ("name", &c.name),
                ("given_name", &c.given_name),
                ("family_name", &c.family_name),
                ("account_kind", &c.account_kind),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), Value::String(v.clone()));
                }
            }
        }
        if grant.scopes.contains(ACADEMIC_SCOPE) {
            if !c.affiliation.is_empty() {
                m.insert(
                    "eduperson_affiliation".into(),
                    Value::Array(c.affiliation.iter().cloned().map(Value::String).collect()),
                );
            }
            if let Some(v) = &c.home_organization {
                m.insert("schac_home_organization".into(), Value::String(v.clone()));
            }
            if let Some(v) = &c.eppn {
                m.insert("eduperson_principal_name".into(), Value::String(v.clone()));
            }
        }
        m
    }

    /// Signs an ID token for `grant`, binding `access_token` through `at_hash`.
    pub(crate) fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        access_token: &str,
        now: i64,
    ) -> Result<String, Error> {
        let ring = self.keys.ring();
        let key = ring
            .signer(client.id_token_alg, now)
            .ok_or_else(|| Error::Keys(format!("no {} key", client.id_token_alg.as_str())))?;
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| Error::Config(format!("issuer: {e}")))?;
        let ts = |t: i64| {
            Utc.timestamp_opt(t, 0)
                .single()
                .ok_or_else(|| Error::Internal("time out of range".into()))
        };
        let lifetime = i64::try_from(self.settings.token_lifetime).unwrap_or(300);
        let c = &grant.auth.claims;
        let mut std = StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(
            self.subject_for(client, &grant.auth.subject),
        ));
        if grant.scopes.contains("email")
            && let Some(e) = &c.email
        {
            std = std
                .set_email(Some(EndUserEmail::new(e.clone())))
                .set_email_verified(Some(c.email_verified));
        }
        if grant.scopes.contains("profile") {
            std = std
                .set_name(
                    c.name
                        .clone()
                        .map(|n| LocalizedClaim::from(EndUserName::new(n))),
                )
                .set_given_name(
                    c.given_name
                        .clone()
                        .map(|n| LocalizedClaim::from(EndUserGivenName::new(n))),
                )
                .set_family_name(
                    c.family_name
                        .clone()
                        .map(|n| LocalizedClaim::from(EndUserFamilyName::new(n))),
                );
        }
        let academic = grant.scopes.contains(ACADEMIC_SCOPE);
        let extra = ExtraClaims {
            sid: Some(grant.auth.sid.clone()),
            eduperson_affiliation: if academic {
                c.affiliation.clone()
            } else {
                Vec::new()
            },
            schac_home_organization: c.home_organization.clone().filter(|_| academic),
            eduperson_principal_name: c.eppn.clone().filter(|_| academic),
            account_kind: c
                .account_kind
                .clone()
                .filter(|_| grant.scopes.contains("profile")),
        };
        let claims = IdTokenClaims::new(
            issuer,
            vec![Audience::new(client.id.to_string())],
            ts(now.saturating_add(lifetime))?,
            ts(now)?,
            std,
            extra,
        )
        .set_auth_time(Some(ts(grant.auth.auth_time)?))
        .set_nonce(grant.nonce.clone().map(Nonce::new))
        .set_auth_context_ref(
            grant
                .auth
                .acr
                .map(|a| AuthenticationContextClass::new(a.as_str().to_owned())),
        )
        .set_auth_method_refs(Some(
            grant
                .auth
                .amr
                .iter()
                .map(|a| AuthenticationMethodReference::new(a.as_str().to_owned()))
                .collect(),
        ));
        let token = PasserelleIdToken::new(
            claims,
            key.as_ref(),
            client.id_token_alg.core(),
            Some(&AccessToken::new(access_token.to_owned())),
            None,
        )
        .map_err(|e| Error::Keys(format!("ID token signing: {e}")))?;
        Ok(token.to_string())
    }
}
