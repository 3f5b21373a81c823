//! Secrets: random tokens and codes from the OS CSPRNG, their stored digests, and
//! constant-time comparison.
//!
//! Link tokens carry 256 random bits, so a plain SHA-256 digest is what we store. Six
//! digit codes have only 10^6 values, so they are stored as an HMAC under the server's
//! secret key (a leaked store does not give the codes away) and bound to the code's id.
//! Nothing here implements a primitive: `getrandom`, `sha2`, `hmac` and `subtle` do.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// `N` bytes from the OS random source.
///
/// # Errors
/// [`Error::Internal`] when the OS cannot provide randomness.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
    Ok(buf)
}

/// A URL-safe random token of 256 bits (43 characters).
///
/// # Errors
/// [`Error::Internal`] when the OS cannot provide randomness.
pub fn random_token() -> Result<String, Error> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A uniformly drawn decimal code of six digits (leading zeros kept).
///
/// # Errors
/// [`Error::Internal`] when the OS cannot provide randomness.
pub fn random_six_digits() -> Result<String, Error> {
    // Rejection sampling: 4_294_000_000 is the largest multiple of 10^6 below 2^32.
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>()?);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// Hex SHA-256 of a high-entropy token (what the store keeps instead of the token).
#[must_use]
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The server's secret key for keyed digests of low-entropy secrets.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Wraps key material; at least 32 bytes.
    ///
    /// # Errors
    /// [`Error::Config`] when the key is shorter than 32 bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.len() < 32 {
            return Err(Error::Config(
                "the secret key must be at least 32 bytes".into(),
            ));
        }
        Ok(Self(bytes))
    }

    /// A fresh random key (the demo's, which lives as long as the process).
    ///
    /// # Errors
    /// [`Error::Internal`] when the OS cannot provide randomness.
    pub fn random() -> Result<Self, Error> {
        Ok(Self(random_bytes::<32>()?.to_vec()))
    }

    /// Hex HMAC-SHA256 of the parts, each length-prefixed so that no two different
    /// part lists produce the same input.
    #[must_use]
    pub fn mac(&self, parts: &[&[u8]]) -> String {
        // HMAC accepts keys of any length: this cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        for p in parts {
            m.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
            m.update(p);
        }
        hex(&m.finalize().into_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Constant-time equality of two digests or tokens.
#[must_use]
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digit_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| random_six_digits().unwrap()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 190, "codes repeat too often: {}", codes.len());
    }

    #[test]
    fn tokens_carry_256_bits_in_url_safe_text() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(t, random_token().unwrap());
    }

    #[test]
    fn keyed_digests_depend_on_key_and_part_boundaries() {
        let k1 = SecretKey::new(vec![1; 32]).unwrap();
        let k2 = SecretKey::new(vec![2; 32]).unwrap();
        assert_ne!(k1.mac(&[b"a", b"123456"]), k2.mac(&[b"a", b"123456"]));
        assert_ne!(k1.mac(&[b"ab", b"c"]), k1.mac(&[b"a", b"bc"]));
        assert!(SecretKey::new(vec![0; 31]).is_err());
        assert_eq!(format!("{k1:?}"), "SecretKey(***)");
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
