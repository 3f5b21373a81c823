//! Fixed-window rate limits on store counters, per account and per client address.
//!
//! A window opens at the first hit and lasts `window`; the `max + 1`-th hit inside it
//! is refused with [`Error::Throttled`] and the time until the window closes, which the
//! page turns into "try again in N minutes". Counters are atomic store increments, so
//! limits hold across instances.

use std::time::Duration;

use passerelle_store::{Expiry, Key, Store};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Events allowed per window.
    pub max: u64,
    /// Window length.
    #[serde(with = "secs")]
    pub window: Duration,
}

impl Limit {
    /// `max` per `minutes` minutes.
    #[must_use]
    pub const fn per_minutes(max: u64, minutes: u64) -> Self {
        Self {
            max,
            window: Duration::from_secs(minutes * 60),
        }
    }
}

/// Counts one event against `limit` under `key`.
///
/// # Errors
/// [`Error::Throttled`] past the limit, [`Error::Unavailable`] when the store is down.
pub async fn hit(store: &Store, key: &Key, limit: Limit) -> Result<(), Error> {
    let n = store.increment(key, limit.window).await?;
    if n <= limit.max {
        return Ok(());
    }
    Err(Error::Throttled {
        retry_after: retry_after(store, key, limit).await?,
    })
}

/// Refuses when the window under `key` is already full, without counting.
///
/// # Errors
/// [`Error::Throttled`] when full, [`Error::Unavailable`] when the store is down.
pub async fn check(store: &Store, key: &Key, limit: Limit) -> Result<(), Error> {
    let n: u64 = store.get(key).await?.unwrap_or(0);
    if n < limit.max {
        return Ok(());
    }
    Err(Error::Throttled {
        retry_after: retry_after(store, key, limit).await?,
    })
}

async fn retry_after(store: &Store, key: &Key, limit: Limit) -> Result<Duration, Error> {
    Ok(match store.ttl(key).await? {
        Some(Expiry::After(d)) => d.max(Duration::from_secs(1)),
        _ => limit.window,
    })
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}
