//! The machine-to-machine endpoints as an axum [`Router`]: discovery, JWKS, token,
//! userinfo, revocation and introspection.
//!
//! Every answer carries `Cache-Control: no-store` except discovery and JWKS; errors are
//! RFC 6749 / RFC 6750 JSON. The authorization and logout endpoints need pages, so the
//! server mounts them (see [`crate::authorize`]).

use crate::assurance::Acr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::client::AuthMethod;
use crate::error::{ErrorCode, OAuthError};
use crate::keys::SigningAlg;
use crate::provider::{ACADEMIC_SCOPE, Provider, unix_now};
use crate::token::ClientCredentials;

/// The largest form body accepted.
const MAX_FORM: usize = 16 * 1024;

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.code.status(),
            Json(json!({ "error": self.code.as_str(), "error_description": self.description })),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.code == ErrorCode::InvalidClient {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"passerelle\""),
            );
        }
        resp
    }
}

fn no_store(v: serde_json::Value) -> Response {
    let mut r = Json(v).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// The provider's machine endpoints; mount at the issuer's root.
pub fn router(provider: Arc<Provider>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/revoke", post(revoke))
        .route("/introspect", post(introspect))
        .with_state(provider)
}

/// The discovery document, true to what is supported.
#[must_use]
pub fn discovery_document(p: &Provider) -> serde_json::Value {
    let iss = &p.settings.issuer;
    let mut scopes = vec!["openid", "email", "profile", ACADEMIC_SCOPE];
    if p.clients.iter().any(|c| c.refresh_tokens) {
        scopes.push("offline_access");
    }
    let mut methods: Vec<&str> = p.clients.iter().map(|c| c.auth_method.as_str()).collect();
    methods.extend([
        AuthMethod::ClientSecretBasic.as_str(),
        AuthMethod::ClientSecretPost.as_str(),
        AuthMethod::PrivateKeyJwt.as_str(),
    ]);
    methods.sort_unstable();
    methods.dedup();
    let subject_types: Vec<&str> = {
        let mut v = vec!["public"];
        if p.clients
            .iter()
            .any(|c| c.subject_type == crate::client::SubjectType::Pairwise)
        {
            v.push("pairwise");
        }
        v
    };
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/logout"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": subject_types,
        "id_token_signing_alg_values_supported": SigningAlg::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
            "email", "email_verified", "name", "given_name", "family_name",
            "eduperson_affiliation", "schac_home_organization", "eduperson_principal_name",
            "account_kind"
        ],
        "claims_parameter_supported": true,
        "acr_values_supported": Acr::ALL.map(Acr::as_str),
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["fr", "en"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let mut r = Json(discovery_document(&p)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    let set = p.keys.ring().jwks(unix_now(), p.keys.max_token_lifetime());
    let mut r = Json(set).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    }) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_FORM {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body is too large",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

/// The `Authorization: Basic` credentials of a request, if it carries any (for other
/// endpoints that authenticate clients, such as the server's machine API).
///
/// # Errors
/// `invalid_client` when the header is there but is not Basic credentials.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(ClientCredentials::parse_basic)
                .ok_or_else(|| {
                    OAuthError::new(ErrorCode::InvalidClient, "malformed Basic credentials")
                })
        })
        .transpose()
}

fn credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<ClientCredentials, OAuthError> {
    let basic = basic_credentials(headers)?;
    let one = |name: &str| -> Result<Option<String>, OAuthError> {
        let mut it = form.iter().filter(|(k, _)| k == name);
        let v = it.next().map(|(_, v)| v.clone());
        if it.next().is_some() {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                format!("{name} is repeated"),
            ));
        }
        Ok(v)
    };
    Ok(ClientCredentials {
        basic,
        body_id: one("client_id")?,
        body_secret: one("client_secret")?,
        assertion_type: one("client_assertion_type")?,
        assertion: one("client_assertion")?,
    })
}

async fn token(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = parse_form(&headers, &body)?;
        let creds = credentials(&headers, &form)?;
        p.token(&form, &creds).await
    }
    .await;
    match result {
        Ok(t) => no_store(json!(t)),
        Err(e) => e.into_response(),
    }
}

fn bearer_error(code: &str, desc: &str, status: StatusCode) -> Response {
    let mut r = (
        status,
        Json(json!({ "error": code, "error_description": desc })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"{code}\", error_description=\"{desc}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn userinfo(
    State(p): State<Arc<Provider>>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let from_body = if method == axum::http::Method::POST && !body.is_empty() {
        match parse_form(&headers, &body) {
            Ok(f) => f
                .into_iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v),
            Err(e) => {
                return bearer_error("invalid_request", &e.description, StatusCode::BAD_REQUEST);
            }
        }
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return bearer_error(
                "invalid_request",
                "send the token one way only",
                StatusCode::BAD_REQUEST,
            );
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    };
    match p.check_access_token(&token).await {
        Ok(Some((claims, family))) => match p.clients.get(&claims.client_id) {
            Some(client) => no_store(serde_json::Value::Object(p.released(client, &family.grant))),
            None => bearer_error(
                "invalid_token",
                "the client is no longer registered",
                StatusCode::UNAUTHORIZED,
            ),
        },
        Ok(None) => bearer_error(
            "invalid_token",
            "the access token is invalid, expired or revoked",
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

async fn authenticated_form(
    p: &Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(crate::client::Client, String), OAuthError> {
    let form = parse_form(headers, body)?;
    let creds = credentials(headers, &form)?;
    let client = p.authenticate_client(&creds).await?.clone();
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?;
    Ok((client, token))
}

async fn revoke(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (client, token) = authenticated_form(&p, &headers, &body).await?;
        p.revoke(&client, &token).await
    }
    .await;
    match result {
        Ok(()) => no_store(json!({})),
        Err(e) => e.into_response(),
    }
}

async fn introspect(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (client, token) = authenticated_form(&p, &headers, &body).await?;
        p.introspect(&client, &token).await
    }
    .await;
    match result {
        Ok(v) => no_store(v),
        Err(e) => e.into_response(),
    }
}
