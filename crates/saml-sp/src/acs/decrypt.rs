//! XML Encryption of assertions: the framing is ours, the cryptography OpenSSL's.
//!
//! Key transport: RSA-OAEP only (`rsa-oaep-mgf1p`, and `xmlenc11#rsa-oaep` with its
//! DigestMethod and MGF); RSA PKCS#1 v1.5 is refused (Bleichenbacher). Content: AES-128,
//! -192 and -256 in GCM (Shibboleth) and CBC (SimpleSAMLphp, samlify). CBC ciphertext is
//! malleable, so the caller allows it only inside a Response whose signature was verified
//! before decrypting. Every decryption failure is one [`Rejection::Undecryptable`] to the
//! browser (one page, one status); its [`DecryptFailure`] tells the operator's log why
//! (a refused algorithm, CBC outside a signed Response, a wrong key…).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode, decrypt_aead};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use super::Rejection;

const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// The parts of an `EncryptedAssertion` needed to decrypt it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Encrypted {
    data_algorithm: String,
    key_algorithm: String,
    key_digest: Option<String>,
    key_mgf: Option<String>,
    key_cipher: String,
    data_cipher: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum In {
    Data,
    Key,
}

/// Reads the first `saml:EncryptedAssertion` of `xml`.
pub(crate) fn extract(xml: &str) -> Result<Encrypted, Rejection> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut out = Encrypted::default();
    let (mut inside, mut depth_in_key, mut capture): (bool, usize, Option<(In, String)>) =
        (false, 0, None);
    let mut where_stack: Vec<In> = Vec::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| Rejection::Malformed(e.to_string()))?;
        let ns = match &ns {
            ResolveResult::Bound(n) => n.as_ref().to_owned(),
            _ => String::new(),
        };
        match event {
            Event::DocType(_) => return Err(Rejection::Doctype),
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_owned();
                let algorithm = || crate::xml::attr(&e, "Algorithm");
                match (ns.as_str(), local.as_str()) {
                    (NS_A, "EncryptedAssertion") => inside = true,
                    (NS_XENC, "EncryptedData") if inside => where_stack.push(In::Data),
                    (NS_XENC, "EncryptedKey") if inside => {
                        depth_in_key += 1;
                        where_stack.push(In::Key);
                    }
                    (NS_XENC, "EncryptionMethod") if inside => match where_stack.last() {
                        Some(In::Key) => out.key_algorithm = algorithm().unwrap_or_default(),
                        Some(In::Data) if depth_in_key == 0 => {
                            out.data_algorithm = algorithm().unwrap_or_default()
                        }
                        _ => {}
                    },
                    (NS_DS, "DigestMethod") if depth_in_key > 0 => out.key_digest = algorithm(),
                    (NS_XENC11, "MGF") if depth_in_key > 0 => out.key_mgf = algorithm(),
                    (NS_XENC, "CipherValue") if inside => {
                        capture = where_stack.last().map(|w| (*w, String::new()));
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some((_, buf)) = capture.as_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Event::End(e) => {
                let local = e.local_name().as_ref().to_owned();
                match (ns.as_str(), local.as_str()) {
                    (NS_XENC, "CipherValue") => match capture.take() {
                        Some((In::Key, v)) if out.key_cipher.is_empty() => out.key_cipher = v,
                        Some((In::Data, v)) if out.data_cipher.is_empty() && depth_in_key == 0 => {
                            out.data_cipher = v
                        }
                        _ => {}
                    },
                    (NS_XENC, "EncryptedKey") if inside => {
                        depth_in_key = depth_in_key.saturating_sub(1);
                        where_stack.pop();
                    }
                    (NS_XENC, "EncryptedData") if inside => {
                        where_stack.pop();
                    }
                    (NS_A, "EncryptedAssertion") => break,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if out.key_cipher.is_empty() || out.data_cipher.is_empty() {
        return Err(Rejection::Undecryptable(DecryptFailure::Incomplete));
    }
    Ok(out)
}

fn md(uri: Option<&str>) -> Option<&'static openssl::md::MdRef> {
    Some(match uri {
        None
        | Some("http://www.w3.org/2000/09/xmldsig#sha1")
        | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => Md::sha1(),
        Some("http://www.w3.org/2001/04/xmlenc#sha256")
        | Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => Md::sha256(),
        Some("http://www.w3.org/2001/04/xmldsig-more#sha384")
        | Some("http://www.w3.org/2009/xmlenc11#mgf1sha384") => Md::sha384(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512")
        | Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => Md::sha512(),
        _ => return None,
    })
}

/// Why an encrypted assertion was not decrypted: for the log only (the browser sees one
/// page whatever the cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptFailure {
    /// No or incomplete `EncryptedKey`/`EncryptedData`.
    Incomplete,
    /// A key transport other than RSA-OAEP (RSA PKCS#1 v1.5 is refused), or an
    /// unknown digest for it.
    KeyTransportRefused,
    /// A content cipher other than AES-GCM/CBC (3DES is refused).
    CipherRefused,
    /// AES-CBC in a Response whose signature was not verified first.
    CbcOutsideSignedResponse,
    /// The key did not unwrap (not encrypted to our key, or damaged).
    KeyUnwrap,
    /// The content did not decrypt (tag, padding, length: altered or damaged).
    Content,
}

impl DecryptFailure {
    /// The label used in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::KeyTransportRefused => "key_transport_refused",
            Self::CipherRefused => "cipher_refused",
            Self::CbcOutsideSignedResponse => "cbc_outside_signed_response",
            Self::KeyUnwrap => "key_unwrap",
            Self::Content => "content",
        }
    }
}

impl std::fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Incomplete => "no complete EncryptedKey and EncryptedData",
            Self::KeyTransportRefused => {
                "key transport refused (only RSA-OAEP; RSA PKCS#1 v1.5 is refused)"
            }
            Self::CipherRefused => "content cipher refused (only AES-GCM, or AES-CBC in a signed Response; 3DES is refused)",
            Self::CbcOutsideSignedResponse => {
                "AES-CBC outside a Response whose signature verified (malleable: refused)"
            }
            Self::KeyUnwrap => "the key did not unwrap with our encryption key",
            Self::Content => "the content did not decrypt (altered or damaged)",
        })
    }
}

fn unwrap_key(enc: &Encrypted, key: &PKey<Private>) -> Result<Vec<u8>, DecryptFailure> {
    let refused = DecryptFailure::KeyTransportRefused;
    let (digest, mgf) = match enc.key_algorithm.as_str() {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => {
            (md(enc.key_digest.as_deref()).ok_or(refused)?, Md::sha1())
        }
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => (
            md(enc.key_digest.as_deref()).ok_or(refused)?,
            md(enc.key_mgf.as_deref()).ok_or(refused)?,
        ),
        _ => return Err(refused),
    };
    unwrap_oaep(enc, key, digest, mgf).ok_or(DecryptFailure::KeyUnwrap)
}

fn unwrap_oaep(
    enc: &Encrypted,
    key: &PKey<Private>,
    digest: &openssl::md::MdRef,
    mgf: &openssl::md::MdRef,
) -> Option<Vec<u8>> {
    let wrapped = B64
        .decode(enc.key_cipher.split_whitespace().collect::<String>())
        .ok()?;
    let mut ctx = PkeyCtx::new(key).ok()?;
    ctx.decrypt_init().ok()?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).ok()?;
    ctx.set_rsa_oaep_md(digest).ok()?;
    ctx.set_rsa_mgf1_md(mgf).ok()?;
    let mut out = Vec::new();
    ctx.decrypt_to_vec(&wrapped, &mut out).ok()?;
    Some(out)
}

fn content(enc: &Encrypted, aes_key: &[u8], allow_cbc: bool) -> Result<Vec<u8>, DecryptFailure> {
    let (cipher, gcm) = match enc.data_algorithm.as_str() {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        _ => return Err(DecryptFailure::CipherRefused),
    };
    if !gcm && !allow_cbc {
        return Err(DecryptFailure::CbcOutsideSignedResponse);
    }
    decipher(enc, aes_key, cipher, gcm).ok_or(DecryptFailure::Content)
}

fn decipher(enc: &Encrypted, aes_key: &[u8], cipher: Cipher, gcm: bool) -> Option<Vec<u8>> {
    let data = B64
        .decode(enc.data_cipher.split_whitespace().collect::<String>())
        .ok()?;
    if aes_key.len() != cipher.key_len() {
        return None;
    }
    if gcm {
        if data.len() < 12 + 16 {
            return None;
        }
        let (iv, rest) = data.split_at(12);
        let (ciphertext, tag) = rest.split_at(rest.len() - 16);
        return decrypt_aead(cipher, aes_key, Some(iv), &[], ciphertext, tag).ok();
    }
    if data.len() < 32 || data.len() % 16 != 0 {
        return None;
    }
    let (iv, ciphertext) = data.split_at(16);
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, aes_key, Some(iv)).ok()?;
    crypter.pad(false);
    let mut plain = vec![0u8; ciphertext.len() + 16];
    let mut n = crypter.update(ciphertext, &mut plain).ok()?;
    n += crypter.finalize(plain.get_mut(n..)?).ok()?;
    plain.truncate(n);
    // XML Encryption padding: the last byte says how many bytes to drop (1..=16).
    let pad = usize::from(*plain.last()?);
    if pad == 0 || pad > 16 || pad > plain.len() {
        return None;
    }
    plain.truncate(plain.len() - pad);
    Some(plain)
}

/// Decrypts to the assertion's XML text.
pub(crate) fn decrypt(
    enc: &Encrypted,
    key: &PKey<Private>,
    allow_cbc: bool,
) -> Result<String, Rejection> {
    let aes_key = unwrap_key(enc, key).map_err(Rejection::Undecryptable)?;
    let plain = content(enc, &aes_key, allow_cbc).map_err(Rejection::Undecryptable)?;
    String::from_utf8(plain).map_err(|_| Rejection::Undecryptable(DecryptFailure::Content))
}
