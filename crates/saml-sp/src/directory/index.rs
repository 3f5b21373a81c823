//! The discovery indexes, built once per snapshot so a request never scans every
//! institution: a sorted list of every folded word of every name (a query word's
//! prefix is one contiguous range of it, found by binary search), and a map from each
//! literal domain an institution speaks for to the institutions (regexp scopes are kept
//! apart and run only for the few institutions that have them).
//!
//! They answer exactly what the scan answered (property test in `mod.rs`): every query
//! word a prefix of a word of one same name, French names first, then by name; for an
//! address, the institutions that speak for its domain or a parent, the most specific
//! first.

use std::collections::HashMap;

/// One name of one institution (or the pseudo-name of an institution without a name:
/// its entityID's and scopes' words, counted as French).
#[derive(Debug, Clone, Copy)]
pub(super) struct NameRef {
    /// The institution's rank in the order by French name (what the answer is sorted
    /// by: a match sets one bit, no other lookup).
    pub rank: u32,
    /// Whether the name is French.
    pub french: bool,
}

/// The word index.
#[derive(Debug, Default)]
pub(super) struct Words {
    /// Every name.
    names: Vec<NameRef>,
    /// The folded words of each name (same order as `names`), to check the query's other
    /// words against a candidate.
    name_words: Vec<Box<[Box<str>]>>,
    /// Every distinct word, sorted.
    words: Vec<Box<str>>,
    /// The names holding each word (sorted, no repeats).
    postings: Vec<Box<[u32]>>,
    /// `cumulative[i]`: postings of the words before `i` (the size of a range in O(1)).
    cumulative: Vec<usize>,
}

impl Words {
    /// Indexes `names` (entry, French, folded words).
    pub(super) fn new(names: Vec<(NameRef, Vec<String>)>) -> Self {
        let mut by_word: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, (_, ws)) in names.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for w in ws {
                let list = by_word.entry(w.as_str()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        let mut sorted: Vec<(&str, Vec<u32>)> = by_word.into_iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut cumulative = Vec::with_capacity(sorted.len() + 1);
        let mut total = 0;
        cumulative.push(0);
        for (_, p) in &sorted {
            total += p.len();
            cumulative.push(total);
        }
        let words = sorted.iter().map(|(w, _)| Box::<str>::from(*w)).collect();
        let postings = sorted
            .into_iter()
            .map(|(_, p)| p.into_boxed_slice())
            .collect();
        let (refs, name_words) = names
            .into_iter()
            .map(|(r, ws)| (r, ws.into_iter().map(String::into_boxed_str).collect()))
            .unzip();
        Self {
            names: refs,
            name_words,
            words,
            postings,
            cumulative,
        }
    }

    /// The words starting with `prefix`: a range of `words`.
    fn range(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.words.partition_point(|w| &**w < prefix);
        let len = self
            .words
            .get(start..)
            .map_or(0, |rest| rest.partition_point(|w| w.starts_with(prefix)));
        start..start + len
    }

    /// Calls `found` for every name in which each of `wanted` (non-empty) is a prefix of
    /// some word (a name may be told more than once): starts from the query word with
    /// the fewest candidates, checks the others on each candidate's own words.
    pub(super) fn each_match(&self, wanted: &[String], mut found: impl FnMut(NameRef)) {
        let Some((rarest, range)) =
            wanted
                .iter()
                .map(|q| (q, self.range(q)))
                .min_by_key(|(_, r)| {
                    self.cumulative.get(r.end).copied().unwrap_or(0)
                        - self.cumulative.get(r.start).copied().unwrap_or(0)
                })
        else {
            return;
        };
        let others: Vec<&String> = wanted.iter().filter(|q| *q != rarest).collect();
        for &n in self
            .postings
            .get(range)
            .unwrap_or_default()
            .iter()
            .flatten()
        {
            // (A one-word query needs no look at the name's words.)
            let others_match = others.is_empty()
                || self.name_words.get(n as usize).is_some_and(|ws| {
                    others
                        .iter()
                        .all(|q| ws.iter().any(|w| w.starts_with(q.as_str())))
                });
            if others_match && let Some(name) = self.names.get(n as usize) {
                found(*name);
            }
        }
    }
}

/// A set of small integers (institution ranks), one bit each.
#[derive(Debug)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    /// An empty set for `0..n`.
    pub(super) fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }

    /// Adds `i`.
    pub(super) fn set(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut(i as usize / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Removes every member of `other`.
    pub(super) fn remove(&mut self, other: &Self) {
        for (w, o) in self.0.iter_mut().zip(&other.0) {
            *w &= !o;
        }
    }

    /// How many members.
    pub(super) fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, in increasing order.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let base = u32::try_from(i * 64).unwrap_or(u32::MAX);
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    base + bit
                })
            })
        })
    }
}

/// The domain index.
#[derive(Debug, Default)]
pub(super) struct Domains {
    /// Literal domain → the institutions speaking for it.
    literal: HashMap<Box<str>, Vec<u32>>,
    /// Institutions with regexp scopes (checked one by one).
    regexp: Vec<u32>,
}

impl Domains {
    /// Indexes each institution's literal domains; `with_regexp` lists those with regexp
    /// scopes.
    pub(super) fn new<'a>(
        literal: impl Iterator<Item = (u32, &'a [String])>,
        with_regexp: Vec<u32>,
    ) -> Self {
        let mut map: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (entry, domains) in literal {
            for d in domains {
                let list = map.entry(d.as_str().into()).or_default();
                if list.last() != Some(&entry) {
                    list.push(entry);
                }
            }
        }
        Self {
            literal: map,
            regexp: with_regexp,
        }
    }

    /// For each institution whose literal domains hold `domain` or a parent (never the
    /// bare top-level domain), how many labels were dropped to reach it (the smallest).
    pub(super) fn literal_depths(&self, domain: &str) -> Vec<(u32, usize)> {
        let labels: Vec<&str> = domain.split('.').collect();
        let mut out: Vec<(u32, usize)> = Vec::new();
        for i in 0..labels.len().saturating_sub(1) {
            let Some(rest) = labels.get(i..) else { break };
            if let Some(entries) = self.literal.get(rest.join(".").as_str()) {
                for &e in entries {
                    if !out.iter().any(|(seen, _)| *seen == e) {
                        out.push((e, i));
                    }
                }
            }
        }
        out
    }

    /// The institutions with regexp scopes.
    pub(super) fn with_regexp(&self) -> &[u32] {
        &self.regexp
    }
}
