//! The assertion consumer service: the part attackers aim at.
//!
//! [`consume`] takes the posted `SAMLResponse` and answers an [`Identity`] or a distinct
//! [`Rejection`]. The order of the checks is the security argument:
//! 1. size, base64, UTF-8 (and nothing declaring another encoding), no DOCTYPE — before
//!    any XML library runs; every parser then decodes the same bytes the same way;
//! 2. the raw envelope is *peeked* only to route: which IdP (its Issuer), and a non-success
//!    status, which grants nothing and becomes a page ("the university refused");
//! 3. the signature is verified with that IdP's metadata signing keys only (never KeyInfo),
//!    RSA/ECDSA with SHA-256+; every signature present must verify; the verifier's
//!    pre-digest output — the signed content and nothing else — is what is parsed next, so
//!    wrapped or added elements are never read;
//! 4. on the signed content: exactly one assertion, issuers, destination, time window with
//!    skew, audience, bearer confirmation with recipient and InResponseTo;
//! 5. replay cache (assertion ID until it expires), then the pending request is taken once.
//!
//! Every refusal of an answer naming an IdP of the federation is also kept for support
//! (`refusals.rs`: the last 20 per IdP, 30 days).
//!
//! The checks run as four typed phases (`check.rs`): envelope → verified content →
//! conditions → freshness; only the last one's output becomes an [`Identity`].
//!
//! Encrypted assertions: decrypted with the SP's encryption key (`decrypt.rs`); AES-CBC
//! only inside a Response whose signature was verified first, AES-GCM either way; an
//! assertion in an unsigned Response must carry its own signature, verified after
//! decryption.

mod check;
mod decrypt;
mod identity;
pub mod refusals;
pub mod response;

use std::time::Duration;

use passerelle_store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use decrypt::DecryptFailure;
pub use identity::{Identity, SubjectSource};

use crate::error::Error;
use crate::federation::Snapshot;
use crate::sp::ServiceProvider;

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// ACS settings.
#[derive(Debug, Clone, Copy)]
pub struct AcsSettings {
    /// Tolerated clock difference with IdPs (3 minutes).
    pub clock_skew: Duration,
    /// Largest `SAMLResponse` form value accepted, in bytes.
    pub max_response_bytes: usize,
}

impl Default for AcsSettings {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(180),
            max_response_bytes: 512 * 1024,
        }
    }
}

/// Why a response was not accepted. Each is logged with the IdP; the browser is only
/// told that the university's answer could not be accepted (or, for
/// [`Rejection::IdpStatus`], what the university said).
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Over the size limit.
    #[error("response too large")]
    TooLarge,
    /// Not base64 or not UTF-8.
    #[error("response is not base64-encoded UTF-8 XML")]
    Encoding,
    /// Declares (or marks) another encoding than UTF-8, or holds a NUL byte.
    #[error("response encoding refused: {0}")]
    Charset(String),
    /// Carries a DOCTYPE.
    #[error("response carries a DOCTYPE")]
    Doctype,
    /// Not well-formed or not a SAML response.
    #[error("response is malformed: {0}")]
    Malformed(String),
    /// The issuer is not an IdP of the federation.
    #[error("unknown identity provider {0:?}")]
    UnknownIdp(String),
    /// The IdP has no signing key in metadata: it cannot log anyone in.
    #[error("the identity provider has no signing key in metadata")]
    NoSigningKey,
    /// No signature at all.
    #[error("response is not signed")]
    Unsigned,
    /// A signature did not verify with the IdP's keys (or used a refused algorithm).
    #[error("signature rejected: {0}")]
    BadSignature(String),
    /// The IdP answered with a non-success status.
    #[error("the identity provider answered {code} ({})", .subcode.as_deref().unwrap_or("-"))]
    IdpStatus {
        /// Top-level status code.
        code: String,
        /// Second-level code (e.g. `…:status:AuthnFailed`, `…:NoPassive`).
        subcode: Option<String>,
    },
    /// The encrypted assertion could not be decrypted. The browser sees one page whatever
    /// the cause; the log says which (a refused algorithm, CBC outside a signed
    /// response, a wrong key, bad padding or tag).
    #[error("the encrypted assertion could not be decrypted: {0}")]
    Undecryptable(DecryptFailure),
    /// Not exactly one assertion in the whole response as received (signed or not: the
    /// wrapping attacks add one).
    #[error("{0} assertions in the response (exactly one expected)")]
    RawAssertionCount(usize),
    /// Not exactly one assertion in the signed content.
    #[error("{0} assertions in the signed content (exactly one expected)")]
    AssertionCount(usize),
    /// Assertion or response issuer is not the verified IdP.
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// The response's Destination is not our ACS.
    #[error("wrong destination")]
    WrongDestination,
    /// Outside the validity window.
    #[error("assertion expired")]
    Expired,
    /// Not valid yet.
    #[error("assertion not yet valid")]
    NotYetValid,
    /// No audience restriction naming us.
    #[error("assertion is not addressed to this service provider")]
    WrongAudience,
    /// No usable bearer subject confirmation.
    #[error("no bearer subject confirmation for this ACS")]
    NoBearerConfirmation,
    /// Not an answer to a request we sent and have not seen answered.
    #[error("unsolicited or already answered response")]
    UnknownRequest,
    /// Answer to a request sent to another IdP.
    #[error("response from another identity provider than the one asked")]
    RequestIdpMismatch,
    /// RelayState differs from the one sent.
    #[error("RelayState mismatch")]
    RelayStateMismatch,
    /// This assertion was already accepted once.
    #[error("assertion replayed")]
    Replay,
    /// No AuthnStatement.
    #[error("no authentication statement")]
    NoAuthnStatement,
    /// No usable subject attribute.
    #[error("no usable subject identifier")]
    NoSubject,
    /// The request asked for authentication context classes and the assertion's
    /// `AuthnContextClassRef` is none of them: the IdP ignored the request (never a
    /// silent downgrade).
    #[error(
        "the identity provider answered with authentication context {got:?}, not one of those asked for"
    )]
    AuthnContextNotMet {
        /// The class the assertion carries, if any.
        got: Option<String>,
    },
}

impl Rejection {
    /// The reason's label, for logs and metrics (a closed set).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Encoding => "encoding",
            Self::Charset(_) => "charset",
            Self::Doctype => "doctype",
            Self::Malformed(_) => "malformed",
            Self::UnknownIdp(_) => "unknown_idp",
            Self::NoSigningKey => "no_signing_key",
            Self::Unsigned => "unsigned",
            Self::BadSignature(_) => "bad_signature",
            Self::IdpStatus { .. } => "idp_status",
            Self::Undecryptable(_) => "undecryptable",
            Self::RawAssertionCount(_) => "raw_assertion_count",
            Self::AssertionCount(_) => "assertion_count",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::WrongDestination => "wrong_destination",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::NoBearerConfirmation => "no_bearer_confirmation",
            Self::UnknownRequest => "unknown_request",
            Self::RequestIdpMismatch => "request_idp_mismatch",
            Self::RelayStateMismatch => "relay_state_mismatch",
            Self::Replay => "replay",
            Self::NoAuthnStatement => "no_authn_statement",
            Self::NoSubject => "no_subject",
            Self::AuthnContextNotMet { .. } => "authn_context_not_met",
        }
    }
}

/// What the browser posted.
#[derive(Debug, Clone, Copy)]
pub struct AcsRequest<'a> {
    /// The `SAMLResponse` form field.
    pub saml_response: &'a str,
    /// The `RelayState` form field.
    pub relay_state: Option<&'a str>,
}

/// Validates a posted response and returns who signed in.
///
/// # Errors
/// [`Error::Rejected`] with the reason, [`Error::Store`] when the store is unavailable.
pub async fn consume(
    sp: &ServiceProvider,
    federation: &Snapshot,
    store: &Store,
    input: AcsRequest<'_>,
    settings: &AcsSettings,
    now: OffsetDateTime,
) -> Result<Identity, Error> {
    let mut issuer = None;
    let result = check(sp, federation, store, input, settings, now, &mut issuer).await;
    if let Err(Error::Rejected(r)) = &result {
        tracing::warn!(idp = issuer.as_deref().unwrap_or("-"), reason = r.as_str(), detail = %r, "SAML response rejected");
        // Kept for support, per IdP of the federation (bounded; never a decision).
        if let Some(idp) = issuer.as_deref().filter(|i| federation.idp(i).is_some()) {
            let refusal = refusals::Refusal {
                at: now.format(&Rfc3339).unwrap_or_default(),
                reason: r.as_str().to_owned(),
                idp: None,
            };
            if let Err(e) = refusals::record(store, idp, &refusal).await {
                tracing::warn!(error = %e, "ACS refusal not recorded for support");
            }
        }
    }
    result
}

async fn check(
    sp: &ServiceProvider,
    federation: &Snapshot,
    store: &Store,
    input: AcsRequest<'_>,
    settings: &AcsSettings,
    now: OffsetDateTime,
    issuer_seen: &mut Option<String>,
) -> Result<Identity, Error> {
    let bytes = check::decode(&input, settings)?;
    let envelope = check::Envelope::open(&bytes, federation, issuer_seen)?;
    let verified = check::Verified::check(envelope, sp)?;
    let conditioned = check::Conditioned::check(verified, sp, settings, now)?;
    let fresh = check::Fresh::check(conditioned, store, input.relay_state, now).await?;
    fresh.identity(federation)
}
