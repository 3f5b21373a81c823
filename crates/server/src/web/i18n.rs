//! Message catalogues: every text a person reads comes from `locales/{fr,en}.toml`,
//! never from code. French is the default; English is chosen by `ui_locales`, the
//! language switch (kept in the session) or `Accept-Language`.
//!
//! Catalogues are compiled in and parsed once at start; a missing key shows the key
//! itself (and a test checks both catalogues have the same keys), never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use passerelle_local_auth::Lang;

/// One language's texts.
#[derive(Debug, Clone)]
pub(crate) struct Texts {
    lang: Lang,
    map: Arc<BTreeMap<String, String>>,
}

impl Texts {
    /// The text for `key`, or the key itself when the catalogue lacks it.
    pub(crate) fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.map.get(key).map_or(key, String::as_str)
    }

    /// The text for `key` with each `{name}` replaced by its value (values are plain
    /// text: templates escape the result).
    pub(crate) fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.get(key).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The language.
    pub(crate) fn lang(&self) -> Lang {
        self.lang
    }

    /// `fr` or `en`, for `<html lang>`.
    pub(crate) fn tag(&self) -> &'static str {
        self.lang.tag()
    }
}

/// Both catalogues.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    fr: Texts,
    en: Texts,
}

fn parse(lang: Lang, source: &str, brand: &str) -> anyhow::Result<Texts> {
    let table: toml::Table = toml::from_str(source)?;
    let mut map = BTreeMap::new();
    flatten("", &table, &mut map);
    for text in map.values_mut() {
        if text.contains("{brand}") {
            *text = text.replace("{brand}", brand);
        }
    }
    Ok(Texts {
        lang,
        map: Arc::new(map),
    })
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            // Catalogues hold strings only; anything else is a mistake shown as its key.
            _ => {}
        }
    }
}

impl Catalog {
    /// Parses the compiled-in catalogues, for the default brand (UNESS).
    #[cfg(test)]
    pub(crate) fn load() -> anyhow::Result<Self> {
        Self::load_branded("UNESS")
    }

    /// Parses the compiled-in catalogues, `{brand}` replaced by the service's name.
    pub(crate) fn load_branded(brand: &str) -> anyhow::Result<Self> {
        Ok(Self {
            fr: parse(Lang::Fr, include_str!("../../locales/fr.toml"), brand)?,
            en: parse(Lang::En, include_str!("../../locales/en.toml"), brand)?,
        })
    }

    /// The texts of a language.
    pub(crate) fn texts(&self, lang: Lang) -> Texts {
        match lang {
            Lang::Fr => self.fr.clone(),
            Lang::En => self.en.clone(),
        }
    }

    /// Keys present in one catalogue and not the other (for the test).
    #[cfg(test)]
    fn mismatched_keys(&self) -> Vec<String> {
        let fr: Vec<&String> = self.fr.map.keys().collect();
        let en: Vec<&String> = self.en.map.keys().collect();
        fr.iter()
            .filter(|k| !self.en.map.contains_key(k.as_str()))
            .chain(en.iter().filter(|k| !self.fr.map.contains_key(k.as_str())))
            .map(|k| (*k).clone())
            .collect()
    }
}

/// The language a request's `Accept-Language` prefers, if we have it.
pub(crate) fn accepted(headers: &axum::http::HeaderMap) -> Option<Lang> {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(negotiate)
}

/// The first supported language in a space-separated `ui_locales` or an
/// `Accept-Language` header (quality values are read in order; `*` is ignored).
pub(crate) fn negotiate(list: &str) -> Option<Lang> {
    let mut best: Option<(Lang, f32)> = None;
    for item in list.split([',', ' ']).filter(|s| !s.is_empty()) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("fr") => Lang::Fr,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((lang, q));
        }
    }
    best.map(|(l, _)| l)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let c = Catalog::load().unwrap();
        assert_eq!(c.mismatched_keys(), Vec::<String>::new());
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(negotiate("en-GB,en;q=0.9,fr;q=0.8"), Some(Lang::En));
        assert_eq!(negotiate("de-DE,fr;q=0.5,en;q=0.4"), Some(Lang::Fr));
        assert_eq!(negotiate("de, *;q=0.1"), None);
        assert_eq!(negotiate("en fr"), Some(Lang::En));
        assert_eq!(negotiate("en;q=0,fr;q=0.2"), Some(Lang::Fr));
    }

    #[test]
    fn french_texts_keep_their_punctuation_on_the_line_of_the_word_before() {
        // French typography: a space before « : ; ! ? » and inside « », never a line
        // break there: the space must be a non-breaking one.
        let c = Catalog::load().unwrap();
        let fr = c.texts(Lang::Fr);
        let broken: Vec<(&String, &String)> = fr
            .map
            .iter()
            .filter(|(_, v)| {
                [" :", " ;", " !", " ?", " »", "« "]
                    .iter()
                    .any(|bad| v.contains(bad))
            })
            .collect();
        assert!(broken.is_empty(), "breakable spaces: {broken:#?}");
    }

    #[test]
    fn the_brand_name_fills_every_text_that_names_the_service() {
        let c = Catalog::load_branded("Passerelle Santé").unwrap();
        let fr = c.texts(Lang::Fr);
        assert_eq!(
            fr.get("new_password.title"),
            "Créez votre mot de passe Passerelle Santé"
        );
        assert!(
            fr.map
                .values()
                .all(|v| !v.contains("{brand}") && !v.contains("UNESS"))
        );
        let uness = Catalog::load().unwrap();
        assert_eq!(
            uness.texts(Lang::Fr).get("new_password.title"),
            "Créez votre mot de passe UNESS"
        );
    }

    #[test]
    fn a_missing_key_reads_as_itself() {
        let c = Catalog::load().unwrap();
        assert_eq!(c.texts(Lang::Fr).get("no.such.key"), "no.such.key");
    }
}
