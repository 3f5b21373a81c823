//! The authorization endpoint's decisions: a request is checked, kept in the store while
//! the server logs the user in, then answered with a code (or an error) at the client's
//! exact redirect URI.
//!
//! Until the client and its redirect URI are known, an error is [`Authorize::Invalid`] —
//! the server shows a page and never redirects. After, errors go back to the client with
//! `state` and `iss` (RFC 9207). The pending request lives in the store so any instance
//! can finish it. An `id_token_hint` must be an ID token of ours for this client (expired
//! is fine); its `sub` travels with the request, so that the server never answers it for
//! another account ([`Provider::hint_names_other`]).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_store::{Expiry, Key};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assurance::AcrRequest;
use crate::client::Client;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::jwt;
use crate::provider::{Authentication, Grant, Provider};
use crate::types::{CodeChallenge, Opaque, Scopes};

/// What the user is asked for (`prompt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no page may be shown.
    pub none: bool,
    /// `login`: authenticate again even with a session.
    pub login: bool,
    /// `consent`: asked; first-party apps have no consent screen.
    pub consent: bool,
}

/// A checked authorization request waiting for the user's login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Handle the server carries through its pages.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// The exact redirect URI.
    pub redirect_uri: String,
    /// Requested scopes, limited to the client's.
    pub scopes: Scopes,
    /// `state`, byte-exact.
    pub state: Option<String>,
    /// `nonce`, byte-exact.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<CodeChallenge>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint` (pre-fills the e-mail).
    pub login_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// The authentication context classes asked for (`acr_values`, the `claims`
    /// request's `acr`, else the client's `default_acr_values`).
    #[serde(default)]
    pub acr: AcrRequest,
    /// The `sub` of a valid `id_token_hint`: who the client believes is signed in, as
    /// this client sees subjects (public or pairwise).
    #[serde(default)]
    pub hint_subject: Option<String>,
}

impl PendingAuthorization {
    /// Whether a session authenticated at `auth_time` must log in again at `now`
    /// (`prompt=login`, or `max_age` passed).
    #[must_use]
    pub fn needs_login(&self, auth_time: Option<i64>, now: i64) -> bool {
        match auth_time {
            None => true,
            Some(_) if self.prompt.login => true,
            Some(t) => self.max_age.is_some_and(|m| now.saturating_sub(t) > m),
        }
    }
}

/// The outcome of [`Provider::complete`].
#[derive(Debug)]
pub enum Completion {
    /// Send the browser here: the client's redirect URI with the code.
    Redirect(String),
    /// The request is unknown, expired or already answered.
    Gone,
    /// The sign-in meets none of the classes the request asks for: nothing was issued
    /// and the request still waits.
    Unmet(Box<PendingAuthorization>),
}

/// The outcome of an authorization request.
#[derive(Debug)]
pub enum Authorize {
    /// The request cannot be trusted with a redirect: show this error as a page.
    Invalid(OAuthError),
    /// Send the browser here (an error for the client).
    Redirect(String),
    /// Log the user in, then call [`Provider::complete`] with this request's id.
    Login(Box<PendingAuthorization>),
}

fn pending_key(id: &str) -> Key {
    Key::new("oidc-req", id)
}
pub(crate) fn code_key(digest: &str) -> Key {
    Key::new("oidc-code", digest)
}
pub(crate) fn code_used_key(digest: &str) -> Key {
    Key::new("oidc-code", digest).with("used")
}

pub(crate) fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_token() -> Result<String, Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// A stored authorization code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub redirect_uri: String,
    pub code_challenge: Option<CodeChallenge>,
    pub grant: Grant,
}

/// The claims of an `id_token_hint` that matter here.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    aud: jwt::Aud,
    sub: String,
}

fn invalid(msg: &str) -> Authorize {
    Authorize::Invalid(OAuthError::new(ErrorCode::InvalidRequest, msg))
}

impl Provider {
    /// Checks an authorization request given as its query pairs.
    ///
    /// # Errors
    /// Only store errors; protocol errors are [`Authorize`] values.
    pub async fn authorize(&self, pairs: &[(String, String)]) -> Result<Authorize, Error> {
        let mut q: HashMap<&str, &str> = HashMap::new();
        for (k, v) in pairs {
            if q.insert(k.as_str(), v.as_str()).is_some() {
                // RFC 6749 §3.1: a parameter sent twice makes the whole request invalid;
                // the redirect URI cannot be trusted either.
                return Ok(invalid(&format!("parameter {k} is repeated")));
            }
        }
        let Some(client) = q.get("client_id").and_then(|id| self.clients.get(id)) else {
            return Ok(Authorize::Invalid(OAuthError::new(
                ErrorCode::InvalidRequest,
                "unknown or missing client_id",
            )));
        };
        let Some(redirect) = q.get("redirect_uri").and_then(|r| client.redirect_uri(r)) else {
            return Ok(invalid(
                "redirect_uri is missing or not registered for this client (exact match)",
            ));
        };
        let redirect = redirect.as_str().to_owned();
        let state = match q
            .get("state")
            .map(|s| Opaque::parse("state", s))
            .transpose()
        {
            Ok(s) => s.map(|s| s.as_str().to_owned()),
            Err(e) => return Ok(invalid(&e.0)),
        };
        let fail = |code: &str, desc: &str| {
            Ok(Authorize::Redirect(self.redirect_with(
                &redirect,
                &[("error", code), ("error_description", desc)],
                state.as_deref(),
            )))
        };
        // OIDC Core §6: each way of passing a request object has its own error code.
        if q.contains_key("request_uri") {
            return fail("request_uri_not_supported", "request_uri is not supported");
        }
        if q.contains_key("request") {
            return fail("request_not_supported", "request objects are not supported");
        }
        match q.get("response_type") {
            Some(&"code") => {}
            None => return fail("invalid_request", "response_type is required"),
            Some(_) => {
                return fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                );
            }
        }
        if let Some(m) = q.get("response_mode")
            && *m != "query"
        {
            return fail("invalid_request", "only response_mode=query is supported");
        }
        let Ok(requested) = Scopes::parse(q.get("scope").copied().unwrap_or_default()) else {
            return fail("invalid_scope", "scope is malformed");
        };
        if !requested.contains("openid") {
            return fail("invalid_scope", "the openid scope is required");
        }
        let scopes = requested.intersection(&client.allowed_scopes);
        let code_challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
            (None, None) if client.is_public() => {
                return fail(
                    "invalid_request",
                    "PKCE (S256) is required for public clients",
                );
            }
            (None, None) => None,
            (Some(c), Some(&"S256")) => match CodeChallenge::parse(c) {
                Ok(c) => Some(c),
                Err(e) => return fail("invalid_request", &e.0),
            },
            (Some(_), None | Some(&"plain")) | (None, Some(_)) => {
                return fail("invalid_request", "code_challenge_method must be S256");
            }
            (Some(_), Some(_)) => {
                return fail("invalid_request", "code_challenge_method must be S256");
            }
        };
        let nonce = match q
            .get("nonce")
            .map(|s| Opaque::parse("nonce", s))
            .transpose()
        {
            Ok(n) => n.map(|n| n.as_str().to_owned()),
            Err(e) => return fail("invalid_request", &e.0),
        };
        let mut prompt = Prompt::default();
        for p in q
            .get("prompt")
            .copied()
            .unwrap_or_default()
            .split(' ')
            .filter(|p| !p.is_empty())
        {
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return fail("invalid_request", "unknown prompt value"),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return fail("invalid_request", "prompt=none cannot be combined");
        }
        let max_age = match q.get("max_age").map(|m| m.parse::<i64>()) {
            None => None,
            Some(Ok(m)) if m >= 0 => Some(m),
            Some(_) => return fail("invalid_request", "max_age must be a non-negative integer"),
        };
        let short = |name: &str| -> Result<Option<String>, String> {
            q.get(name)
                .map(|v| {
                    Opaque::parse(name, v)
                        .map(|o| o.as_str().to_owned())
                        .map_err(|e| e.0)
                })
                .transpose()
        };
        let (login_hint, ui_locales, acr_values) = match (
            short("login_hint"),
            short("ui_locales"),
            short("acr_values"),
        ) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return fail("invalid_request", &e),
        };
        let claims = q.get("claims").copied();
        if claims.is_some_and(|c| c.len() > 4096) {
            return fail("invalid_request", "claims is longer than 4096 bytes");
        }
        let mut acr = match AcrRequest::parse(acr_values.as_deref(), claims) {
            Ok(a) => a,
            Err(e) => match e.strip_prefix("unmet: ") {
                // OpenID Connect Core Unmet Authentication Requirements 1.0.
                Some(why) => return fail("unmet_authentication_requirements", why),
                None => return fail("invalid_request", &e),
            },
        };
        if acr.is_empty() {
            acr.values.clone_from(&client.default_acr_values);
        }
        let hint_subject = match q.get("id_token_hint") {
            None => None,
            Some(h) => match self.hint_subject(client, h) {
                Some(sub) => Some(sub),
                None => {
                    return fail(
                        "invalid_request",
                        "id_token_hint is not an ID token issued here to this client",
                    );
                }
            },
        };
        let pending = PendingAuthorization {
            id: random_token()?,
            client_id: client.id.to_string(),
            client_name: client.name.clone(),
            redirect_uri: redirect.clone(),
            scopes,
            state,
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            ui_locales,
            acr,
            hint_subject,
        };
        self.store
            .set(
                &pending_key(&pending.id),
                &pending,
                Expiry::After(Duration::from_secs(self.settings.request_lifetime)),
            )
            .await?;
        Ok(Authorize::Login(Box::new(pending)))
    }

    /// The `sub` of `hint` when it is an ID token signed by one of our keys, from this
    /// issuer, for `client`. Its expiry does not matter: a hint names who the client last
    /// saw, and OIDC Core lets it be expired.
    fn hint_subject(&self, client: &Client, hint: &str) -> Option<String> {
        let ring = self.keys.ring();
        let claims: Hint = jwt::verify(&ring, None, hint)?;
        (claims.iss == self.settings.issuer && claims.aud.contains(client.id.as_str()))
            .then_some(claims.sub)
    }

    /// Whether `pending` carries an `id_token_hint` naming someone other than the account
    /// whose local subject is `local` (compared as the request's client sees subjects). The
    /// server must then not answer it for that account: `login_required` under
    /// `prompt=none`, else a new sign-in. `false` without a hint.
    #[must_use]
    pub fn hint_names_other(&self, pending: &PendingAuthorization, local: &str) -> bool {
        let Some(hinted) = &pending.hint_subject else {
            return false;
        };
        self.clients
            .get(&pending.client_id)
            .is_none_or(|client| self.subject_for(client, local) != *hinted)
    }

    /// The pending request with this id, if it has not expired or been answered.
    ///
    /// # Errors
    /// Store errors.
    pub async fn pending(&self, id: &str) -> Result<Option<PendingAuthorization>, Error> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(self.store.get(&pending_key(id)).await?)
    }

    /// Answers a pending request with a code for `auth`, asserting the first class the
    /// request asks for that `auth.assurance` met (with none asked, the strongest REFEDS
    /// class met). A sign-in that meets none of the classes asked for gets nothing: the
    /// request keeps waiting ([`Completion::Unmet`]) for a step-up or a
    /// [`Provider::deny`] with `unmet_authentication_requirements`.
    ///
    /// # Errors
    /// Store or randomness errors.
    pub async fn complete(&self, id: &str, mut auth: Authentication) -> Result<Completion, Error> {
        let Some(waiting) = self.pending(id).await? else {
            return Ok(Completion::Gone);
        };
        match waiting.acr.answer(auth.assurance) {
            Ok(acr) => auth.acr = acr,
            Err(()) => return Ok(Completion::Unmet(Box::new(waiting))),
        }
        let Some(p) = self.take_pending(id).await? else {
            return Ok(Completion::Gone);
        };
        let code = random_token()?;
        let grant = CodeGrant {
            redirect_uri: p.redirect_uri.clone(),
            code_challenge: p.code_challenge.clone(),
            grant: Grant {
                client_id: p.client_id.clone(),
                scopes: p.scopes.clone(),
                nonce: p.nonce.clone(),
                auth,
            },
        };
        self.store
            .set(
                &code_key(&digest(&code)),
                &grant,
                Expiry::After(Duration::from_secs(self.settings.code_lifetime)),
            )
            .await?;
        Ok(Completion::Redirect(self.redirect_with(
            &p.redirect_uri,
            &[("code", &code)],
            p.state.as_deref(),
        )))
    }

    /// Answers a pending request with an error (`login_required`, `access_denied`, …).
    ///
    /// # Errors
    /// Store errors.
    pub async fn deny(
        &self,
        id: &str,
        error: &str,
        description: &str,
    ) -> Result<Option<String>, Error> {
        let Some(p) = self.take_pending(id).await? else {
            return Ok(None);
        };
        Ok(Some(self.redirect_with(
            &p.redirect_uri,
            &[("error", error), ("error_description", description)],
            p.state.as_deref(),
        )))
    }

    async fn take_pending(&self, id: &str) -> Result<Option<PendingAuthorization>, Error> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(self.store.take(&pending_key(id)).await?)
    }

    fn redirect_with(
        &self,
        redirect: &str,
        params: &[(&str, &str)],
        state: Option<&str>,
    ) -> String {
        // The registered URI may carry its own query; append to it without touching it.
        let mut out = String::from(redirect);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        if let Some(s) = state {
            ser.append_pair("state", s);
        }
        ser.append_pair("iss", &self.settings.issuer);
        out.push(if redirect.contains('?') { '&' } else { '?' });
        out.push_str(&ser.finish());
        out
    }
}
