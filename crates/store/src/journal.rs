//! Journals: append-only, time-ordered, bounded logs (the audit log, sign-in activity).
//!
//! A journal lives under one key (one Redis Cluster slot). Appending is one atomic
//! operation that also drops what is past the journal's length cap or its retention, so
//! a journal never grows without bound and never loses a concurrent append. Each entry
//! gets a [`JournalId`] — the millisecond it was written and a sequence within it, the
//! shape of a Redis stream id — strictly increasing in the order appends happened.
//! Entries are never changed once written. On Redis a journal is a stream (`XADD` with
//! `MAXLEN` and `MINID` in one script); in memory, a deque under the store's lock.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where an entry sits in its journal (and when it was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JournalId {
    /// Unix milliseconds of the append.
    pub ms: u64,
    /// Order among appends of the same millisecond.
    pub seq: u64,
}

impl JournalId {
    /// Parses `MS-SEQ` (what [`fmt::Display`] writes, a Redis stream id).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        let digits =
            |x: &str| !x.is_empty() && x.len() <= 20 && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for JournalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One journal in memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryJournal {
    entries: VecDeque<(JournalId, Vec<u8>)>,
}

impl MemoryJournal {
    pub(crate) fn append(&mut self, value: Vec<u8>, max_len: usize, keep: Duration) -> JournalId {
        let ms = now_ms();
        let id = match self.entries.back() {
            Some((last, _)) if last.ms >= ms => JournalId {
                ms: last.ms,
                seq: last.seq.saturating_add(1),
            },
            _ => JournalId { ms, seq: 0 },
        };
        self.entries.push_back((id, value));
        let cutoff = ms.saturating_sub(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX));
        while self
            .entries
            .front()
            .is_some_and(|(first, _)| first.ms < cutoff)
            || self.entries.len() > max_len.max(1)
        {
            self.entries.pop_front();
        }
        id
    }

    /// Newest first, strictly before `before`.
    pub(crate) fn before(
        &self,
        before: Option<JournalId>,
        count: usize,
    ) -> Vec<(JournalId, Vec<u8>)> {
        self.entries
            .iter()
            .rev()
            .filter(|(id, _)| before.is_none_or(|b| *id < b))
            .take(count)
            .cloned()
            .collect()
    }

    /// Oldest first, strictly after `after`.
    pub(crate) fn after(
        &self,
        after: Option<JournalId>,
        count: usize,
    ) -> Vec<(JournalId, Vec<u8>)> {
        self.entries
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| *id > a))
            .take(count)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_print_and_parse_back_and_refuse_anything_else() {
        let id = JournalId {
            ms: 1_700_000_000_123,
            seq: 4,
        };
        assert_eq!(JournalId::parse(&id.to_string()), Some(id));
        for bad in ["", "-", "1-", "-1", "1-2-3", "a-1", "1- 2", "+", "(1-0"] {
            assert_eq!(JournalId::parse(bad), None, "{bad}");
        }
    }
}
