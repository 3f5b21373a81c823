//! The federation as the server sees it: every configured feed, verified, merged into one
//! immutable [`Snapshot`] that requests read without locks, and replaced atomically by
//! each refresh.
//!
//! Rules: a feed is accepted only through [`crate::metadata::load`] (pinned keys, root
//! signed, validity window), and never when it was published before the copy already
//! accepted (its `creationInstant`, else its `validUntil`: a replayed older feed would
//! bring back replaced keys and removed IdPs); that mark is kept per feed in
//! `cache_dir/NAME.published`, so it survives restarts. A file is refused by its size
//! before it is read. A feed whose refresh fails keeps serving its last good data
//! until that data's `validUntil`, then is dropped with an error. Each good feed is kept
//! on disk (`cache_dir/NAME.xml`, the signed bytes) and re-verified at start-up, so a
//! restart does not depend on the feed's server. Feeds are merged in configuration order:
//! an entityID already seen is dropped from later feeds and reported. Verification is
//! CPU-heavy (about 1.7 s for 80 MB) and runs on the blocking pool.
//!
//! Sources are files or HTTPS URLs (conditional GET: an unchanged feed costs a 304 and
//! no verification).
//!
//! Logos ([`crate::logo`]): inline ones are served from the snapshot's records; with a
//! [`LogoFetcher`], the `https://` ones are fetched after each refresh into
//! `cache_dir/logos/`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use crate::authority::{Authority, MailDomains};
use crate::directory::Directory;
use crate::error::Error;
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::logo::{self, Image, LogoCache, LogoFetcher, LogoId, LogoReport, LogoSource};
use crate::metadata::{Aggregate, IdpRecord, ParseOptions, PinnedCerts, load};
use crate::types::EntityId;

mod status;

/// Feed events kept for a slow receiver.
const EVENTS: usize = 64;

use status::Track;
pub use status::{Duplicate, FeedEvent, FeedEventKind, FeedFailure, SourceStatus};

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
    /// The largest feed accepted, in bytes: checked before a file is read (its size) or
    /// while a body is received, never after the whole of it is in memory.
    pub max_bytes: usize,
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
    by_id: HashMap<EntityId, usize>,
    /// What each IdP speaks for, aligned with `idps`.
    authorities: Vec<Authority>,
    /// The logo discovery shows for each IdP that has one: its IdP's index and source.
    logos: HashMap<LogoId, (usize, LogoSource)>,
}

impl Snapshot {
    /// A snapshot of the given IdPs alone (the dev IdP, tests, tools).
    #[must_use]
    pub fn from_idps(idps: Vec<IdpRecord>) -> Self {
        Self::from_idps_with(idps, &MailDomains::none())
    }

    /// A snapshot of the given IdPs, with the operator's mail domains.
    #[must_use]
    pub fn from_idps_with(idps: Vec<IdpRecord>, mail_domains: &MailDomains) -> Self {
        let idps: Vec<Arc<IdpRecord>> = idps.into_iter().map(Arc::new).collect();
        Self::assemble(idps, mail_domains, Vec::new(), Vec::new())
    }

    fn assemble(
        idps: Vec<Arc<IdpRecord>>,
        mail_domains: &MailDomains,
        sources: Vec<SourceStatus>,
        duplicates: Vec<Duplicate>,
    ) -> Self {
        let by_id = idps
            .iter()
            .enumerate()
            .map(|(i, idp)| (idp.entity_id.clone(), i))
            .collect();
        let authorities = idps
            .iter()
            .map(|idp| Authority::of(idp, mail_domains.of(&idp.entity_id)))
            .collect();
        let logos = idps
            .iter()
            .enumerate()
            .filter_map(|(i, idp)| logo::choose(idp).map(|(id, source)| (id, (i, source))))
            .collect();
        Self {
            directory: Directory::with_mail_domains(&idps, mail_domains),
            idps,
            sources,
            duplicates,
            by_id,
            authorities,
            logos,
        }
    }

    /// An inline logo of this snapshot, decoded from its record.
    #[must_use]
    pub fn inline_logo(&self, id: LogoId) -> Option<Image> {
        let (i, LogoSource::Inline(_)) = self.logos.get(&id)? else {
            return None;
        };
        let idp = self.idps.get(*i)?;
        idp.logos
            .iter()
            .find(|l| LogoId::of_url(&l.url) == id)
            .and_then(|l| logo::decode_data_url(&l.url).ok())
    }

    /// The remote logos this snapshot shows, to be fetched.
    #[must_use]
    pub fn remote_logos(&self) -> Vec<(LogoId, String)> {
        let mut out: Vec<(LogoId, String)> = self
            .logos
            .iter()
            .filter_map(|(id, (_, source))| match source {
                LogoSource::Remote(url) => Some((*id, url.clone())),
                LogoSource::Inline(_) => None,
            })
            .collect();
        out.sort();
        out
    }

    /// What the IdP `entity_id` speaks for (nothing, for an IdP not in the snapshot).
    #[must_use]
    pub fn authority(&self, entity_id: &EntityId) -> Authority {
        self.by_id
            .get(entity_id)
            .and_then(|i| self.authorities.get(*i))
            .cloned()
            .unwrap_or_default()
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
    /// The feed's root data (its IdPs moved to `idps`).
    aggregate: Arc<Aggregate>,
    /// Its IdPs, shared with every snapshot that serves them (never copied).
    idps: Vec<Arc<IdpRecord>>,
    stale: bool,
    error: Option<String>,
    validators: Validators,
    checked_at: Option<OffsetDateTime>,
    /// SHA-256 of the bytes `aggregate` was verified and parsed from (`None` for the
    /// empty placeholder of a feed that never loaded): the same bytes again are not
    /// verified and parsed twice (a restart reads the cached copy, then the source).
    digest: Option<[u8; 32]>,
    /// When `aggregate` was verified and parsed.
    loaded_at: Option<OffsetDateTime>,
}

/// After a load and a publish, the parse's DOM and the previous snapshot are freed: their
/// pages go back to the system (glibc would keep them), so the resident set follows the
/// live data. On the blocking pool: it takes a few milliseconds on a large heap.
async fn release_freed_memory() {
    let _ = tokio::task::spawn_blocking(passerelle_xmldsig::release_freed_memory).await;
}

/// The aggregate's root data, and its IdPs made shareable.
fn split(mut aggregate: Aggregate) -> (Arc<Aggregate>, Vec<Arc<IdpRecord>>) {
    let idps = std::mem::take(&mut aggregate.idps)
        .into_iter()
        .map(Arc::new)
        .collect();
    (Arc::new(aggregate), idps)
}

fn digest_of(bytes: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(bytes)
}

/// The live federation.
#[derive(Debug)]
pub struct Federation {
    sources: Vec<Source>,
    cache_dir: Option<PathBuf>,
    held: Mutex<Vec<Option<Held>>>,
    tracks: Mutex<Vec<Track>>,
    mail_domains: MailDomains,
    current: ArcSwap<Snapshot>,
    logos: Option<Arc<LogoCache>>,
    events: tokio::sync::broadcast::Sender<FeedEvent>,
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
        let tracks = Mutex::new(vec![Track::default(); sources.len()]);
        Ok(Self {
            sources,
            cache_dir,
            held,
            tracks,
            mail_domains: MailDomains::none(),
            current: ArcSwap::from_pointee(Snapshot::default()),
            logos: None,
            events: tokio::sync::broadcast::channel(EVENTS).0,
        })
    }

    /// The feed events from now on ([`FeedEvent`]): a refusal (once per new reason, not
    /// on every retry of a lasting outage), data dropped at its `validUntil`. A receiver
    /// that falls more than a few dozen events behind misses the oldest.
    #[must_use]
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<FeedEvent> {
        self.events.subscribe()
    }

    fn emit(&self, source: &Source, kind: FeedEventKind) {
        // No receiver (a CLI, a test) is not an error.
        let _ = self.events.send(FeedEvent {
            feed: source.name.clone(),
            kind,
        });
    }

    /// Fetches the logos feeds publish at `https://` URLs with `fetcher`, keeping them
    /// in `CACHE_DIR/logos/`. Without a cache directory, only inline logos are shown.
    #[must_use]
    pub fn with_logo_fetcher(mut self, fetcher: LogoFetcher) -> Self {
        match &self.cache_dir {
            Some(dir) => {
                self.logos = Some(Arc::new(LogoCache::new(dir.join("logos"), fetcher)));
            }
            None => tracing::warn!("no metadata cache directory: remote logos are not fetched"),
        }
        self
    }

    /// Whether discovery can show this logo now.
    #[must_use]
    pub fn logo_available(&self, snapshot: &Snapshot, id: LogoId) -> bool {
        match snapshot.logos.get(&id) {
            Some((_, LogoSource::Inline(_))) => true,
            Some((_, LogoSource::Remote(_))) => self.logos.as_ref().is_some_and(|c| c.has(id)),
            None => false,
        }
    }

    /// A logo the current snapshot shows, checked.
    pub async fn logo(&self, id: LogoId) -> Option<Image> {
        let snapshot = self.snapshot();
        match snapshot.logos.get(&id)? {
            (_, LogoSource::Inline(_)) => snapshot.inline_logo(id),
            (_, LogoSource::Remote(_)) => self.logos.as_ref()?.read(id).await,
        }
    }

    /// Brings the logo cache in line with the current snapshot (`None` when remote logos
    /// are not fetched).
    pub async fn sync_logos(&self) -> Option<LogoReport> {
        let cache = self.logos.as_ref()?;
        let wanted = self.snapshot().remote_logos();
        let report = cache.sync(&wanted).await;
        tracing::info!(
            available = report.available,
            fetched = report.fetched,
            refused = report.refused.len(),
            waiting = report.waiting,
            "logos"
        );
        Some(report)
    }

    /// The operator's mail domains (universities whose addresses are not under their
    /// scopes): each IdP also speaks for those listed for it.
    #[must_use]
    pub fn with_mail_domains(mut self, mail_domains: MailDomains) -> Self {
        self.mail_domains = mail_domains;
        self
    }

    /// Where each feed comes from, in configuration order: its name and its file path or
    /// URL.
    #[must_use]
    pub fn origins(&self) -> Vec<(String, String)> {
        self.sources
            .iter()
            .map(|s| {
                let at = match &s.location {
                    Location::File(path) => path.display().to_string(),
                    Location::Url { url, .. } => url.clone(),
                };
                (s.name.clone(), at)
            })
            .collect()
    }

    /// The operator's mail domains.
    #[must_use]
    pub fn mail_domains(&self) -> &MailDomains {
        &self.mail_domains
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

    fn mark_path(&self, source: &Source) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{}.published", source.name)))
    }

    /// Refuses `aggregate` if it was published before what feed `i` already accepted.
    fn check_not_older(&self, i: usize, aggregate: &Aggregate) -> Result<(), Error> {
        let tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
        let newest = tracks.get(i).and_then(|t| t.newest);
        match (aggregate.publication_instant(), newest) {
            (Some(offered), Some(held)) if offered < held => Err(Error::Rollback {
                offered: crate::metadata::rfc3339(offered),
                held: crate::metadata::rfc3339(held),
            }),
            _ => Ok(()),
        }
    }

    /// Records `aggregate` as accepted for feed `i`: its publication instant becomes the
    /// feed's mark (on disk too, when there is a cache directory).
    fn advance_mark(&self, i: usize, source: &Source, aggregate: &Aggregate) {
        let Some(offered) = aggregate.publication_instant() else {
            return;
        };
        let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(track) = tracks.get_mut(i) else {
            return;
        };
        track.last_failure = None;
        if track.newest.is_some_and(|n| n >= offered) {
            return;
        }
        track.newest = Some(offered);
        drop(tracks);
        if let Some(path) = self.mark_path(source) {
            write_atomically(&path, crate::metadata::rfc3339(offered).as_bytes());
        }
    }

    /// Reads feed `i`'s mark from the cache directory (at start-up).
    async fn read_mark(&self, i: usize, source: &Source) {
        let Some(path) = self.mark_path(source) else {
            return;
        };
        let Ok(text) = tokio::fs::read_to_string(&path).await else {
            return;
        };
        match OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339) {
            Ok(mark) => {
                let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(track) = tracks.get_mut(i) {
                    track.newest = track.newest.max(Some(mark));
                }
            }
            Err(e) => {
                tracing::warn!(source = %source.name, file = %path.display(), error = %e, "unreadable metadata publication mark ignored");
            }
        }
    }

    /// Counts and logs a refused refresh of feed `i`; what it held is served on.
    fn fail(&self, i: usize, source: &Source, e: &Error) {
        let failure = FeedFailure::of(e);
        tracing::error!(source = %source.name, reason = failure.as_str(), error = %e, "metadata refresh refused");
        let repeated = {
            let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
            tracks.get_mut(i).is_some_and(|track| {
                let repeated = track.last_failure == Some(failure);
                track.last_failure = Some(failure);
                *track.failures.entry(failure).or_default() += 1;
                repeated
            })
        };
        if !repeated {
            self.emit(source, FeedEventKind::Refused(failure));
        }
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
                        idps: Vec::new(),
                        stale: true,
                        error: Some(e.to_string()),
                        validators: Validators::default(),
                        checked_at: None,
                        digest: None,
                        loaded_at: None,
                    });
                }
            }
        }
    }

    /// Loads each feed's last good copy from the cache directory (re-verified), for a
    /// start that does not depend on the feeds' servers. Feeds without a usable copy stay
    /// empty until [`Federation::refresh`].
    pub async fn start_from_cache(&self, now: OffsetDateTime) {
        for (i, source) in self.sources.iter().enumerate() {
            self.read_mark(i, source).await;
            let Some(path) = self.cache_path(source) else {
                continue;
            };
            let loaded = read_and_load(path.clone(), source.clone(), now)
                .await
                .and_then(|(aggregate, bytes)| {
                    self.check_not_older(i, &aggregate)?;
                    Ok((aggregate, bytes))
                });
            match loaded {
                Ok((aggregate, bytes)) => {
                    self.advance_mark(i, source, &aggregate);
                    let (aggregate, idps) = split(aggregate);
                    self.hold(
                        i,
                        Held {
                            aggregate,
                            idps,
                            stale: true,
                            error: None,
                            validators: Validators::default(),
                            checked_at: None,
                            digest: Some(digest_of(bytes.as_bytes())),
                            loaded_at: Some(now),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(source = %source.name, cache = %path.display(), error = %e, "cached metadata not usable")
                }
            }
        }
        self.publish(now);
        release_freed_memory().await;
    }

    /// Reads and verifies every feed, keeps what failed on its last good data while that
    /// is valid, and swaps in a new snapshot. Returns the per-feed status.
    pub async fn refresh(&self, now: OffsetDateTime) -> Vec<SourceStatus> {
        for (i, source) in self.sources.iter().enumerate() {
            let obtained = self.obtain(i, source, now).await.and_then(|new| {
                if let Some((aggregate, _, _)) = &new {
                    self.check_not_older(i, aggregate)?;
                }
                Ok(new)
            });
            match obtained {
                Ok(Some((aggregate, bytes, validators))) => {
                    self.advance_mark(i, source, &aggregate);
                    if let Some(path) = self.cache_path(source) {
                        write_atomically(&path, bytes.as_bytes());
                    }
                    let (aggregate, idps) = split(aggregate);
                    self.hold(
                        i,
                        Held {
                            aggregate,
                            idps,
                            stale: false,
                            error: None,
                            validators,
                            checked_at: Some(now),
                            digest: Some(digest_of(bytes.as_bytes())),
                            loaded_at: Some(now),
                        },
                    );
                }
                Ok(None) => {
                    // 304, or the very bytes we hold: what we hold is current.
                    let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(h) = held.get_mut(i).and_then(Option::as_mut) {
                        h.stale = false;
                        h.error = None;
                        h.checked_at = Some(now);
                    }
                    drop(held);
                    let mut tracks = self.tracks.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(t) = tracks.get_mut(i) {
                        t.last_failure = None;
                    }
                }
                Err(e) => self.fail(i, source, &e),
            }
        }
        let statuses = self.publish(now);
        release_freed_memory().await;
        statuses
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
                let bytes = read_capped(path, source.max_bytes).await?;
                if self.holds(i, &bytes) {
                    return Ok(None);
                }
                let (aggregate, bytes) = load_text(utf8(bytes)?, source.clone(), now).await?;
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
                        if self.holds(i, text.as_bytes()) {
                            // A new ETag on the same bytes: remembered, nothing reloaded.
                            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                            if let Some(h) = held.get_mut(i).and_then(Option::as_mut) {
                                h.validators = next;
                            }
                            return Ok(None);
                        }
                        let (aggregate, bytes) = load_text(text, source.clone(), now).await?;
                        Ok(Some((aggregate, bytes, next)))
                    }
                }
            }
        }
    }

    /// Whether feed `i`'s data was loaded from exactly these bytes.
    fn holds(&self, i: usize, bytes: &[u8]) -> bool {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(digest) = held.get(i).and_then(Option::as_ref).and_then(|h| h.digest) else {
            return false;
        };
        drop(held);
        openssl::memcmp::eq(&digest, &digest_of(bytes))
    }

    fn hold(&self, i: usize, h: Held) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = held.get_mut(i) {
            *slot = Some(h);
        }
    }

    /// Builds and swaps in the snapshot; drops data past its validUntil.
    fn publish(&self, now: OffsetDateTime) -> Vec<SourceStatus> {
        let tracks = self
            .tracks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen: HashMap<EntityId, String> = HashMap::new();
        let mut idps = Vec::new();
        let mut duplicates = Vec::new();
        let mut statuses = Vec::new();
        for ((source, slot), track) in self.sources.iter().zip(held.iter_mut()).zip(&tracks) {
            let mut status = SourceStatus {
                newest_published: track.newest,
                last_failure: track.last_failure,
                failures: track.failures.iter().map(|(f, n)| (*f, *n)).collect(),
                name: source.name.clone(),
                idps: 0,
                valid_until: None,
                error: slot.as_ref().and_then(|h| h.error.clone()),
                stale: slot.as_ref().is_some_and(|h| h.stale),
                checked_at: slot.as_ref().and_then(|h| h.checked_at),
                loaded_at: slot.as_ref().and_then(|h| h.loaded_at),
            };
            if let Some(h) = slot.as_ref()
                && h.aggregate.valid_until.is_some_and(|v| v <= now)
            {
                let reason = "last good metadata is past its validUntil: dropped".to_owned();
                tracing::error!(source = %source.name, "{reason}");
                self.emit(source, FeedEventKind::Expired);
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
                for idp in &h.idps {
                    if let Some(first) = seen.get(&idp.entity_id) {
                        duplicates.push(Duplicate {
                            entity_id: idp.entity_id.clone(),
                            kept_from: first.clone(),
                            dropped_from: source.name.clone(),
                        });
                        continue;
                    }
                    seen.insert(idp.entity_id.clone(), source.name.clone());
                    idps.push(Arc::clone(idp));
                    status.idps += 1;
                }
            }
            statuses.push(status);
        }
        for d in &duplicates {
            tracing::warn!(entity = %d.entity_id, kept = %d.kept_from, dropped = %d.dropped_from, "duplicate entityID across metadata feeds");
        }
        let snapshot = Snapshot::assemble(idps, &self.mail_domains, statuses.clone(), duplicates);
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

    /// Refreshes forever, starting after a first wait (the caller refreshed at start-up):
    /// every `interval` (or sooner when a feed's `cacheDuration` asks, never below a
    /// minute) after a success, and with doubling back-off (from 30 s, capped at
    /// `interval`) after a failure. Never blocks readers.
    pub fn spawn_refresher(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(30);
            self.sync_logos().await;
            loop {
                let failed = self.snapshot().sources.iter().any(|s| s.error.is_some());
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
                self.refresh(OffsetDateTime::now_utc()).await;
                self.sync_logos().await;
            }
        })
    }
}

async fn read_and_load(
    path: PathBuf,
    source: Source,
    now: OffsetDateTime,
) -> Result<(Aggregate, String), Error> {
    let bytes = read_capped(&path, source.max_bytes).await?;
    load_text(utf8(bytes)?, source, now).await
}

fn utf8(bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        Error::Encoding(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The file's bytes, refused without reading them when it is over `max_bytes` (and
/// never more than `max_bytes + 1` read, should it grow meanwhile).
async fn read_capped(path: &std::path::Path, max_bytes: usize) -> Result<Vec<u8>, Error> {
    use tokio::io::AsyncReadExt as _;
    let unreadable =
        |e: std::io::Error| Error::Input(format!("cannot read {}: {e}", path.display()));
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let size = file.metadata().await.map_err(unreadable)?.len();
    let too_large = |size: u64| Error::TooLarge {
        size: usize::try_from(size).unwrap_or(usize::MAX),
        limit: max_bytes,
    };
    if size > max_bytes as u64 {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
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
            ParseOptions {
                max_bytes: source.max_bytes,
            },
        )?;
        Ok((aggregate, bytes))
    })
    .await
    .map_err(|e| Error::Internal(format!("metadata loading task: {e}")))?
}

/// Writes a cache file atomically (temp file + rename); a failure is logged only.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    let result = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(cache = %path.display(), error = %e, "could not write a metadata cache file");
    }
}
