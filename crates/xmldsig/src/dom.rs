//! The parsed document and read-only walks over it.
//!
//! [`Doc`] owns a libxml2 document; a [`Node`] borrows it, so no node pointer can outlive
//! the tree it points into. Walks read the tree's links directly (no allocation per
//! node): a 80 MB federation aggregate is walked in milliseconds. The only writes are the
//! ID registrations, done before any signature is processed.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::{Error, ffi, text};

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// libxml2's structured error handler that drops the error (the caller reports
/// [`Error::NotXml`] itself). Never unwinds: it does nothing.
unsafe extern "C" fn quiet(_ctx: *mut std::ffi::c_void, _error: *mut ffi::_xmlError) {}

/// A parsed document, freed on drop.
pub(crate) struct Doc(NonNull<ffi::_xmlDoc>);

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: the document came from `xmlReadMemory`, is owned here and freed once;
        // no `Node` borrowing it can still exist (they borrow `self`).
        unsafe { ffi::xmlFreeDoc(self.0.as_ptr()) }
    }
}

impl Doc {
    /// Parses text already checked by [`crate::utf8_document`] as UTF-8, whatever the
    /// document declares (the same decoding every other reader of it uses), without network
    /// access, entity substitution or DTD loading, quietly (errors are reported as
    /// [`Error::NotXml`]); refuses a document that declares a DTD or holds anything but
    /// comments outside its root element. Size limits are the callers' (a feed's cap is
    /// checked before its bytes are read): libxml2's own 10 MB text-node limit would
    /// refuse real feeds with long comments, so `XML_PARSE_HUGE` lifts it.
    pub(crate) fn parse(xml: &str) -> Result<Self, Error> {
        let len = i32::try_from(xml.len()).map_err(|_| Error::NotXml)?;
        let options = ffi::xmlParserOption_XML_PARSE_NONET
            | ffi::xmlParserOption_XML_PARSE_NOERROR
            | ffi::xmlParserOption_XML_PARSE_NOWARNING
            | ffi::xmlParserOption_XML_PARSE_COMPACT
            | ffi::xmlParserOption_XML_PARSE_IGNORE_ENC
            | ffi::xmlParserOption_XML_PARSE_HUGE;
        let options = i32::try_from(options).map_err(|_| Error::NotXml)?;
        // Encoding and I/O errors bypass NOERROR and go to stderr unless a structured
        // handler is set (a per-thread setting in libxml2): hostile input makes no noise.
        // SAFETY: `quiet` is a valid handler for the program's lifetime; no context used.
        unsafe { ffi::xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(quiet)) };
        // SAFETY: `xml` is valid for `len` bytes during the call; libxml2 copies what it
        // keeps. No URL; the encoding is forced to UTF-8 (a NUL-terminated literal).
        let doc = unsafe {
            ffi::xmlReadMemory(
                xml.as_ptr().cast(),
                len,
                std::ptr::null(),
                c"UTF-8".as_ptr(),
                options,
            )
        };
        let doc = Self(NonNull::new(doc).ok_or(Error::NotXml)?);
        // SAFETY: `doc` is a valid document owned by `doc`.
        let raw = unsafe { doc.0.as_ref() };
        if !raw.intSubset.is_null() || !raw.extSubset.is_null() {
            return Err(Error::Doctype);
        }
        // libxml2 already refuses text and a second element outside the root; processing
        // instructions it keeps: none is signed or read, so none is accepted.
        let top = std::iter::successors(Node::new(raw.children), |n| n.next_sibling());
        for node in top {
            let kind = node.raw().type_;
            if kind != ffi::xmlElementType_XML_ELEMENT_NODE
                && kind != ffi::xmlElementType_XML_COMMENT_NODE
            {
                return Err(Error::OutsideRoot(
                    "a processing instruction or other node".into(),
                ));
            }
        }
        Ok(doc)
    }

    /// The root element.
    pub(crate) fn root(&self) -> Option<Node<'_>> {
        // SAFETY: the document is valid while `self` lives; the root belongs to it.
        Node::new(unsafe { ffi::xmlDocGetRootElement(self.0.as_ptr()) })
    }

    /// Whether the parser registered IDs of its own (`xml:id` attributes).
    fn has_parser_ids(&self) -> bool {
        // SAFETY: reading a field of a valid document.
        !unsafe { self.0.as_ref() }.ids.is_null()
    }
}

/// An element or other node of a [`Doc`], valid as long as the document.
#[derive(Clone, Copy)]
pub(crate) struct Node<'d>(NonNull<ffi::_xmlNode>, PhantomData<&'d Doc>);

impl<'d> Node<'d> {
    fn new(ptr: *mut ffi::_xmlNode) -> Option<Self> {
        NonNull::new(ptr).map(|p| Self(p, PhantomData))
    }

    fn raw(&self) -> &'d ffi::_xmlNode {
        // SAFETY: the node belongs to a document borrowed for 'd and not mutated in a way
        // that frees nodes while borrowed (only ID registrations happen).
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn ptr(&self) -> *mut ffi::_xmlNode {
        self.0.as_ptr()
    }

    fn is_element(&self) -> bool {
        self.raw().type_ == ffi::xmlElementType_XML_ELEMENT_NODE
    }

    fn first_child(&self) -> Option<Self> {
        Self::new(self.raw().children)
    }

    fn next_sibling(&self) -> Option<Self> {
        Self::new(self.raw().next)
    }

    fn parent(&self) -> Option<Self> {
        Self::new(self.raw().parent)
    }

    fn name_is(&self, local: &str) -> bool {
        let name = self.raw().name;
        // SAFETY: element names are NUL-terminated strings owned by the document.
        !name.is_null()
            && unsafe { std::ffi::CStr::from_ptr(name.cast()) }.to_bytes() == local.as_bytes()
    }

    fn namespace_is(&self, uri: &str) -> bool {
        let ns = self.raw().ns;
        if ns.is_null() {
            return false;
        }
        // SAFETY: a non-null `ns` points to a namespace owned by the document.
        let href = unsafe { (*ns).href };
        // SAFETY: namespace URIs are NUL-terminated strings owned by the document.
        !href.is_null()
            && unsafe { std::ffi::CStr::from_ptr(href.cast()) }.to_bytes() == uri.as_bytes()
    }

    /// The unqualified attribute `ID`: the attribute node and its value.
    fn id_attribute(&self) -> Result<Option<(*mut ffi::_xmlAttr, String)>, Error> {
        let mut attr = self.raw().properties;
        while !attr.is_null() {
            // SAFETY: a non-null attribute of the list belongs to the document.
            let a = unsafe { &*attr };
            // SAFETY: attribute names are NUL-terminated strings owned by the document.
            let named_id = !a.name.is_null()
                && a.ns.is_null()
                && unsafe { std::ffi::CStr::from_ptr(a.name.cast()) }.to_bytes() == b"ID";
            if named_id {
                // The value of an attribute without entity references is one text node.
                let value = match Self::new(a.children) {
                    None => String::new(),
                    Some(t)
                        if t.next_sibling().is_none()
                            && t.raw().type_ == ffi::xmlElementType_XML_TEXT_NODE =>
                    {
                        text(t.raw().content)
                    }
                    Some(_) => return Err(Error::Ids("an ID value is not plain text".into())),
                };
                return Ok(Some((attr, value)));
            }
            attr = a.next;
        }
        Ok(None)
    }
}

/// Whether `node` is the XML-DSig element `local`.
pub(crate) fn is_dsig(node: Node<'_>, local: &str) -> bool {
    node.is_element() && node.name_is(local) && node.namespace_is(DSIG_NS)
}

/// The child elements of `node`.
pub(crate) fn children<'d>(node: Node<'d>) -> impl Iterator<Item = Node<'d>> {
    std::iter::successors(node.first_child(), |n| n.next_sibling()).filter(Node::is_element)
}

/// `root` and every element under it, in document order.
pub(crate) fn descendants<'d>(root: Node<'d>) -> impl Iterator<Item = Node<'d>> {
    let mut next = Some(root);
    std::iter::from_fn(move || {
        let current = next?;
        // Only elements' children are walked: an entity reference's `children` belong to
        // the entity declaration (none can exist here — DTDs are refused — but the walk
        // must not depend on that).
        let child = if current.is_element() {
            current.first_child()
        } else {
            None
        };
        next = child.or_else(|| {
            let mut up = Some(current);
            while let Some(n) = up {
                if n.0 == root.0 {
                    return None;
                }
                if let Some(sibling) = n.next_sibling() {
                    return Some(sibling);
                }
                up = n.parent();
            }
            None
        });
        Some(current)
    })
    .filter(Node::is_element)
}

fn is_ncname(value: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(value) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    !value.is_empty() && unsafe { ffi::xmlValidateNCName(c.as_ptr().cast(), 0) } == 0
}

fn add_id(doc: &Doc, attr: *mut ffi::_xmlAttr, value: &str) -> Result<(), Error> {
    if !is_ncname(value) {
        return Err(Error::Ids(format!("{value:?} is not an NCName")));
    }
    let c = std::ffi::CString::new(value).map_err(|_| Error::Ids("NUL in an ID".into()))?;
    // SAFETY: `attr` is an attribute of `doc`, `c` a valid string (copied by libxml2).
    let id = unsafe {
        ffi::xmlAddID(
            std::ptr::null_mut(),
            doc.0.as_ptr(),
            c.as_ptr().cast(),
            attr,
        )
    };
    if id.is_null() {
        return Err(Error::Ids(format!("the ID {value:?} is declared twice")));
    }
    Ok(())
}

/// Registers `node`'s `ID` attribute (if any) as the document's only ID; returns it.
pub(crate) fn register_id(doc: &Doc, node: Node<'_>) -> Result<Option<String>, Error> {
    let Some((attr, value)) = node.id_attribute()? else {
        return Ok(None);
    };
    add_id(doc, attr, &value)?;
    Ok(Some(value))
}

/// Registers every `ID` attribute of the document; an ID used twice, one that is not an
/// NCName, or any `xml:id` (which the parser registers on its own) is refused.
pub(crate) fn register_all_ids(doc: &Doc, root: Node<'_>) -> Result<(), Error> {
    if doc.has_parser_ids() {
        return Err(Error::Ids("xml:id attributes are not accepted".into()));
    }
    let mut seen = HashSet::new();
    for node in descendants(root) {
        if let Some((attr, value)) = node.id_attribute()? {
            if !seen.insert(value.clone()) {
                return Err(Error::Ids(format!("the ID {value:?} is declared twice")));
            }
            add_id(doc, attr, &value)?;
        }
    }
    Ok(())
}
