//! `passerelle-dev-idp` — a small SAML identity provider for the demo and the tests.
//!
//! It holds a few configured users, publishes its metadata, takes AuthnRequests over
//! HTTP-Redirect at `/sso`, shows a login form, and answers with an HTTP-POST form
//! carrying a Response whose assertion is signed (its class REFEDS MFA when asked for
//! and the user gave their one-time code, REFEDS SFA when that is asked) (and optionally encrypted for the SP,
//! and the response optionally signed too). It exists so the whole journey runs without
//! a real university. It must never be deployed in production: passwords are compared
//! in clear, keys are made at start and kept in memory, nothing is rate-limited.
//!
//! Map: [`DevIdp`] (configuration, keys, metadata, responses) and [`DevIdp::router`]
//! (the axum routes). It stands apart from `passerelle-saml-sp` on purpose: an IdP
//! written against the SP's own code would share its mistakes.

mod keys;
mod response;
mod routes;
mod verify;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::escape::escape;
use serde::Deserialize;

pub use keys::IdpKeys;

/// The crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key generation or a cryptographic operation failed.
    #[error("dev IdP crypto: {0}")]
    Crypto(String),
    /// The AuthnRequest could not be read.
    #[error("dev IdP cannot read the request: {0}")]
    Request(String),
}

/// A test user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DevUser {
    /// Login name shown on the form.
    pub login: String,
    /// Password (in clear: this is a test IdP).
    pub password: String,
    /// Attributes by URI name.
    pub attributes: Vec<(String, Vec<String>)>,
    /// A second factor (a fixed one-time code, in clear): when a request asks for REFEDS
    /// MFA, the form asks for it and the answer carries MFA. A user without one is
    /// answered with a password-only class whatever is asked, as an IdP that ignores
    /// `RequestedAuthnContext` does.
    #[serde(default)]
    pub otp: Option<String>,
}

/// REFEDS MFA's class identifier.
pub const REFEDS_MFA: &str = "https://refeds.org/profile/mfa";
/// REFEDS SFA's class identifier.
pub const REFEDS_SFA: &str = "https://refeds.org/profile/sfa";
/// The class answered when nothing stronger was asked and done.
pub const PASSWORD_PROTECTED: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";

/// What the dev IdP does.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    /// Its entityID.
    pub entity_id: String,
    /// The URL its routes are mounted at (no trailing slash), e.g. `http://127.0.0.1:8080/dev-idp`.
    pub base_url: String,
    /// Display name (French).
    pub name_fr: String,
    /// The domain its users' scoped attributes and addresses use.
    pub scope: String,
    /// The users.
    pub users: Vec<DevUser>,
    /// Sign the Response as well as the assertion.
    pub sign_response: bool,
    /// Encrypt the assertion for the SP (needs `sp_encryption_cert_pem`).
    pub sp_encryption_cert_pem: Option<String>,
    /// The SP's signing certificate (PEM): when given, `/sso` refuses a request that is
    /// not signed with it (HTTP-Redirect binding signature).
    pub sp_signing_cert_pem: Option<String>,
}

/// A running dev IdP.
#[derive(Debug, Clone)]
pub struct DevIdp {
    config: DevIdpConfig,
    keys: IdpKeys,
}

impl DevIdp {
    /// Makes fresh keys and binds the configuration.
    ///
    /// # Errors
    /// [`Error::Crypto`] when keys cannot be generated.
    pub fn new(config: DevIdpConfig) -> Result<Self, Error> {
        Ok(Self {
            keys: IdpKeys::generate(&config.entity_id)?,
            config,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &DevIdpConfig {
        &self.config
    }

    /// The signing certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        self.keys.cert_der()
    }

    /// The IdP's metadata (`md:EntityDescriptor`).
    #[must_use]
    pub fn metadata_xml(&self) -> String {
        let c = &self.config;
        let cert = B64.encode(self.keys.cert_der());
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" entityID="{}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">{}</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">{}</mdui:DisplayName></mdui:UIInfo></md:Extensions><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
            escape(c.entity_id.as_str()),
            escape(c.scope.as_str()),
            escape(c.name_fr.as_str()),
            escape(c.base_url.as_str()),
        );
        out
    }
}
