//! Every missing required key at once: serde stops at the first missing field of the
//! first table, so a sysadmin filling in a new file would learn one key per run.
//!
//! [`missing_keys`] asks the parser again after writing a placeholder for each key it
//! reports (on the line after the table's header, or at the top for the root table;
//! a string, else a number, a boolean, an array or a table, whichever the field's type
//! accepts), until the file parses or the error is about something else. Only keys the
//! parser itself named are reported; the placeholders never reach a `Config`.

/// Placeholders tried in turn for a missing key: the first one the field's type accepts
/// lets the parser move on to the next missing key.
const PLACEHOLDERS: [&str; 5] = ["\"\"", "0", "false", "[]", "{}"];

/// At most this many keys are collected (a file missing more is mostly empty).
const MAX_KEYS: usize = 64;

/// The dotted path of the table an error's `span` points at: the header there
/// (`oidc.clients[1]` for the second `[[oidc.clients]]`), or `""` for the root table (an
/// empty span); `None` when the span is not a header (an inline table).
fn table_at(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    if span.is_empty() {
        return Some(String::new());
    }
    let offset = span.start;
    let rest = text.get(offset..)?;
    if let Some(name) = rest.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
        let name = name.trim();
        let before = text.get(..offset)?;
        let index = before
            .lines()
            .filter(|l| {
                l.trim()
                    .strip_prefix("[[")
                    .and_then(|r| r.split("]]").next())
                    .is_some_and(|n| n.trim() == name)
            })
            .count();
        return Some(format!("{name}[{index}]"));
    }
    rest.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .map(|name| name.trim().to_owned())
}

/// Where a key of the table whose header starts at `offset` is written: after the
/// header's line (at the top of the file for the root table).
fn insertion_point(text: &str, offset: usize, root: bool) -> usize {
    if root {
        return 0;
    }
    text.get(offset..)
        .and_then(|r| r.find('\n'))
        .map_or(text.len(), |n| offset + n + 1)
}

/// The field named by a "missing field" error, and the span of its table's header.
fn missing_field<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Option<(String, std::ops::Range<usize>)> {
    let e = toml::from_str::<T>(text).err()?;
    let field = e
        .message()
        .strip_prefix("missing field `")?
        .strip_suffix('`')?
        .to_owned();
    Some((field, e.span()?))
}

/// Every required key `text` lacks for `T`, dotted (`saml.keys.signing_key`), in the
/// order the parser meets them; empty when the first error is not a missing key.
pub(super) fn missing_keys<T: serde::de::DeserializeOwned>(text: &str) -> Vec<String> {
    let mut text = text.to_owned();
    let mut found = Vec::new();
    while found.len() < MAX_KEYS {
        let Some((field, header)) = missing_field::<T>(&text) else {
            break;
        };
        let Some(table) = table_at(&text, header.clone()) else {
            // Inside an inline table: named, but no placeholder can be written for it.
            break;
        };
        let key = if table.is_empty() {
            field.clone()
        } else {
            format!("{table}.{field}")
        };
        if found.contains(&key) {
            break;
        }
        found.push(key);
        let at = insertion_point(&text, header.start, table.is_empty());
        let mut accepted = false;
        for placeholder in PLACEHOLDERS {
            let line = format!("{field} = {placeholder}\n");
            let mut candidate = text.clone();
            candidate.insert_str(at, &line);
            // Accepted unless the parser now stops at the placeholder itself.
            let stuck = toml::from_str::<T>(&candidate)
                .err()
                .and_then(|e| e.span())
                .is_some_and(|s| s.start >= at && s.start < at + line.len());
            if !stuck {
                text = candidate;
                accepted = true;
                break;
            }
        }
        if !accepted {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::table_at;

    #[test]
    fn headers_name_their_table_and_the_root_is_empty() {
        let text = "a = 1\n[store]\nurl = 1\n[[c]]\n[[c]]\nx = 2\n";
        let at = |needle: &str, nth_last: bool| {
            let start = if nth_last {
                text.rfind(needle)
            } else {
                text.find(needle)
            }
            .unwrap();
            start..start + needle.len()
        };
        assert_eq!(table_at(text, 0..0).unwrap(), "");
        assert_eq!(table_at(text, at("[store]", false)).unwrap(), "store");
        assert_eq!(table_at(text, at("[[c]]", true)).unwrap(), "c[1]");
        assert!(table_at(text, at("url", false)).is_none());
        assert_eq!(table_at("[x]\n", 0..3).unwrap(), "x");
    }
}
