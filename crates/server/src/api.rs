//! The machine API for the UNESS apps (`/api/…`): JSON in, JSON out, no pages.
//!
//! An app authenticates as its OIDC client, by the method it is registered with
//! (`client_secret_basic` in the `Authorization` header; `client_secret_post` or
//! `private_key_jwt` as `client_id`/`client_secret` or
//! `client_assertion_type`/`client_assertion` members of the JSON body), and may do
//! only what `[api]` lists for it. Today: `POST /api/invitations` (docs/api.md).
//!
//! Every error is `{"error": CODE, "error_description": TEXT}` with a code from
//! [`ApiError`]; wrong credentials are counted per client address, invitations per app.
//! It never says whether an address has an account beyond what the invitation's own
//! outcome says to an app allowed to invite it, and never logs an address's secrets.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_local_auth::{
    Email, Error as LocalError, Invitation, Invited, Inviter, Lang, throttle,
};
use passerelle_oidc_provider::{AuthMethod, ClientCredentials};
use passerelle_store::Key;
use serde::Deserialize;
use serde_json::json;

use crate::web::{App, Peer};

/// The largest request body read.
const MAX_BODY: usize = 8 * 1024;

/// What went wrong, as the `error` member says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The body is not the JSON object documented, or a value is invalid.
    InvalidRequest,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// Client authentication failed.
    InvalidClient,
    /// The client is authenticated but not allowed this action.
    AccessDenied,
    /// The account exists and is disabled by support.
    AccountDisabled,
    /// Too many requests; `Retry-After` says when to come back.
    RateLimited,
    /// The mail relay refused the message.
    MailFailed,
    /// The store cannot be reached; retry later.
    TemporarilyUnavailable,
    /// Anything else (logged).
    ServerError,
}

impl ApiError {
    /// The `error` member (also the log reason).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidClient => "invalid_client",
            Self::AccessDenied => "access_denied",
            Self::AccountDisabled => "account_disabled",
            Self::RateLimited => "rate_limited",
            Self::MailFailed => "mail_failed",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::AccountDisabled => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::MailFailed => StatusCode::BAD_GATEWAY,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer.
struct Refusal {
    error: ApiError,
    description: String,
    retry_after: Option<Duration>,
}

impl Refusal {
    fn new(error: ApiError, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn from_local(e: LocalError) -> Self {
        match e {
            LocalError::Throttled { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    ApiError::RateLimited,
                    "too many links sent to this address or by this app; retry later",
                )
            },
            LocalError::AccountDisabled => Self::new(
                ApiError::AccountDisabled,
                "this account is disabled by support",
            ),
            LocalError::InvalidEmail(why) => Self::new(
                ApiError::InvalidRequest,
                format!("email: not a valid address ({why})"),
            ),
            LocalError::Mail(detail) => {
                tracing::error!(error = %detail, "api: invitation mail not sent");
                Self::new(
                    ApiError::MailFailed,
                    "the mail relay refused the invitation",
                )
            }
            LocalError::Unavailable(_) => Self::new(
                ApiError::TemporarilyUnavailable,
                "the account store is unavailable; retry later",
            ),
            other => {
                tracing::error!(error = %other, "api: internal error");
                Self::new(ApiError::ServerError, "internal error")
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (
            self.error.status(),
            Json(json!({
                "error": self.error.as_str(),
                "error_description": self.description,
            })),
        )
            .into_response();
        let h = r.headers_mut();
        if self.error == ApiError::InvalidClient {
            h.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"passerelle-api\""),
            );
        }
        if let Some(after) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            h.insert(RETRY_AFTER, v);
        }
        r
    }
}

/// `POST /api/invitations`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    lang: Option<Lang>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_assertion_type: Option<String>,
    #[serde(default)]
    client_assertion: Option<String>,
}

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<InvitationRequest, Refusal> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Refusal::new(
            ApiError::UnsupportedMediaType,
            "send Content-Type: application/json",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(Refusal::new(
            ApiError::InvalidRequest,
            format!("the body is over {MAX_BODY} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde's message names the member and the position, never a value.
        Refusal::new(ApiError::InvalidRequest, format!("body: {e}"))
    })
}

async fn authenticated_client(
    app: &App,
    headers: &HeaderMap,
    req: &InvitationRequest,
    address: &str,
) -> Result<(String, String), Refusal> {
    let failures = passerelle_local_auth::keys::throttle_client(address, "api-auth");
    let limit = app.api.auth_failures_per_address;
    throttle::check(&app.store, &failures, limit)
        .await
        .map_err(Refusal::from_local)?;
    let basic = passerelle_oidc_provider::basic_credentials(headers)
        .map_err(|e| Refusal::new(ApiError::InvalidClient, e.to_string()))?;
    let creds = ClientCredentials {
        basic,
        body_id: req.client_id.clone(),
        body_secret: req.client_secret.clone(),
        assertion_type: req.client_assertion_type.clone(),
        assertion: req.client_assertion.clone(),
    };
    match app.oidc.authenticate_client(&creds).await {
        // A public client proves nothing: it authenticates with its id alone.
        Ok(client) if client.auth_method != AuthMethod::None => {
            Ok((client.id.to_string(), client.name.clone()))
        }
        Ok(client) => {
            tracing::warn!(client_id = %client.id, reason = ApiError::InvalidClient.as_str(), "api: a public client cannot use the API");
            Err(Refusal::new(
                ApiError::InvalidClient,
                "a public client (no credentials) cannot use the API",
            ))
        }
        Err(e) => {
            match throttle::hit(&app.store, &failures, limit).await {
                Ok(()) | Err(LocalError::Throttled { .. }) => {}
                Err(e) => return Err(Refusal::from_local(e)),
            }
            tracing::warn!(reason = ApiError::InvalidClient.as_str(), client = %address, "api: client authentication failed");
            Err(Refusal::new(ApiError::InvalidClient, e.to_string()))
        }
    }
}

/// `POST /api/invitations`: invites an address on behalf of the authenticated app.
pub(crate) async fn invitations(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match invite(&app, &headers, peer, &body).await {
        Ok(r) => r,
        Err(refusal) => refusal.into_response(),
    }
}

async fn invite(
    app: &App,
    headers: &HeaderMap,
    peer: std::net::SocketAddr,
    body: &Bytes,
) -> Result<Response, Refusal> {
    let address = app.client_address(headers, peer);
    let req = json_body(headers, body)?;
    let (client_id, client_name) = authenticated_client(app, headers, &req, &address).await?;
    if !app.api.invite.iter().any(|c| c == &client_id) {
        tracing::warn!(client_id = %client_id, reason = ApiError::AccessDenied.as_str(), "api: client not allowed to invite");
        return Err(Refusal::new(
            ApiError::AccessDenied,
            "this client may not invite (the operator lists it under [api] invite)",
        ));
    }
    let email = Email::parse(&req.email).map_err(Refusal::from_local)?;
    let name = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control)) {
        return Err(Refusal::new(
            ApiError::InvalidRequest,
            "name: at most 200 characters, no control characters",
        ));
    }
    throttle::hit(
        &app.store,
        &Key::new("throttle-app", &client_id).with("invite"),
        app.api.invitations_per_client,
    )
    .await
    .map_err(Refusal::from_local)?;
    let invitation = Invitation {
        inviter: Inviter::App {
            client_id: client_id.clone(),
        },
        app: Some(client_id.clone()),
        app_name: Some(client_name),
        name: name.map(str::to_owned),
    };
    let outcome = app
        .local
        .invite(&email, &invitation, req.lang.unwrap_or_default())
        .await
        .map_err(Refusal::from_local)?;
    let (status, expires_at) = match outcome {
        Invited::Created { expires_at } => (StatusCode::CREATED, Some(expires_at)),
        Invited::Resent { expires_at } => (StatusCode::OK, Some(expires_at)),
        Invited::AlreadyActive => (StatusCode::OK, None),
    };
    let mut answer = serde_json::Map::new();
    answer.insert("email".into(), json!(email.as_str()));
    answer.insert("status".into(), json!(outcome.as_str()));
    if let Some(t) = expires_at {
        answer.insert(
            "link_expires_at".into(),
            json!(crate::cli_admin::rfc3339_of(t)),
        );
    }
    Ok((status, Json(answer)).into_response())
}
