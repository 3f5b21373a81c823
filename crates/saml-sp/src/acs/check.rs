//! The ACS's checks as four phases, each handing the next a type that says what has
//! been established (rustls-style): [`Envelope`] (decoded once, routed to an IdP of the
//! federation; nothing read here grants anything) → [`Verified`] (what that IdP's keys
//! signed, decrypted when needed: exactly one assertion) → [`Conditioned`] (issuers,
//! destination, status, time window, audience, bearer confirmation) → [`Fresh`] (never
//! seen before, answering a request of ours, once, with the class it asked for). Only a
//! [`Fresh`] answer is mapped to an [`Identity`].
//!
//! What it must never do: parse anything but the verifier's signed output after phase 1,
//! or let a later phase run when an earlier one refused.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use passerelle_store::{Expiry, Key, Store};
use time::OffsetDateTime;

use super::response::{self, Assertion, Parsed};
use super::{AcsRequest, AcsSettings, BEARER, Identity, Rejection, SUCCESS, decrypt, identity};
use crate::error::Error;
use crate::federation::Snapshot;
use crate::metadata::IdpRecord;
use crate::sp::ServiceProvider;
use crate::sp::request::{PendingRequest, take_pending};

fn reject(e: Rejection) -> Error {
    Error::Rejected(e)
}

fn instant(s: Option<&str>, what: &str) -> Result<Option<OffsetDateTime>, Rejection> {
    s.map(|v| {
        OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .map_err(|_| Rejection::Malformed(format!("{what} {v:?}")))
    })
    .transpose()
}

/// Phase 0: the posted value as the one UTF-8 document every parser reads.
pub(super) fn decode(input: &AcsRequest<'_>, settings: &AcsSettings) -> Result<Vec<u8>, Error> {
    if input.saml_response.len() > settings.max_response_bytes {
        return Err(reject(Rejection::TooLarge));
    }
    let compact: String = input
        .saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    B64.decode(compact.as_bytes())
        .map_err(|_| reject(Rejection::Encoding))
}

/// Phase 1: decoded, peeked to route. Names the IdP whose keys phase 2 uses; grants
/// nothing.
pub(super) struct Envelope<'a> {
    xml: &'a str,
    idp: Arc<IdpRecord>,
    signed: bool,
    encrypted: bool,
}

impl<'a> Envelope<'a> {
    /// UTF-8 (whatever it declares otherwise is refused: a UTF-7 declaration would make
    /// the verifier and the reader see two documents), no DOCTYPE, a success status, an
    /// Issuer that is an IdP of the federation with a signing key, exactly one assertion
    /// in the raw document (the wrapping attacks add one).
    pub(super) fn open(
        bytes: &'a [u8],
        federation: &Snapshot,
        issuer_seen: &mut Option<String>,
    ) -> Result<Self, Error> {
        let xml = passerelle_xmldsig::utf8_document(bytes).map_err(|e| match e {
            passerelle_xmldsig::Error::Encoding(reason) => reject(Rejection::Charset(reason)),
            _ => reject(Rejection::Encoding),
        })?;
        if xml.contains("<!DOCTYPE") {
            return Err(reject(Rejection::Doctype));
        }
        let peeked =
            response::peek(xml).map_err(|e| reject(Rejection::Malformed(e.to_string())))?;
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
        if peeked.assertions != 1 {
            return Err(reject(Rejection::RawAssertionCount(peeked.assertions)));
        }
        Ok(Self {
            xml,
            idp,
            signed: peeked.signed,
            encrypted: peeked.encrypted,
        })
    }
}

/// Phase 2: what the IdP's metadata keys signed, parsed from the verifier's output only
/// (decrypted first when encrypted): the response's own fields (empty when only the
/// assertion was signed) and its one assertion.
pub(super) struct Verified {
    idp: Arc<IdpRecord>,
    response: Parsed,
    assertion: Assertion,
}

impl Verified {
    pub(super) fn check(env: Envelope<'_>, sp: &ServiceProvider) -> Result<Self, Error> {
        let idp = env.idp;
        let verify = |doc: &str| {
            crate::signature::verify_signed(doc, &idp.signing_certs)
                .map_err(Rejection::BadSignature)
        };
        let malformed = |e: Error| Rejection::Malformed(e.to_string());
        let (response, assertions) = if env.encrypted {
            let outer = if env.signed {
                Some(verify(env.xml).map_err(reject)?)
            } else {
                None
            };
            let outer_parsed = outer
                .as_deref()
                .map(response::parse)
                .transpose()
                .map_err(|e| reject(malformed(e)))?;
            let response_signed = outer_parsed.as_ref().is_some_and(|p| p.is_response);
            let encrypted =
                decrypt::extract(outer.as_deref().unwrap_or(env.xml)).map_err(reject)?;
            let plain = decrypt::decrypt(&encrypted, sp.decryption_key(), response_signed)
                .map_err(reject)?;
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
            if !env.signed {
                return Err(reject(Rejection::Unsigned));
            }
            let signed = verify(env.xml).map_err(reject)?;
            let mut parsed = response::parse(&signed).map_err(|e| reject(malformed(e)))?;
            let assertions = std::mem::take(&mut parsed.assertions);
            (parsed, assertions)
        };
        let [assertion] = <[Assertion; 1]>::try_from(assertions)
            .map_err(|all| reject(Rejection::AssertionCount(all.len())))?;
        Ok(Self {
            idp,
            response,
            assertion,
        })
    }
}

/// Phase 3: the signed content's conditions hold now.
pub(super) struct Conditioned {
    idp: Arc<IdpRecord>,
    assertion: Assertion,
    /// The request it answers.
    in_response_to: String,
    /// When it could no longer be accepted (how long the replay cache keeps it).
    until: OffsetDateTime,
}

impl Conditioned {
    /// Issuers are the verified IdP; the response (when signed) is for our ACS and a
    /// success; the time window holds with the allowed skew; the audience is us; a bearer
    /// confirmation names our ACS, is in its window and agrees with the response's
    /// InResponseTo; an authentication statement and a usable ID are present.
    pub(super) fn check(
        v: Verified,
        sp: &ServiceProvider,
        settings: &AcsSettings,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let Verified {
            idp,
            response,
            assertion,
        } = v;
        if assertion.issuer != idp.entity_id.as_str() {
            return Err(reject(Rejection::IssuerMismatch));
        }
        if response.is_response {
            if response
                .issuer
                .as_deref()
                .is_some_and(|i| i != idp.entity_id.as_str())
            {
                return Err(reject(Rejection::IssuerMismatch));
            }
            if response.destination.as_deref() != Some(sp.acs_url()) {
                return Err(reject(Rejection::WrongDestination));
            }
            if let Some((code, subcode)) = &response.status
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
        let (confirmation_end, in_response_to) = Self::bearer(&assertion, sp, skew, now)?;
        if response.is_response
            && let (Some(outer), Some(inner)) = (&response.in_response_to, &in_response_to)
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
        let until = [conditions_end, Some(confirmation_end)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now)
            + skew;
        Ok(Self {
            idp,
            assertion,
            in_response_to,
            until,
        })
    }

    /// The first bearer confirmation for our ACS with a NotOnOrAfter: its end and its
    /// InResponseTo (checked against its own window).
    fn bearer(
        assertion: &Assertion,
        sp: &ServiceProvider,
        skew: time::Duration,
        now: OffsetDateTime,
    ) -> Result<(OffsetDateTime, Option<String>), Error> {
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
            return Ok((end, c.in_response_to.clone()));
        }
        Err(reject(Rejection::NoBearerConfirmation))
    }
}

/// Phase 4: accepted once — the assertion not seen before (kept until it could no
/// longer be accepted), the request ours, unanswered, sent to this IdP, with this
/// RelayState, answered with a class it asked for (if it asked).
pub(super) struct Fresh {
    idp: Arc<IdpRecord>,
    assertion: Assertion,
    pending: PendingRequest,
}

impl Fresh {
    pub(super) async fn check(
        c: Conditioned,
        store: &Store,
        relay_state: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let keep = Duration::try_from((c.until - now).max(time::Duration::seconds(1)))
            .unwrap_or(Duration::from_secs(1));
        let seen = Key::new(
            "saml-seen",
            &format!("{}|{}", c.idp.entity_id, c.assertion.id),
        );
        if !store
            .set_if_absent(&seen, &now.unix_timestamp(), Expiry::After(keep))
            .await?
        {
            return Err(reject(Rejection::Replay));
        }
        let pending = take_pending(store, &c.in_response_to)
            .await?
            .ok_or_else(|| reject(Rejection::UnknownRequest))?;
        if pending.idp != c.idp.entity_id {
            return Err(reject(Rejection::RequestIdpMismatch));
        }
        if relay_state.is_some_and(|r| r != pending.relay_state) {
            return Err(reject(Rejection::RelayStateMismatch));
        }
        if !pending.authn_context.is_empty()
            && !c
                .assertion
                .authn_context
                .as_ref()
                .is_some_and(|class| pending.authn_context.contains(class))
        {
            return Err(reject(Rejection::AuthnContextNotMet {
                got: c.assertion.authn_context.clone(),
            }));
        }
        Ok(Self {
            idp: c.idp,
            assertion: c.assertion,
            pending,
        })
    }

    /// Who signed in, as the university says (within what it speaks for).
    pub(super) fn identity(self, federation: &Snapshot) -> Result<Identity, Error> {
        let authority = federation.authority(&self.idp.entity_id);
        identity::map(
            &self.assertion,
            &self.idp,
            &authority,
            self.pending.flow,
            self.pending.force_authn,
        )
        .ok_or_else(|| reject(Rejection::NoSubject))
    }
}
