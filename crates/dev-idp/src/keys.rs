//! The dev IdP's signing key: RSA-2048 and a self-signed certificate, made at start.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

use crate::Error;

/// A key and its certificate.
#[derive(Clone)]
pub struct IdpKeys {
    key_der: Vec<u8>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for IdpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdpKeys(***)")
    }
}

fn crypto(e: openssl::error::ErrorStack) -> Error {
    Error::Crypto(e.to_string())
}

impl IdpKeys {
    /// A fresh key and a certificate naming `subject` (valid ten years).
    ///
    /// # Errors
    /// [`Error::Crypto`].
    pub fn generate(subject: &str) -> Result<Self, Error> {
        let key: PKey<Private> =
            PKey::from_rsa(Rsa::generate(2048).map_err(crypto)?).map_err(crypto)?;
        let mut name = X509NameBuilder::new().map_err(crypto)?;
        let cn: String = subject.chars().take(64).collect();
        name.append_entry_by_text("CN", &cn).map_err(crypto)?;
        let name = name.build();
        let mut builder = X509::builder().map_err(crypto)?;
        builder.set_version(2).map_err(crypto)?;
        let serial = BigNum::from_u32(1)
            .and_then(|b| b.to_asn1_integer())
            .map_err(crypto)?;
        builder.set_serial_number(&serial).map_err(crypto)?;
        builder.set_subject_name(&name).map_err(crypto)?;
        builder.set_issuer_name(&name).map_err(crypto)?;
        builder.set_pubkey(&key).map_err(crypto)?;
        let not_before = Asn1Time::days_from_now(0).map_err(crypto)?;
        let not_after = Asn1Time::days_from_now(3650).map_err(crypto)?;
        builder.set_not_before(&not_before).map_err(crypto)?;
        builder.set_not_after(&not_after).map_err(crypto)?;
        builder
            .sign(&key, MessageDigest::sha256())
            .map_err(crypto)?;
        Ok(Self {
            key_der: key.private_key_to_der().map_err(crypto)?,
            cert_der: builder.build().to_der().map_err(crypto)?,
        })
    }

    /// The certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM (for a peer's configuration: the demo's SP and federation).
    #[must_use]
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }

    /// The private key, PKCS#1 PEM. The demo uses these throw-away keys for its own SP
    /// and federation signer; nothing outside the demo and tests should.
    #[must_use]
    pub fn key_pem(&self) -> String {
        pem("RSA PRIVATE KEY", &self.key_der)
    }

    /// The private key, DER.
    #[must_use]
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
