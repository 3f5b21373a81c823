//! What the bytes of a document are, decided once, before any XML parser runs.
//!
//! Why it exists: a signature is verified by libxml2 and the signed document is then read
//! by another parser (quick-xml). If the two decode the bytes differently — libxml2
//! follows an `encoding="UTF-7"` declaration or a UTF-16 byte-order mark, quick-xml reads
//! UTF-8 — the verifier sees a comment where the reader sees an element, and a genuinely
//! signed feed can be extended at will. So every document is UTF-8, said here once:
//! [`utf8_document`] refuses any byte-order mark but UTF-8's, any declared encoding but
//! UTF-8, a malformed XML declaration, bytes that are not UTF-8 and NUL bytes (which
//! would let libxml2 guess UTF-16/32 without a mark). It returns the text without its
//! byte-order mark: that same slice is what both parsers are given, and libxml2 is told
//! to decode it as UTF-8 whatever it declares ([`crate::dom::Doc::parse`]).
//!
//! What it must never do: accept a document two parsers could decode differently.

use crate::Error;

/// Byte-order marks of other encodings, with their names for the error.
const OTHER_MARKS: &[(&[u8], &str)] = &[
    (&[0x00, 0x00, 0xFE, 0xFF], "UTF-32BE"),
    (&[0xFF, 0xFE, 0x00, 0x00], "UTF-32LE"),
    (&[0xFE, 0xFF], "UTF-16BE"),
    (&[0xFF, 0xFE], "UTF-16LE"),
    (b"+/v", "UTF-7"),
    (&[0xDD, 0x73, 0x66, 0x73], "UTF-EBCDIC"),
    (&[0x0E, 0xFE, 0xFF], "SCSU"),
    (&[0xFB, 0xEE, 0x28], "BOCU-1"),
    (&[0x84, 0x31, 0x95, 0x33], "GB-18030"),
];

const UTF8_MARK: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The text of a document whose bytes are UTF-8 XML and say so (or say nothing), without
/// its UTF-8 byte-order mark.
///
/// # Errors
/// [`Error::Encoding`] with the reason: another encoding's byte-order mark, a declared
/// encoding other than UTF-8, a malformed XML declaration, invalid UTF-8, a NUL byte.
pub fn utf8_document(bytes: &[u8]) -> Result<&str, Error> {
    for (mark, name) in OTHER_MARKS {
        if bytes.starts_with(mark) {
            return Err(Error::Encoding(format!(
                "a {name} byte-order mark (only UTF-8 is accepted)"
            )));
        }
    }
    let body = bytes.strip_prefix(UTF8_MARK).unwrap_or(bytes);
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::Encoding(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    if let Some(at) = text.bytes().position(|b| b == 0) {
        return Err(Error::Encoding(format!("a NUL byte at offset {at}")));
    }
    if let Some(name) = declared_encoding(text)?
        && !name.eq_ignore_ascii_case("UTF-8")
    {
        return Err(Error::Encoding(format!(
            "the document declares encoding {name:?} (only UTF-8 is accepted)"
        )));
    }
    Ok(text)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The `encoding` of the XML declaration at the very start of `text`, if there is a
/// declaration and it names one. The declaration must follow the XML 1.0 production
/// `'<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>'`; anything else that starts like
/// one is refused rather than guessed at.
fn declared_encoding(text: &str) -> Result<Option<&str>, Error> {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return Ok(None);
    };
    // `<?xml-stylesheet …?>` and the like are processing instructions, not a declaration.
    if !rest.starts_with(is_space) {
        return Ok(None);
    }
    let bad = |why: &str| Error::Encoding(format!("malformed XML declaration: {why}"));
    let end = rest.find("?>").ok_or_else(|| bad("not closed"))?;
    let mut inner = rest.get(..end).unwrap_or_default();
    let mut encoding = None;
    let mut seen_version = false;
    let mut expected = ["version", "encoding", "standalone"].as_slice();
    loop {
        let trimmed = inner.trim_start_matches(is_space);
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == inner.len() {
            return Err(bad("pseudo-attributes must be separated by white space"));
        }
        let (name, after) = trimmed
            .split_once('=')
            .ok_or_else(|| bad("a pseudo-attribute without a value"))?;
        let name = name.trim_end_matches(is_space);
        if !seen_version && name != "version" {
            return Err(bad("the version must come first"));
        }
        seen_version = true;
        let position = expected
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| bad("an unknown or misplaced pseudo-attribute"))?;
        expected = expected.get(position + 1..).unwrap_or_default();
        let after = after.trim_start_matches(is_space);
        let quote = after
            .chars()
            .next()
            .filter(|q| matches!(q, '"' | '\''))
            .ok_or_else(|| bad("a value must be quoted"))?;
        let value_and_rest = after.get(1..).unwrap_or_default();
        let close = value_and_rest
            .find(quote)
            .ok_or_else(|| bad("a value is not closed"))?;
        let value = value_and_rest.get(..close).unwrap_or_default();
        match name {
            "version" if !value.starts_with("1.") => return Err(bad("not XML 1.x")),
            "encoding" => encoding = Some(value),
            _ => {}
        }
        inner = value_and_rest.get(close + 1..).unwrap_or_default();
    }
    if !seen_version {
        return Err(bad("no version"));
    }
    Ok(encoding)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn reason(bytes: &[u8]) -> String {
        match utf8_document(bytes) {
            Err(Error::Encoding(r)) => r,
            other => panic!("accepted or other error: {other:?}"),
        }
    }

    #[test]
    fn utf8_documents_with_or_without_declaration_or_mark_pass_unchanged() {
        for doc in [
            "<a/>",
            "<?xml version=\"1.0\"?><a/>",
            "<?xml version='1.0' encoding='UTF-8'?>\n<a/>",
            "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\" ?><a>é</a>",
            "<?xml\tversion = \"1.0\"\r\n encoding = 'Utf-8'?><a/>",
            "<?xml-stylesheet href=\"x\"?><a/>",
        ] {
            assert_eq!(utf8_document(doc.as_bytes()).unwrap(), doc);
        }
        let marked = [UTF8_MARK, b"<a/>"].concat();
        assert_eq!(utf8_document(&marked).unwrap(), "<a/>");
    }

    #[test]
    fn another_declared_encoding_is_refused_whatever_its_spelling() {
        for decl in [
            "<?xml version='1.0' encoding='UTF-7'?><a/>",
            "<?xml version=\"1.0\" encoding=\"utf-7\"?><a/>",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
            "<?xml version=\"1.0\" encoding=\"UTF8\"?><a/>",
            "<?xml version=\"1.0\" encoding=\"\"?><a/>",
            "<?xml version=\"1.0\"   encoding =  'ebcdic-cp-us' ?><a/>",
        ] {
            assert!(
                reason(decl.as_bytes()).contains("declares encoding"),
                "{decl}"
            );
        }
    }

    #[test]
    fn malformed_declarations_are_refused_rather_than_guessed() {
        for decl in [
            "<?xml encoding='UTF-8'?><a/>",
            "<?xml version='1.0' encoding='UTF-8'<a/>",
            "<?xml version='1.0'encoding='UTF-7'?><a/>",
            "<?xml version='1.0' encoding=UTF-7?><a/>",
            "<?xml version='1.0' standalone='yes' encoding='UTF-7'?><a/>",
            "<?xml version='1.0' encoding='UTF-8' encoding='UTF-7'?><a/>",
            "<?xml version='1.0' foo='bar'?><a/>",
            "<?xml version='2.0'?><a/>",
            "<?xml version='1.0' encoding='UTF-7?><a/>",
        ] {
            assert!(reason(decl.as_bytes()).contains("malformed"), "{decl}");
        }
    }

    #[test]
    fn other_byte_order_marks_invalid_utf8_and_nul_bytes_are_refused() {
        assert!(reason(&[0xFF, 0xFE, b'<', 0, b'a', 0]).contains("UTF-16LE"));
        assert!(reason(&[0xFE, 0xFF, 0, b'<']).contains("UTF-16BE"));
        assert!(reason(&[0xFF, 0xFE, 0, 0, b'<', 0, 0, 0]).contains("UTF-32LE"));
        assert!(reason(b"+/v8<a/>").contains("UTF-7"));
        // UTF-16 without a mark: valid UTF-8 bytes, but NULs.
        assert!(reason(&[b'<', 0, b'?', 0, b'x', 0]).contains("NUL"));
        // EBCDIC `<?xm`.
        assert!(reason(&[0x4C, 0x6F, 0xA7, 0x94]).contains("not UTF-8"));
        assert!(reason(b"<a>\xE9</a>").contains("offset 3"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = utf8_document(&bytes);
        }

        #[test]
        fn arbitrary_declarations_never_panic_and_only_utf8_passes(
            inner in "[ a-zA-Z0-9=\"'.\\-\\t?]{0,60}",
        ) {
            let doc = format!("<?xml {inner}?><a/>");
            if let Ok(Some(enc)) = declared_encoding(&doc) {
                prop_assert_eq!(
                    utf8_document(doc.as_bytes()).is_ok(),
                    enc.eq_ignore_ascii_case("UTF-8")
                );
            }
        }
    }
}
