//! AuthnRequests over HTTP-Redirect, signed, and remembered until answered.
//!
//! [`ServiceProvider::start_login`] writes the request (≥128-bit random ID, Destination,
//! ACS URL, HTTP-POST response binding, optional ForceAuthn), DEFLATEs and encodes it,
//! signs `SAMLRequest=…&RelayState=…&SigAlg=…` with the SP key (RSA-SHA256, or
//! ECDSA-SHA256 for an EC key) exactly as sent, optional `RequestedAuthnContext` (exact:
//! the classes an app's `acr` request needs, e.g. REFEDS MFA), and stores a [`PendingRequest`] under its
//! ID with a TTL. The RelayState is a short random handle, never data. The ACS takes the
//! pending request once ([`take_pending`]): a response to a request we did not send, or
//! already answered, finds nothing.

use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use passerelle_store::{Expiry, Key, Store};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ServiceProvider;
use crate::error::Error;
use crate::metadata::{BINDING_POST, BINDING_REDIRECT, IdpRecord};
use crate::types::EntityId;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// What the caller wants from this login.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Ask the IdP to authenticate the user again (prompt=login, max_age).
    pub force_authn: bool,
    /// The caller's opaque reference to its own flow (a journey id); returned by the ACS.
    pub flow: String,
    /// Authentication context classes the IdP must answer with one of (sent as
    /// `RequestedAuthnContext`, exact comparison; the ACS refuses any other): empty,
    /// nothing is asked and any class is accepted.
    pub authn_context: Vec<String>,
}

/// Where to send the browser.
#[derive(Debug, Clone)]
pub struct LoginRedirect {
    /// The IdP's SSO URL with the signed query.
    pub url: String,
    /// The request's ID (what InResponseTo must carry).
    pub request_id: String,
    /// The RelayState handle sent along.
    pub relay_state: String,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The AuthnRequest ID.
    pub id: String,
    /// The IdP it was sent to.
    pub idp: EntityId,
    /// The caller's flow reference.
    pub flow: String,
    /// The RelayState handle.
    pub relay_state: String,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// Whether ForceAuthn was asked.
    pub force_authn: bool,
    /// The classes asked for (`RequestedAuthnContext`); empty: none.
    #[serde(default)]
    pub authn_context: Vec<String>,
}

fn pending_key(id: &str) -> Key {
    Key::new("saml-req", id)
}

fn random(n: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
    Ok(buf)
}

/// application/x-www-form-urlencoded's set: what most IdPs and libraries produce when
/// they re-encode a query to check its signature (the spec says to use the bytes as
/// received; matching the common encoding spares us the ones that do not).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, FORM).to_string()
}

impl ServiceProvider {
    /// The AuthnRequest XML for `destination`.
    fn authn_request_xml(
        &self,
        id: &str,
        destination: &str,
        now: OffsetDateTime,
        force: bool,
        classes: &[String],
    ) -> Result<String, Error> {
        let instant = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&Rfc3339)
            .map_err(|e| Error::Internal(format!("IssueInstant: {e}")))?;
        let force_attr = if force { r#" ForceAuthn="true""# } else { "" };
        let requested = if classes.is_empty() {
            String::new()
        } else {
            let refs: String = classes
                .iter()
                .map(|c| {
                    format!(
                        "<saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef>",
                        escape(c.as_str())
                    )
                })
                .collect();
            format!(
                r#"<samlp:RequestedAuthnContext Comparison="exact">{refs}</samlp:RequestedAuthnContext>"#
            )
        };
        Ok(format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{}" AssertionConsumerServiceURL="{}" ProtocolBinding="{BINDING_POST}"{force_attr}><saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/>{requested}</samlp:AuthnRequest>"#,
            escape(destination),
            escape(self.acs_url()),
            escape(self.entity_id().as_str()),
        ))
    }

    /// Starts a login at `idp`: returns the redirect and remembers the request.
    ///
    /// # Errors
    /// [`Error::Input`] when the IdP has no HTTP-Redirect SSO endpoint,
    /// [`Error::Store`] when the store is unavailable (nothing is sent then),
    /// [`Error::Internal`] for a signing or randomness failure.
    pub async fn start_login(
        &self,
        store: &Store,
        idp: &IdpRecord,
        options: LoginOptions,
        now: OffsetDateTime,
    ) -> Result<LoginRedirect, Error> {
        let destination = idp.sso_location(BINDING_REDIRECT).ok_or_else(|| {
            Error::Input(format!(
                "{} has no HTTP-Redirect SSO endpoint",
                idp.entity_id
            ))
        })?;
        let id = format!(
            "_{}",
            random(20)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let relay_state = URL_SAFE_NO_PAD.encode(random(16)?);
        let xml = self.authn_request_xml(
            &id,
            destination,
            now,
            options.force_authn,
            &options.authn_context,
        )?;

        let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
        deflater
            .write_all(xml.as_bytes())
            .map_err(|e| Error::Internal(format!("deflate: {e}")))?;
        let deflated = deflater
            .finish()
            .map_err(|e| Error::Internal(format!("deflate: {e}")))?;

        let key = self.signing().key();
        let sig_alg = if key.ec_key().is_ok() {
            ECDSA_SHA256
        } else {
            RSA_SHA256
        };
        let signed_part = format!(
            "SAMLRequest={}&RelayState={}&SigAlg={}",
            enc(&B64.encode(deflated)),
            enc(&relay_state),
            enc(sig_alg)
        );
        let signature = Signer::new(MessageDigest::sha256(), key)
            .and_then(|mut s| {
                s.update(signed_part.as_bytes())?;
                s.sign_to_vec()
            })
            .map_err(|e| Error::Internal(format!("signing the AuthnRequest: {e}")))?;
        let separator = if destination.contains('?') { '&' } else { '?' };
        let url = format!(
            "{destination}{separator}{signed_part}&Signature={}",
            enc(&B64.encode(signature))
        );

        let pending = PendingRequest {
            id: id.clone(),
            idp: idp.entity_id.clone(),
            flow: options.flow,
            relay_state: relay_state.clone(),
            issued_at: now.unix_timestamp(),
            force_authn: options.force_authn,
            authn_context: options.authn_context,
        };
        let ttl = Duration::from_secs(self.config().request_ttl_secs.max(1));
        store
            .set(&pending_key(&id), &pending, Expiry::After(ttl))
            .await?;
        Ok(LoginRedirect {
            url,
            request_id: id,
            relay_state,
        })
    }
}

/// Takes the pending request answered by `in_response_to` (once: a second call, or an ID
/// we never sent, finds nothing).
///
/// # Errors
/// [`Error::Store`] when the store is unavailable.
pub async fn take_pending(
    store: &Store,
    in_response_to: &str,
) -> Result<Option<PendingRequest>, Error> {
    if in_response_to.is_empty() || in_response_to.len() > 128 {
        return Ok(None);
    }
    Ok(store.take(&pending_key(in_response_to)).await?)
}
