//! Signing keys on real Redis: shared by instances, sealed under the provider secret,
//! rotated with overlap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use openidconnect::JsonWebKey as _;
use passerelle_oidc_provider::{Keys, SigningAlg};
use passerelle_store::Store;
use passerelle_testkit::redis::redis_url;

const ALL: [SigningAlg; 3] = [SigningAlg::EdDsa, SigningAlg::Es256, SigningAlg::Rs256];

fn unique(name: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{n}")
}

fn kids(k: &Keys, now: i64) -> Vec<String> {
    let mut v: Vec<String> = k
        .ring()
        .jwks(now, k.max_token_lifetime())
        .keys()
        .iter()
        .map(|j| j.key_id().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn two_instances_share_one_key_set_and_a_wrong_secret_cannot_unseal_it() {
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &unique("keys-shared")).unwrap();
    let a = Keys::open(store.clone(), &[1u8; 32], &ALL, 300, 1000)
        .await
        .unwrap();
    let b = Keys::open(store.clone(), &[1u8; 32], &ALL, 300, 1000)
        .await
        .unwrap();
    assert_eq!(kids(&a, 1000).len(), 3);
    assert_eq!(kids(&a, 1000), kids(&b, 1000));
    let err = Keys::open(store.clone(), &[2u8; 32], &ALL, 300, 1000)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be unsealed"), "{err}");
    // The published set holds public parts only.
    let json = serde_json::to_string(&a.ring().jwks(1000, 300)).unwrap();
    assert!(!json.contains("\"d\""), "{json}");
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_stays_until_its_tokens_expire()
{
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &unique("keys-rotate")).unwrap();
    let keys = Keys::open(store.clone(), &[3u8; 32], &[SigningAlg::EdDsa], 300, 1000)
        .await
        .unwrap();
    let old = keys
        .ring()
        .signer(SigningAlg::EdDsa, 1000)
        .unwrap()
        .kid()
        .to_owned();
    let new = keys.rotate(SigningAlg::EdDsa, 600, 2000).await.unwrap();
    // Published at once, but the old key signs until 2600.
    assert!(kids(&keys, 2000).contains(&new));
    assert_eq!(
        keys.ring().signer(SigningAlg::EdDsa, 2599).unwrap().kid(),
        old
    );
    assert_eq!(
        keys.ring().signer(SigningAlg::EdDsa, 2600).unwrap().kid(),
        new
    );
    // The old key stays published while its last tokens live (300 s), then goes.
    assert!(kids(&keys, 2899).contains(&old));
    assert!(!kids(&keys, 2900).contains(&old));
    // Another instance sees the rotation after a refresh.
    let other = Keys::open(store, &[3u8; 32], &[SigningAlg::EdDsa], 300, 2000)
        .await
        .unwrap();
    other.refresh().await.unwrap();
    assert_eq!(
        other.ring().signer(SigningAlg::EdDsa, 2600).unwrap().kid(),
        new
    );
}

#[test]
fn every_algorithm_signs_what_its_public_jwk_verifies() {
    for alg in ALL {
        let (key, _) = passerelle_oidc_provider::SigningKey::generate(alg).unwrap();
        let sig = key.sign_raw(b"message").unwrap();
        key.public_jwk()
            .verify_signature(&alg.core(), b"message", &sig)
            .unwrap();
        assert!(
            key.public_jwk()
                .verify_signature(&alg.core(), b"other", &sig)
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_key_set_whose_keys_sign_only_later_says_which_algorithms_cannot_sign() {
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &unique("keys-later")).unwrap();
    let keys = Keys::open(store, &[4u8; 32], &ALL, 300, 1000)
        .await
        .unwrap();
    // What /readyz reports: before its keys' first instant, nothing can sign.
    let mut none = keys.unable_to_sign(999);
    none.sort_by_key(|a| a.as_str());
    let mut all = ALL.to_vec();
    all.sort_by_key(|a| a.as_str());
    assert_eq!(none, all);
    assert!(keys.unable_to_sign(1000).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_lost_from_the_store_are_put_back_and_tokens_are_still_signed() {
    use passerelle_oidc_provider::unix_now;
    use support::*;
    let mut h = start_restartable().await;
    let token_url = format!("{}/token", h.issuer);
    let token = |code: String| {
        let url = token_url.clone();
        async move {
            post_form(
                &url,
                Some(("cockpit", SECRET)),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://app.example/cb"),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await
        }
    };
    let (s, t) = token(pkce_code(&h, "cockpit").await).await;
    assert_eq!(s, 200, "{t}");
    let before = kids(h.provider.keys(), unix_now());

    // Redis replaced without persistence: the sealed key set is gone from the store.
    h.empty_store();
    // The minute's refresh every instance runs (the connection may need a retry).
    let mut refreshed = Err(None);
    for _ in 0..50 {
        match h.provider.keys().refresh().await {
            Ok(()) => {
                refreshed = Ok(());
                break;
            }
            Err(e) => refreshed = Err(Some(e.to_string())),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    refreshed.unwrap();
    assert!(h.provider.keys().unable_to_sign(unix_now()).is_empty());
    let (s, t) = token(pkce_code(&h, "cockpit").await).await;
    assert_eq!(s, 200, "tokens are still signed: {t}");

    // The keys it signs with are back in the store: an instance starting now publishes
    // them (and makes none of its own), so every /jwks shows the signing key.
    let other = Keys::open(h.store.clone(), &[7u8; 32], &ALL, 300, unix_now())
        .await
        .unwrap();
    assert_eq!(kids(&other, unix_now()), before);
    let header = t["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert!(before.contains(&header["kid"].as_str().unwrap().to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_opened_while_the_store_is_down_make_no_key_until_it_answers_then_load_the_shared_set()
{
    let mut redis = passerelle_testkit::redis::RedisServer::start().unwrap();
    let store = Store::open(&redis.url(), &unique("keys-deferred")).unwrap();
    redis.stop();
    let keys = Keys::unloaded(store.clone(), &[1u8; 32], &ALL, 300).unwrap();
    let err = keys.load(1000).await.unwrap_err();
    assert!(
        matches!(&err, passerelle_oidc_provider::Error::Store(e) if e.is_unavailable()),
        "{err}"
    );
    assert!(!keys.is_loaded());
    assert!(
        kids(&keys, 1000).is_empty(),
        "nothing published, nothing made"
    );
    assert_eq!(keys.unable_to_sign(1000).len(), ALL.len());

    redis.restart().unwrap();
    keys.refresh().await.unwrap();
    assert!(keys.is_loaded());
    assert!(
        keys.unable_to_sign(passerelle_oidc_provider::unix_now())
            .is_empty()
    );
    // What it signs with is what the store publishes to every other instance.
    let other = Keys::open(store, &[1u8; 32], &ALL, 300, 1000)
        .await
        .unwrap();
    assert_eq!(kids(&keys, 1000), kids(&other, 1000));
    assert_eq!(kids(&keys, 1000).len(), 3);
}
