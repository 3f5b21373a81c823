//! The federation as the server sees it: every configured feed, verified, merged into one
//! immutable [`Snapshot`] that requests read without locks, and replaced atomically by
//! each refresh.
//!
//! Rules: a feed is accepted only through [`crate::metadata::load`] (pinned keys, root
//! signed, validity window). A feed whose refresh fails keeps serving its last good data
//! until that data's `validUntil`, then is dropped with an error. Each good feed is kept
//! on disk (`cache_dir/NAME.xml`, the signed bytes) and re-verified at start-up, so a
//! restart does not depend on the feed's server. Feeds are merged in configuration order:
//! an entityID already seen is dropped from later feeds and reported. Verification is
//! CPU-heavy (about 1.7 s for 80 MB) and runs on the blocking pool.
//!
//! Sources are files or HTTPS URLs (conditional GET: an unchanged feed costs a 304 and
//! no verification).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use crate::directory::Directory;
use crate::error::Error;
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::metadata::{Aggregate, IdpRecord, ParseOptions, PinnedCerts, load};
use crate::types::EntityId;

/// Where a feed comes from.
#[derive(Debug, Clone)]
pub enum Location {
    /// A file (what a cron job or another fetcher drops in place).
    File(PathBuf),
    /// An HTTPS URL, fetched with conditional GET.
    Url {
        /// The feed's URL.
        url: String,
        /// The client (timeouts, size cap, extra root).
        fetcher: Fetcher,
    },
}

/// One configured feed.
#[derive(Debug, Clone)]
pub struct Source {
    /// A short name (used for the cache file and in reports): letters, digits, `-`, `_`.
    pub name: String,
    /// Where the signed feed is read from.
    pub location: Location,
    /// The federation's signing certificate(s).
    pub pinned: PinnedCerts,
    /// The longest validity window accepted.
    pub max_validity: Duration,
}

/// How one feed stands after the last refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// The feed's name.
    pub name: String,
    /// IdPs it contributes (after duplicates are dropped).
    pub idps: usize,
    /// The `validUntil` of the data served (RFC 3339), if any is served.
    pub valid_until: Option<String>,
    /// The last refresh error, if the last refresh failed.
    pub error: Option<String>,
    /// Whether the data served came from the on-disk copy or an older refresh.
    pub stale: bool,
    /// When the feed's source last confirmed the data served (new content, or a 304):
    /// the data's age for monitoring. `None` until a refresh succeeds.
    pub checked_at: Option<OffsetDateTime>,
}

/// An entityID found in more than one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The entityID.
    pub entity_id: EntityId,
    /// The feed whose record is used.
    pub kept_from: String,
    /// The feed whose record is dropped.
    pub dropped_from: String,
}

/// Everything requests need, consistent at one instant.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every IdP, merged.
    pub idps: Vec<Arc<IdpRecord>>,
    /// The discovery directory over them.
    pub directory: Directory,
    /// Per-feed status, in configuration order.
    pub sources: Vec<SourceStatus>,
    /// entityIDs seen in several feeds.
    pub duplicates: Vec<Duplicate>,
    by_id: std::collections::HashMap<EntityId, usize>,
}

impl Snapshot {
    /// A snapshot of the given IdPs alone (the dev IdP, tests, tools).
    #[must_use]
    pub fn from_idps(idps: Vec<IdpRecord>) -> Self {
        let directory = Directory::new(&idps);
        let idps: Vec<Arc<IdpRecord>> = idps.into_iter().map(Arc::new).collect();
        let by_id = idps
            .iter()
            .enumerate()
            .map(|(i, idp)| (idp.entity_id.clone(), i))
            .collect();
        Self {
            idps,
            directory,
            sources: Vec::new(),
            duplicates: Vec::new(),
            by_id,
        }
    }

    /// The IdP with this entityID.
    #[must_use]
    pub fn idp(&self, entity_id: &str) -> Option<Arc<IdpRecord>> {
        let id = EntityId::parse(entity_id).ok()?;
        self.by_id.get(&id).and_then(|i| self.idps.get(*i)).cloned()
    }
}

#[derive(Debug, Clone)]
struct Held {
    aggregate: Arc<Aggregate>,
    stale: bool,
    error: Option<String>,
    validators: Validators,
    checked_at: Option<OffsetDateTime>,
}

/// The live federation.
#[derive(Debug)]
pub struct Federation {
    sources: Vec<Source>,
    cache_dir: Option<PathBuf>,
    held: Mutex<Vec<Option<Held>>>,
    current: ArcSwap<Snapshot>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Federation {
    /// A federation with nothing loaded yet.
    ///
    /// # Errors
    /// [`Error::Input`] for a bad or repeated source name.
    pub fn new(sources: Vec<Source>, cache_dir: Option<PathBuf>) -> Result<Self, Error> {
        let mut names = HashSet::new();
        for s in &sources {
            if !valid_name(&s.name) || !names.insert(s.name.clone()) {
                return Err(Error::Input(format!(
                    "metadata source name {:?} is invalid or repeated",
                    s.name
                )));
            }
        }
        let held = Mutex::new(vec![None; sources.len()]);
        Ok(Self {
            sources,
            cache_dir,
            held,
            current: ArcSwap::from_pointee(Snapshot::default()),
        })
    }

    /// The current snapshot (cheap; hold it for the whole request).
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    fn cache_path(&self, source: &Source) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{}.xml", source.name)))
    }

    /// Loads each feed's last good copy from the cache directory (re-verified), for a
    /// start that does not depend on the feeds' servers. Feeds without a usable copy stay
    /// empty until [`Federation::refresh`].
    pub async fn start_from_cache(&self, now: OffsetDateTime) {
        for (i, source) in self.sources.iter().enumerate() {
            let Some(path) = self.cache_path(source) else {
                continue;
            };
            match read_and_load(path.clone(), source.clone(), now).await {
                Ok((aggregate, _)) => self.hold(
                    i,
                    Held {
                        aggregate: Arc::new(aggregate),
                        stale: true,
                        error: None,
                        validators: Validators::default(),
                        checked_at: None,
                    },
                ),
                Err(e) => {
                    tracing::warn!(source = %source.name, cache = %path.display(), error = %e, "cached metadata not usable")
                }
            }
        }
        self.publish(now);
    }

    /// Reads and verifies every feed, keeps what failed on its last good data while that
    /// is valid, and swaps in a new snapshot. Returns the per-feed status.
    pub async fn refresh(&self, now: OffsetDateTime) -> Vec<SourceStatus> {
        for (i, source) in self.sources.iter().enumerate() {
            match self.obtain(i, source, now).await {
                Ok(Some((aggregate, bytes, validators))) => {
                    if let Some(path) = self.cache_path(source) {
                        write_cache(&path, &bytes);
                    }
                    self.hold(
                        i,
                        Held {
                            aggregate: Arc::new(aggregate),
                            stale: false,
                            error: None,
                            validators,
                            checked_at: Some(now),
                        },
                    );
                }
                Ok(None) => {
                    // 304: what we hold is current.
                    let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(h) = held.get_mut(i).and_then(Option::as_mut) {
                        h.stale = false;
                        h.error = None;
                        h.checked_at = Some(now);
                    }
                }
                Err(e) => {
                    tracing::error!(source = %source.name, error = %e, "metadata refresh failed");
                    let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(slot) = held.get_mut(i) {
                        match slot.as_mut() {
                            Some(h) => {
                                h.stale = true;
                                h.error = Some(e.to_string());
                            }
                            None => {
                                *slot = Some(Held {
                                    aggregate: Arc::new(Aggregate::empty()),
                                    stale: true,
                                    error: Some(e.to_string()),
                                    validators: Validators::default(),
                                    checked_at: None,
                                });
                            }
                        }
                    }
                }
            }
        }
        self.publish(now)
    }

    /// New verified content for feed `i`, or `None` when the server says it is unchanged.
    async fn obtain(
        &self,
        i: usize,
        source: &Source,
        now: OffsetDateTime,
    ) -> Result<Option<(Aggregate, String, Validators)>, Error> {
        match &source.location {
            Location::File(path) => {
                let (aggregate, bytes) = read_and_load(path.clone(), source.clone(), now).await?;
                Ok(Some((aggregate, bytes, Validators::default())))
            }
            Location::Url { url, fetcher } => {
                let validators = {
                    let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    held.get(i)
                        .and_then(Option::as_ref)
                        .filter(|h| h.aggregate.valid_until.is_some())
                        .map(|h| h.validators.clone())
                        .unwrap_or_default()
                };
                match fetcher.get(url, &validators).await? {
                    Fetched::NotModified => Ok(None),
                    Fetched::Body(text, next) => {
                        let (aggregate, bytes) = load_text(text, source.clone(), now).await?;
                        Ok(Some((aggregate, bytes, next)))
                    }
                }
            }
        }
    }

    fn hold(&self, i: usize, h: Held) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = held.get_mut(i) {
            *slot = Some(h);
        }
    }

    /// Builds and swaps in the snapshot; drops data past its validUntil.
    fn publish(&self, now: OffsetDateTime) -> Vec<SourceStatus> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen: std::collections::HashMap<EntityId, String> =
            std::collections::HashMap::new();
        let mut idps = Vec::new();
        let mut duplicates = Vec::new();
        let mut statuses = Vec::new();
        for (source, slot) in self.sources.iter().zip(held.iter_mut()) {
            let mut status = SourceStatus {
                name: source.name.clone(),
                idps: 0,
                valid_until: None,
                error: slot.as_ref().and_then(|h| h.error.clone()),
                stale: slot.as_ref().is_some_and(|h| h.stale),
                checked_at: slot.as_ref().and_then(|h| h.checked_at),
            };
            if let Some(h) = slot.as_ref()
                && h.aggregate.valid_until.is_some_and(|v| v <= now)
            {
                let reason = "last good metadata is past its validUntil: dropped".to_owned();
                tracing::error!(source = %source.name, "{reason}");
                status.error = Some(
                    status
                        .error
                        .map_or(reason.clone(), |e| format!("{e}; {reason}")),
                );
                *slot = None;
            }
            if let Some(h) = slot.as_ref() {
                status.valid_until = h.aggregate.valid_until.and_then(|v| {
                    v.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
                for idp in &h.aggregate.idps {
                    if let Some(first) = seen.get(&idp.entity_id) {
                        duplicates.push(Duplicate {
                            entity_id: idp.entity_id.clone(),
                            kept_from: first.clone(),
                            dropped_from: source.name.clone(),
                        });
                        continue;
                    }
                    seen.insert(idp.entity_id.clone(), source.name.clone());
                    idps.push(Arc::new(idp.clone()));
                    status.idps += 1;
                }
            }
            statuses.push(status);
        }
        for d in &duplicates {
            tracing::warn!(entity = %d.entity_id, kept = %d.kept_from, dropped = %d.dropped_from, "duplicate entityID across metadata feeds");
        }
        let plain: Vec<IdpRecord> = idps.iter().map(|i| IdpRecord::clone(i)).collect();
        let by_id = idps
            .iter()
            .enumerate()
            .map(|(i, idp)| (idp.entity_id.clone(), i))
            .collect();
        let snapshot = Snapshot {
            directory: Directory::new(&plain),
            idps,
            sources: statuses.clone(),
            duplicates,
            by_id,
        };
        self.current.store(Arc::new(snapshot));
        statuses
    }

    /// The shortest `cacheDuration` among the feeds held.
    fn shortest_cache_duration(&self) -> Option<Duration> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter()
            .flatten()
            .filter_map(|h| h.aggregate.cache_duration)
            .min()
    }

    /// Refreshes forever: every `interval` (or sooner when a feed's `cacheDuration` asks,
    /// never below a minute) after a success, and with doubling back-off (from 30 s, capped
    /// at `interval`) after a failure. Never blocks readers.
    pub fn spawn_refresher(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(30);
            loop {
                let statuses = self.refresh(OffsetDateTime::now_utc()).await;
                let failed = statuses.iter().any(|s| s.error.is_some());
                let wait = if failed {
                    let w = backoff.min(interval);
                    backoff = (backoff * 2).min(interval);
                    w
                } else {
                    backoff = Duration::from_secs(30);
                    // A feed's cacheDuration may ask for sooner (never below a minute).
                    let floor = interval.min(Duration::from_secs(60));
                    self.shortest_cache_duration()
                        .map_or(interval, |c| c.min(interval).max(floor))
                };
                tokio::time::sleep(wait).await;
            }
        })
    }
}

async fn read_and_load(
    path: PathBuf,
    source: Source,
    now: OffsetDateTime,
) -> Result<(Aggregate, String), Error> {
    let bytes = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
    load_text(bytes, source, now).await
}

/// Verifies and parses on the blocking pool (about 1.7 s for an 80 MB feed).
async fn load_text(
    bytes: String,
    source: Source,
    now: OffsetDateTime,
) -> Result<(Aggregate, String), Error> {
    tokio::task::spawn_blocking(move || {
        let aggregate = load(
            &bytes,
            &source.pinned,
            now,
            source.max_validity,
            ParseOptions::default(),
        )?;
        Ok((aggregate, bytes))
    })
    .await
    .map_err(|e| Error::Internal(format!("metadata loading task: {e}")))?
}

/// Writes the last good copy atomically (temp file + rename); a failure is logged only.
fn write_cache(path: &std::path::Path, bytes: &str) {
    let tmp = path.with_extension("xml.tmp");
    let result = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(cache = %path.display(), error = %e, "could not keep the last good metadata copy");
    }
}
