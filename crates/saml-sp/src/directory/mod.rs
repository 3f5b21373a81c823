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
//! Both are answered from indexes built once per snapshot ([`index`]): a request never
//! walks every institution (the 10,000-IdP feed included).
//!
//! Nothing is ever cut silently: [`Directory::search_page`] says how many matched in all
//! and returns one page of them, so the page can offer the rest. Each institution carries
//! what tells look-alikes apart: its name in the chosen language, the domains it speaks
//! for, its logo ([`crate::logo`]).

mod index;

use std::borrow::Borrow;

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
    /// Whether a French name (or, without names, the entityID's words) lists it first
    /// when the query is empty.
    french: bool,
    /// Its place in the order by French name (ties: feed order).
    rank: u32,
    domains: Vec<String>,
    logo: Option<LogoId>,
    authority: Authority,
    has_regexp: bool,
}

/// The searchable set of institutions.
#[derive(Debug, Default)]
pub struct Directory {
    entries: Vec<Entry>,
    by_id: std::collections::HashMap<EntityId, usize>,
    words: index::Words,
    domains: index::Domains,
    /// The entries in the order by French name (`by_rank[entry.rank]` is the entry).
    by_rank: Vec<u32>,
}

/// The folded words of each name of `idp`, with whether the name is French; an IdP
/// without a name is found by the words of its entityID and its literal scopes.
fn name_words(idp: &IdpRecord) -> Vec<(bool, Vec<String>)> {
    let mut out: Vec<(bool, Vec<String>)> = idp
        .display_names
        .iter()
        .map(|n| (n.lang == "fr", words(&n.value)))
        .collect();
    if out.is_empty() {
        let mut w = words(idp.entity_id.as_str());
        for s in idp.scopes.iter().filter(|s| !s.regexp) {
            w.extend(words(&s.value));
        }
        out.push((true, w));
    }
    out
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
    pub fn new<R: Borrow<IdpRecord>>(idps: &[R]) -> Self {
        Self::with_mail_domains(idps, &MailDomains::none())
    }

    /// Indexes the IdPs that may be offered, each speaking for its scopes and the mail
    /// domains the operator lists for it.
    #[must_use]
    pub fn with_mail_domains<R: Borrow<IdpRecord>>(idps: &[R], mail_domains: &MailDomains) -> Self {
        let offered: Vec<&IdpRecord> = idps
            .iter()
            .map(Borrow::borrow)
            .filter(|idp| !idp.hidden_from_discovery())
            .collect();
        // The order by French name, computed once (ties keep the feed's order).
        let mut order: Vec<(String, usize)> = offered
            .iter()
            .enumerate()
            .map(|(i, idp)| (fold(idp.name("fr")), i))
            .collect();
        order.sort();
        let mut rank = vec![0u32; offered.len()];
        for (r, (_, i)) in order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(*i) {
                *slot = u32::try_from(r).unwrap_or(u32::MAX);
            }
        }
        let mut names = Vec::new();
        let mut entries = Vec::with_capacity(offered.len());
        for (i, idp) in offered.iter().enumerate() {
            let entry_rank = rank.get(i).copied().unwrap_or(u32::MAX);
            let ws = name_words(idp);
            let french = ws.iter().any(|(fr, _)| *fr);
            names.extend(ws.into_iter().map(|(french, w)| {
                (
                    index::NameRef {
                        rank: entry_rank,
                        french,
                    },
                    w,
                )
            }));
            let extra = mail_domains.of(&idp.entity_id);
            entries.push(Entry {
                entity_id: idp.entity_id.clone(),
                names: idp.display_names.clone(),
                french,
                rank: entry_rank,
                domains: domains_of(idp, extra),
                logo: logo::choose(idp).map(|(id, _)| id),
                authority: Authority::of(idp, extra),
                has_regexp: idp.scopes.iter().any(|s| s.regexp),
            });
        }
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.entity_id.clone(), i))
            .collect();
        let domains = index::Domains::new(
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| (u32::try_from(i).unwrap_or(u32::MAX), e.domains.as_slice())),
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.has_regexp)
                .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
        );
        Self {
            entries,
            by_id,
            words: index::Words::new(names),
            domains,
            by_rank: order
                .iter()
                .map(|(_, i)| u32::try_from(*i).unwrap_or(u32::MAX))
                .collect(),
        }
    }

    fn entry(&self, i: u32) -> Option<&Entry> {
        self.entries.get(i as usize)
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
        // The matches as two sets of ranks (French-name matches, the others): read in
        // order, they are the answer already sorted — no per-request sort.
        let n = self.entries.len();
        let (mut french, mut other) = (index::Bits::new(n), index::Bits::new(n));
        let mut add = |rank: u32, fr: bool| {
            if fr {
                french.set(rank);
            } else {
                other.set(rank);
            }
        };
        if wanted.is_empty() {
            for e in &self.entries {
                add(e.rank, e.french);
            }
        } else {
            self.words
                .each_match(&wanted, |name| add(name.rank, name.french));
        }
        other.remove(&french);
        Found {
            total: french.count() + other.count(),
            offset,
            items: french
                .iter()
                .chain(other.iter())
                .skip(offset)
                .take(limit)
                .filter_map(|rank| self.by_rank.get(rank as usize))
                .filter_map(|&i| self.entry(i))
                .map(|e| Self::show(e, lang))
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
        let Some(domain) = crate::authority::domain_of(address) else {
            return Vec::new();
        };
        let mut depths = self.domains.literal_depths(&domain);
        // Regexp scopes: their institutions answer for themselves (literal included).
        for &i in self.domains.with_regexp() {
            let Some(d) = self.entry(i).and_then(|e| e.authority.depth(address)) else {
                continue;
            };
            match depths.iter_mut().find(|(e, _)| *e == i) {
                Some(seen) => seen.1 = seen.1.min(d),
                None => depths.push((i, d)),
            }
        }
        let mut hits: Vec<(usize, u32, &Entry)> = depths
            .into_iter()
            .filter_map(|(i, d)| self.entry(i).map(|e| (d, e.rank, e)))
            .collect();
        hits.sort_unstable_by_key(|h| (h.0, h.1));
        hits.into_iter()
            .map(|(_, _, e)| Self::show(e, lang))
            .collect()
    }
}
