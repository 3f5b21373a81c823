//! One signature, one policy: same-document references only; canonicalization (inclusive
//! or exclusive, with or without comments) and the enveloped-signature transform; digests
//! SHA-256/384/512; signatures RSA or ECDSA with SHA-256/384/512. Everything else —
//! SHA-1, HMAC, DSA, XPath, XSLT, Base64, remote URIs — is not enabled, so xmlsec refuses
//! it while reading the `SignedInfo`, before any digest is computed.

use std::ptr::NonNull;

use crate::dom::Node;
use crate::{Error, Key, Signed, ffi, text};

type Klass = unsafe extern "C" fn() -> ffi::xmlSecTransformId;

const C14N: [Klass; 4] = [
    ffi::xmlSecTransformExclC14NGetKlass,
    ffi::xmlSecTransformExclC14NWithCommentsGetKlass,
    ffi::xmlSecTransformInclC14NGetKlass,
    ffi::xmlSecTransformInclC14NWithCommentsGetKlass,
];

const REFERENCE: [Klass; 4] = [
    ffi::xmlSecTransformEnvelopedGetKlass,
    ffi::xmlSecOpenSSLTransformSha256GetKlass,
    ffi::xmlSecOpenSSLTransformSha384GetKlass,
    ffi::xmlSecOpenSSLTransformSha512GetKlass,
];

const SIGNATURE: [Klass; 6] = [
    ffi::xmlSecOpenSSLTransformRsaSha256GetKlass,
    ffi::xmlSecOpenSSLTransformRsaSha384GetKlass,
    ffi::xmlSecOpenSSLTransformRsaSha512GetKlass,
    ffi::xmlSecOpenSSLTransformEcdsaSha256GetKlass,
    ffi::xmlSecOpenSSLTransformEcdsaSha384GetKlass,
    ffi::xmlSecOpenSSLTransformEcdsaSha512GetKlass,
];

/// A signature context, destroyed (with the key it owns) on drop.
struct Context(NonNull<ffi::_xmlSecDSigCtx>);

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: created by `xmlSecDSigCtxCreate`, owned here, destroyed once; this also
        // destroys the duplicated key the context took ownership of.
        unsafe { ffi::xmlSecDSigCtxDestroy(self.0.as_ptr()) }
    }
}

impl Context {
    fn new(key: &Key, store_references: bool) -> Result<Self, Error> {
        // SAFETY: no keys manager: the only key is the one set below.
        let ctx = unsafe { ffi::xmlSecDSigCtxCreate(std::ptr::null_mut()) };
        let ctx = Self(NonNull::new(ctx).ok_or_else(|| Error::Init(ffi::last_error()))?);
        let p = ctx.0.as_ptr();
        let enable =
            |f: unsafe extern "C" fn(*mut ffi::_xmlSecDSigCtx, ffi::xmlSecTransformId) -> i32,
             klass: Klass| {
                // SAFETY: `p` is a valid context; the klass getters return static descriptors.
                if unsafe { f(p, klass()) } < 0 {
                    return Err(Error::Init(ffi::last_error()));
                }
                Ok(())
            };
        for klass in C14N.iter().chain(&REFERENCE) {
            enable(ffi::xmlSecDSigCtxEnableReferenceTransform, *klass)?;
        }
        for klass in C14N.iter().chain(&SIGNATURE) {
            enable(ffi::xmlSecDSigCtxEnableSignatureTransform, *klass)?;
        }
        let key = key.duplicate()?;
        // SAFETY: `p` is valid and not in use; the context takes ownership of the key.
        unsafe {
            (*p).enabledReferenceUris =
                ffi::xmlSecTransformUriTypeEmpty | ffi::xmlSecTransformUriTypeSameDocument;
            if store_references {
                (*p).flags |= ffi::XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES;
            }
            (*p).signKey = key.as_ptr();
        }
        Ok(ctx)
    }

    /// The `SignedInfo` references of a verified signature, with their pre-digest
    /// content when it was kept.
    fn references(&self, with_content: bool) -> Result<Vec<Signed>, Error> {
        let p = self.0.as_ptr();
        // SAFETY: `p` is a valid context after a successful verification; the list and
        // its items are owned by it and read only here, before it is dropped.
        unsafe {
            let list = &raw mut (*p).signedInfoReferences;
            let count = ffi::xmlSecPtrListGetSize(list);
            let mut out = Vec::new();
            for i in 0..count {
                let item =
                    ffi::xmlSecPtrListGetItem(list, i).cast::<ffi::_xmlSecDSigReferenceCtx>();
                let reference = item
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("missing reference".into()))?;
                if reference.status != ffi::xmlSecDSigStatus_xmlSecDSigStatusSucceeded {
                    return Err(Error::Invalid("a reference did not verify".into()));
                }
                let content = if with_content {
                    let buffer = ffi::xmlSecDSigReferenceCtxGetPreDigestBuffer(item);
                    if buffer.is_null() {
                        return Err(Error::Invalid("no pre-digest content".into()));
                    }
                    let data = ffi::xmlSecBufferGetData(buffer);
                    let size = ffi::xmlSecBufferGetSize(buffer) as usize;
                    if data.is_null() || size == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(data, size).to_vec()
                    }
                } else {
                    Vec::new()
                };
                out.push(Signed {
                    uri: text(reference.uri),
                    content,
                });
            }
            Ok(out)
        }
    }
}

/// Verifies `signature` with each key in turn (a context takes one key: given several,
/// xmlsec would stop at the first of the wrong type) and returns its references.
pub(crate) fn verify(
    signature: Node<'_>,
    keys: &[&Key],
    with_content: bool,
) -> Result<Vec<Signed>, Error> {
    let mut failure = String::from("no key to verify with");
    for key in keys {
        ffi::clear_error();
        let ctx = Context::new(key, with_content)?;
        // SAFETY: `signature` is a `ds:Signature` element of a live document, `ctx` a
        // fresh context holding one key.
        let (rc, status) = unsafe {
            let rc = ffi::xmlSecDSigCtxVerify(ctx.0.as_ptr(), signature.ptr());
            (rc, (*ctx.0.as_ptr()).status)
        };
        if rc >= 0 && status == ffi::xmlSecDSigStatus_xmlSecDSigStatusSucceeded {
            return ctx.references(with_content);
        }
        failure = if rc < 0 {
            let detail = ffi::last_error();
            if let Some(uri) = refused_algorithm(&detail) {
                return Err(Error::Algorithm(uri));
            }
            detail
        } else {
            "the signature does not match the content (altered, or signed by another key)".into()
        };
    }
    Err(Error::Invalid(failure))
}

/// The URI of a transform or algorithm xmlsec refused to read (it is not enabled: see
/// the module's list), from its error text (`…href=URI…`).
fn refused_algorithm(detail: &str) -> Option<String> {
    let (_, rest) = detail.split_once("href=")?;
    let uri: String = rest
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ';' | ','))
        .collect();
    (!uri.is_empty()).then_some(uri)
}
