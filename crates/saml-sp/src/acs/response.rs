//! A streaming reader for SAML Responses and Assertions — of *verified* content, except
//! for [`peek`], which reads only what routing needs (the issuer, the status, whether a
//! signature is present) from the raw envelope and decides nothing that grants access.
//!
//! Text is gathered across comments, CDATA and entity references, so a comment inside a
//! NameID never shortens it. Elements of other namespaces are ignored.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::error::Error;
use crate::xml::{Outline, attr, resolve_ref};

const NS_P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const MAX_DEPTH: usize = 64;

/// A `SubjectConfirmation` with its data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// `Method`.
    pub method: String,
    /// `SubjectConfirmationData/@Recipient`.
    pub recipient: Option<String>,
    /// `…/@NotOnOrAfter`.
    pub not_on_or_after: Option<String>,
    /// `…/@NotBefore`.
    pub not_before: Option<String>,
    /// `…/@InResponseTo`.
    pub in_response_to: Option<String>,
}

/// One attribute and its values (an `eduPersonTargetedID` NameID value is its text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribute {
    /// `Name` (a URI for the profiles we accept).
    pub name: String,
    /// Values, trimmed, empty ones dropped.
    pub values: Vec<String>,
}

/// An assertion, as read from verified content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assertion {
    /// `ID`.
    pub id: String,
    /// `Issuer`.
    pub issuer: String,
    /// `Subject/NameID` text and `Format`.
    pub name_id: Option<(String, Option<String>)>,
    /// Subject confirmations.
    pub confirmations: Vec<Confirmation>,
    /// `Conditions/@NotBefore`.
    pub not_before: Option<String>,
    /// `Conditions/@NotOnOrAfter`.
    pub not_on_or_after: Option<String>,
    /// Whether a `Conditions` element was present.
    pub has_conditions: bool,
    /// One entry per `AudienceRestriction`: its audiences.
    pub audience_restrictions: Vec<Vec<String>>,
    /// `AuthnStatement/@AuthnInstant`, if any statement.
    pub authn_instant: Option<String>,
    /// `AuthnStatement/@SessionIndex`.
    pub session_index: Option<String>,
    /// `AuthnContextClassRef`.
    pub authn_context: Option<String>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

/// A response (or a lone assertion) as read from verified content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Whether the root is a `samlp:Response` (else a `saml:Assertion`).
    pub is_response: bool,
    /// `Response/@Destination`.
    pub destination: Option<String>,
    /// `Response/@InResponseTo`.
    pub in_response_to: Option<String>,
    /// `Response/Issuer`.
    pub issuer: Option<String>,
    /// Top-level status code and its first sub-code.
    pub status: Option<(String, Option<String>)>,
    /// Plain assertions.
    pub assertions: Vec<Assertion>,
    /// `EncryptedAssertion` elements met.
    pub encrypted_assertions: usize,
}

/// What routing may know before verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peek {
    /// The first `Issuer` met (the response's, else the assertion's).
    pub issuer: Option<String>,
    /// The top-level status.
    pub status: Option<(String, Option<String>)>,
    /// Whether any `ds:Signature` is present.
    pub signed: bool,
    /// `saml:Assertion` and `saml:EncryptedAssertion` elements anywhere in the document.
    pub assertions: usize,
    /// Whether one of them is an `EncryptedAssertion`.
    pub encrypted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Response,
    Issuer,
    Status,
    StatusCode,
    Assertion,
    Subject,
    NameId,
    Confirmation,
    Conditions,
    AudienceRestriction,
    Audience,
    AuthnStatement,
    ClassRef,
    Attribute,
    AttributeValue,
    EncryptedAssertion,
    Signature,
    Other,
}

#[derive(Default)]
struct Reader {
    stack: Vec<Tag>,
    out: Parsed,
    peek: Peek,
    text: Option<String>,
    current: Option<Assertion>,
    attribute: Option<Attribute>,
    restriction: Option<Vec<String>>,
}

impl Reader {
    fn parent(&self) -> Option<Tag> {
        self.stack.last().copied()
    }

    fn open(&mut self, ns: &str, e: &BytesStart<'_>) -> Tag {
        let local = e.local_name();
        let parent = self.parent();
        if ns == NS_A && matches!(local.as_ref(), "Assertion" | "EncryptedAssertion") {
            self.peek.assertions += 1;
            self.peek.encrypted |= local.as_ref() == "EncryptedAssertion";
        }
        let tag = match (ns, local.as_ref()) {
            (NS_P, "Response") if self.stack.is_empty() => {
                self.out.is_response = true;
                self.out.destination = attr(e, "Destination");
                self.out.in_response_to = attr(e, "InResponseTo");
                Tag::Response
            }
            (NS_A, "Issuer") if matches!(parent, Some(Tag::Response | Tag::Assertion)) => {
                Tag::Issuer
            }
            (NS_P, "Status") if parent == Some(Tag::Response) => Tag::Status,
            (NS_P, "StatusCode") if matches!(parent, Some(Tag::Status | Tag::StatusCode)) => {
                let value = attr(e, "Value").unwrap_or_default();
                match (&mut self.out.status, parent) {
                    (None, Some(Tag::Status)) => self.out.status = Some((value, None)),
                    (Some((_, sub @ None)), Some(Tag::StatusCode)) => *sub = Some(value),
                    _ => {}
                }
                Tag::StatusCode
            }
            (NS_A, "Assertion") if matches!(parent, None | Some(Tag::Response)) => {
                self.current = Some(Assertion {
                    id: attr(e, "ID").unwrap_or_default(),
                    ..Assertion::default()
                });
                Tag::Assertion
            }
            (NS_A, "EncryptedAssertion") if parent == Some(Tag::Response) => {
                self.out.encrypted_assertions += 1;
                Tag::EncryptedAssertion
            }
            (NS_A, "Subject") if parent == Some(Tag::Assertion) => Tag::Subject,
            (NS_A, "NameID") if parent == Some(Tag::Subject) => {
                if let Some(a) = self.current.as_mut() {
                    a.name_id = Some((String::new(), attr(e, "Format")));
                }
                Tag::NameId
            }
            (NS_A, "SubjectConfirmation") if parent == Some(Tag::Subject) => {
                if let Some(a) = self.current.as_mut() {
                    a.confirmations.push(Confirmation {
                        method: attr(e, "Method").unwrap_or_default(),
                        ..Confirmation::default()
                    });
                }
                Tag::Confirmation
            }
            (NS_A, "SubjectConfirmationData") if parent == Some(Tag::Confirmation) => {
                if let Some(c) = self
                    .current
                    .as_mut()
                    .and_then(|a| a.confirmations.last_mut())
                {
                    c.recipient = attr(e, "Recipient");
                    c.not_on_or_after = attr(e, "NotOnOrAfter");
                    c.not_before = attr(e, "NotBefore");
                    c.in_response_to = attr(e, "InResponseTo");
                }
                Tag::Other
            }
            (NS_A, "Conditions") if parent == Some(Tag::Assertion) => {
                if let Some(a) = self.current.as_mut() {
                    a.has_conditions = true;
                    a.not_before = attr(e, "NotBefore");
                    a.not_on_or_after = attr(e, "NotOnOrAfter");
                }
                Tag::Conditions
            }
            (NS_A, "AudienceRestriction") if parent == Some(Tag::Conditions) => {
                self.restriction = Some(Vec::new());
                Tag::AudienceRestriction
            }
            (NS_A, "Audience") if parent == Some(Tag::AudienceRestriction) => Tag::Audience,
            (NS_A, "AuthnStatement") if parent == Some(Tag::Assertion) => {
                if let Some(a) = self.current.as_mut() {
                    a.authn_instant = attr(e, "AuthnInstant").or(Some(String::new()));
                    a.session_index = attr(e, "SessionIndex");
                }
                Tag::AuthnStatement
            }
            (NS_A, "AuthnContextClassRef") if self.stack.contains(&Tag::AuthnStatement) => {
                Tag::ClassRef
            }
            (NS_A, "Attribute") if self.stack.contains(&Tag::Assertion) => {
                self.attribute = Some(Attribute {
                    name: attr(e, "Name").unwrap_or_default(),
                    values: Vec::new(),
                });
                Tag::Attribute
            }
            (NS_A, "AttributeValue") if parent == Some(Tag::Attribute) => Tag::AttributeValue,
            (NS_DS, "Signature") => {
                self.peek.signed = true;
                Tag::Signature
            }
            _ => Tag::Other,
        };
        if matches!(
            tag,
            Tag::Issuer | Tag::NameId | Tag::Audience | Tag::ClassRef | Tag::AttributeValue
        ) {
            self.text = Some(String::new());
        }
        tag
    }

    fn close(&mut self, tag: Tag) {
        let text = || {
            self.text
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        match tag {
            Tag::Issuer => {
                let value = text();
                if self.peek.issuer.is_none() {
                    self.peek.issuer = Some(value.clone());
                }
                match (self.parent(), self.current.as_mut()) {
                    (Some(Tag::Assertion), Some(a)) => a.issuer = value,
                    (Some(Tag::Response), _) => self.out.issuer = Some(value),
                    _ => {}
                }
            }
            Tag::NameId => {
                let value = text();
                if let Some((v, _)) = self.current.as_mut().and_then(|a| a.name_id.as_mut()) {
                    *v = value;
                }
            }
            Tag::Audience => {
                let value = text();
                if let Some(r) = self.restriction.as_mut() {
                    r.push(value);
                }
            }
            Tag::AudienceRestriction => {
                if let (Some(r), Some(a)) = (self.restriction.take(), self.current.as_mut()) {
                    a.audience_restrictions.push(r);
                }
            }
            Tag::ClassRef => {
                let value = text();
                if let Some(a) = self.current.as_mut() {
                    a.authn_context = Some(value);
                }
            }
            Tag::AttributeValue => {
                let value = text();
                if let Some(at) = self.attribute.as_mut()
                    && !value.is_empty()
                {
                    at.values.push(value);
                }
            }
            Tag::Attribute => {
                if let (Some(at), Some(a)) = (self.attribute.take(), self.current.as_mut()) {
                    a.attributes.push(at);
                }
            }
            Tag::Assertion => {
                if let Some(a) = self.current.take() {
                    self.out.assertions.push(a);
                }
            }
            _ => {}
        }
        if matches!(
            tag,
            Tag::Issuer | Tag::NameId | Tag::Audience | Tag::ClassRef | Tag::AttributeValue
        ) {
            self.text = None;
        }
    }
}

fn read(xml: &str) -> Result<Reader, Error> {
    if xml.contains("<!DOCTYPE") {
        return Err(Error::Doctype);
    }
    let xml = passerelle_xmldsig::utf8_document(xml.as_bytes()).map_err(Error::from_xmldsig)?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut r = Reader::default();
    let mut outline = Outline::default();
    loop {
        let position = reader.buffer_position();
        let xml_error = |reason: String| Error::Xml { position, reason };
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| xml_error(e.to_string()))?;
        outline.see(&event, r.stack.len()).map_err(xml_error)?;
        match event {
            Event::DocType(_) => return Err(Error::Doctype),
            Event::Start(e) => {
                if r.stack.len() >= MAX_DEPTH {
                    return Err(xml_error(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                let ns: &str = match &ns {
                    ResolveResult::Bound(n) => n.as_ref(),
                    _ => "",
                };
                let tag = r.open(ns, &e);
                r.stack.push(tag);
            }
            Event::End(_) => {
                if let Some(tag) = r.stack.pop() {
                    r.close(tag);
                }
            }
            Event::Text(t) => {
                if let Some(buf) = r.text.as_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(buf) = r.text.as_mut() {
                    buf.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let resolved = resolve_ref(&g).map_err(xml_error)?;
                if let Some(buf) = r.text.as_mut() {
                    buf.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !outline.complete() {
        return Err(Error::Xml {
            position: reader.buffer_position(),
            reason: "no complete root element".into(),
        });
    }
    Ok(r)
}

/// Reads verified content.
///
/// # Errors
/// [`Error::Doctype`], [`Error::Xml`].
pub fn parse(xml: &str) -> Result<Parsed, Error> {
    read(xml).map(|r| r.out)
}

/// Reads the raw envelope for routing only.
///
/// # Errors
/// [`Error::Doctype`], [`Error::Xml`].
pub fn peek(xml: &str) -> Result<Peek, Error> {
    read(xml).map(|r| Peek {
        status: r.out.status.clone(),
        ..r.peek
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINIMAL: &str = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="d" InResponseTo="r"><saml:Issuer>i</saml:Issuer><samlp:Status><samlp:StatusCode Value="s"><samlp:StatusCode Value="sub"/></samlp:StatusCode></samlp:Status><saml:Assertion ID="a"><saml:Issuer>i</saml:Issuer><saml:Subject><saml:NameID>n<!--x-->m</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#;

    #[test]
    fn a_minimal_response_reads_whole() {
        let p = parse(MINIMAL).unwrap();
        assert!(p.is_response);
        assert_eq!(p.status, Some(("s".into(), Some("sub".into()))));
        assert_eq!(p.assertions[0].name_id, Some(("nm".into(), None)));
        let k = peek(MINIMAL).unwrap();
        assert_eq!(
            (k.issuer.as_deref(), k.assertions, k.signed),
            (Some("i"), 1, false)
        );
    }

    proptest! {
        #[test]
        fn reading_never_panics_on_arbitrary_text(s in "\\PC{0,300}") {
            let _ = parse(&s);
            let _ = peek(&s);
        }

        #[test]
        fn reading_never_panics_on_damaged_responses(cut in 0usize..700, junk in "[<>&;\"'a-z/=! :]{0,10}") {
            let cut = cut.min(MINIMAL.len());
            let damaged = format!("{}{}{}", &MINIMAL[..cut], junk, &MINIMAL[cut..]);
            let _ = parse(&damaged);
            let _ = peek(&damaged);
        }
    }
}
