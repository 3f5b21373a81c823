//! `passerelle-store` — the one key/value contract every other Passerelle crate stands on.
//!
//! Map of the crate:
//! - [`Store`]: a cheap, cloneable handle with the atomic operations the protocol crates
//!   need (get, set with TTL, set-if-absent, take-once, delete, counters, TTL look-up,
//!   ping). Values are typed: anything `Serialize`/`Deserialize`, stored as JSON.
//! - [`Key`]: the only way to name a value. Keys carry a kind, a Redis Cluster hash tag
//!   (so the keys of one account or one flow live in one slot) and optional parts; the
//!   store adds its namespace prefix.
//! - Backends: [`memory`] (the embedded default for the demo and unit tests) and
//!   [`redis_store`] (a single node through `ConnectionManager`, or Redis Cluster),
//!   chosen by URL in [`Store::open`].
//! - [`journal`]: append-only, time-ordered, bounded logs under one key (the audit log):
//!   [`Store::journal_append`], [`Store::journal_before`], [`Store::journal_after`].
//! - Ordered indexes ([`Store::index_add`], [`Store::index_prefix`]): members by prefix,
//!   in byte order (a sorted set on Redis): the console's account search.
//! - Maintenance walks ([`Store::purge_tag`], [`Store::scan_kind`]): everything of one
//!   owner erased (an account deleted with its data), every key of a kind listed (an
//!   index rebuilt). They walk the keyspace: never on a request path.
//! - [`StoreError`]: one error type; `Unavailable` means "the store cannot be reached
//!   right now" and callers map it to HTTP 503. The Redis backend reconnects by itself.
//!
//! What it must never do: panic on a backend failure, block an async worker, or hide a
//! failed write (every write either happened or returns an error).

pub mod error;
pub mod journal;
pub mod key;
pub mod memory;
pub mod redis_store;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::StoreError;
pub use journal::JournalId;
pub use key::Key;
pub use redis_store::Timeouts;

/// How to reach Redis beyond what the URL says.
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// Connect and response time limits.
    pub timeouts: Timeouts,
    /// PEM roots to trust for `rediss://` instead of the system's (a private CA).
    pub tls_root_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("timeouts", &self.timeouts)
            .field("tls_root_pem", &self.tls_root_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// Where a [`Store::scan_kind`] walk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanCursor(u64);

impl ScanCursor {
    /// The beginning of a walk.
    pub const START: Self = Self(0);
}

/// How long a value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The value stays until deleted (accounts, indexes).
    Never,
    /// The value disappears after this duration (flows, codes, links, counters).
    After(Duration),
}

/// A handle on the configured backend; clone it freely, every clone shares the backend.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    prefix: Arc<str>,
}

#[derive(Clone)]
enum Backend {
    Memory(Arc<memory::MemoryStore>),
    Redis(redis_store::RedisStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("Store")
            .field("backend", &kind)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Store {
    /// An empty in-memory store (demo, unit tests). Nothing survives the process.
    #[must_use]
    pub fn memory(prefix: &str) -> Self {
        Self {
            backend: Backend::Memory(Arc::new(memory::MemoryStore::default())),
            prefix: prefix.into(),
        }
    }

    /// Opens the backend named by `url`:
    /// `memory://` (in-memory), `redis://` or `rediss://` (one node, TLS for the
    /// latter), `redis+cluster://host:port,host:port` or `rediss+cluster://…` (Redis
    /// Cluster). Connections are made lazily: an unreachable Redis is not an error here,
    /// it is [`StoreError::Unavailable`] on the first operation, and the store
    /// reconnects by itself when Redis comes back.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] when the URL cannot name a backend.
    pub fn open(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::open_with(url, prefix, &StoreOptions::default())
    }

    /// As [`Store::open`], with explicit timeouts and TLS roots.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] when the URL cannot name a backend.
    pub fn open_with(url: &str, prefix: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if url.trim() == "memory://" {
            return Ok(Self::memory(prefix));
        }
        let redis = redis_store::RedisStore::open(url, options)?;
        Ok(Self {
            backend: Backend::Redis(redis),
            prefix: prefix.into(),
        })
    }

    /// The same backend under another namespace prefix (tests, tenants).
    #[must_use]
    pub fn with_prefix(&self, prefix: &str) -> Self {
        Self {
            backend: self.backend.clone(),
            prefix: prefix.into(),
        }
    }

    /// `true` when values live only in this process (the demo's backend).
    #[must_use]
    pub fn is_ephemeral(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    fn render(&self, key: &Key) -> String {
        key.render(&self.prefix)
    }

    /// Reads a value.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached, `Codec` when the stored bytes
    /// are not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.get(&k),
            Backend::Redis(r) => r.get(&k).await?,
        };
        raw.map(|b| decode(&b)).transpose()
    }

    /// Writes a value, replacing any previous one.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    pub async fn set<T: Serialize>(
        &self,
        key: &Key,
        value: &T,
        expiry: Expiry,
    ) -> Result<(), StoreError> {
        let k = self.render(key);
        let v = encode(value)?;
        match &self.backend {
            Backend::Memory(m) => {
                m.set(k, v, expiry);
                Ok(())
            }
            Backend::Redis(r) => r.set(&k, &v, expiry).await,
        }
    }

    /// Writes a value only if the key holds none; returns whether it was written.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    pub async fn set_if_absent<T: Serialize>(
        &self,
        key: &Key,
        value: &T,
        expiry: Expiry,
    ) -> Result<bool, StoreError> {
        let k = self.render(key);
        let v = encode(value)?;
        match &self.backend {
            Backend::Memory(m) => Ok(m.set_if_absent(k, v, expiry)),
            Backend::Redis(r) => r.set_if_absent(&k, &v, expiry).await,
        }
    }

    /// Reads and deletes a value in one atomic step (GETDEL): of any number of
    /// concurrent callers, exactly one gets `Some`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached, `Codec` when the stored bytes
    /// are not a `T` (the value is gone all the same).
    pub async fn take<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.take(&k),
            Backend::Redis(r) => r.take(&k).await?,
        };
        raw.map(|b| decode(&b)).transpose()
    }

    /// Rotates a one-time token in one step and one round trip (a refresh token): takes
    /// `take` (of any number of concurrent callers, exactly one gets it); when it was
    /// there, also writes its spent mark, reads `read` and writes the next token's record
    /// `put`, atomically; when it was not, says whether its spent mark exists (it was
    /// taken before: a replay). Every key must share `take`'s hash tag (one slot of a
    /// Redis Cluster; on Redis, one script).
    ///
    /// # Errors
    /// `Backend` when the keys do not share a tag, `Unavailable` when the backend cannot
    /// be reached, `Codec` when a stored value is not what is expected.
    pub async fn rotate<T: DeserializeOwned, R: DeserializeOwned, P: Serialize>(
        &self,
        rotation: Rotation<'_, P>,
    ) -> Result<Rotated<T, R>, StoreError> {
        let tag = rotation.take.tag();
        let keys = [
            Some(rotation.mark.0),
            Some(rotation.read),
            rotation.put.map(|p| p.0),
        ];
        if keys.iter().flatten().any(|k| k.tag() != tag) {
            return Err(StoreError::Backend(
                "a rotation's keys must share one hash tag".into(),
            ));
        }
        let take = self.render(rotation.take);
        let mark = (self.render(rotation.mark.0), rotation.mark.1);
        let read = self.render(rotation.read);
        let put = match rotation.put {
            Some((k, v, e)) => Some((self.render(k), encode(v)?, e)),
            None => None,
        };
        let raw = match &self.backend {
            Backend::Memory(m) => m.rotate(&take, mark, &read, put),
            Backend::Redis(r) => r.rotate(&take, mark, &read, put).await?,
        };
        Ok(match raw {
            RawRotated::Taken { taken, read } => Rotated::Taken {
                taken: decode(&taken)?,
                read: read.map(|b| decode(&b)).transpose()?,
            },
            RawRotated::Missing { spent } => Rotated::Missing { spent },
        })
    }

    /// Deletes a value; returns whether there was one.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    pub async fn delete(&self, key: &Key) -> Result<bool, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.delete(&k)),
            Backend::Redis(r) => r.delete(&k).await,
        }
    }

    /// Adds one to a counter and returns the new count. The first increment creates the
    /// counter with the given lifetime (a fixed window); later ones keep that deadline.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached, `Codec` when the key holds
    /// something that is not a counter.
    pub async fn increment(&self, key: &Key, window: Duration) -> Result<u64, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => m.increment(k, window),
            Backend::Redis(r) => r.increment(&k, window).await,
        }
    }

    /// Remaining lifetime of a key: `None` when the key does not exist,
    /// `Some(Expiry::Never)` when it has no deadline.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    pub async fn ttl(&self, key: &Key) -> Result<Option<Expiry>, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.ttl(&k)),
            Backend::Redis(r) => r.ttl(&k).await,
        }
    }

    /// Gives an existing key a new lifetime (sliding sessions); returns whether the key
    /// existed.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    pub async fn touch(&self, key: &Key, expiry: Expiry) -> Result<bool, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.touch(&k, expiry)),
            Backend::Redis(r) => r.touch(&k, expiry).await,
        }
    }

    /// Checks that the backend answers (readiness probe).
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(r) => r.ping().await,
        }
    }

    /// Appends `value` to the list at `key`, keeping only the newest `cap` items, and
    /// sets the list's expiry — one atomic operation (a Lua script on one key), so
    /// concurrent appends never lose each other.
    ///
    /// # Errors
    /// `Unavailable`; `Backend` when the key holds something else than a list.
    pub async fn push_capped<T: Serialize>(
        &self,
        key: &Key,
        value: &T,
        cap: usize,
        expiry: Expiry,
    ) -> Result<(), StoreError> {
        let bytes = encode(value)?;
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => m.push_capped(k, bytes, cap, expiry),
            Backend::Redis(r) => r.push_capped(&k, bytes, cap, expiry).await,
        }
    }

    /// Appends `value` to the journal at `key` ([`journal`]): one atomic operation that
    /// also drops entries past `max_len` or older than `keep`. Returns the entry's id.
    ///
    /// # Errors
    /// `Unavailable`; `Backend` when the key holds something else than a journal.
    pub async fn journal_append<T: Serialize>(
        &self,
        key: &Key,
        value: &T,
        max_len: usize,
        keep: Duration,
    ) -> Result<JournalId, StoreError> {
        let bytes = encode(value)?;
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.journal_append(k, bytes, max_len, keep)),
            Backend::Redis(r) => r.journal_append(&k, bytes, max_len, keep).await,
        }
    }

    /// Up to `count` entries of the journal at `key`, newest first, strictly before
    /// `before` (from the newest when `None`): pages backwards.
    ///
    /// # Errors
    /// `Unavailable`; `Codec` for an entry that does not decode as `T`.
    pub async fn journal_before<T: DeserializeOwned>(
        &self,
        key: &Key,
        before: Option<JournalId>,
        count: usize,
    ) -> Result<Vec<(JournalId, T)>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.journal_before(&k, before, count),
            Backend::Redis(r) => r.journal_before(&k, before, count).await?,
        };
        raw.into_iter()
            .map(|(id, b)| decode(&b).map(|v| (id, v)))
            .collect()
    }

    /// Up to `count` entries of the journal at `key`, oldest first, strictly after
    /// `after` (from the oldest when `None`): reads it whole, page by page (export).
    ///
    /// # Errors
    /// `Unavailable`; `Codec` for an entry that does not decode as `T`.
    pub async fn journal_after<T: DeserializeOwned>(
        &self,
        key: &Key,
        after: Option<JournalId>,
        count: usize,
    ) -> Result<Vec<(JournalId, T)>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.journal_after(&k, after, count),
            Backend::Redis(r) => r.journal_after(&k, after, count).await?,
        };
        raw.into_iter()
            .map(|(id, b)| decode(&b).map(|v| (id, v)))
            .collect()
    }

    /// Adds `member` to the ordered index at `key` (a Redis sorted set scored 0, so
    /// members sort by their bytes). Idempotent.
    ///
    /// # Errors
    /// `Unavailable`; `Backend` when the key holds something else.
    pub async fn index_add(&self, key: &Key, member: &str) -> Result<(), StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => {
                m.index_add(k, member);
                Ok(())
            }
            Backend::Redis(r) => r.index_add(&k, member).await,
        }
    }

    /// Removes `member` from the index at `key`; whether it was there.
    ///
    /// # Errors
    /// `Unavailable`; `Backend` when the key holds something else.
    pub async fn index_remove(&self, key: &Key, member: &str) -> Result<bool, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.index_remove(&k, member)),
            Backend::Redis(r) => r.index_remove(&k, member).await,
        }
    }

    /// Up to `limit` members of the index at `key` that start with `prefix`, in byte
    /// order, strictly after `after` when given (the next page).
    ///
    /// # Errors
    /// `Unavailable`; `Backend` when the key holds something else.
    pub async fn index_prefix(
        &self,
        key: &Key,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let k = self.render(key);
        match &self.backend {
            Backend::Memory(m) => Ok(m.index_prefix(&k, prefix, after, limit)),
            Backend::Redis(r) => r.index_prefix(&k, prefix, after, limit).await,
        }
    }

    /// Every item of the list at `key` (oldest first), left in place. Empty when absent.
    ///
    /// # Errors
    /// `Unavailable`; `Codec` for an item that does not decode as `T`.
    pub async fn list<T: DeserializeOwned>(&self, key: &Key) -> Result<Vec<T>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.list(&k)?,
            Backend::Redis(r) => r.list(&k).await?,
        };
        raw.iter().map(|b| decode(b)).collect()
    }

    /// Every item of the list at `key` (oldest first), and the list deleted, atomically:
    /// concurrent callers split the items, none is seen twice. Empty when absent.
    ///
    /// # Errors
    /// `Unavailable`; `Codec` for an item that does not decode as `T`.
    pub async fn take_list<T: DeserializeOwned>(&self, key: &Key) -> Result<Vec<T>, StoreError> {
        let k = self.render(key);
        let raw = match &self.backend {
            Backend::Memory(m) => m.take_list(&k)?,
            Backend::Redis(r) => r.take_list(&k).await?,
        };
        raw.iter().map(|b| decode(b)).collect()
    }

    /// Deletes every key in the slot of `tag` — every kind, every part: all that is
    /// stored for one owner (an account's record, codes, counters, journals…), including
    /// keys whose parts the caller cannot know (a throttle window per client address).
    /// Returns how many keys were deleted. A key written concurrently may survive: call
    /// it after whatever writes for the owner has been stopped.
    ///
    /// On Redis this walks the keyspace (`SCAN … MATCH`, or `CLUSTER GETKEYSINSLOT` on
    /// the slot's node of a cluster): meant for rare operations (erasing an account),
    /// never for a request path.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn purge_tag(&self, tag: &str) -> Result<u64, StoreError> {
        self.purge_tags(&[tag]).await
    }

    /// [`Store::purge_tag`] for several owners at once: one walk of a single Redis
    /// node's keyspace whatever their number (one slot read each on a cluster).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn purge_tags(&self, tags: &[&str]) -> Result<u64, StoreError> {
        let wanted: std::collections::HashSet<String> =
            tags.iter().map(|t| key::escaped(t)).collect();
        if wanted.is_empty() {
            return Ok(0);
        }
        let prefix = self.prefix.clone();
        let matches =
            move |k: &str| key::split_rendered(k, &prefix).is_some_and(|(_, t)| wanted.contains(t));
        match &self.backend {
            Backend::Memory(m) => Ok(m.purge(matches)),
            Backend::Redis(r) => {
                let probes: Vec<String> = tags
                    .iter()
                    .map(|t| self.render(&Key::new("probe", t)))
                    .collect();
                let pattern = match tags {
                    [one] => key::tag_pattern(&self.prefix, one),
                    _ => key::prefix_pattern(&self.prefix),
                };
                r.purge(&probes, &pattern, matches).await
            }
        }
    }

    /// One page of the tags of every key of `kind` (unescaped, each once per page):
    /// start with [`ScanCursor::START`] and go on with the cursor returned until it is
    /// `None`. A tag may appear in more than one page; a key written during the walk may
    /// be missed. For maintenance commands (rebuilding an index), never a request path.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn scan_kind(
        &self,
        kind: &str,
        cursor: ScanCursor,
    ) -> Result<(Vec<String>, Option<ScanCursor>), StoreError> {
        let wanted = key::escaped(kind);
        let prefix = self.prefix.clone();
        let tag_of = move |k: &str| {
            key::split_rendered(k, &prefix)
                .filter(|(kd, _)| *kd == wanted)
                .and_then(|(_, t)| key::unescape(t))
        };
        let (names, next) = match &self.backend {
            Backend::Memory(m) => (m.names(|k| tag_of(k).is_some()), None),
            Backend::Redis(r) => {
                r.scan(&key::kind_pattern(&self.prefix, kind), cursor.0)
                    .await?
            }
        };
        let mut tags: Vec<String> = names.iter().filter_map(|k| tag_of(k)).collect();
        tags.sort_unstable();
        tags.dedup();
        Ok((tags, next.map(ScanCursor)))
    }

    /// Whether the data survives a restart of the backend: `Some(false)` for the
    /// in-memory store and for a Redis with neither AOF nor RDB save points, `None` when
    /// Redis will not say (`CONFIG` renamed or forbidden).
    ///
    /// # Errors
    /// `Unavailable` when the backend does not answer.
    pub async fn persistence(&self) -> Result<Option<bool>, StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(Some(false)),
            Backend::Redis(r) => r.persistence().await,
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::Codec)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(StoreError::Codec)
}

/// What [`Store::rotate`] does: take a token's record, and when it was there, mark it
/// spent, read its grant and write the next token's record.
#[derive(Debug)]
pub struct Rotation<'a, P> {
    /// The token's record, taken once.
    pub take: &'a Key,
    /// Its spent mark (what a replay finds), and how long it stays.
    pub mark: (&'a Key, Expiry),
    /// What to read (the grant the token belongs to).
    pub read: &'a Key,
    /// The next token's record and its expiry (`None`: no next token).
    pub put: Option<(&'a Key, &'a P, Expiry)>,
}

/// The outcome of [`Store::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated<T, R> {
    /// Taken: its record, and what `read` held.
    Taken {
        /// The token's record.
        taken: T,
        /// What `read` held, if anything.
        read: Option<R>,
    },
    /// Not there; `spent`: its spent mark exists (it was taken before: a replay).
    Missing {
        /// Whether the token was taken before.
        spent: bool,
    },
}

/// A backend's answer to a rotation, undecoded.
pub(crate) enum RawRotated {
    Taken {
        taken: Vec<u8>,
        read: Option<Vec<u8>>,
    },
    Missing {
        spent: bool,
    },
}
