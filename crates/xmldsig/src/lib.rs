//! XML signature verification with pinned keys: a narrow, safe wrapper over libxmlsec1
//! (OpenSSL backend), the one crate of the workspace allowed `unsafe`.
//!
//! Why it exists: samael's verifier reloads the certificate for every signature (OpenSSL 3
//! decoders: half the cost of an ACS validation), walks the whole DOM from Rust twice and
//! copies the signed content out — most of the cost of loading a federation aggregate,
//! and three copies of it in memory. Here keys are loaded once ([`Key`]) and duplicated
//! per verification, the DOM is walked with plain pointer reads, and a feed's signature can
//! be checked without copying what it covers.
//!
//! What it must never do: take a key from the document (the context's key is set before
//! verifying, so xmlsec never reads `KeyInfo` for one), follow a reference outside the
//! document, accept an algorithm or transform outside [`policy`] (SHA-1, HMAC, XPath, XSLT
//! are not enabled), or let a pointer outlive the document it points into (every pointer
//! lives inside one function, between the parse and the `Drop` of [`dom::Doc`]).
//! The cryptography, canonicalization and signature processing are all libxmlsec1's.

mod dom;
mod ffi;
mod policy;
mod prolog;

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

use dom::Doc;
pub use prolog::utf8_document;

/// Why a document did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// libxmlsec1 could not be initialised.
    #[error("the XML security library could not be initialised: {0}")]
    Init(String),
    /// The certificate could not be loaded as a verification key.
    #[error("not a usable certificate: {0}")]
    Key(String),
    /// Not well-formed XML (or too large for the parser).
    #[error("not well-formed XML")]
    NotXml,
    /// The document carries a DTD.
    #[error("the document carries a DOCTYPE")]
    Doctype,
    /// The bytes are not UTF-8 XML that says so (see [`utf8_document`]).
    #[error("encoding: {0}")]
    Encoding(String),
    /// Something other than comments and white space outside the root element.
    #[error("outside the root element: {0}")]
    OutsideRoot(String),
    /// An `ID` attribute is not an NCName, or two elements share one.
    #[error("ID attributes: {0}")]
    Ids(String),
    /// No `ds:Signature` where one is required.
    #[error("no signature")]
    NoSignature,
    /// The signature is not where the profile puts it, or there are several.
    #[error("signature placement: {0}")]
    Placement(String),
    /// The signature uses an algorithm or transform outside the policy (SHA-1, HMAC,
    /// XPath…): its URI.
    #[error("refused algorithm {0}")]
    Algorithm(String),
    /// The signature did not verify with any of the keys.
    #[error("signature did not verify: {0}")]
    Invalid(String),
    /// The signature verified but does not cover what the profile requires.
    #[error("signature reference: {0}")]
    Reference(String),
}

/// A verification key, loaded once from a DER certificate and shared by every thread.
pub struct Key {
    /// Guarded: xmlsec objects are not documented as safe for concurrent use, even for
    /// reading; the lock is held only while the key is duplicated for one verification.
    inner: Mutex<KeyPtr>,
}

struct KeyPtr(NonNull<ffi::_xmlSecKey>);

// SAFETY: the key is owned by this value alone (never shared with xmlsec beyond a call
// that duplicates it) and every access goes through the `Mutex` in `Key`.
unsafe impl Send for KeyPtr {}

impl Drop for KeyPtr {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xmlsec's loader, is owned here and freed once.
        unsafe { ffi::xmlSecKeyDestroy(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// Loads the public key of a DER X.509 certificate. Only the key is kept (not the
    /// certificate): duplicating a key that carries X.509 data re-encodes and re-parses
    /// the certificate, as costly as loading it.
    ///
    /// # Errors
    /// [`Error::Init`], [`Error::Key`] when the bytes are not a certificate with an RSA or
    /// EC key.
    pub fn from_cert_der(der: &[u8]) -> Result<Self, Error> {
        init()?;
        let cert = openssl::x509::X509::from_der(der).map_err(|e| Error::Key(e.to_string()))?;
        let public = cert.public_key().map_err(|e| Error::Key(e.to_string()))?;
        if !matches!(public.id(), openssl::pkey::Id::RSA | openssl::pkey::Id::EC) {
            return Err(Error::Key("not an RSA or EC key".into()));
        }
        let spki = public
            .public_key_to_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        let len = u32::try_from(spki.len()).map_err(|_| Error::Key("too large".into()))?;
        let _errors = ffi::ErrorCapture::start();
        // SAFETY: `spki` is valid for `len` bytes during the call; xmlsec copies what it
        // keeps; no password callback is involved for a public key.
        let key = unsafe {
            ffi::xmlSecOpenSSLAppKeyLoadMemory(
                spki.as_ptr(),
                len,
                ffi::xmlSecKeyDataFormat_xmlSecKeyDataFormatDer,
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let key = NonNull::new(key).ok_or_else(|| Error::Key(ffi::last_error()))?;
        Ok(Self {
            inner: Mutex::new(KeyPtr(key)),
        })
    }

    /// A copy of the key for one signature context (which takes ownership of it).
    fn duplicate(&self) -> Result<NonNull<ffi::_xmlSecKey>, Error> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| Error::Key("key lock poisoned".into()))?;
        // SAFETY: the key is valid (owned by `guard`), and xmlsec only reads it here.
        let copy = unsafe { ffi::xmlSecKeyDuplicate(guard.0.as_ptr()) };
        NonNull::new(copy).ok_or_else(|| Error::Key("could not duplicate the key".into()))
    }
}

/// What one verified reference covered: its URI and the pre-digest octets (the
/// canonical form of exactly what was signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The `Reference/@URI` (empty for the whole document).
    pub uri: String,
    /// The signed content as hashed (after the transforms).
    pub content: Vec<u8>,
}

/// Initialises libxml2 and libxmlsec1 once per process.
///
/// samael (which signs our AuthnRequests and the dev IdP's answers) initialises xmlsec
/// lazily inside itself and would do it a second time after us: re-registering xmlsec's
/// transform tables under a running process. So the one initialisation is samael's,
/// triggered through its public signing call on a throw-away key and a document without
/// a signature template (the call then fails harmlessly); then our error handler is set.
fn init() -> Result<(), Error> {
    static DONE: OnceLock<Result<(), Error>> = OnceLock::new();
    DONE.get_or_init(|| {
        use samael::crypto::CryptoProvider as _;
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
            .map_err(|e| Error::Init(e.to_string()))?;
        let der = openssl::ec::EcKey::generate(&group)
            .and_then(|k| k.private_key_to_der())
            .map_err(|e| Error::Init(e.to_string()))?;
        // Expected to fail (no Signature node): only its initialisation side effect counts.
        let _ = samael::crypto::XmlSec::sign_xml("<init/>", &der);
        ffi::install_error_handler();
        Ok(())
    })
    .clone()
}

/// Verifies a feed signed at its root (the SAML metadata profile): the document's root
/// element carries exactly one `ds:Signature` child, whose single reference is the root
/// itself (`URI=""`, or `#` + the root's `ID`), with the enveloped-signature transform;
/// it verifies with one of `keys`. On success the whole root element, minus that
/// signature, is what was signed: the caller may read the document as it is (comments
/// and the text outside the root are not signed and must be ignored by its reader).
///
/// # Errors
/// Every variant of [`Error`] but `Ids`.
pub fn verify_root(xml: &[u8], keys: &[&Key]) -> Result<(), Error> {
    let xml = utf8_document(xml)?;
    init()?;
    let _errors = ffi::ErrorCapture::start();
    let doc = Doc::parse(xml)?;
    let root = doc.root().ok_or(Error::NotXml)?;
    let root_id = dom::register_id(&doc, root)?;
    let mut signatures = dom::children(root).filter(|n| dom::is_dsig(*n, "Signature"));
    let signature = signatures.next().ok_or(Error::NoSignature)?;
    if signatures.next().is_some() {
        return Err(Error::Placement(
            "more than one signature on the root element".into(),
        ));
    }
    let references = policy::verify(signature, keys, false)?;
    let [reference] = references.as_slice() else {
        return Err(Error::Reference(format!(
            "{} references (exactly one, to the root, expected)",
            references.len()
        )));
    };
    let to_root = reference.uri.is_empty()
        || root_id
            .as_deref()
            .is_some_and(|id| reference.uri.strip_prefix('#') == Some(id));
    if !to_root {
        return Err(Error::Reference(format!(
            "the reference {:?} is not the root element",
            reference.uri
        )));
    }

    Ok(())
}

/// Verifies every `ds:Signature` of a document (a SAML protocol message): each must
/// verify with one of `keys`, after every `ID` attribute of the document was registered
/// (an ID that is not an NCName, or used twice, is refused: the wrapping attacks rely on
/// ambiguous IDs). Returns, per reference, the signed content as hashed — the only part
/// of the message the caller should read.
///
/// # Errors
/// Every variant of [`Error`] but `Placement`.
pub fn verify_all(xml: &[u8], keys: &[&Key]) -> Result<Vec<Signed>, Error> {
    let xml = utf8_document(xml)?;
    init()?;
    let _errors = ffi::ErrorCapture::start();
    let doc = Doc::parse(xml)?;
    let root = doc.root().ok_or(Error::NotXml)?;
    dom::register_all_ids(&doc, root)?;
    let signatures: Vec<_> = dom::descendants(root)
        .filter(|n| dom::is_dsig(*n, "Signature"))
        .collect();
    if signatures.is_empty() {
        return Err(Error::NoSignature);
    }
    let mut signed = Vec::new();
    for signature in signatures {
        signed.extend(policy::verify(signature, keys, true)?);
    }

    Ok(signed)
}

/// `CStr` of an xmlsec/libxml string, lossily decoded; empty for NULL.
fn text(ptr: *const u8) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null strings handed out by libxml2/xmlsec are NUL-terminated and live
    // at least as long as the structure they were read from, which outlives this call.
    unsafe { CStr::from_ptr(ptr.cast()) }
        .to_string_lossy()
        .into_owned()
}

/// Hands the heap pages that freed documents leave behind back to the system. glibc keeps
/// freed memory for reuse: an 80 MB feed's DOM (about 350 MB while it lives) would stay
/// in the process's resident set long after the verifier dropped it. A no-op where the
/// C library is not glibc. Costs a few milliseconds: call it once per feed load, not per
/// request.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointer; it only returns free pages of the
        // allocator's own arenas to the system and is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
}
