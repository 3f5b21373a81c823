//! The in-memory backend: the embedded default for `passerelle demo` and unit tests.
//!
//! One mutex over a hash map; every operation is a single critical section, which makes
//! each one atomic exactly as the Redis commands are. Expired entries are invisible at
//! once and swept every few thousand writes. Nothing survives the process, which is why
//! production runs on Redis. The lock is never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::journal::{JournalId, MemoryJournal};
use crate::{Expiry, StoreError};

const SWEEP_EVERY: u32 = 4096;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    deadline: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.deadline.is_none_or(|d| d > now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Entry>,
    journals: HashMap<String, MemoryJournal>,
    indexes: HashMap<String, std::collections::BTreeSet<String>>,
    writes: u32,
}

impl Inner {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        let alive = self.map.get(key).is_some_and(|e| e.live(now));
        if alive {
            self.map.get_mut(key)
        } else {
            self.map.remove(key);
            None
        }
    }

    fn put(&mut self, key: String, value: Vec<u8>, deadline: Option<Instant>, now: Instant) {
        self.map.insert(key, Entry { value, deadline });
        self.wrote(now);
    }

    fn wrote(&mut self, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.map.retain(|_, e| e.live(now));
        }
    }
}

/// The in-memory backend. Use it through [`crate::Store::memory`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

fn deadline(now: Instant, expiry: Expiry) -> Option<Instant> {
    match expiry {
        Expiry::Never => None,
        Expiry::After(d) => Some(now + d),
    }
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry (every
        // mutation is one map call), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.lock().live(key, now).map(|e| e.value.clone())
    }

    pub(crate) fn set(&self, key: String, value: Vec<u8>, expiry: Expiry) {
        let now = Instant::now();
        self.lock().put(key, value, deadline(now, expiry), now);
    }

    pub(crate) fn set_if_absent(&self, key: String, value: Vec<u8>, expiry: Expiry) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.live(&key, now).is_some() {
            return false;
        }
        inner.put(key, value, deadline(now, expiry), now);
        true
    }

    pub(crate) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.live(key, now)?;
        inner.map.remove(key).map(|e| e.value)
    }

    pub(crate) fn rotate(
        &self,
        take: &str,
        mark: (String, Expiry),
        read: &str,
        put: Option<(String, Vec<u8>, Expiry)>,
    ) -> crate::RawRotated {
        let now = Instant::now();
        let mut inner = self.lock();
        let taken = match inner.live(take, now) {
            Some(_) => inner.map.remove(take).map(|e| e.value),
            None => None,
        };
        let Some(taken) = taken else {
            let spent = inner.live(&mark.0, now).is_some();
            return crate::RawRotated::Missing { spent };
        };
        inner.put(mark.0, b"1".to_vec(), deadline(now, mark.1), now);
        let read = inner.live(read, now).map(|e| e.value.clone());
        if let Some((key, value, expiry)) = put {
            inner.put(key, value, deadline(now, expiry), now);
        }
        crate::RawRotated::Taken { taken, read }
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.live(key, now).is_some() && inner.map.remove(key).is_some()
    }

    pub(crate) fn increment(&self, key: String, window: Duration) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let count = match inner.live(&key, now) {
            Some(entry) => {
                let current: u64 =
                    serde_json::from_slice(&entry.value).map_err(StoreError::Codec)?;
                let next = current.saturating_add(1);
                entry.value = next.to_string().into_bytes();
                next
            }
            None => {
                inner.put(key, b"1".to_vec(), Some(now + window), now);
                return Ok(1);
            }
        };
        inner.wrote(now);
        Ok(count)
    }

    pub(crate) fn push_capped(
        &self,
        key: String,
        value: Vec<u8>,
        cap: usize,
        expiry: Expiry,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut items: Vec<Vec<u8>> = match inner.live(&key, now) {
            Some(entry) => serde_json::from_slice(&entry.value).map_err(StoreError::Codec)?,
            None => Vec::new(),
        };
        items.push(value);
        let excess = items.len().saturating_sub(cap.max(1));
        items.drain(..excess);
        let encoded = serde_json::to_vec(&items).map_err(StoreError::Codec)?;
        inner.put(key, encoded, deadline(now, expiry), now);
        Ok(())
    }

    pub(crate) fn journal_append(
        &self,
        key: String,
        value: Vec<u8>,
        max_len: usize,
        keep: Duration,
    ) -> JournalId {
        self.lock()
            .journals
            .entry(key)
            .or_default()
            .append(value, max_len, keep)
    }

    pub(crate) fn journal_before(
        &self,
        key: &str,
        before: Option<JournalId>,
        count: usize,
    ) -> Vec<(JournalId, Vec<u8>)> {
        self.lock()
            .journals
            .get(key)
            .map(|j| j.before(before, count))
            .unwrap_or_default()
    }

    pub(crate) fn journal_after(
        &self,
        key: &str,
        after: Option<JournalId>,
        count: usize,
    ) -> Vec<(JournalId, Vec<u8>)> {
        self.lock()
            .journals
            .get(key)
            .map(|j| j.after(after, count))
            .unwrap_or_default()
    }

    pub(crate) fn index_add(&self, key: String, member: &str) {
        self.lock()
            .indexes
            .entry(key)
            .or_default()
            .insert(member.to_owned());
    }

    pub(crate) fn index_remove(&self, key: &str, member: &str) -> bool {
        self.lock()
            .indexes
            .get_mut(key)
            .is_some_and(|set| set.remove(member))
    }

    pub(crate) fn index_prefix(
        &self,
        key: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<String> {
        let inner = self.lock();
        let Some(set) = inner.indexes.get(key) else {
            return Vec::new();
        };
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        set.range((start, std::ops::Bound::Unbounded))
            .take_while(|m| m.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect()
    }

    pub(crate) fn list(&self, key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        match self.get(key) {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(StoreError::Codec),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn take_list(&self, key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        match self.take(key) {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(StoreError::Codec),
            None => Ok(Vec::new()),
        }
    }

    /// Deletes every value, journal and index whose name `matches`; how many.
    pub(crate) fn purge(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut deleted = 0u64;
        inner.map.retain(|k, e| {
            let gone = matches(k);
            deleted += u64::from(gone && e.live(now));
            !gone
        });
        inner.journals.retain(|k, _| {
            let gone = matches(k);
            deleted += u64::from(gone);
            !gone
        });
        inner.indexes.retain(|k, _| {
            let gone = matches(k);
            deleted += u64::from(gone);
            !gone
        });
        deleted
    }

    /// Every live name that `matches`.
    pub(crate) fn names(&self, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let now = Instant::now();
        let inner = self.lock();
        let values = inner
            .map
            .iter()
            .filter(|(k, e)| e.live(now) && matches(k))
            .map(|(k, _)| k);
        let others = inner.journals.keys().chain(inner.indexes.keys());
        values
            .chain(others.filter(|k| matches(k)))
            .cloned()
            .collect()
    }

    pub(crate) fn ttl(&self, key: &str) -> Option<Expiry> {
        let now = Instant::now();
        self.lock().live(key, now).map(|e| match e.deadline {
            None => Expiry::Never,
            Some(d) => Expiry::After(d.saturating_duration_since(now)),
        })
    }

    pub(crate) fn touch(&self, key: &str, expiry: Expiry) -> bool {
        let now = Instant::now();
        match self.lock().live(key, now) {
            Some(e) => {
                e.deadline = deadline(now, expiry);
                true
            }
            None => false,
        }
    }
}
