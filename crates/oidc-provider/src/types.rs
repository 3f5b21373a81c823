//! Protocol values as types, parsed once at the edge.
//!
//! A `RedirectUri` is compared byte for byte with the registration, never normalised; a
//! `CodeVerifier` has the RFC 7636 length and alphabet; a `Scopes` set holds only RFC 6749
//! scope tokens. Nothing here may accept a value the protocol forbids.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn bad(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// A relying party's identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id: 1–255 visible ASCII characters.
    ///
    /// # Errors
    /// When the value is empty, too long or holds other characters.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("client_id must be 1 to 255 visible ASCII characters"));
        }
        Ok(Self(s.to_owned()))
    }
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for ClientId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(&s)
    }
}
impl From<ClientId> for String {
    fn from(c: ClientId) -> Self {
        c.0
    }
}
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered redirect URI: absolute, no fragment, `https` (or `http` on a loopback
/// host, RFC 8252). Kept exactly as registered; requests must match byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Parses a redirect URI for registration.
    ///
    /// # Errors
    /// When it is relative, has a fragment, or uses plain HTTP on a non-loopback host.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let url = url::Url::parse(s).map_err(|e| bad(format!("not an absolute URL: {e}")))?;
        if url.fragment().is_some() {
            return Err(bad("a redirect URI must not have a fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match url.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(a)) => a.is_loopback(),
                    Some(url::Host::Ipv6(a)) => a.is_loopback(),
                    None => false,
                };
                if !loopback {
                    return Err(bad("plain http is allowed only for a loopback host"));
                }
            }
            other => return Err(bad(format!("scheme {other:?} is not allowed"))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("a redirect URI needs a host"));
        }
        Ok(Self(s.to_owned()))
    }
    /// The URI as registered.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The host (for pairwise sectors).
    #[must_use]
    pub fn host(&self) -> String {
        url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }
}
impl TryFrom<String> for RedirectUri {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(&s)
    }
}
impl From<RedirectUri> for String {
    fn from(r: RedirectUri) -> Self {
        r.0
    }
}

/// A set of scope tokens (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated scope string.
    ///
    /// # Errors
    /// When a token holds a forbidden character or the string is absurdly long.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.len() > 2048 {
            return Err(bad("scope is too long"));
        }
        let mut set = BTreeSet::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            if !tok
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(bad(format!("invalid scope token {tok:?}")));
            }
            set.insert(tok.to_owned());
        }
        Ok(Self(set))
    }
    /// Whether the set holds `scope`.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
    /// The tokens present in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0).cloned().collect())
    }
    /// The tokens of `self` missing from `other`.
    #[must_use]
    pub fn missing_from(&self, other: &Self) -> Vec<String> {
        self.0.difference(&other.0).cloned().collect()
    }
    /// Whether every token of `self` is in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }
    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// An opaque value a client sends and gets back byte-exact (`state`, `nonce`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opaque(String);

impl Opaque {
    /// Accepts up to 1024 bytes without control characters.
    ///
    /// # Errors
    /// When the value is too long or holds control characters.
    pub fn parse(name: &str, s: &str) -> Result<Self, InvalidValue> {
        if s.len() > 1024 || s.chars().any(char::is_control) {
            return Err(bad(format!(
                "{name} must be at most 1024 characters without control characters"
            )));
        }
        Ok(Self(s.to_owned()))
    }
    /// The value as received.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A PKCE S256 code challenge (43 base64url characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses an S256 challenge.
    ///
    /// # Errors
    /// When the value is not 43 base64url characters.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.len() != 43 || !s.bytes().all(is_b64url) {
            return Err(bad("code_challenge must be 43 base64url characters (S256)"));
        }
        Ok(Self(s.to_owned()))
    }
    /// Whether `verifier` hashes to this challenge (constant time).
    #[must_use]
    pub fn is_met_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes()));
        bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// A PKCE code verifier: 43–128 characters of `[A-Za-z0-9-._~]`.
#[derive(Debug, Clone)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Parses a verifier.
    ///
    /// # Errors
    /// When the length or the alphabet is wrong.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if !(43..=128).contains(&s.len())
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(bad(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// How the user authenticated (RFC 8176 `amr` values, plus `fed` for a federated login).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// Password.
    Pwd,
    /// One-time code sent by e-mail.
    Otp,
    /// The user's university, through SAML.
    Fed,
    /// A passkey bound to its device (not backed up), with user verification.
    Hwk,
    /// A synced passkey (backed up to a cloud account), with user verification.
    Swk,
}

impl Amr {
    /// The `amr` claim value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Fed => "fed",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn redirect_uris_refuse_fragments_plain_http_and_other_schemes() {
        assert!(RedirectUri::parse("https://app.uness.fr/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost/cb").is_ok());
        assert!(RedirectUri::parse("http://app.uness.fr/cb").is_err());
        assert!(RedirectUri::parse("https://app.uness.fr/cb#x").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("/cb").is_err());
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let c = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert!(c.is_met_by(&v));
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!c.is_met_by(&other));
        assert!(CodeVerifier::parse("short").is_err());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn scopes_refuse_quotes_and_backslashes() {
        assert!(Scopes::parse("openid email").is_ok());
        assert!(Scopes::parse("open\"id").is_err());
        assert!(Scopes::parse("a\\b").is_err());
        assert_eq!(Scopes::parse("b  a").unwrap().to_string(), "a b");
    }
}
