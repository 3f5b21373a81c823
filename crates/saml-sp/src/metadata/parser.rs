//! The streaming metadata parser: one pass of quick-xml events, a stack of the element
//! kinds we care about, and per-entity state. No DOM, no recursion; memory grows with
//! the records kept, not with the document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Aggregate, Endpoint, IdpRecord, Localized, Logo, Skipped, duration};
use crate::error::Error;
use crate::types::{EntityId, Scope, primary_language};
use crate::xml::{Outline, attr, resolve_ref};

const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_MDUI: &str = "urn:oasis:names:tc:SAML:metadata:ui";
const NS_SHIBMD: &str = "urn:mace:shibboleth:metadata:1.0";
const NS_MDATTR: &str = "urn:oasis:names:tc:SAML:metadata:attribute";
const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_MDRPI: &str = "urn:oasis:names:tc:SAML:metadata:rpi";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ENTITY_CATEGORY: &str = "http://macedir.org/entity-category";
const MAX_DEPTH: usize = 256;

/// Limits for [`parse`].
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Largest document accepted, in bytes (eduGAIN is about 80 MB today).
    pub max_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The element kinds the parser distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Entities,
    Entity,
    Extensions,
    IdpRole,
    OtherRole,
    KeyDescriptor,
    X509Certificate,
    Scope,
    UiInfo,
    DisplayName,
    Logo,
    InformationUrl,
    Organization,
    OrganizationDisplayName,
    EntityAttributes,
    CategoryAttribute,
    AttributeValue,
    SsoService,
    RegistrationInfo,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    Signing,
    Encryption,
    Both,
}

#[derive(Debug, Default)]
struct EntityState {
    entity_id: Option<String>,
    saml2_idp: bool,
    ui_names: Vec<Localized>,
    org_names: Vec<Localized>,
    logos: Vec<Logo>,
    information_urls: Vec<Localized>,
    scopes: Vec<Scope>,
    sso: Vec<Endpoint>,
    signing: Vec<Vec<u8>>,
    encryption: Vec<Vec<u8>>,
    categories: Vec<String>,
    registration_authority: Option<String>,
    error: Option<String>,
}

/// What the text being captured will become when its element ends.
#[derive(Debug)]
enum Capture {
    Certificate(KeyUse),
    Scope {
        regexp: bool,
    },
    DisplayName(String),
    OrganizationDisplayName(String),
    InformationUrl(String),
    Logo {
        width: Option<u32>,
        height: Option<u32>,
        lang: Option<String>,
    },
    Category,
}

struct Parser {
    stack: Vec<Tag>,
    entity: Option<EntityState>,
    key_use: KeyUse,
    capture: Option<(Capture, String)>,
    out: Aggregate,
}

/// A name on one line: a line break or tab (control white space), with the spaces around
/// it, becomes one space, so a name never breaks a list, a log line or a page's layout.
/// Other spaces (double spaces, no-break spaces of French typography) are kept.
fn one_line(text: &str) -> String {
    let breaking = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}');
    if !text.contains(breaking) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if breaking(c) {
            while out.ends_with(' ') {
                out.pop();
            }
            out.push(' ');
            while chars.next_if(|n| breaking(*n) || *n == ' ').is_some() {}
        } else {
            out.push(c);
        }
    }
    out
}

fn lang(e: &BytesStart<'_>) -> String {
    attr(e, "xml:lang")
        .map(|l| primary_language(&l))
        .unwrap_or_default()
}

impl Parser {
    fn parent(&self) -> Option<Tag> {
        self.stack.last().copied()
    }

    fn grandparent(&self) -> Option<Tag> {
        self.stack
            .len()
            .checked_sub(2)
            .and_then(|i| self.stack.get(i))
            .copied()
    }

    fn inside(&self, tag: Tag) -> bool {
        self.stack.contains(&tag)
    }

    /// Classifies a start tag in its context and starts captures.
    fn open(&mut self, ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Tag {
        let ns: &str = match ns {
            ResolveResult::Bound(n) => n.as_ref(),
            _ => "",
        };
        let local = e.local_name();
        let local = local.as_ref();
        let parent = self.parent();
        let in_idp = self.inside(Tag::IdpRole);
        match (ns, local) {
            (NS_MD, "EntitiesDescriptor") if self.entity.is_none() => Tag::Entities,
            (NS_MD, "EntityDescriptor") if self.entity.is_none() => {
                self.out.entities += 1;
                self.entity = Some(EntityState {
                    entity_id: attr(e, "entityID"),
                    ..EntityState::default()
                });
                Tag::Entity
            }
            (NS_MDRPI, "PublicationInfo")
                if parent == Some(Tag::Extensions) && self.stack.len() == 2 =>
            {
                // The root's publication instant (per-entity ones are not the feed's).
                self.out.published = attr(e, "creationInstant")
                    .and_then(|v| OffsetDateTime::parse(v.trim(), &Rfc3339).ok());
                Tag::Other
            }
            (NS_MD, "Extensions") => Tag::Extensions,
            (NS_MD, "IDPSSODescriptor") if parent == Some(Tag::Entity) => {
                let protocols = attr(e, "protocolSupportEnumeration").unwrap_or_default();
                if protocols.split_whitespace().any(|p| p == SAML2_PROTOCOL) {
                    if let Some(ent) = self.entity.as_mut() {
                        ent.saml2_idp = true;
                    }
                    Tag::IdpRole
                } else {
                    Tag::OtherRole
                }
            }
            (NS_MD, local) if parent == Some(Tag::Entity) && local.ends_with("Descriptor") => {
                Tag::OtherRole
            }
            (NS_MD, "KeyDescriptor") if parent == Some(Tag::IdpRole) => {
                self.key_use = match attr(e, "use").as_deref() {
                    Some("signing") => KeyUse::Signing,
                    Some("encryption") => KeyUse::Encryption,
                    _ => KeyUse::Both,
                };
                Tag::KeyDescriptor
            }
            (NS_DS, "X509Certificate") if in_idp && self.inside(Tag::KeyDescriptor) => {
                self.capture = Some((Capture::Certificate(self.key_use), String::new()));
                Tag::X509Certificate
            }
            (NS_SHIBMD, "Scope")
                if parent == Some(Tag::Extensions)
                    && matches!(self.grandparent(), Some(Tag::IdpRole | Tag::Entity)) =>
            {
                let regexp = matches!(
                    attr(e, "regexp").as_deref().map(str::trim),
                    Some("true" | "1")
                );
                self.capture = Some((Capture::Scope { regexp }, String::new()));
                Tag::Scope
            }
            (NS_MDUI, "UIInfo") if parent == Some(Tag::Extensions) && in_idp => Tag::UiInfo,
            (NS_MDUI, "DisplayName") if parent == Some(Tag::UiInfo) => {
                self.capture = Some((Capture::DisplayName(lang(e)), String::new()));
                Tag::DisplayName
            }
            (NS_MDUI, "InformationURL") if parent == Some(Tag::UiInfo) => {
                self.capture = Some((Capture::InformationUrl(lang(e)), String::new()));
                Tag::InformationUrl
            }
            (NS_MDUI, "Logo") if parent == Some(Tag::UiInfo) => {
                let number = |n: &str| attr(e, n).and_then(|v| v.trim().parse().ok());
                let capture = Capture::Logo {
                    width: number("width"),
                    height: number("height"),
                    lang: attr(e, "xml:lang").map(|l| primary_language(&l)),
                };
                self.capture = Some((capture, String::new()));
                Tag::Logo
            }
            (NS_MD, "Organization") if parent == Some(Tag::Entity) => Tag::Organization,
            (NS_MD, "OrganizationDisplayName") if parent == Some(Tag::Organization) => {
                self.capture = Some((Capture::OrganizationDisplayName(lang(e)), String::new()));
                Tag::OrganizationDisplayName
            }
            (NS_MDATTR, "EntityAttributes")
                if parent == Some(Tag::Extensions) && self.grandparent() == Some(Tag::Entity) =>
            {
                Tag::EntityAttributes
            }
            (NS_SAML, "Attribute")
                if parent == Some(Tag::EntityAttributes)
                    && attr(e, "Name").as_deref() == Some(ENTITY_CATEGORY) =>
            {
                Tag::CategoryAttribute
            }
            (NS_SAML, "AttributeValue") if parent == Some(Tag::CategoryAttribute) => {
                self.capture = Some((Capture::Category, String::new()));
                Tag::AttributeValue
            }
            (NS_MD, "SingleSignOnService") if parent == Some(Tag::IdpRole) => {
                if let (Some(binding), Some(location), Some(ent)) = (
                    attr(e, "Binding"),
                    attr(e, "Location"),
                    self.entity.as_mut(),
                ) {
                    ent.sso.push(Endpoint {
                        binding: binding.trim().to_owned(),
                        location: location.trim().to_owned(),
                    });
                }
                Tag::SsoService
            }
            (NS_MDRPI, "RegistrationInfo")
                if parent == Some(Tag::Extensions) && self.grandparent() == Some(Tag::Entity) =>
            {
                if let Some(ent) = self.entity.as_mut() {
                    ent.registration_authority = attr(e, "registrationAuthority");
                }
                Tag::RegistrationInfo
            }
            _ => Tag::Other,
        }
    }

    fn text(&mut self, s: &str) {
        if let Some((_, buf)) = self.capture.as_mut() {
            buf.push_str(s);
        }
    }

    /// Ends an element: finishes a capture or an entity.
    fn close(&mut self, tag: Tag) {
        let capturing = matches!(
            tag,
            Tag::X509Certificate
                | Tag::Scope
                | Tag::DisplayName
                | Tag::OrganizationDisplayName
                | Tag::InformationUrl
                | Tag::Logo
                | Tag::AttributeValue
        );
        if capturing && let Some((capture, text)) = self.capture.take() {
            self.finish_capture(capture, text);
        }
        if tag == Tag::Entity
            && let Some(ent) = self.entity.take()
        {
            self.finish_entity(ent);
        }
    }

    fn finish_capture(&mut self, capture: Capture, text: String) {
        let Some(ent) = self.entity.as_mut() else {
            return;
        };
        let trimmed = text.trim();
        match capture {
            Capture::Certificate(key_use) => {
                let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
                match B64.decode(compact.as_bytes()) {
                    Ok(der) if !der.is_empty() => {
                        if matches!(key_use, KeyUse::Signing | KeyUse::Both) {
                            ent.signing.push(der.clone());
                        }
                        if matches!(key_use, KeyUse::Encryption | KeyUse::Both) {
                            ent.encryption.push(der);
                        }
                    }
                    _ => ent.error = Some("a KeyDescriptor certificate is not valid base64".into()),
                }
            }
            Capture::Scope { regexp } if !trimmed.is_empty() => ent.scopes.push(Scope {
                value: if regexp {
                    trimmed.to_owned()
                } else {
                    trimmed.to_ascii_lowercase()
                },
                regexp,
            }),
            Capture::DisplayName(lang) if !trimmed.is_empty() => ent.ui_names.push(Localized {
                lang,
                value: one_line(trimmed),
            }),
            Capture::OrganizationDisplayName(lang) if !trimmed.is_empty() => {
                ent.org_names.push(Localized {
                    lang,
                    value: one_line(trimmed),
                });
            }
            Capture::InformationUrl(lang) if !trimmed.is_empty() => {
                ent.information_urls.push(Localized {
                    lang,
                    value: trimmed.to_owned(),
                });
            }
            Capture::Logo {
                width,
                height,
                lang,
            } if !trimmed.is_empty() => ent.logos.push(Logo {
                url: trimmed.to_owned(),
                width,
                height,
                lang,
            }),
            Capture::Category if !trimmed.is_empty() => ent.categories.push(trimmed.to_owned()),
            _ => {}
        }
    }

    fn finish_entity(&mut self, ent: EntityState) {
        let skip = |reason: String, id: Option<String>| Skipped {
            entity_id: id,
            reason,
        };
        let Some(raw_id) = ent.entity_id.clone() else {
            if ent.saml2_idp {
                self.out.skipped.push(skip("no entityID".into(), None));
            }
            return;
        };
        if !ent.saml2_idp {
            return;
        }
        let entity_id = match EntityId::parse(raw_id.trim()) {
            Ok(id) => id,
            Err(e) => {
                self.out
                    .skipped
                    .push(skip(format!("bad entityID: {e}"), Some(raw_id)));
                return;
            }
        };
        if let Some(reason) = ent.error {
            tracing::warn!(entity = %entity_id, %reason, "metadata entity skipped");
            self.out.skipped.push(skip(reason, Some(raw_id)));
            return;
        }
        let display_names = if ent.ui_names.is_empty() {
            ent.org_names
        } else {
            ent.ui_names
        };
        self.out.idps.push(IdpRecord {
            entity_id,
            display_names,
            logos: ent.logos,
            information_urls: ent.information_urls,
            scopes: ent.scopes,
            sso: ent.sso,
            signing_certs: ent.signing,
            encryption_certs: ent.encryption,
            entity_categories: ent.categories,
            registration_authority: ent.registration_authority,
        });
    }

    fn root(&mut self, ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<(), Error> {
        let is_md = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NS_MD);
        let local = e.local_name();
        if !is_md || !matches!(local.as_ref(), "EntitiesDescriptor" | "EntityDescriptor") {
            return Err(Error::NotMetadata(e.name().as_ref().to_owned()));
        }
        self.out.name = attr(e, "Name");
        if let Some(v) = attr(e, "validUntil") {
            let parsed = OffsetDateTime::parse(v.trim(), &Rfc3339)
                .map_err(|err| Error::Validity(format!("validUntil {v:?}: {err}")))?;
            self.out.valid_until = Some(parsed);
        }
        self.out.cache_duration = attr(e, "cacheDuration").and_then(|d| duration::parse(&d));
        Ok(())
    }
}

/// Parses a metadata document (an aggregate or a single entity).
///
/// # Errors
/// [`Error::TooLarge`], [`Error::Doctype`], [`Error::Encoding`] for bytes that are not
/// UTF-8 XML saying so, [`Error::Xml`] for a document that is not well-formed or has
/// anything but comments and white space outside its one root, [`Error::NotMetadata`], [`Error::Validity`] for an unreadable
/// `validUntil`. Malformed entities are not errors: see [`Aggregate::skipped`].
pub fn parse(xml: &str, options: ParseOptions) -> Result<Aggregate, Error> {
    if xml.len() > options.max_bytes {
        return Err(Error::TooLarge {
            size: xml.len(),
            limit: options.max_bytes,
        });
    }
    let xml = passerelle_xmldsig::utf8_document(xml.as_bytes()).map_err(Error::from_xmldsig)?;
    let mut outline = Outline::default();
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut p = Parser {
        stack: Vec::with_capacity(32),
        entity: None,
        key_use: KeyUse::Both,
        capture: None,
        out: Aggregate::empty(),
    };
    let mut seen_root = false;
    loop {
        let position = reader.buffer_position();
        let xml_error = |reason: String| Error::Xml { position, reason };
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| xml_error(e.to_string()))?;
        outline.see(&event, p.stack.len()).map_err(xml_error)?;
        match event {
            Event::DocType(_) => return Err(Error::Doctype),
            Event::Start(e) => {
                if !seen_root {
                    p.root(&ns, &e)?;
                    seen_root = true;
                }
                if p.stack.len() >= MAX_DEPTH {
                    return Err(xml_error(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                let tag = p.open(&ns, &e);
                p.stack.push(tag);
            }
            Event::End(_) => {
                if let Some(tag) = p.stack.pop() {
                    p.close(tag);
                }
            }
            Event::Text(t) => p.text(&t.xml10_content()),
            Event::CData(c) => p.text(&c.xml10_content()),
            Event::GeneralRef(r) => p.text(&resolve_ref(&r).map_err(xml_error)?),
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(Error::NotMetadata("empty document".into()));
    }
    if !outline.complete() {
        return Err(Error::Xml {
            position: reader.buffer_position(),
            reason: "the root element is not closed".into(),
        });
    }
    Ok(p.out)
}
