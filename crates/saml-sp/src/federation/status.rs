//! How each feed stands — its status, why a refresh was refused (a closed set), the
//! entityIDs found twice — and the events operators must be able to trace afterwards
//! (a feed refused, data dropped at its `validUntil`): the server writes those to the
//! audit log. Nothing here reads or verifies a feed.

use time::OffsetDateTime;

use crate::error::Error;
use crate::types::EntityId;

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
    /// When the data served was verified and parsed (from the source or the on-disk
    /// copy). The same bytes again — a restart reading the cached copy then the source,
    /// a file or a server that did not change — are not verified and parsed twice.
    pub loaded_at: Option<OffsetDateTime>,
    /// The newest publication instant accepted for this feed (kept across restarts in
    /// `cache_dir/NAME.published`): a copy published before it is refused.
    pub newest_published: Option<OffsetDateTime>,
    /// Why the last refresh was refused, if it was.
    pub last_failure: Option<FeedFailure>,
    /// Refusals since start, per reason (for the metrics).
    pub failures: Vec<(FeedFailure, u64)>,
}

/// Why a feed's refresh was refused: the closed set logs and metrics name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedFailure {
    /// The file or URL could not be read (or the transfer failed).
    Unreadable,
    /// Over the size cap.
    TooLarge,
    /// Not UTF-8 XML saying so (another declared encoding, a byte-order mark, NUL).
    Encoding,
    /// Not well-formed XML, or something outside the root element.
    NotWellFormed,
    /// Not SAML metadata, or carries a DOCTYPE.
    NotMetadata,
    /// No valid signature by a pinned key, or one that does not cover the root.
    Signature,
    /// Past its `validUntil`.
    Expired,
    /// No readable `validUntil`, or one too far ahead.
    Validity,
    /// Published before the data already accepted (a replayed older feed).
    Rollback,
    /// Anything else (an internal failure).
    Internal,
}

impl FeedFailure {
    /// The label used in logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::TooLarge => "too_large",
            Self::Encoding => "encoding",
            Self::NotWellFormed => "not_well_formed",
            Self::NotMetadata => "not_metadata",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::Validity => "validity",
            Self::Rollback => "rollback",
            Self::Internal => "internal",
        }
    }

    /// The reason for an error of [`crate::metadata::load`] or of reading a feed.
    #[must_use]
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Input(_) => Self::Unreadable,
            Error::TooLarge { .. } => Self::TooLarge,
            Error::Encoding(_) => Self::Encoding,
            Error::Xml { .. } => Self::NotWellFormed,
            Error::Doctype | Error::NotMetadata(_) => Self::NotMetadata,
            Error::Signature(_) | Error::NotSignedAtRoot => Self::Signature,
            Error::Expired { .. } => Self::Expired,
            Error::Validity(_) | Error::ValidityTooLong { .. } => Self::Validity,
            Error::Rollback { .. } => Self::Rollback,
            Error::Rejected(_) | Error::Store(_) | Error::Internal(_) => Self::Internal,
        }
    }
}

/// Per feed, what outlives the data held: the newest publication accepted, and the
/// refusals counted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Track {
    pub(crate) newest: Option<OffsetDateTime>,
    pub(crate) last_failure: Option<FeedFailure>,
    pub(crate) failures: std::collections::BTreeMap<FeedFailure, u64>,
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

/// Something that happened to a feed that must stay traceable (the audit log's
/// `feed_dropped`): sent once per change, not on every retry of a lasting outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The feed's name.
    pub feed: String,
    /// What happened.
    pub kind: FeedEventKind,
}

/// What happened to a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEventKind {
    /// A new copy was refused (its data is not used; the last good data still is).
    Refused(FeedFailure),
    /// The last good data passed its `validUntil`: the feed's IdPs are no longer offered.
    Expired,
}

impl FeedEventKind {
    /// The label written in the audit record.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused(f) => f.as_str(),
            Self::Expired => "expired_held_data",
        }
    }
}
