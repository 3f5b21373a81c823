//! Relying parties: their registration as written in configuration ([`ClientConfig`]),
//! checked once at start-up into a [`Client`], and the [`Registry`] that finds them.
//!
//! Client secrets are generated (256 random bits) and only their SHA-256 digest is
//! configured: a high-entropy secret needs no slow hash, and the digest is compared in
//! constant time. A digest cannot tell how long its secret was, so the digest of the empty
//! secret is refused at registration and a presented secret shorter than
//! [`MIN_SECRET_CHARS`] is refused before anything is compared. A registry never holds an
//! invalid client: a bad field is a start-up error naming the client and the field.

use crate::assurance::Acr;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::keys::SigningAlg;
use crate::types::{ClientId, RedirectUri, Scopes};

/// The shortest client secret accepted when presented; [`generate_secret`] makes 43
/// characters (256 bits).
pub const MIN_SECRET_CHARS: usize = 32;

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret.
    ClientSecretBasic,
    /// `client_id` + `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with a key of the client's registered JWKS.
    PrivateKeyJwt,
    /// A public client (PKCE required, no secret).
    None,
}

impl AuthMethod {
    /// The discovery / registration name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// How subjects are presented to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The account's stable public subject.
    #[default]
    Public,
    /// A per-sector pseudonym.
    Pairwise,
}

/// A relying party as written in configuration (`[[oidc.clients]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client id.
    pub client_id: String,
    /// A display name (logs, consent-free pages).
    #[serde(default)]
    pub name: Option<String>,
    /// `sha256:` + base64url digest of the secret (see [`hash_secret`]); absent for public
    /// clients.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Token endpoint authentication; defaults to `client_secret_basic` with a secret,
    /// `none` without.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may receive; defaults to `openid email profile`.
    #[serde(default)]
    pub scopes: Option<String>,
    /// `public` (default) or `pairwise`.
    #[serde(default)]
    pub subject_type: SubjectType,
    /// The pairwise sector; defaults to the host of the redirect URIs (which must agree).
    #[serde(default)]
    pub sector_identifier: Option<String>,
    /// Back-channel logout endpoint.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// ID token signing algorithm: `RS256` (the OIDC default), `ES256` or `EdDSA`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Access token lifetime override, seconds.
    #[serde(default)]
    pub access_token_lifetime: Option<u64>,
    /// Whether the client gets refresh tokens (default true).
    #[serde(default)]
    pub refresh_tokens: Option<bool>,
    /// The client's public keys as a JWKS document (JSON), for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<String>,
    /// …or where the client publishes them (https; http on loopback only), fetched and
    /// cached, fetched again when an assertion names a key the cache lacks.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Where a sign-in for this app starts on the app's side (OIDC Core §4, third-party
    /// initiated login): where a user who finished on another device (the phone that
    /// opened the mailed link) is sent to continue to the app, with `iss`.
    #[serde(default)]
    pub initiate_login_uri: Option<String>,
    /// The app's home page (RFC 7591 `client_uri`): where such a user goes when the app
    /// registered no `initiate_login_uri`.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// The authentication context classes asked for on this app's behalf when its
    /// request names none (OIDC Dynamic Registration `default_acr_values`), e.g.
    /// `["https://refeds.org/profile/mfa"]` to make MFA the app's default.
    #[serde(default)]
    pub default_acr_values: Vec<String>,
}

/// A validated relying party.
#[derive(Debug, Clone)]
pub struct Client {
    /// The id.
    pub id: ClientId,
    /// Display name.
    pub name: String,
    secret_digest: Option<[u8; 32]>,
    /// Registered authentication method.
    pub auth_method: AuthMethod,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Scopes it may receive.
    pub allowed_scopes: Scopes,
    /// Public or pairwise subjects.
    pub subject_type: SubjectType,
    /// Pairwise sector.
    pub sector: String,
    /// Back-channel logout endpoint.
    pub backchannel_logout_uri: Option<url::Url>,
    /// ID token algorithm.
    pub id_token_alg: SigningAlg,
    /// Access token lifetime override, seconds.
    pub access_token_lifetime: Option<u64>,
    /// Whether refresh tokens are issued.
    pub refresh_tokens: bool,
    /// Keys for `private_key_jwt` (registered inline).
    pub jwks: Vec<openidconnect::core::CoreJsonWebKey>,
    /// Where the client publishes its keys for `private_key_jwt`.
    pub jwks_uri: Option<url::Url>,
    /// Third-party initiated login endpoint (OIDC Core §4).
    pub initiate_login_uri: Option<url::Url>,
    /// Home page.
    pub client_uri: Option<url::Url>,
    /// Classes asked for when a request names none.
    pub default_acr_values: Vec<Acr>,
}

impl Client {
    /// Checks a registration.
    ///
    /// # Errors
    /// [`Error::Client`] naming the field.
    pub fn from_config(c: &ClientConfig) -> Result<Self, Error> {
        let err = |field: &'static str, reason: String| Error::Client {
            client: c.client_id.clone(),
            field,
            reason,
        };
        let id = ClientId::parse(&c.client_id).map_err(|e| err("client_id", e.0))?;
        let secret_digest = c
            .secret_hash
            .as_deref()
            .map(parse_secret_hash)
            .transpose()
            .map_err(|e| err("secret_hash", e))?;
        if secret_digest.is_some_and(|d| d == <[u8; 32]>::from(Sha256::digest(b""))) {
            return Err(err(
                "secret_hash",
                "is the digest of the empty secret: make a secret with `passerelle clients add`"
                    .into(),
            ));
        }
        let auth_method = match (c.token_endpoint_auth_method, secret_digest.is_some()) {
            (None, true) => AuthMethod::ClientSecretBasic,
            (None, false) => AuthMethod::None,
            (Some(AuthMethod::None), true) => {
                return Err(err(
                    "secret_hash",
                    "a public client (token_endpoint_auth_method = \"none\") has no secret".into(),
                ));
            }
            (Some(m @ (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)), false) => {
                return Err(err(
                    "secret_hash",
                    format!("{} needs a secret_hash", m.as_str()),
                ));
            }
            (Some(AuthMethod::PrivateKeyJwt), true) => {
                return Err(err(
                    "secret_hash",
                    "a private_key_jwt client has keys (jwks), not a secret".into(),
                ));
            }
            (Some(m), _) => m,
        };
        let jwks_uri = match (&c.jwks_uri, auth_method) {
            (Some(_), AuthMethod::PrivateKeyJwt) if c.jwks.is_some() => {
                return Err(err("jwks_uri", "give jwks or jwks_uri, not both".into()));
            }
            (Some(u), AuthMethod::PrivateKeyJwt) => {
                let url = url::Url::parse(u).map_err(|e| err("jwks_uri", format!("{u:?}: {e}")))?;
                let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                    return Err(err(
                        "jwks_uri",
                        "must be https (http only on loopback)".into(),
                    ));
                }
                Some(url)
            }
            (Some(_), _) => {
                return Err(err(
                    "jwks_uri",
                    "only private_key_jwt clients have keys".into(),
                ));
            }
            (None, _) => None,
        };
        let jwks = match (&c.jwks, auth_method) {
            (None, AuthMethod::PrivateKeyJwt) if jwks_uri.is_some() => Vec::new(),
            (Some(text), AuthMethod::PrivateKeyJwt) => {
                let set: openidconnect::core::CoreJsonWebKeySet = serde_json::from_str(text)
                    .map_err(|e| err("jwks", format!("not a JWKS document: {e}")))?;
                if set.keys().is_empty() {
                    return Err(err("jwks", "holds no key".into()));
                }
                set.keys().clone()
            }
            (None, AuthMethod::PrivateKeyJwt) => {
                return Err(err(
                    "jwks",
                    "private_key_jwt needs the client's jwks or jwks_uri".into(),
                ));
            }
            (Some(_), _) => {
                return Err(err("jwks", "only private_key_jwt clients have keys".into()));
            }
            (None, _) => Vec::new(),
        };
        if c.redirect_uris.is_empty() {
            return Err(err("redirect_uris", "at least one is required".into()));
        }
        let redirect_uris = c
            .redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| err("redirect_uris", format!("{u}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let post_logout_redirect_uris = c
            .post_logout_redirect_uris
            .iter()
            .map(|u| {
                RedirectUri::parse(u)
                    .map_err(|e| err("post_logout_redirect_uris", format!("{u}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_scopes = Scopes::parse(c.scopes.as_deref().unwrap_or("openid email profile"))
            .map_err(|e| err("scopes", e.0))?;
        if !allowed_scopes.contains("openid") {
            return Err(err("scopes", "must include openid".into()));
        }
        let sector = match &c.sector_identifier {
            Some(s) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(_) => return Err(err("sector_identifier", "must not be empty".into())),
            None => {
                let hosts: std::collections::BTreeSet<String> =
                    redirect_uris.iter().map(RedirectUri::host).collect();
                if c.subject_type == SubjectType::Pairwise && hosts.len() > 1 {
                    return Err(err(
                        "sector_identifier",
                        "pairwise subjects with redirect URIs on several hosts need a sector_identifier".into(),
                    ));
                }
                hosts.into_iter().next().unwrap_or_default()
            }
        };
        let backchannel_logout_uri = c
            .backchannel_logout_uri
            .as_deref()
            .map(|u| {
                RedirectUri::parse(u)
                    .map_err(|e| err("backchannel_logout_uri", format!("{u}: {e}")))
                    .and_then(|r| {
                        url::Url::parse(r.as_str())
                            .map_err(|e| err("backchannel_logout_uri", e.to_string()))
                    })
            })
            .transpose()?;
        let web_page = |field: &'static str, u: &Option<String>| {
            u.as_deref()
                .map(|u| {
                    RedirectUri::parse(u)
                        .map_err(|e| err(field, format!("{u}: {e}")))
                        .and_then(|r| {
                            url::Url::parse(r.as_str()).map_err(|e| err(field, e.to_string()))
                        })
                })
                .transpose()
        };
        let initiate_login_uri = web_page("initiate_login_uri", &c.initiate_login_uri)?;
        let client_uri = web_page("client_uri", &c.client_uri)?;
        let id_token_alg = match c.id_token_signed_response_alg.as_deref() {
            None => SigningAlg::Rs256,
            Some(a) => SigningAlg::parse(a).ok_or_else(|| {
                err(
                    "id_token_signed_response_alg",
                    format!("{a:?} is not one of RS256, ES256, EdDSA"),
                )
            })?,
        };
        let default_acr_values = c
            .default_acr_values
            .iter()
            .map(|v| {
                Acr::parse(v).ok_or_else(|| {
                    err(
                        "default_acr_values",
                        format!(
                            "{v:?} is not one of {}",
                            Acr::ALL.map(Acr::as_str).join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if c.access_token_lifetime == Some(0) {
            return Err(err("access_token_lifetime", "must be positive".into()));
        }
        Ok(Self {
            name: c.name.clone().unwrap_or_else(|| id.to_string()),
            id,
            secret_digest,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            allowed_scopes,
            subject_type: c.subject_type,
            sector,
            backchannel_logout_uri,
            id_token_alg,
            access_token_lifetime: c.access_token_lifetime,
            refresh_tokens: c.refresh_tokens.unwrap_or(true),
            jwks,
            jwks_uri,
            initiate_login_uri,
            client_uri,
            default_acr_values,
        })
    }

    /// Where a user who signed in elsewhere (another device) continues to this app: its
    /// `initiate_login_uri` with `iss` (OIDC Core §4), else its home page, else nowhere.
    #[must_use]
    pub fn continue_url(&self, issuer: &str) -> Option<url::Url> {
        if let Some(u) = &self.initiate_login_uri {
            let mut u = u.clone();
            u.query_pairs_mut().append_pair("iss", issuer);
            return Some(u);
        }
        self.client_uri.clone()
    }

    /// Whether `secret` is this client's (constant time; always false for public clients
    /// and for a secret shorter than [`MIN_SECRET_CHARS`], refused before any compare).
    #[must_use]
    pub fn secret_matches(&self, secret: &str) -> bool {
        if secret.chars().count() < MIN_SECRET_CHARS {
            return false;
        }
        let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.secret_digest
            .is_some_and(|d| bool::from(d.as_slice().ct_eq(given.as_slice())))
    }

    /// Whether this is a public client.
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// The registered redirect URI equal to `given`, byte for byte.
    #[must_use]
    pub fn redirect_uri(&self, given: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.as_str() == given)
    }
}

fn parse_secret_hash(s: &str) -> Result<[u8; 32], String> {
    let b64 = s
        .strip_prefix("sha256:")
        .ok_or("must start with \"sha256:\" (generate it with `passerelle clients add`)")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|e| format!("not base64url: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| "a SHA-256 digest has 32 bytes".to_owned())
}

/// The configuration form of a secret's digest: `sha256:` + base64url.
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    format!(
        "sha256:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
    )
}

/// A new client secret: 256 bits from the OS CSPRNG, base64url.
///
/// # Errors
/// [`Error::Internal`] when the OS has no randomness to give.
pub fn generate_secret() -> Result<String, Error> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Every relying party, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    clients: Arc<HashMap<ClientId, Client>>,
}

impl Registry {
    /// Validates every registration; a duplicate id is an error.
    ///
    /// # Errors
    /// [`Error::Client`] for the first bad registration.
    pub fn new(configs: &[ClientConfig]) -> Result<Self, Error> {
        let mut map = HashMap::new();
        for c in configs {
            let client = Client::from_config(c)?;
            if map.contains_key(&client.id) {
                return Err(Error::Client {
                    client: c.client_id.clone(),
                    field: "client_id",
                    reason: "registered twice".into(),
                });
            }
            map.insert(client.id.clone(), client);
        }
        Ok(Self {
            clients: Arc::new(map),
        })
    }

    /// The client with this id (unparsed input is fine: unknown is `None`).
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Client> {
        ClientId::parse(id)
            .ok()
            .and_then(|id| self.clients.get(&id))
    }

    /// Every client.
    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    const LONG: &str = "s3cret-s3cret-s3cret-s3cret-s3cret";

    fn config() -> ClientConfig {
        ClientConfig {
            client_id: "cockpit".into(),
            name: None,
            secret_hash: Some(hash_secret(LONG)),
            token_endpoint_auth_method: None,
            redirect_uris: vec!["https://cockpit.uness.fr/cb".into()],
            post_logout_redirect_uris: vec![],
            scopes: None,
            subject_type: SubjectType::Public,
            sector_identifier: None,
            backchannel_logout_uri: None,
            id_token_signed_response_alg: None,
            access_token_lifetime: None,
            refresh_tokens: None,
            jwks: None,
            jwks_uri: None,
            initiate_login_uri: None,
            client_uri: None,
            default_acr_values: Vec::new(),
        }
    }

    #[test]
    fn a_registered_secret_matches_only_itself() {
        let c = Client::from_config(&config()).unwrap();
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert!(c.secret_matches(LONG));
        assert!(!c.secret_matches(&format!("{LONG} ")));
        assert!(!c.secret_matches(""));
    }

    #[test]
    fn the_digest_of_the_empty_secret_is_refused_at_registration() {
        let mut c = config();
        c.secret_hash = Some(hash_secret(""));
        let e = Client::from_config(&c).unwrap_err().to_string();
        assert!(
            e.contains("secret_hash") && e.contains("empty secret"),
            "{e}"
        );
    }

    #[test]
    fn a_presented_secret_shorter_than_the_minimum_never_matches_even_its_own_digest() {
        let short = "x".repeat(MIN_SECRET_CHARS - 1);
        let mut c = config();
        c.secret_hash = Some(hash_secret(&short));
        let c = Client::from_config(&c).unwrap();
        assert!(!c.secret_matches(&short));
        let enough = "x".repeat(MIN_SECRET_CHARS);
        let mut c = config();
        c.secret_hash = Some(hash_secret(&enough));
        assert!(Client::from_config(&c).unwrap().secret_matches(&enough));
    }

    #[test]
    fn invalid_registrations_name_the_client_and_the_field() {
        let mut c = config();
        c.redirect_uris = vec!["http://cockpit.uness.fr/cb".into()];
        let e = Client::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("cockpit") && e.contains("redirect_uris"), "{e}");

        let mut c = config();
        c.secret_hash = Some("plain".into());
        let e = Client::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("secret_hash"), "{e}");

        let mut c = config();
        c.id_token_signed_response_alg = Some("none".into());
        let e = Client::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("id_token_signed_response_alg"), "{e}");

        let e = Registry::new(&[config(), config()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("registered twice"), "{e}");
    }

    #[test]
    fn redirect_uri_matching_is_byte_exact() {
        let c = Client::from_config(&config()).unwrap();
        assert!(c.redirect_uri("https://cockpit.uness.fr/cb").is_some());
        for wrong in [
            "https://cockpit.uness.fr/cb/",
            "https://cockpit.uness.fr/cb?x=1",
            "https://COCKPIT.uness.fr/cb",
            "http://cockpit.uness.fr/cb",
            "https://evil.example/cb",
        ] {
            assert!(c.redirect_uri(wrong).is_none(), "{wrong}");
        }
    }
}
