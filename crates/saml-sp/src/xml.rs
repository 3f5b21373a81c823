//! Small helpers shared by the crate's streaming XML readers (metadata, responses,
//! encrypted assertions): attribute values and entity references, read one way.

use quick_xml::events::{BytesRef, BytesStart};

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
