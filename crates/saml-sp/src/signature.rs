//! XML signature verification, one policy for feeds and responses: libxmlsec1 through
//! `passerelle-xmldsig`, with the given certificates only (never a key from the document),
//! RSA or ECDSA with SHA-256 or stronger, same-document references only.
//!
//! IdP certificates come from metadata as DER; loading one as a key costs more than the
//! verification itself (OpenSSL 3 decoders), so loaded keys are kept in a bounded cache
//! keyed by the certificate's bytes. A feed refresh that changes a certificate simply
//! makes a new entry; the cache is emptied when full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use passerelle_xmldsig::{Key, verify_all};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Most IdP certificates kept loaded (a national federation has a few hundred IdPs).
const CACHE_LIMIT: usize = 4096;

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The loaded key for a DER certificate, from the cache or loaded now.
pub(crate) fn key_for(der: &[u8]) -> Result<Arc<Key>, String> {
    static CACHE: Mutex<Option<HashMap<Vec<u8>, Arc<Key>>>> = Mutex::new(None);
    if let Ok(mut cache) = CACHE.lock()
        && let Some(key) = cache.get_or_insert_with(HashMap::new).get(der)
    {
        return Ok(key.clone());
    }
    let key = Arc::new(Key::from_cert_der(der).map_err(|e| e.to_string())?);
    if let Ok(mut cache) = CACHE.lock() {
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(der.to_vec(), key.clone());
    }
    Ok(key)
}

/// Whether the root element of `xml` is a SAML protocol `Response`.
fn root_is_response(xml: &str) -> bool {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(e) | Event::Empty(e))) => {
                return matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NS_PROTOCOL)
                    && e.local_name().as_ref() == "Response";
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Verifies every signature of a protocol message with the IdP's certificates and
/// returns the signed content: the single reference's, or — when both the Response and
/// its assertion are signed — the Response's, which contains the other.
///
/// # Errors
/// The verifier's error as text; or when the signed contents are not one message.
pub(crate) fn verify_signed(xml: &str, certs: &[Vec<u8>]) -> Result<String, String> {
    let keys = certs
        .iter()
        .map(|der| key_for(der))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<&Key> = keys.iter().map(AsRef::as_ref).collect();
    let signed = verify_all(xml.as_bytes(), &keys).map_err(|e| e.to_string())?;
    let mut contents = signed
        .into_iter()
        .map(|s| String::from_utf8(s.content).map_err(|_| "signed content is not UTF-8".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    if contents.len() == 1 {
        return Ok(contents.remove(0));
    }
    let mut responses: Vec<String> = contents
        .into_iter()
        .filter(|c| root_is_response(c))
        .collect();
    match responses.len() {
        1 => Ok(responses.remove(0)),
        n => Err(format!(
            "{n} signed responses among the references (exactly one expected)"
        )),
    }
}
