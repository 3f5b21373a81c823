//! The institution directory: what « Sélectionnez votre établissement » offers.
//!
//! Built from IdP records; never offers an IdP in the hide-from-discovery category.
//! - [`Directory::search`]: every word of the query must be a prefix of a word of one of
//!   the institution's names (any language), ignoring case and accents; institutions
//!   whose French name matches come first, then by name. An IdP that publishes no name
//!   is found by the words of its entityID and of its scopes (and shown by entityID).
//! - [`Directory::for_email`]: the institutions that speak for the address — the same
//!   rule as the ACS's ([`crate::authority`]: scopes, parent domains, the operator's mail
//!   domains). The most specific match comes first.
//!
//! Nothing is ever cut silently: [`Directory::search_page`] says how many matched in all
//! and returns one page of them, so the page can offer the rest. Each institution carries
//! what tells look-alikes apart: its name in the chosen language, the domains it speaks
//! for, its logo ([`crate::logo`]).

use serde::Serialize;
use unicode_normalization::UnicodeNormalization as _;

use crate::authority::{Authority, MailDomains};
use crate::logo::{self, LogoId};
use crate::metadata::{IdpRecord, Localized};
use crate::types::EntityId;

/// One institution as the discovery page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Institution {
    /// The IdP's entityID (what `/saml/login?idp=` takes).
    pub entity_id: EntityId,
    /// The name in the requested language (French by default).
    pub name: String,
    /// The domains it speaks for (literal scopes and the operator's mail domains), in
    /// the order published, without repeats.
    pub domains: Vec<String>,
    /// Its logo, served from our origin ([`crate::logo`]).
    pub logo: Option<LogoId>,
}

/// One page of search results, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Found {
    /// Every institution that matched (the page is a slice of them).
    pub total: usize,
    /// Where the page starts among them.
    pub offset: usize,
    /// The page.
    pub items: Vec<Institution>,
}

#[derive(Debug)]
struct Entry {
    entity_id: EntityId,
    names: Vec<Localized>,
    /// Folded words of each name, with whether the name is French.
    words: Vec<(bool, Vec<String>)>,
    sort_key: String,
    domains: Vec<String>,
    logo: Option<LogoId>,
    authority: Authority,
}

/// The searchable set of institutions.
#[derive(Debug, Default)]
pub struct Directory {
    entries: Vec<Entry>,
    by_id: std::collections::HashMap<EntityId, usize>,
}

/// Lower-cases and strips diacritics ("Université" → "universite").
#[must_use]
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The literal domains an IdP speaks for, each once, scopes first.
fn domains_of(idp: &IdpRecord, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let literal = idp
        .scopes
        .iter()
        .filter(|s| !s.regexp)
        .map(|s| s.value.to_ascii_lowercase())
        .chain(extra.iter().map(|d| d.to_ascii_lowercase()));
    for d in literal {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

impl Directory {
    /// Indexes the IdPs that may be offered, each speaking for its scopes.
    #[must_use]
    pub fn new(idps: &[IdpRecord]) -> Self {
        Self::with_mail_domains(idps, &MailDomains::none())
    }

    /// Indexes the IdPs that may be offered, each speaking for its scopes and the mail
    /// domains the operator lists for it.
    #[must_use]
    pub fn with_mail_domains(idps: &[IdpRecord], mail_domains: &MailDomains) -> Self {
        let entries = idps
            .iter()
            .filter(|idp| !idp.hidden_from_discovery())
            .map(|idp| {
                let extra = mail_domains.of(&idp.entity_id);
                let authority = Authority::of(idp, extra);
                let mut name_words: Vec<(bool, Vec<String>)> = idp
                    .display_names
                    .iter()
                    .map(|n| (n.lang == "fr", words(&n.value)))
                    .collect();
                if name_words.is_empty() {
                    // No name: found by its entityID and its domains instead.
                    let mut w = words(idp.entity_id.as_str());
                    for s in idp.scopes.iter().filter(|s| !s.regexp) {
                        w.extend(words(&s.value));
                    }
                    name_words.push((true, w));
                }
                Entry {
                    entity_id: idp.entity_id.clone(),
                    names: idp.display_names.clone(),
                    words: name_words,
                    sort_key: fold(idp.name("fr")),
                    domains: domains_of(idp, extra),
                    logo: logo::choose(idp).map(|(id, _)| id),
                    authority,
                }
            })
            .collect::<Vec<Entry>>();
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.entity_id.clone(), i))
            .collect();
        Self { entries, by_id }
    }

    /// How many institutions may be offered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none may be offered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn show(entry: &Entry, lang: &str) -> Institution {
        let find = |l: &str| entry.names.iter().find(|n| n.lang == l);
        let name = find(lang)
            .or_else(|| find("fr"))
            .or_else(|| find("en"))
            .or_else(|| entry.names.first())
            .map_or_else(|| entry.entity_id.to_string(), |n| n.value.clone());
        Institution {
            entity_id: entry.entity_id.clone(),
            name,
            domains: entry.domains.clone(),
            logo: entry.logo,
        }
    }

    /// Institutions whose names contain every word of `query` as a word prefix, at most
    /// `limit`, French-name matches first. An empty query lists everyone by name. For
    /// tools; pages use [`Directory::search_page`], which says how many there are.
    #[must_use]
    pub fn search(&self, query: &str, lang: &str, limit: usize) -> Vec<Institution> {
        self.search_page(query, lang, 0, limit).items
    }

    /// Every institution whose names contain every word of `query` as a word prefix
    /// (French-name matches first, then by name): how many, and the `limit` from
    /// `offset`. An empty query lists everyone by name.
    #[must_use]
    pub fn search_page(&self, query: &str, lang: &str, offset: usize, limit: usize) -> Found {
        let wanted = words(query);
        let mut hits: Vec<(u8, &Entry)> = self
            .entries
            .iter()
            .filter_map(|entry| {
                let matches = |ws: &Vec<String>| {
                    wanted
                        .iter()
                        .all(|q| ws.iter().any(|w| w.starts_with(q.as_str())))
                };
                let french = entry.words.iter().any(|(fr, ws)| *fr && matches(ws));
                let any =
                    french || entry.words.iter().any(|(_, ws)| matches(ws)) || wanted.is_empty();
                any.then_some((u8::from(!french), entry))
            })
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.sort_key.cmp(&b.1.sort_key)));
        Found {
            total: hits.len(),
            offset,
            items: hits
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(_, e)| Self::show(e, lang))
                .collect(),
        }
    }

    /// The institution with this entityID, if it may be offered.
    #[must_use]
    pub fn get(&self, entity_id: &str, lang: &str) -> Option<Institution> {
        let id = EntityId::parse(entity_id).ok()?;
        let i = self.by_id.get(&id)?;
        self.entries.get(*i).map(|e| Self::show(e, lang))
    }

    /// Institutions that speak for the address's domain or a parent domain, the most
    /// specific first (then by name). Takes the domain part of `address` (or a bare
    /// domain).
    #[must_use]
    pub fn for_email(&self, address: &str, lang: &str) -> Vec<Institution> {
        let mut hits: Vec<(usize, &Entry)> = self
            .entries
            .iter()
            .filter_map(|e| e.authority.depth(address).map(|d| (d, e)))
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.sort_key.cmp(&b.1.sort_key)));
        hits.into_iter().map(|(_, e)| Self::show(e, lang)).collect()
    }
}
