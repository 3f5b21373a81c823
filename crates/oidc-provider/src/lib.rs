//! `passerelle-oidc-provider` — the OpenID Connect provider that faces the UNESS apps.
//!
//! Map of the crate:
//! - [`types`]: protocol values (client id, redirect URI, scopes, PKCE, `amr`) parsed once.
//! - [`client`]: relying parties from configuration, validated at start-up.
//! - [`keys`]: EdDSA, ES256 and RS256 signing keys, sealed in the store, rotated with overlap.
//! - [`assurance`]: the context classes apps ask for (REFEDS SFA/MFA, `phr`, `phrh`) and
//!   what a sign-in met: never a class that was not.
//! - [`provider`]: settings, the [`Authentication`] the server hands over, ID tokens.
//! - [`authorize`]: the authorization request's checks and its pending state in the store.
//! - [`assertion`]: `private_key_jwt` client assertions.
//! - [`token`]: client authentication, code and refresh grants, revocation, introspection.
//! - [`endpoints`]: discovery, JWKS, token, userinfo, revoke, introspect as an axum router.
//! - [`logout`]: RP-initiated logout decisions, back-channel logout tokens.
//! - [`jwt`]: compact JWS for RFC 9068 access tokens and logout tokens.
//!
//! It knows nothing of accounts or pages: the server hands it an authenticated subject and
//! claims, and renders what [`Authorize`] says. It must never redirect to a redirect URI it
//! has not matched exactly against the client's registration, never accept a code or a
//! refresh token twice, and never put a secret or a private key in a log or an error.

pub mod assertion;
pub mod assurance;
pub mod authorize;
pub mod client;
pub mod endpoints;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod provider;
pub mod token;
pub mod types;

pub use assurance::{Acr, AcrRequest, Assurance};
pub use authorize::{Authorize, Completion, PendingAuthorization, Prompt};
pub use client::{
    AuthMethod, Client, ClientConfig, MIN_SECRET_CHARS, Registry, SubjectType, generate_secret,
    hash_secret,
};
pub use endpoints::{basic_credentials, discovery_document, router};
pub use error::{Error, ErrorCode, OAuthError};
pub use keys::{KeyInfo, KeyState, Keys, SigningAlg, SigningKey};
pub use logout::EndSession;
pub use provider::{ACADEMIC_SCOPE, Authentication, Provider, Settings, UserClaims, unix_now};
pub use token::{ClientCredentials, TokenResponse};
pub use types::Amr;
