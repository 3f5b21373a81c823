//! Authentication assurance: the context classes an app may ask for (`acr_values`, the
//! `claims` request's `acr`), what a sign-in met, and the `acr` an ID token may carry.
//!
//! The classes are REFEDS SFA and MFA (the R&E federations' shared signals) and OpenID
//! EAP's phishing-resistant `phr` / `phrh`. What a sign-in met is derived from how it
//! was made ([`Amr`]) and, for a university sign-in, from the class the IdP asserted —
//! never from what was asked. NIST SP 800-63B: an e-mailed code is not an authenticator,
//! so it meets nothing, alone or after a password. This module must never report a
//! class that was not met: an unmet request is answered with
//! `unmet_authentication_requirements` (or a step-up), never a downgrade.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Amr;

/// An authentication context class this provider can assert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Acr {
    /// REFEDS Single-Factor Authentication profile.
    RefedsSfa,
    /// REFEDS Multi-Factor Authentication profile (general MFA).
    RefedsMfa,
    /// OpenID EAP: phishing-resistant authentication.
    Phr,
    /// OpenID EAP: phishing-resistant authentication with a hardware-protected key.
    Phrh,
}

impl Acr {
    /// Every class, in the order discovery lists them.
    pub const ALL: [Self; 4] = [Self::RefedsMfa, Self::RefedsSfa, Self::Phr, Self::Phrh];

    /// The class's identifier (the `acr` value, the SAML `AuthnContextClassRef`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefedsSfa => "https://refeds.org/profile/sfa",
            Self::RefedsMfa => "https://refeds.org/profile/mfa",
            Self::Phr => "phr",
            Self::Phrh => "phrh",
        }
    }

    /// The class named `s`, if it is one of ours (exact match: identifiers are URIs
    /// compared as strings).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn bit(self) -> u8 {
        match self {
            Self::RefedsSfa => 1,
            Self::RefedsMfa => 2,
            Self::Phr => 4,
            Self::Phrh => 8,
        }
    }

    /// Whether a university (a SAML IdP of the federation) can be asked for this class:
    /// the REFEDS profiles only.
    #[must_use]
    pub fn federated(self) -> bool {
        matches!(self, Self::RefedsSfa | Self::RefedsMfa)
    }
}

impl fmt::Display for Acr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Acr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown authentication context class {s:?}"))
    }
}

impl From<Acr> for String {
    fn from(a: Acr) -> Self {
        a.as_str().to_owned()
    }
}

/// The classes one sign-in met (a set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Assurance(u8);

impl Assurance {
    /// Nothing met.
    pub const NONE: Self = Self(0);

    /// What these methods met. `federated` is the class the university asserted for a
    /// [`Amr::Fed`] sign-in (already checked against the federation's answer).
    #[must_use]
    pub fn of(methods: &[Amr], federated: Option<Acr>) -> Self {
        let mut met = Self::NONE;
        for m in methods {
            met = met.union(match m {
                // A memorized secret under our password policy.
                Amr::Pwd => Self::from_classes(&[Acr::RefedsSfa]),
                // E-mail is not an authenticator (NIST SP 800-63B §5.1.3.1).
                Amr::Otp => Self::NONE,
                // A passkey with user verification: possession plus knowledge or
                // inherence, bound to our origin.
                Amr::Swk => Self::from_classes(&[Acr::RefedsSfa, Acr::RefedsMfa, Acr::Phr]),
                Amr::Hwk => {
                    Self::from_classes(&[Acr::RefedsSfa, Acr::RefedsMfa, Acr::Phr, Acr::Phrh])
                }
                Amr::Fed => match federated {
                    // REFEDS: MFA meets what SFA asks for.
                    Some(Acr::RefedsMfa) => Self::from_classes(&[Acr::RefedsSfa, Acr::RefedsMfa]),
                    Some(a) => Self::from_classes(&[a]),
                    None => Self::NONE,
                },
            });
        }
        met
    }

    fn from_classes(classes: &[Acr]) -> Self {
        Self(classes.iter().fold(0, |b, a| b | a.bit()))
    }

    /// Both sets (a step-up adds to what the session met).
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `class` was met.
    #[must_use]
    pub fn meets(self, class: Acr) -> bool {
        self.0 & class.bit() != 0
    }

    /// The classes met, strongest last.
    #[must_use]
    pub fn classes(self) -> Vec<Acr> {
        [Acr::RefedsSfa, Acr::RefedsMfa, Acr::Phr, Acr::Phrh]
            .into_iter()
            .filter(|a| self.meets(*a))
            .collect()
    }
}

/// What an authorization request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// Acceptable classes, in the client's order of preference; empty: nothing asked.
    pub values: Vec<Acr>,
    /// Asked as an essential claim (`claims` parameter).
    #[serde(default)]
    pub essential: bool,
}

/// The `claims` request parameter, as far as `acr` goes (OIDC Core §5.5).
#[derive(Deserialize)]
struct ClaimsRequest {
    #[serde(default)]
    id_token: Option<ClaimsMember>,
    #[serde(default)]
    userinfo: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ClaimsMember {
    #[serde(default)]
    acr: Option<Option<AcrClaimRequest>>,
}

#[derive(Deserialize)]
struct AcrClaimRequest {
    #[serde(default)]
    essential: bool,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    values: Option<Vec<String>>,
}

impl AcrRequest {
    /// Reads `acr_values` (space-separated, voluntary) and the `claims` parameter's
    /// `id_token.acr` (`essential`, `value` / `values`). Classes we do not know are
    /// dropped; when the `claims` request names classes, they are the request (it is
    /// the more precise of the two).
    ///
    /// # Errors
    /// A description for `invalid_request` when `claims` is not the JSON object OIDC
    /// Core describes, or for `unmet_authentication_requirements` (prefixed `unmet: `)
    /// when an essential `acr` names only classes this provider cannot assert.
    pub fn parse(acr_values: Option<&str>, claims: Option<&str>) -> Result<Self, String> {
        let mut request = Self {
            values: known(acr_values.unwrap_or_default().split(' ')),
            essential: false,
        };
        let Some(claims) = claims else {
            return Ok(request);
        };
        let parsed: ClaimsRequest = serde_json::from_str(claims)
            .map_err(|e| format!("claims is not a valid claims request: {e}"))?;
        let _ = parsed.userinfo;
        let Some(Some(acr)) = parsed.id_token.and_then(|m| m.acr) else {
            return Ok(request);
        };
        let named: Vec<String> = acr
            .values
            .unwrap_or_default()
            .into_iter()
            .chain(acr.value)
            .collect();
        if !named.is_empty() {
            let values = known(named.iter().map(String::as_str));
            if values.is_empty() && acr.essential {
                return Err(
                    "unmet: the essential acr names no authentication context this provider supports"
                        .into(),
                );
            }
            if !values.is_empty() {
                request.values = values;
            }
        }
        request.essential = acr.essential && !request.values.is_empty();
        Ok(request)
    }

    /// Whether nothing is asked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `acr` to assert for a sign-in that met `met`: the first requested class met;
    /// with nothing requested, the strongest REFEDS class met. `Err(())` when classes
    /// were requested and none is met.
    ///
    /// # Errors
    /// `Err(())`: the request is not met.
    #[allow(clippy::result_unit_err)]
    pub fn answer(&self, met: Assurance) -> Result<Option<Acr>, ()> {
        if self.values.is_empty() {
            return Ok([Acr::RefedsMfa, Acr::RefedsSfa]
                .into_iter()
                .find(|a| met.meets(*a)));
        }
        self.values
            .iter()
            .copied()
            .find(|a| met.meets(*a))
            .map(Some)
            .ok_or(())
    }

    /// The REFEDS classes a university may answer with to meet this request (for the
    /// SAML `RequestedAuthnContext`, exact comparison): empty when nothing is asked, or
    /// when only what a university cannot assert is asked.
    #[must_use]
    pub fn federated_classes(&self) -> Vec<Acr> {
        let mut out = Vec::new();
        for a in &self.values {
            let ok: &[Acr] = match a {
                Acr::RefedsSfa => &[Acr::RefedsSfa, Acr::RefedsMfa],
                Acr::RefedsMfa => &[Acr::RefedsMfa],
                Acr::Phr | Acr::Phrh => &[],
            };
            for c in ok {
                if !out.contains(c) {
                    out.push(*c);
                }
            }
        }
        out
    }
}

fn known<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Acr> {
    let mut out = Vec::new();
    for a in names.filter_map(Acr::parse) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    const MFA: &str = "https://refeds.org/profile/mfa";

    #[test]
    fn a_password_an_email_code_or_both_never_meet_mfa() {
        for methods in [&[Amr::Pwd][..], &[Amr::Otp], &[Amr::Pwd, Amr::Otp]] {
            let met = Assurance::of(methods, None);
            assert!(!met.meets(Acr::RefedsMfa), "{methods:?}");
            assert!(!met.meets(Acr::Phr), "{methods:?}");
        }
        assert!(Assurance::of(&[Amr::Pwd], None).meets(Acr::RefedsSfa));
        assert_eq!(Assurance::of(&[Amr::Otp], None), Assurance::NONE);
    }

    #[test]
    fn a_passkey_meets_mfa_and_phishing_resistance_a_device_bound_one_hardware_too() {
        let synced = Assurance::of(&[Amr::Swk], None);
        assert!(synced.meets(Acr::RefedsMfa) && synced.meets(Acr::Phr));
        assert!(!synced.meets(Acr::Phrh));
        assert!(Assurance::of(&[Amr::Hwk], None).meets(Acr::Phrh));
    }

    #[test]
    fn a_university_sign_in_meets_only_what_the_university_asserted() {
        assert_eq!(Assurance::of(&[Amr::Fed], None), Assurance::NONE);
        let mfa = Assurance::of(&[Amr::Fed], Some(Acr::RefedsMfa));
        assert!(mfa.meets(Acr::RefedsMfa) && mfa.meets(Acr::RefedsSfa));
        assert!(!mfa.meets(Acr::Phr));
        let sfa = Assurance::of(&[Amr::Fed], Some(Acr::RefedsSfa));
        assert!(!sfa.meets(Acr::RefedsMfa));
    }

    #[test]
    fn acr_values_keep_the_clients_order_and_drop_unknown_classes() {
        let r = AcrRequest::parse(Some(&format!("urn:x phr {MFA} phr")), None).unwrap();
        assert_eq!(r.values, vec![Acr::Phr, Acr::RefedsMfa]);
        assert!(!r.essential);
        assert!(
            AcrRequest::parse(Some("urn:unknown"), None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_essential_acr_claim_is_the_request() {
        let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{MFA}"}}}}}}"#);
        let r = AcrRequest::parse(Some("phr"), Some(&claims)).unwrap();
        assert_eq!(r.values, vec![Acr::RefedsMfa]);
        assert!(r.essential);
        let values = r#"{"id_token":{"acr":{"essential":true,"values":["phrh","phr"]}}}"#;
        assert_eq!(
            AcrRequest::parse(None, Some(values)).unwrap().values,
            vec![Acr::Phrh, Acr::Phr]
        );
        // acr asked with no value: whatever is met is told, nothing is required.
        let bare = r#"{"id_token":{"acr":null},"userinfo":{"email":null}}"#;
        assert!(AcrRequest::parse(None, Some(bare)).unwrap().is_empty());
        let unknown = r#"{"id_token":{"acr":{"essential":true,"value":"urn:gold"}}}"#;
        assert!(
            AcrRequest::parse(None, Some(unknown))
                .unwrap_err()
                .starts_with("unmet: ")
        );
        assert!(AcrRequest::parse(None, Some("[1]")).is_err());
        assert!(AcrRequest::parse(None, Some("{")).is_err());
    }

    #[test]
    fn the_answer_is_the_first_requested_class_met_or_unmet() {
        let r = AcrRequest::parse(Some(&format!("phrh {MFA}")), None).unwrap();
        assert_eq!(
            r.answer(Assurance::of(&[Amr::Swk], None)),
            Ok(Some(Acr::RefedsMfa))
        );
        assert_eq!(
            r.answer(Assurance::of(&[Amr::Hwk], None)),
            Ok(Some(Acr::Phrh))
        );
        assert_eq!(
            r.answer(Assurance::of(&[Amr::Pwd, Amr::Otp], None)),
            Err(())
        );
        let none = AcrRequest::default();
        assert_eq!(
            none.answer(Assurance::of(&[Amr::Pwd], None)),
            Ok(Some(Acr::RefedsSfa))
        );
        assert_eq!(none.answer(Assurance::of(&[Amr::Otp], None)), Ok(None));
    }

    #[test]
    fn a_university_is_asked_only_for_the_refeds_classes_that_meet_the_request() {
        let r = AcrRequest::parse(Some(&format!("phr {MFA}")), None).unwrap();
        assert_eq!(r.federated_classes(), vec![Acr::RefedsMfa]);
        let sfa = AcrRequest::parse(Some("https://refeds.org/profile/sfa"), None).unwrap();
        assert_eq!(
            sfa.federated_classes(),
            vec![Acr::RefedsSfa, Acr::RefedsMfa]
        );
        assert!(
            AcrRequest::parse(Some("phr"), None)
                .unwrap()
                .federated_classes()
                .is_empty()
        );
    }
}
