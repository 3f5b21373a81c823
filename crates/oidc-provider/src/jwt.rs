//! Compact JWS for the tokens openidconnect has no type for: RFC 9068 access tokens and
//! back-channel logout tokens; and the check of our own ID tokens given back as hints.
//!
//! Signing is the key's (see [`crate::keys`]); verification is openidconnect's
//! `JsonWebKey::verify_signature`. Only this provider's own keys verify, the header's
//! `alg` must be the key's own (no `none`, no algorithm switch), and the `typ` is checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::keys::{KeyRing, SigningAlg, SigningKey};

/// A JWT `aud` claim: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Aud {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", …]`.
    Many(Vec<String>),
}

impl Aud {
    /// Whether `who` is one of the audiences.
    pub(crate) fn contains(&self, who: &str) -> bool {
        match self {
            Self::One(a) => a == who,
            Self::Many(v) => v.iter().any(|a| a == who),
        }
    }

    /// The audience, when there is exactly one.
    pub(crate) fn sole(&self) -> Option<&str> {
        match self {
            Self::One(a) => Some(a),
            Self::Many(v) => match v.as_slice() {
                [a] => Some(a),
                _ => None,
            },
        }
    }

    /// The first audience, if any.
    pub(crate) fn first(&self) -> Option<&str> {
        match self {
            Self::One(a) => Some(a),
            Self::Many(v) => v.first().map(String::as_str),
        }
    }
}

#[derive(Serialize, serde::Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    kid: String,
}

/// Signs `claims` as a compact JWS with header `typ`.
///
/// # Errors
/// Serialization or signing failure.
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, Error> {
    let header = Header {
        alg: key.alg().as_str().to_owned(),
        typ: Some(typ.to_owned()),
        kid: key.kid().to_owned(),
    };
    let h = serde_json::to_vec(&header).map_err(|e| Error::Internal(e.to_string()))?;
    let c = serde_json::to_vec(claims).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = URL_SAFE_NO_PAD.encode(h);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(c));
    let sig = key
        .sign_raw(out.as_bytes())
        .map_err(|e| Error::Keys(format!("signing: {e}")))?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Verifies a compact JWS signed by one of `ring`'s keys with header `typ` (`None`: an ID
/// token, whose `typ` is absent or `JWT`), and returns its claims. Expiry and audience are
/// the caller's to check.
#[must_use]
pub fn verify<T: DeserializeOwned>(ring: &KeyRing, typ: Option<&str>, token: &str) -> Option<T> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let typ_ok = match (typ, header.typ.as_deref()) {
        (Some(want), Some(got)) => got.eq_ignore_ascii_case(want),
        (None, None) => true,
        (None, Some(got)) => got.eq_ignore_ascii_case("JWT"),
        (Some(_), None) => false,
    };
    if !typ_ok {
        return None;
    }
    let alg = SigningAlg::parse(&header.alg)?;
    let key = ring.by_kid(&header.kid)?;
    if key.alg() != alg {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let signed_len = h.len() + 1 + c.len();
    let message = token.get(..signed_len)?;
    key.public_jwk()
        .verify_signature(&alg.core(), message.as_bytes(), &sig)
        .ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
}
