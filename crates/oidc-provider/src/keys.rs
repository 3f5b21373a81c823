//! Signing keys: Ed25519 (EdDSA), P-256 (ES256) and RSA-2048 (RS256), shared by every
//! instance through the store, rotated with overlap, sealed at rest.
//!
//! Signing is done by `ring` (Ed25519, ECDSA P-256 with fixed-size `r‖s` signatures) and
//! `openssl` (RSA PKCS#1 v1.5, and RSA key generation, which `ring` lacks); this module
//! only adapts them to openidconnect's [`PrivateSigningKey`] trait — openidconnect itself
//! has no ES256 signer. The key set is one sealed document in the store (AES-256-GCM under
//! a key derived with HKDF from the provider secret), so a store dump does not give the
//! private keys away. Rotation: a new key is published at once and signs only from
//! `signs_from`; a superseded key stays in `/jwks` until every token it signed has expired.
//! A store that lost the key set (emptied, or replaced without persistence) gets back, at
//! the next [`Keys::refresh`], the sealed keys this instance still holds — keys already
//! published, so instances starting afterwards publish what the running ones sign with —
//! and a new key only for an algorithm nobody holds any more; that is logged as an error.
//! An instance started while the store is unavailable holds no key ([`Keys::unloaded`]):
//! it signs nothing, and makes none of its own, until [`Keys::load`] reads (or creates,
//! through the store) the shared set.
//! Private key bytes never appear in `Debug`, logs or errors.

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use passerelle_store::{Expiry, Key, Store};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A JWS algorithm this provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// Ed25519.
    EdDsa,
    /// ECDSA P-256 SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 SHA-256 (the OIDC default).
    Rs256,
}

impl SigningAlg {
    /// Every algorithm, in discovery order.
    pub const ALL: [Self; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// Parses a JWS `alg` name this provider signs with (`none` and HMAC are not).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
    /// The JWS name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
    /// openidconnect's name for it.
    #[must_use]
    pub fn core(self) -> CoreJwsSigningAlgorithm {
        match self {
            Self::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
            Self::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            Self::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        }
    }
}

enum Pair {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(openssl::pkey::PKey<openssl::pkey::Private>),
}

/// One usable signing key.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    public: CoreJsonWebKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key (RSA keys are 2048 bits).
    ///
    /// # Errors
    /// [`Error::Keys`] when the crypto library fails.
    pub fn generate(alg: SigningAlg) -> Result<(Self, Vec<u8>), Error> {
        let rng = SystemRandom::new();
        let der = match alg {
            SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| Error::Keys("Ed25519 generation failed".into()))?
                .as_ref()
                .to_vec(),
            SigningAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| Error::Keys("P-256 generation failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::Rs256 => openssl::rsa::Rsa::generate(2048)
                .and_then(|r| r.private_key_to_der())
                .map_err(|e| Error::Keys(format!("RSA generation failed: {e}")))?,
        };
        let kid = random_kid()?;
        Ok((Self::from_der(&kid, alg, &der)?, der))
    }

    /// Loads a key from its private DER (PKCS#8 for Ed25519 and P-256, PKCS#1 for RSA).
    ///
    /// # Errors
    /// [`Error::Keys`] when the bytes are not such a key.
    pub fn from_der(kid: &str, alg: SigningAlg, der: &[u8]) -> Result<Self, Error> {
        let kid_t = Some(JsonWebKeyId::new(kid.to_owned()));
        let rejected = |what: &str| Error::Keys(format!("key {kid}: not a valid {what} key"));
        let (pair, public) = match alg {
            SigningAlg::EdDsa => {
                let p = Ed25519KeyPair::from_pkcs8(der).map_err(|_| rejected("Ed25519"))?;
                let jwk = CoreJsonWebKey::new_okp(
                    p.public_key().as_ref().to_vec(),
                    CoreJsonCurveType::Ed25519,
                    kid_t,
                );
                (Pair::Ed(p), jwk)
            }
            SigningAlg::Es256 => {
                let p = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(|_| rejected("P-256"))?;
                let point = p.public_key().as_ref();
                let (x, y) = match point {
                    [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                    _ => return Err(rejected("P-256")),
                };
                let jwk =
                    CoreJsonWebKey::new_ec(x.to_vec(), y.to_vec(), CoreJsonCurveType::P256, kid_t);
                (Pair::Ec(p), jwk)
            }
            SigningAlg::Rs256 => {
                let rsa =
                    openssl::rsa::Rsa::private_key_from_der(der).map_err(|_| rejected("RSA"))?;
                if rsa.size() < 256 {
                    return Err(Error::Keys(format!("key {kid}: RSA keys need 2048 bits")));
                }
                let jwk = CoreJsonWebKey::new_rsa(rsa.n().to_vec(), rsa.e().to_vec(), kid_t);
                let pkey = openssl::pkey::PKey::from_rsa(rsa).map_err(|_| rejected("RSA"))?;
                (Pair::Rsa(pkey), jwk)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            public,
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// Its algorithm.
    #[must_use]
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }
    /// Its public JWK.
    #[must_use]
    pub fn public_jwk(&self) -> &CoreJsonWebKey {
        &self.public
    }

    /// Signs `message` with the key's own algorithm.
    ///
    /// # Errors
    /// [`SigningError::CryptoError`] when the library fails.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.pair {
            Pair::Ed(p) => Ok(p.sign(message).as_ref().to_vec()),
            Pair::Ec(p) => p
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningError::CryptoError),
            Pair::Rsa(k) => {
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), k)
                        .map_err(|_| SigningError::CryptoError)?;
                signer
                    .update(message)
                    .and_then(|()| signer.sign_to_vec())
                    .map_err(|_| SigningError::CryptoError)
            }
        }
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *signature_alg != self.alg.core() {
            return Err(SigningError::UnsupportedAlg(self.alg.as_str().to_owned()));
        }
        self.sign_raw(message)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.public.clone()
    }
}

fn random_kid() -> Result<String, Error> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// One key as the store keeps it (private part sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    alg: SigningAlg,
    sealed: String,
    published_at: i64,
    signs_from: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredKeys {
    keys: Vec<StoredKey>,
}

struct Loaded {
    key: Arc<SigningKey>,
    published_at: i64,
    signs_from: i64,
    /// The sealed form, to put back in a store that lost it.
    stored: StoredKey,
}

/// Whether a key of `alg` signing from `signs_from` is retired at `now` among `keys`
/// (algorithm, signs from): a newer key of its algorithm has signed for longer than any
/// token lives.
fn superseded(
    alg: SigningAlg,
    signs_from: i64,
    mut keys: impl Iterator<Item = (SigningAlg, i64)>,
    now: i64,
    max_token_lifetime: i64,
) -> bool {
    keys.any(|(a, from)| {
        a == alg && from > signs_from && from.saturating_add(max_token_lifetime) <= now
    })
}

/// What a stored key set lacks of what this instance needs.
struct Gap {
    /// Keys this instance holds, still published, absent from the store.
    held: Vec<StoredKey>,
    /// Algorithms with no key at all, stored or held.
    algs: Vec<SigningAlg>,
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// In `/jwks`, not signing yet (relying parties are picking it up).
    Published,
    /// The key that signs for its algorithm.
    Signing,
    /// Replaced, still in `/jwks` until the last token it signed expires.
    Verifying,
    /// No longer published; dropped at the next rotation.
    Retired,
}

/// A key as `passerelle keys list` shows it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Published in `/jwks` since (Unix seconds).
    pub published_at: i64,
    /// Signs from (Unix seconds).
    pub signs_from: i64,
    /// State now.
    pub state: KeyState,
}

/// The keys known at one instant.
#[derive(Default)]
pub struct KeyRing {
    keys: Vec<Loaded>,
}

impl KeyRing {
    /// The key that signs with `alg` at `now`: the newest whose `signs_from` has come.
    #[must_use]
    pub fn signer(&self, alg: SigningAlg, now: i64) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(|k| k.key.alg == alg && k.signs_from <= now)
            .max_by_key(|k| (k.signs_from, k.published_at))
            .map(|k| Arc::clone(&k.key))
    }

    /// The published public keys: every key not yet retired at `now`.
    #[must_use]
    pub fn jwks(&self, now: i64, max_token_lifetime: i64) -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(
            self.keys
                .iter()
                .filter(|k| !self.is_retired(k, now, max_token_lifetime))
                .map(|k| k.key.public.clone())
                .collect(),
        )
    }

    /// The key with this id, if still published.
    #[must_use]
    pub fn by_kid(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|k| k.key.kid == kid)
            .map(|k| Arc::clone(&k.key))
    }

    /// Every key with its dates and state at `now` (for `passerelle keys list`); no
    /// private material.
    #[must_use]
    pub fn describe(&self, now: i64, max_token_lifetime: i64) -> Vec<KeyInfo> {
        let mut out: Vec<KeyInfo> = self
            .keys
            .iter()
            .map(|k| {
                let state = if self.is_retired(k, now, max_token_lifetime) {
                    KeyState::Retired
                } else if k.signs_from > now {
                    KeyState::Published
                } else if self
                    .signer(k.key.alg, now)
                    .is_some_and(|s| s.kid == k.key.kid)
                {
                    KeyState::Signing
                } else {
                    KeyState::Verifying
                };
                KeyInfo {
                    kid: k.key.kid.clone(),
                    alg: k.key.alg,
                    published_at: k.published_at,
                    signs_from: k.signs_from,
                    state,
                }
            })
            .collect();
        out.sort_by_key(|k| (k.alg.as_str(), k.signs_from));
        out
    }

    fn is_retired(&self, k: &Loaded, now: i64, max_token_lifetime: i64) -> bool {
        superseded(
            k.key.alg,
            k.signs_from,
            self.keys.iter().map(|n| (n.key.alg, n.signs_from)),
            now,
            max_token_lifetime,
        )
    }
}

/// The provider's keys: loaded from the store, created on first start, rotated on demand.
pub struct Keys {
    store: Store,
    seal: LessSafeKey,
    ring: ArcSwap<KeyRing>,
    /// Whether a key set read from (or written to) the store is installed: until then
    /// the ring is empty and nothing signs (a start while the store was unavailable).
    loaded: std::sync::atomic::AtomicBool,
    max_token_lifetime: i64,
    /// The algorithms this provider signs with (one key each at least).
    algs: Vec<SigningAlg>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

fn doc_key() -> Key {
    Key::new("oidc-keys", "keys").with("set")
}
fn lock_key() -> Key {
    Key::new("oidc-keys", "keys").with("lock")
}

impl Keys {
    /// Opens the key set: loads it, and creates a key for each algorithm of `algs` that
    /// has none (two instances starting together agree through a store lock).
    ///
    /// # Errors
    /// [`Error::Keys`] when the stored keys cannot be unsealed (wrong secret), or a store
    /// error.
    pub async fn open(
        store: Store,
        secret: &[u8],
        algs: &[SigningAlg],
        max_token_lifetime: i64,
        now: i64,
    ) -> Result<Self, Error> {
        let keys = Self::unloaded(store, secret, algs, max_token_lifetime)?;
        keys.load(now).await?;
        Ok(keys)
    }

    /// The key set before [`Keys::load`]: nothing is read, nothing signs, `/jwks` is
    /// empty. No key is ever made here: a key made without the store would sign before
    /// any other instance publishes it.
    ///
    /// # Errors
    /// [`Error::Config`] for a secret shorter than 32 bytes.
    pub fn unloaded(
        store: Store,
        secret: &[u8],
        algs: &[SigningAlg],
        max_token_lifetime: i64,
    ) -> Result<Self, Error> {
        if secret.len() < 32 {
            return Err(Error::Config(
                "the provider secret must be at least 32 bytes".into(),
            ));
        }
        let prk =
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"passerelle oidc keys").extract(secret);
        let okm = prk
            .expand(&[b"seal v1"], &AES_256_GCM)
            .map_err(|_| Error::Internal("HKDF".into()))?;
        let seal = LessSafeKey::new(UnboundKey::from(okm));
        Ok(Self {
            store,
            seal,
            ring: ArcSwap::from_pointee(KeyRing::default()),
            loaded: std::sync::atomic::AtomicBool::new(false),
            max_token_lifetime,
            algs: algs.to_vec(),
        })
    }

    /// Loads the key set from the store, creating (under the store lock, published in
    /// the store before this instance signs with it) a key for each algorithm that has
    /// none.
    ///
    /// # Errors
    /// [`Error::Keys`] when the stored keys cannot be unsealed (wrong secret), or a store
    /// error ([`Error::Store`] with `is_unavailable()` while the store cannot be reached:
    /// try again later).
    pub async fn load(&self, now: i64) -> Result<(), Error> {
        let doc: StoredKeys = self.store.get(&doc_key()).await?.unwrap_or_default();
        let missing: Vec<SigningAlg> = self
            .algs
            .iter()
            .copied()
            .filter(|a| !doc.keys.iter().any(|k| k.alg == *a))
            .collect();
        if missing.is_empty() {
            self.install(&doc)?;
        } else {
            let names: Vec<&str> = missing.iter().map(|a| a.as_str()).collect();
            tracing::warn!(
                algs = %names.join(" "),
                stored = doc.keys.len(),
                "no signing key of these algorithms in the store: making them (a first start, or a store that lost its keys)"
            );
            self.update(|doc| {
                for alg in &missing {
                    if !doc.keys.iter().any(|k| k.alg == *alg) {
                        doc.keys.push(self.new_stored(*alg, now, now)?);
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// Whether a key set from the store is installed ([`Keys::load`] or
    /// [`Keys::refresh`] succeeded once).
    #[must_use]
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Adds a new key for `alg`, published now and signing from `now + publish_ahead`.
    /// Keys retired for longer than the token lifetime are dropped.
    ///
    /// # Errors
    /// Store or crypto errors.
    pub async fn rotate(
        &self,
        alg: SigningAlg,
        publish_ahead: i64,
        now: i64,
    ) -> Result<String, Error> {
        let mut kid = String::new();
        let lifetime = self.max_token_lifetime;
        self.update(|doc| {
            let new = self.new_stored(alg, now, now.saturating_add(publish_ahead))?;
            kid.clone_from(&new.kid);
            doc.keys.push(new);
            let snapshot: Vec<(SigningAlg, i64)> =
                doc.keys.iter().map(|k| (k.alg, k.signs_from)).collect();
            doc.keys.retain(|k| {
                !superseded(k.alg, k.signs_from, snapshot.iter().copied(), now, lifetime)
            });
            Ok(())
        })
        .await?;
        Ok(kid)
    }

    /// Re-reads the key set from the store (other instances may have rotated). When the
    /// store lacks keys this instance holds and still publishes (it was emptied, or
    /// replaced without persistence), they are put back; an algorithm left with no key
    /// at all gets a new one. Either is logged as an error.
    ///
    /// # Errors
    /// Store or unsealing errors; the current ring stays in use.
    pub async fn refresh(&self) -> Result<(), Error> {
        let now = crate::provider::unix_now();
        if !self.is_loaded() {
            // Never loaded (the store was unavailable at start-up): a first load, not a
            // repair — this instance holds nothing to put back.
            return self.load(now).await;
        }
        let doc: StoredKeys = self.store.get(&doc_key()).await?.unwrap_or_default();
        let gap = self.gap(&doc, now);
        if gap.held.is_empty() && gap.algs.is_empty() {
            return self.install(&doc);
        }
        let mut restored: Vec<String> = Vec::new();
        let mut created: Vec<&'static str> = Vec::new();
        self.update(|doc| {
            // Looked at again under the lock: another instance may have mended it first.
            let gap = self.gap(doc, now);
            for k in gap.held {
                restored.push(k.kid.clone());
                doc.keys.push(k);
            }
            for alg in gap.algs {
                // Nobody holds a key of this algorithm any more: none signs it to wait for.
                doc.keys.push(self.new_stored(alg, now, now)?);
                created.push(alg.as_str());
            }
            Ok(())
        })
        .await?;
        if !restored.is_empty() || !created.is_empty() {
            tracing::error!(
                restored = %restored.join(" "),
                created = %created.join(" "),
                "signing keys were missing from the store (emptied, or replaced without persistence): the keys this instance holds are back in it, new ones made where none was left"
            );
        }
        Ok(())
    }

    /// What `doc` lacks at `now`: the held keys it does not have (unless retired among
    /// both sets), and the algorithms with no key anywhere.
    fn gap(&self, doc: &StoredKeys, now: i64) -> Gap {
        let ring = self.ring();
        let everyone = || {
            doc.keys
                .iter()
                .map(|k| (k.alg, k.signs_from))
                .chain(ring.keys.iter().map(|l| (l.key.alg, l.signs_from)))
        };
        let held: Vec<StoredKey> = ring
            .keys
            .iter()
            .filter(|l| !doc.keys.iter().any(|k| k.kid == l.key.kid))
            .filter(|l| {
                !superseded(
                    l.key.alg,
                    l.signs_from,
                    everyone(),
                    now,
                    self.max_token_lifetime,
                )
            })
            .map(|l| l.stored.clone())
            .collect();
        let algs = self
            .algs
            .iter()
            .copied()
            .filter(|a| !doc.keys.iter().chain(&held).any(|k| k.alg == *a))
            .collect();
        Gap { held, algs }
    }

    /// The keys as of the last load.
    #[must_use]
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// The algorithms, among those this provider signs with, that no key can sign at
    /// `now` (empty when all can): the server is not ready while any is listed.
    #[must_use]
    pub fn unable_to_sign(&self, now: i64) -> Vec<SigningAlg> {
        let ring = self.ring();
        self.algs
            .iter()
            .copied()
            .filter(|a| ring.signer(*a, now).is_none())
            .collect()
    }

    /// The longest lifetime of a token signed by these keys, seconds.
    #[must_use]
    pub fn max_token_lifetime(&self) -> i64 {
        self.max_token_lifetime
    }

    async fn update(
        &self,
        change: impl FnOnce(&mut StoredKeys) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // A short lock so that two instances do not both write a key set.
        let mut acquired = false;
        for _ in 0..50 {
            if self
                .store
                .set_if_absent(
                    &lock_key(),
                    &1u8,
                    Expiry::After(std::time::Duration::from_secs(10)),
                )
                .await?
            {
                acquired = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !acquired {
            return Err(Error::Keys(
                "the key set is locked by another instance".into(),
            ));
        }
        let result = async {
            let mut doc: StoredKeys = self.store.get(&doc_key()).await?.unwrap_or_default();
            change(&mut doc)?;
            // Checked before it is written, used only once written: a key signs only
            // after the store publishes it to every instance.
            let ring = self.ring_of(&doc)?;
            self.store.set(&doc_key(), &doc, Expiry::Never).await?;
            self.use_ring(ring);
            Ok::<(), Error>(())
        }
        .await;
        let _ = self.store.delete(&lock_key()).await;
        result
    }

    fn install(&self, doc: &StoredKeys) -> Result<(), Error> {
        let ring = self.ring_of(doc)?;
        self.use_ring(ring);
        Ok(())
    }

    fn use_ring(&self, ring: KeyRing) {
        self.ring.store(Arc::new(ring));
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn ring_of(&self, doc: &StoredKeys) -> Result<KeyRing, Error> {
        let keys = doc
            .keys
            .iter()
            .map(|k| {
                let der = self.unseal(k)?;
                Ok(Loaded {
                    key: Arc::new(SigningKey::from_der(&k.kid, k.alg, &der)?),
                    published_at: k.published_at,
                    signs_from: k.signs_from,
                    stored: k.clone(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(KeyRing { keys })
    }

    fn new_stored(&self, alg: SigningAlg, now: i64, signs_from: i64) -> Result<StoredKey, Error> {
        let (key, der) = SigningKey::generate(alg)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
        let mut buf = der;
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Keys("sealing failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&buf);
        Ok(StoredKey {
            kid: key.kid.clone(),
            alg,
            sealed: URL_SAFE_NO_PAD.encode(sealed),
            published_at: now,
            signs_from,
        })
    }

    fn unseal(&self, k: &StoredKey) -> Result<Vec<u8>, Error> {
        let wrong = || {
            Error::Keys(format!(
                "key {} cannot be unsealed: is the provider secret the one it was created with?",
                k.kid
            ))
        };
        let raw = URL_SAFE_NO_PAD.decode(&k.sealed).map_err(|_| wrong())?;
        if raw.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(k.kid.as_bytes()), &mut body)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}
