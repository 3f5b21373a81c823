//! The store's one error type.
//!
//! Callers care about one distinction: [`StoreError::Unavailable`] (retry later, show a
//! 503) versus everything else (a bug or corrupted data). Messages never contain values,
//! which may be secrets; they may contain key kinds and backend reasons.

/// What went wrong with a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time. The Redis backend
    /// reconnects by itself; the same call may succeed later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backend URL does not name a backend this build supports.
    #[error("invalid store URL: {0}")]
    InvalidUrl(String),
    /// A value could not be encoded, or the stored bytes are not of the expected type.
    #[error("stored value has an unexpected shape: {0}")]
    Codec(#[source] serde_json::Error),
    /// The backend answered with an error that is not about reachability
    /// (for example a key holding another type).
    #[error("the store refused the operation: {0}")]
    Backend(String),
}

impl StoreError {
    /// `true` when the failure is about reachability and the caller should answer 503.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
