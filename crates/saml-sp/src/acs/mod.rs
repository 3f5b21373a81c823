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
//! Encrypted assertions: decrypted with the SP's encryption key (`decrypt.rs`); AES-CBC
//! only inside a Response whose signature was verified first, AES-GCM either way; an
//! assertion in an unsigned Response must carry its own signature, verified after
//! decryption.

mod decrypt;
mod identity;
pub mod refusals;
pub mod response;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use passerelle_store::{Expiry, Key, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use decrypt::DecryptFailure;
pub use identity::{Identity, SubjectSource};

use crate::error::Error;
use crate::federation::Snapshot;
use crate::sp::ServiceProvider;
use crate::sp::request::take_pending;

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

fn instant(s: Option<&str>, what: &str) -> Result<Option<OffsetDateTime>, Rejection> {
    s.map(|v| {
        OffsetDateTime::parse(v, &Rfc3339)
            .map_err(|_| Rejection::Malformed(format!("{what} {v:?}")))
    })
    .transpose()
}

fn reject(e: Rejection) -> Error {
    Error::Rejected(e)
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
    if input.saml_response.len() > settings.max_response_bytes {
        return Err(reject(Rejection::TooLarge));
    }
    let compact: String = input
        .saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = B64
        .decode(compact.as_bytes())
        .map_err(|_| reject(Rejection::Encoding))?;
    // One decoding for every parser that reads it: UTF-8, whatever it declares otherwise
    // is refused here (a UTF-7 declaration would make the verifier and the reader see
    // two documents).
    let xml = passerelle_xmldsig::utf8_document(&bytes).map_err(|e| match e {
        passerelle_xmldsig::Error::Encoding(reason) => reject(Rejection::Charset(reason)),
        _ => reject(Rejection::Encoding),
    })?;
    if xml.contains("<!DOCTYPE") {
        return Err(reject(Rejection::Doctype));
    }

    // Routing only: nothing read here grants anything.
    let peeked = response::peek(xml).map_err(|e| reject(Rejection::Malformed(e.to_string())))?;
    if let Some((code, subcode)) = &peeked.status
        && code != SUCCESS
    {
        return Err(reject(Rejection::IdpStatus {
            code: code.clone(),
            subcode: subcode.clone(),
        }));
    }
    let issuer = peeked
        .issuer
        .ok_or_else(|| reject(Rejection::Malformed("no Issuer".into())))?;
    *issuer_seen = Some(issuer.clone());
    let idp = federation
        .idp(&issuer)
        .ok_or_else(|| reject(Rejection::UnknownIdp(issuer.clone())))?;
    if idp.signing_certs.is_empty() {
        return Err(reject(Rejection::NoSigningKey));
    }
    // Counted on the raw document: a second assertion, signed or not, wherever it hides,
    // is refused (the wrapping attacks add one).
    if peeked.assertions != 1 {
        return Err(reject(Rejection::RawAssertionCount(peeked.assertions)));
    }

    // Verify with the IdP's metadata keys, one at a time; parse only what was signed.
    let verify = |doc: &str| {
        crate::signature::verify_signed(doc, &idp.signing_certs).map_err(Rejection::BadSignature)
    };
    let malformed = |e: Error| Rejection::Malformed(e.to_string());
    let (parsed, assertion) = if peeked.encrypted {
        let outer = if peeked.signed {
            Some(verify(xml).map_err(reject)?)
        } else {
            None
        };
        let outer_parsed = outer
            .as_deref()
            .map(response::parse)
            .transpose()
            .map_err(|e| reject(malformed(e)))?;
        let response_signed = outer_parsed.as_ref().is_some_and(|p| p.is_response);
        let encrypted = decrypt::extract(outer.as_deref().unwrap_or(xml)).map_err(reject)?;
        let plain =
            decrypt::decrypt(&encrypted, sp.decryption_key(), response_signed).map_err(reject)?;
        if plain.contains("<!DOCTYPE") {
            return Err(reject(Rejection::Doctype));
        }
        let inner_peek = response::peek(&plain).map_err(|e| reject(malformed(e)))?;
        let assertion_xml = if inner_peek.signed {
            verify(&plain).map_err(reject)?
        } else if response_signed {
            plain
        } else {
            return Err(reject(Rejection::Unsigned));
        };
        let inner = response::parse(&assertion_xml).map_err(|e| reject(malformed(e)))?;
        let envelope = outer_parsed.filter(|p| p.is_response).unwrap_or_default();
        (envelope, inner.assertions)
    } else {
        if !peeked.signed {
            return Err(reject(Rejection::Unsigned));
        }
        let signed = verify(xml).map_err(reject)?;
        let mut parsed = response::parse(&signed).map_err(|e| reject(malformed(e)))?;
        let assertions = std::mem::take(&mut parsed.assertions);
        (parsed, assertions)
    };
    let [assertion] = assertion.as_slice() else {
        return Err(reject(Rejection::AssertionCount(assertion.len())));
    };
    if assertion.issuer != idp.entity_id.as_str() {
        return Err(reject(Rejection::IssuerMismatch));
    }
    if parsed.is_response {
        if parsed
            .issuer
            .as_deref()
            .is_some_and(|i| i != idp.entity_id.as_str())
        {
            return Err(reject(Rejection::IssuerMismatch));
        }
        if parsed.destination.as_deref() != Some(sp.acs_url()) {
            return Err(reject(Rejection::WrongDestination));
        }
        if let Some((code, subcode)) = &parsed.status
            && code != SUCCESS
        {
            return Err(reject(Rejection::IdpStatus {
                code: code.clone(),
                subcode: subcode.clone(),
            }));
        }
    }

    let skew = time::Duration::try_from(settings.clock_skew).unwrap_or(time::Duration::ZERO);
    if !assertion.has_conditions {
        return Err(reject(Rejection::WrongAudience));
    }
    if let Some(nb) = instant(assertion.not_before.as_deref(), "NotBefore").map_err(reject)?
        && now + skew < nb
    {
        return Err(reject(Rejection::NotYetValid));
    }
    let conditions_end =
        instant(assertion.not_on_or_after.as_deref(), "NotOnOrAfter").map_err(reject)?;
    if conditions_end.is_some_and(|end| now - skew >= end) {
        return Err(reject(Rejection::Expired));
    }
    let ours = sp.entity_id().as_str();
    let audience_ok = !assertion.audience_restrictions.is_empty()
        && assertion
            .audience_restrictions
            .iter()
            .all(|r| r.iter().any(|a| a == ours));
    if !audience_ok {
        return Err(reject(Rejection::WrongAudience));
    }

    let mut confirmation_end = None;
    let mut in_response_to = None;
    let mut confirmed = false;
    for c in assertion
        .confirmations
        .iter()
        .filter(|c| c.method == BEARER)
    {
        let Some(end) = instant(
            c.not_on_or_after.as_deref(),
            "SubjectConfirmationData/@NotOnOrAfter",
        )
        .map_err(reject)?
        else {
            continue;
        };
        if c.recipient.as_deref() != Some(sp.acs_url()) {
            continue;
        }
        if now - skew >= end {
            return Err(reject(Rejection::Expired));
        }
        if let Some(nb) = instant(
            c.not_before.as_deref(),
            "SubjectConfirmationData/@NotBefore",
        )
        .map_err(reject)?
            && now + skew < nb
        {
            return Err(reject(Rejection::NotYetValid));
        }
        confirmed = true;
        confirmation_end = Some(end);
        in_response_to = c.in_response_to.clone();
        break;
    }
    if !confirmed {
        return Err(reject(Rejection::NoBearerConfirmation));
    }
    if parsed.is_response
        && let (Some(outer), Some(inner)) = (&parsed.in_response_to, &in_response_to)
        && outer != inner
    {
        return Err(reject(Rejection::UnknownRequest));
    }
    let in_response_to = in_response_to.ok_or_else(|| reject(Rejection::UnknownRequest))?;
    if assertion.authn_instant.is_none() {
        return Err(reject(Rejection::NoAuthnStatement));
    }
    if assertion.id.is_empty() || assertion.id.len() > 256 {
        return Err(reject(Rejection::Malformed("assertion ID".into())));
    }

    // State: replay cache until the assertion could no longer be accepted, then the
    // pending request, once.
    let until = [conditions_end, confirmation_end]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now);
    let keep = (until + skew - now).max(time::Duration::seconds(1));
    let keep = Duration::try_from(keep).unwrap_or(Duration::from_secs(1));
    let seen = Key::new("saml-seen", &format!("{}|{}", idp.entity_id, assertion.id));
    if !store
        .set_if_absent(&seen, &now.unix_timestamp(), Expiry::After(keep))
        .await?
    {
        return Err(reject(Rejection::Replay));
    }
    let pending = take_pending(store, &in_response_to)
        .await?
        .ok_or_else(|| reject(Rejection::UnknownRequest))?;
    if pending.idp != idp.entity_id {
        return Err(reject(Rejection::RequestIdpMismatch));
    }
    if input.relay_state.is_some_and(|r| r != pending.relay_state) {
        return Err(reject(Rejection::RelayStateMismatch));
    }
    if !pending.authn_context.is_empty()
        && !assertion
            .authn_context
            .as_ref()
            .is_some_and(|c| pending.authn_context.contains(c))
    {
        return Err(reject(Rejection::AuthnContextNotMet {
            got: assertion.authn_context.clone(),
        }));
    }
    let authority = federation.authority(&idp.entity_id);
    identity::map(
        assertion,
        &idp,
        &authority,
        pending.flow,
        pending.force_authn,
    )
    .ok_or_else(|| reject(Rejection::NoSubject))
}
