//! Keys: the one place where store key names are built.
//!
//! A rendered key reads `PREFIX:KIND:{TAG}:PART:PART…`. The braces are a Redis Cluster
//! hash tag: every key sharing a tag lives in one slot, so one account's or one flow's
//! keys can be touched together even on a cluster. Tags and parts are escaped so that no
//! input (an e-mail address may legally contain `{`, `}` or `:`) can move a key to another
//! slot or collide with another key.

use std::fmt::Write as _;

/// The name of one stored value, without the store's namespace prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    kind: &'static str,
    tag: String,
    parts: Vec<String>,
}

impl Key {
    /// A key of the given kind (a short constant such as `"acct"`) in the slot of `tag`.
    #[must_use]
    pub fn new(kind: &'static str, tag: &str) -> Self {
        Self {
            kind,
            tag: tag.to_owned(),
            parts: Vec::new(),
        }
    }

    /// The same slot, one more name part.
    #[must_use]
    pub fn with(mut self, part: &str) -> Self {
        self.parts.push(part.to_owned());
        self
    }

    /// The hash tag of this key (unescaped).
    #[must_use]
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The full key name under `prefix`.
    #[must_use]
    pub fn render(&self, prefix: &str) -> String {
        let mut out = String::with_capacity(
            prefix.len() + self.kind.len() + self.tag.len() + 8 + self.parts.len() * 16,
        );
        escape_into(&mut out, prefix);
        out.push(':');
        escape_into(&mut out, self.kind);
        out.push_str(":{");
        escape_into(&mut out, &self.tag);
        out.push('}');
        for p in &self.parts {
            out.push(':');
            escape_into(&mut out, p);
        }
        out
    }
}

/// The parts of a rendered key: its kind and its hash tag, both still escaped. `None`
/// for a name that is not under `prefix` or not shaped like a [`Key`].
pub(crate) fn split_rendered<'a>(rendered: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let mut escaped_prefix = String::with_capacity(prefix.len());
    escape_into(&mut escaped_prefix, prefix);
    let rest = rendered
        .strip_prefix(escaped_prefix.as_str())?
        .strip_prefix(':')?;
    let (kind, rest) = rest.split_once(":{")?;
    let (tag, _) = rest.split_once('}')?;
    Some((kind, tag))
}

/// The escaped form of a tag, as it appears between the braces of a rendered key.
pub(crate) fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Undoes [`escape_into`]; `None` for text it cannot have produced.
pub(crate) fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = char::from(it.next()?).to_digit(16)?;
            let lo = char::from(it.next()?).to_digit(16)?;
            bytes.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// A Redis glob (`SCAN … MATCH`) that matches exactly the keys of every kind in the
/// slot of `tag` under `prefix`: the glob's own special characters are escaped.
pub(crate) fn tag_pattern(prefix: &str, tag: &str) -> String {
    format!(
        "{}:*:{{{}}}*",
        glob_escape(&escaped(prefix)),
        glob_escape(&escaped(tag))
    )
}

/// A Redis glob matching every key under `prefix`.
pub(crate) fn prefix_pattern(prefix: &str) -> String {
    format!("{}:*", glob_escape(&escaped(prefix)))
}

/// A Redis glob matching every key of `kind` under `prefix`.
pub(crate) fn kind_pattern(prefix: &str, kind: &str) -> String {
    format!(
        "{}:{}:{{*",
        glob_escape(&escaped(prefix)),
        glob_escape(&escaped(kind))
    )
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-escapes the characters that carry meaning in a key: `%`, `:`, `{`, `}` and
/// control characters.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, '%' | ':' | '{' | '}') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prefix_kind_tag_and_parts() {
        let k = Key::new("code", "a@b.fr").with("login");
        assert_eq!(k.render("pas"), "pas:code:{a@b.fr}:login");
    }

    #[test]
    fn braces_and_colons_in_input_cannot_move_the_hash_tag() {
        let k = Key::new("acct", "x}{y:z@b.fr").with("a:b");
        let r = k.render("pas");
        assert_eq!(r, "pas:acct:{x%7D%7By%3Az@b.fr}:a%3Ab");
        // Redis hashes the text between the first '{' and the next '}'.
        let open = r.find('{').unwrap();
        let close = r[open..].find('}').unwrap() + open;
        assert_eq!(&r[open + 1..close], "x%7D%7By%3Az@b.fr");
    }

    proptest::proptest! {
        #[test]
        fn the_hash_tag_is_always_the_escaped_tag(tag in "\\PC{0,40}", part in "\\PC{0,40}") {
            let r = Key::new("k", &tag).with(&part).render("p");
            let open = r.find('{').unwrap();
            let close = r[open..].find('}').unwrap() + open;
            let mut escaped = String::new();
            escape_into(&mut escaped, &tag);
            proptest::prop_assert_eq!(&r[open + 1..close], escaped.as_str());
            proptest::prop_assert_eq!(r.matches('{').count(), 1);
            proptest::prop_assert_eq!(r.matches('}').count(), 1);
        }

        #[test]
        fn different_tags_never_render_alike(a in "\\PC{0,20}", b in "\\PC{0,20}") {
            proptest::prop_assume!(a != b);
            proptest::prop_assert_ne!(Key::new("k", &a).render("p"), Key::new("k", &b).render("p"));
        }
    }

    proptest::proptest! {
        #[test]
        fn a_rendered_key_splits_back_into_its_kind_and_tag(tag in "\\PC{0,40}", part in "\\PC{0,20}") {
            let r = Key::new("acct", &tag).with(&part).render("pas");
            let (kind, t) = split_rendered(&r, "pas").unwrap();
            proptest::prop_assert_eq!(kind, "acct");
            proptest::prop_assert_eq!(unescape(t).unwrap(), tag);
        }
    }

    #[test]
    fn a_key_of_another_prefix_does_not_split() {
        let r = Key::new("acct", "a@b.fr").render("pas");
        assert!(split_rendered(&r, "other").is_none());
        assert!(split_rendered(&r, "pa").is_none());
    }

    #[test]
    fn glob_characters_in_a_tag_are_escaped_in_its_pattern() {
        assert_eq!(
            tag_pattern("pas", "a*b?[c]@x.fr"),
            "pas:*:{a\\*b\\?\\[c\\]@x.fr}*"
        );
    }

    #[test]
    fn distinct_parts_never_render_alike() {
        let a = Key::new("k", "t").with("a:b");
        let b = Key::new("k", "t").with("a").with("b");
        assert_ne!(a.render("p"), b.render("p"));
    }
}
