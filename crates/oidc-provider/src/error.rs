//! The crate's errors: start-up and key errors ([`Error`]) and the protocol errors a client
//! sees ([`OAuthError`], RFC 6749 §5.2 JSON with the right status).
//!
//! Messages never carry a secret, a token or a private key.

use axum::http::StatusCode;

/// Start-up, configuration, key and store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A relying party's registration is invalid.
    #[error("client {client:?}: {field}: {reason}")]
    Client {
        /// The client id as written in the configuration.
        client: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Provider settings are invalid.
    #[error("oidc configuration: {0}")]
    Config(String),
    /// Signing keys could not be created, loaded or used.
    #[error("signing keys: {0}")]
    Keys(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] passerelle_store::StoreError),
    /// Something that should not fail did (randomness, serialization).
    #[error("internal: {0}")]
    Internal(String),
}

/// RFC 6749 error codes used by this provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (code, refresh token) is invalid, expired, used or not this client's.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// Grant type not supported.
    UnsupportedGrantType,
    /// A scope is not allowed.
    InvalidScope,
    /// Bearer token invalid (RFC 6750).
    InvalidToken,
    /// The store is unreachable.
    TemporarilyUnavailable,
    /// An internal failure.
    ServerError,
}

impl ErrorCode {
    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The HTTP status that goes with it at the token endpoint.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A protocol error with a human description (never holding a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The RFC 6749 code.
    pub code: ErrorCode,
    /// What went wrong, for the client's developer.
    pub description: String,
}

impl OAuthError {
    /// Builds an error.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

impl From<passerelle_store::StoreError> for OAuthError {
    fn from(e: passerelle_store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the store is unreachable; try again",
            )
        } else {
            tracing::error!(error = %e, "store failure");
            Self::new(ErrorCode::ServerError, "internal error")
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "provider failure");
                Self::new(ErrorCode::ServerError, "internal error")
            }
        }
    }
}
