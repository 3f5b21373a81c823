//! The demo app: an OIDC relying party at `/demo-app` that signs in through Passerelle
//! the way a UNESS app does — authorization code with PKCE (S256), state and nonce,
//! the code exchanged at `/token` over HTTP with its client secret — and shows the ID
//! token's claims (signature, issuer, audience and nonce checked) and `/userinfo`.
//!
//! Pending logins live in memory (the demo runs one instance); nothing here is meant
//! for production.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_oidc_provider::Provider;
use sha2::{Digest as _, Sha256};

use crate::journey::Fields;
use crate::web::page::see_other;

/// The demo app's client id.
pub(crate) const CLIENT_ID: &str = "demo-app";

/// The demo app.
#[derive(Clone)]
pub(crate) struct DemoRp {
    public: String,
    secret: String,
    http: reqwest::Client,
    provider: Arc<Provider>,
    /// state → (PKCE verifier, nonce).
    pending: Arc<Mutex<HashMap<String, (String, String)>>>,
}

#[derive(Template)]
#[template(path = "demo_app.html")]
struct DemoPage {
    claims: Option<String>,
    userinfo: Option<String>,
    error: Option<String>,
    logout: Option<String>,
}

fn random() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

fn render(status: StatusCode, page: &DemoPage) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

impl DemoRp {
    pub(crate) fn new(public: &str, secret: &str, provider: Arc<Provider>) -> anyhow::Result<Self> {
        Ok(Self {
            public: public.to_owned(),
            secret: secret.to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            provider,
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> anyhow::Result<(String, String, String)> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair(
                "redirect_uri",
                &format!("{}/demo-app/callback", self.public),
            )
            .append_pair("code_verifier", verifier)
            .finish();
        let response = self
            .http
            .post(format!("{}/token", self.public))
            .basic_auth(CLIENT_ID, Some(&self.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let tokens: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        if !status.is_success() {
            anyhow::bail!("the token endpoint answered {status}: {tokens}");
        }
        let id_token = tokens
            .get("id_token")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let access = tokens
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ring = self.provider.keys().ring();
        let claims: serde_json::Value =
            passerelle_oidc_provider::jwt::verify(&ring, None, &id_token)
                .ok_or_else(|| anyhow::anyhow!("the ID token's signature does not verify"))?;
        let aud_ok = claims.get("aud").is_some_and(|a| a == CLIENT_ID)
            || claims
                .get("aud")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == CLIENT_ID));
        if claims.get("iss").and_then(serde_json::Value::as_str) != Some(self.public.as_str())
            || !aud_ok
            || claims.get("nonce").and_then(serde_json::Value::as_str) != Some(nonce)
        {
            anyhow::bail!("the ID token's iss, aud or nonce is wrong: {claims}");
        }
        let userinfo = self
            .http
            .get(format!("{}/userinfo", self.public))
            .bearer_auth(&access)
            .send()
            .await?
            .bytes()
            .await?;
        let userinfo: serde_json::Value = serde_json::from_slice(&userinfo)?;
        Ok((
            serde_json::to_string_pretty(&claims)?,
            serde_json::to_string_pretty(&userinfo)?,
            id_token,
        ))
    }
}

async fn home() -> Response {
    render(
        StatusCode::OK,
        &DemoPage {
            claims: None,
            userinfo: None,
            error: None,
            logout: None,
        },
    )
}

async fn login(State(rp): State<DemoRp>) -> Response {
    let (Ok(state), Ok(nonce), Ok(verifier)) = (random(), random(), random()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if let Ok(mut p) = rp.pending.lock() {
        if p.len() > 10_000 {
            p.clear();
        }
        p.insert(state.clone(), (verifier, nonce.clone()));
    }
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &format!("{}/demo-app/callback", rp.public))
        .append_pair("scope", "openid email profile academic")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    see_other(&format!("{}/authorize?{q}", rp.public))
}

async fn callback(State(rp): State<DemoRp>, RawQuery(raw): RawQuery) -> Response {
    let fields = Fields::query(raw);
    let fail = |msg: String| {
        render(
            StatusCode::BAD_REQUEST,
            &DemoPage {
                claims: None,
                userinfo: None,
                error: Some(msg),
                logout: None,
            },
        )
    };
    if !fields.get("error").is_empty() {
        return fail(format!(
            "Passerelle answered {}: {}",
            fields.get("error"),
            fields.get("error_description")
        ));
    }
    let pending = rp
        .pending
        .lock()
        .ok()
        .and_then(|mut p| p.remove(fields.get("state")));
    let Some((verifier, nonce)) = pending else {
        return fail("unknown or reused state".into());
    };
    match rp.exchange(fields.get("code"), &verifier, &nonce).await {
        Ok((claims, userinfo, id_token)) => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token_hint", &id_token)
                .append_pair(
                    "post_logout_redirect_uri",
                    &format!("{}/demo-app", rp.public),
                )
                .finish();
            render(
                StatusCode::OK,
                &DemoPage {
                    claims: Some(claims),
                    userinfo: Some(userinfo),
                    error: None,
                    logout: Some(format!("/logout?{q}")),
                },
            )
        }
        Err(e) => fail(e.to_string()),
    }
}

/// `/demo-app`, `/demo-app/login`, `/demo-app/callback`.
pub(crate) fn router(rp: DemoRp) -> Router {
    Router::new()
        .route("/demo-app", get(home))
        .route("/demo-app/login", get(login))
        .route("/demo-app/callback", get(callback))
        .with_state(rp)
}
