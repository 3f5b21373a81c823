//! Password hashing: argon2id in PHC strings, run off the async workers.
//!
//! Defaults are OWASP's (m = 19456 KiB, t = 2, p = 1) with 16-byte salts from the OS.
//! Every hash and verify runs in `spawn_blocking` under a semaphore, so a burst of logins
//! can neither starve the async workers nor take more than the configured number of
//! cores' worth of memory. A verify against no hash (unknown account, not activated)
//! runs against a dummy hash made at start-up: same work, same answer as a wrong
//! password. A verify that succeeds against weaker parameters than the configured ones
//! says so, and the caller stores a fresh hash.

use std::fmt;
use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;
use crate::secret::random_bytes;

/// A password as typed. It never appears in `Debug` output.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps what the user typed.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The text, for the policy check and the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// argon2id cost parameters (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP
    }
}

impl HashParams {
    /// OWASP's recommended argon2id parameters.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn to_argon2(self) -> Result<Params, Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// It matched a hash made with weaker parameters (or another algorithm): store a
    /// fresh hash.
    pub needs_rehash: bool,
}

/// The right to run one hash, held by a caller across the checks around it (a login's
/// throttle check, the verify, the failure count), so that no more than the configured
/// number of guesses are between a check and their count. The blocking task holds it
/// too: a request dropped mid-hash frees it only when the hash ends.
pub(crate) struct Slot(Arc<OwnedSemaphorePermit>);

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct Hasher {
    config: HashParams,
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.config)
            .finish_non_exhaustive()
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(params: Params, password: &[u8]) -> Result<String, Error> {
    let salt = random_bytes::<16>()?;
    argon2id(params)
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

impl Hasher {
    /// A hasher with these parameters, running at most `max_concurrent` hashes at once.
    /// Computes the dummy hash (one hash's worth of time).
    ///
    /// # Errors
    /// [`Error::Config`] for parameters argon2 refuses or a zero concurrency.
    pub fn new(config: HashParams, max_concurrent: usize) -> Result<Self, Error> {
        if max_concurrent == 0 {
            return Err(Error::Config("hash concurrency must be at least 1".into()));
        }
        let params = config.to_argon2()?;
        let dummy = hash_now(params.clone(), b"passerelle dummy password")?;
        Ok(Self {
            config,
            params,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            dummy: dummy.into(),
        })
    }

    /// The configured parameters.
    #[must_use]
    pub fn params(&self) -> HashParams {
        self.config
    }

    /// Waits for a hashing slot.
    pub(crate) async fn slot(&self) -> Result<Slot, Error> {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map(|p| Slot(Arc::new(p)))
            .map_err(|_| Error::Internal("hasher closed".into()))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let slot = self.slot().await?;
        Self::blocking_in(&slot, f).await
    }

    async fn blocking_in<T: Send + 'static>(
        slot: &Slot,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let permit = Arc::clone(&slot.0);
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| Error::Internal(format!("hashing task: {e}")))
    }

    /// A fresh PHC string for `password`.
    ///
    /// # Errors
    /// [`Error::Internal`] if argon2 or the random source fails.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let params = self.params.clone();
        let pw = password.clone();
        self.blocking(move || hash_now(params, pw.expose().as_bytes()))
            .await?
    }

    /// Checks `password` against `stored` (a PHC string), or against the dummy hash
    /// when there is none — the answer is then always "no", after the same work.
    ///
    /// # Errors
    /// [`Error::Internal`] if the blocking task cannot run.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, Error> {
        let slot = self.slot().await?;
        self.verify_in(&slot, password, stored).await
    }

    /// As [`Hasher::verify`], in a slot the caller holds.
    pub(crate) async fn verify_in(
        &self,
        slot: &Slot,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, Error> {
        let real = stored.map(str::to_owned);
        let dummy = Arc::clone(&self.dummy);
        let pw = password.clone();
        let wanted = self.config;
        Self::blocking_in(slot, move || {
            let target = real.as_deref().unwrap_or(&dummy);
            let parsed = PasswordHash::new(target).or_else(|_| PasswordHash::new(&dummy));
            let Ok(parsed) = parsed else {
                return Verified {
                    ok: false,
                    needs_rehash: false,
                };
            };
            let matched = argon2id(Params::default())
                .verify_password(pw.expose().as_bytes(), &parsed)
                .is_ok();
            let ok =
                matched && real.as_deref() == Some(target) && PasswordHash::new(target).is_ok();
            Verified {
                ok,
                needs_rehash: ok && weaker(&parsed, wanted),
            }
        })
        .await
    }
}

/// Whether `hash` was made with another algorithm or lower costs than `wanted`.
fn weaker(hash: &PasswordHash, wanted: HashParams) -> bool {
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => {
            p.m_cost() < wanted.memory_kib
                || p.t_cost() < wanted.iterations
                || p.p_cost() < wanted.parallelism
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = Hasher::new(CHEAP, 2).unwrap();
        let phc = h.hash(&Password::new("Abcdef1!")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(
            h.verify(&Password::new("Abcdef1!"), Some(&phc))
                .await
                .unwrap()
                .ok
        );
        assert!(
            !h.verify(&Password::new("Abcdef1?"), Some(&phc))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn salts_differ_between_two_hashes_of_one_password() {
        let h = Hasher::new(CHEAP, 2).unwrap();
        let a = h.hash(&Password::new("same")).await.unwrap();
        let b = h.hash(&Password::new("same")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn no_hash_or_a_corrupt_hash_never_verifies() {
        let h = Hasher::new(CHEAP, 1).unwrap();
        let dummy_pw = Password::new("passerelle dummy password");
        assert_eq!(
            h.verify(&dummy_pw, None).await.unwrap(),
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
        assert!(
            !h.verify(&dummy_pw, Some("not a phc string"))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn a_match_against_weaker_parameters_asks_for_a_rehash() {
        let weak = Hasher::new(CHEAP, 1).unwrap();
        let strong = Hasher::new(
            HashParams {
                memory_kib: 2048,
                ..CHEAP
            },
            1,
        )
        .unwrap();
        let old = weak.hash(&Password::new("pw")).await.unwrap();
        let v = strong
            .verify(&Password::new("pw"), Some(&old))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        let fresh = strong.hash(&Password::new("pw")).await.unwrap();
        let v = strong
            .verify(&Password::new("pw"), Some(&fresh))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
    }

    #[test]
    fn the_default_parameters_are_owasps() {
        assert_eq!(
            HashParams::default(),
            HashParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert!(Hasher::new(CHEAP, 0).is_err());
        assert_eq!(format!("{:?}", Password::new("secret")), "Password(***)");
    }
}
