//! Small helpers shared by the crate's streaming XML readers (metadata, responses,
//! encrypted assertions): attribute values, entity references and the document's outline
//! (one root, nothing but comments around it), read one way.

use quick_xml::events::{BytesRef, BytesStart, Event};

/// The value of the attribute `name` (its qualified name as written), normalized and
/// trimmed.
pub(crate) fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.trim().to_owned())
}

/// The text of a character reference or one of XML's five predefined entities; any other
/// entity is an error (there is no DTD to define it).
pub(crate) fn resolve_ref(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    Ok(match &**r {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => return Err(format!("unknown entity &{other};")),
    }
    .to_owned())
}

/// Where a streaming reader stands relative to the document's one root element.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Place {
    /// Nothing read yet: only here may the XML declaration appear.
    #[default]
    Start,
    /// Comments or white space read, no element yet.
    Prolog,
    /// Inside the root element.
    Root,
    /// The root element is closed.
    Epilog,
}

/// The shape every document must have, checked on the events a reader sees: an optional
/// XML declaration first, then comments and white space, one root element, then comments
/// and white space. A signature covers the root element only, and libxml2 (the verifier)
/// accepts processing instructions around it: so nothing outside the root may be read
/// as content — no second root, text, character data, reference or instruction.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    place: Place,
}

impl Outline {
    /// Checks `event`, given how many elements are open before it.
    ///
    /// # Errors
    /// What is outside the root element, in words.
    pub(crate) fn see(&mut self, event: &Event<'_>, open: usize) -> Result<(), String> {
        let outside = open == 0;
        match event {
            Event::Decl(_) if self.place == Place::Start => {}
            Event::Decl(_) => return Err("an XML declaration after the start".into()),
            Event::Start(_) | Event::Empty(_) if outside => {
                if self.place == Place::Epilog {
                    return Err("a second root element".into());
                }
                self.place = Place::Root;
                return Ok(());
            }
            Event::End(_) if open == 1 => {
                self.place = Place::Epilog;
                return Ok(());
            }
            Event::Text(t)
                if outside && !t.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) =>
            {
                return Err("text outside the root element".into());
            }
            Event::CData(_) | Event::GeneralRef(_) if outside => {
                return Err("character data outside the root element".into());
            }
            Event::PI(_) if outside => {
                return Err("a processing instruction outside the root element".into());
            }
            _ => {}
        }
        if self.place == Place::Start {
            self.place = Place::Prolog;
        }
        Ok(())
    }

    /// Whether a whole root element was read.
    pub(crate) fn complete(&self) -> bool {
        self.place == Place::Epilog
    }
}
