//! From a verified assertion to a typed [`Identity`]: which attribute is the subject,
//! and which scoped values the IdP may speak for.
//!
//! Subject, by preference: `subject-id`, `pairwise-id`, `eduPersonTargetedID`, a
//! persistent NameID, `eduPersonPrincipalName`. Scoped values (`value@scope`: subject-id,
//! pairwise-id, eduPersonPrincipalName, eduPersonScopedAffiliation) whose scope is not
//! one of the IdP's metadata scopes are dropped and logged, so one university cannot
//! assert identities in another's domain. The same holds for `mail`: only an address
//! the IdP speaks for ([`crate::authority`]: its scopes and parent domains, plus the
//! operator's mail domains for it) becomes [`Identity::mail`]; another one is kept
//! apart as [`Identity::refused_mail`] so the user can be told, and never creates, links
//! or signs in an account.

use regex_lite::RegexBuilder;
use serde::Serialize;

use super::response::Assertion;
use crate::attributes::{
    AFFILIATION, AttributeDef, DISPLAY_NAME, EPPN, EPTID, GIVEN_NAME, MAIL, PAIRWISE_ID,
    SCHAC_HOME_ORGANIZATION, SCOPED_AFFILIATION, SUBJECT_ID, SURNAME,
};
use crate::authority::Authority;
use crate::metadata::IdpRecord;
use crate::types::EntityId;

const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// Which attribute gave the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectSource {
    /// `subject-id`.
    SubjectId,
    /// `pairwise-id`.
    PairwiseId,
    /// `eduPersonTargetedID`.
    TargetedId,
    /// A persistent NameID.
    PersistentNameId,
    /// `eduPersonPrincipalName`.
    PrincipalName,
}

/// Who the university says signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The IdP that asserted it.
    pub idp: EntityId,
    /// The stable subject.
    pub subject: String,
    /// Where the subject came from.
    pub subject_source: SubjectSource,
    /// `mail`: the first value that is an address the IdP speaks for.
    pub mail: Option<String>,
    /// When no `mail` value is one the IdP speaks for: the first address it asserted
    /// (to tell the user what happened; never to be used as an identity).
    pub refused_mail: Option<String>,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `sn`.
    pub family_name: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `eduPersonPrincipalName`, when in scope.
    pub principal_name: Option<String>,
    /// `eduPersonAffiliation` values.
    pub affiliations: Vec<String>,
    /// `eduPersonScopedAffiliation` values in scope.
    pub scoped_affiliations: Vec<String>,
    /// `schacHomeOrganization`.
    pub institution: Option<String>,
    /// `AuthnStatement/@AuthnInstant` (RFC 3339 as sent).
    pub authn_instant: Option<String>,
    /// `AuthnContextClassRef`.
    pub authn_context: Option<String>,
    /// `SessionIndex`.
    pub session_index: Option<String>,
    /// The caller's flow reference from the pending request.
    pub flow: String,
    /// Whether ForceAuthn had been asked.
    pub force_authn: bool,
}

fn values(a: &Assertion, def: AttributeDef) -> impl Iterator<Item = &str> {
    a.attributes
        .iter()
        .filter(move |at| at.name == def.name)
        .flat_map(|at| at.values.iter().map(String::as_str))
}

fn first(a: &Assertion, def: AttributeDef) -> Option<String> {
    values(a, def).next().map(str::to_owned)
}

/// Whether `scope` is one the IdP's metadata lists (literal, or anchored regexp).
fn in_scope(idp: &IdpRecord, scope: &str) -> bool {
    let scope = scope.to_ascii_lowercase();
    idp.scopes.iter().any(|s| {
        if s.regexp {
            RegexBuilder::new(&format!("^(?:{})$", s.value))
                .case_insensitive(true)
                .size_limit(1 << 16)
                .build()
                .is_ok_and(|r| r.is_match(&scope))
        } else {
            s.value == scope
        }
    })
}

/// The scoped values of `def` whose scope the IdP may assert.
fn scoped<'a>(
    a: &'a Assertion,
    def: AttributeDef,
    idp: &'a IdpRecord,
) -> impl Iterator<Item = &'a str> {
    values(a, def).filter(move |v| {
        let ok = v.rsplit_once('@').is_some_and(|(local, scope)| !local.is_empty() && in_scope(idp, scope));
        if !ok {
            tracing::warn!(idp = %idp.entity_id, attribute = def.friendly_name, "scoped value outside the IdP's scopes dropped");
        }
        ok
    })
}

/// Maps a verified assertion; `None` when it names no usable subject.
pub(crate) fn map(
    a: &Assertion,
    idp: &IdpRecord,
    authority: &Authority,
    flow: String,
    force_authn: bool,
) -> Option<Identity> {
    let addresses: Vec<&str> = values(a, MAIL).filter(|m| m.contains('@')).collect();
    let mail = addresses
        .iter()
        .find(|m| authority.speaks_for(m))
        .map(|m| (*m).to_owned());
    let refused_mail = if mail.is_none() {
        addresses.first().map(|m| (*m).to_owned())
    } else {
        None
    };
    if refused_mail.is_some() {
        tracing::warn!(idp = %idp.entity_id, reason = "mail_outside_authority", "mail attribute outside the IdP's scopes and mail domains refused");
    }
    let principal_name = scoped(a, EPPN, idp).next().map(str::to_owned);
    let persistent = a
        .name_id
        .as_ref()
        .filter(|(v, f)| !v.is_empty() && f.as_deref() == Some(PERSISTENT))
        .map(|(v, _)| v.clone());
    let (subject, subject_source) = scoped(a, SUBJECT_ID, idp)
        .next()
        .map(|v| (v.to_owned(), SubjectSource::SubjectId))
        .or_else(|| {
            scoped(a, PAIRWISE_ID, idp)
                .next()
                .map(|v| (v.to_owned(), SubjectSource::PairwiseId))
        })
        .or_else(|| first(a, EPTID).map(|v| (v, SubjectSource::TargetedId)))
        .or_else(|| persistent.map(|v| (v, SubjectSource::PersistentNameId)))
        .or_else(|| {
            principal_name
                .clone()
                .map(|v| (v, SubjectSource::PrincipalName))
        })?;
    Some(Identity {
        idp: idp.entity_id.clone(),
        subject,
        subject_source,
        mail,
        refused_mail,
        given_name: first(a, GIVEN_NAME),
        family_name: first(a, SURNAME),
        display_name: first(a, DISPLAY_NAME),
        principal_name,
        affiliations: values(a, AFFILIATION).map(str::to_owned).collect(),
        scoped_affiliations: scoped(a, SCOPED_AFFILIATION, idp)
            .map(str::to_owned)
            .collect(),
        institution: first(a, SCHAC_HOME_ORGANIZATION),
        authn_instant: a.authn_instant.clone().filter(|s| !s.is_empty()),
        authn_context: a.authn_context.clone(),
        session_index: a.session_index.clone(),
        flow,
        force_authn,
    })
}
