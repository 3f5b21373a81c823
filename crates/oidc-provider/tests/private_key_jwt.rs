//! `private_key_jwt` client authentication at the token endpoint, with the negative cases
//! the conformance suite checks: `alg=none`, HMAC keyed with the public key, wrong audience,
//! expired assertion, `jti` replay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreJsonWebKeySet;
use passerelle_oidc_provider::{AuthMethod, SigningAlg, SigningKey, jwt, unix_now};
use serde_json::json;
use support::*;

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn redeem(h: &Harness, code: &str, assertion: &str) -> u16 {
    post_form(
        &format!("{}/token", h.issuer),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", VERIFIER),
            ("client_assertion_type", TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_accepts_a_fresh_signed_assertion_once_and_refuses_forgeries() {
    let (key, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let mut jwt_app = client("jwt-app", "EdDSA");
    jwt_app.secret_hash = None;
    jwt_app.token_endpoint_auth_method = Some(AuthMethod::PrivateKeyJwt);
    jwt_app.jwks = Some(
        serde_json::to_string(&CoreJsonWebKeySet::new(vec![key.public_jwk().clone()])).unwrap(),
    );
    let mut cs = clients();
    cs.push(jwt_app);
    let h = start_full(|_| {}, cs).await;
    let now = unix_now();
    let claims = |aud: &str, exp: i64, jti: &str| json!({ "iss": "jwt-app", "sub": "jwt-app", "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let token_url = format!("{}/token", h.issuer);
    let c = pkce_code(&h, "jwt-app").await;

    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none"})),
        b64(&claims(&h.issuer, now + 60, "a"))
    );
    let hs_input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": key.kid()})),
        b64(&claims(&h.issuer, now + 60, "b"))
    );
    let public_bytes = serde_json::to_value(key.public_jwk()).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_bytes.as_bytes()),
        hs_input.as_bytes(),
    );
    let hs = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    let wrong_aud =
        jwt::sign(&key, "JWT", &claims("https://other.example", now + 60, "c")).unwrap();
    let expired = jwt::sign(&key, "JWT", &claims(&h.issuer, now - 1, "d")).unwrap();
    let too_long = jwt::sign(&key, "JWT", &claims(&h.issuer, now + 3600, "e")).unwrap();
    let (other_key, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let foreign = jwt::sign(&other_key, "JWT", &claims(&h.issuer, now + 60, "f")).unwrap();
    for (name, bad) in [
        ("none", &none),
        ("HS256", &hs),
        ("aud", &wrong_aud),
        ("expired", &expired),
        ("lifetime", &too_long),
        ("foreign key", &foreign),
    ] {
        assert_eq!(redeem(&h, &c, bad).await, 401, "{name}");
    }
    let good = jwt::sign(&key, "JWT", &claims(&token_url, now + 60, "g")).unwrap();
    assert_eq!(redeem(&h, &c, &good).await, 200);
    // The same assertion (same jti) cannot authenticate twice.
    let c2 = pkce_code(&h, "jwt-app").await;
    assert_eq!(redeem(&h, &c2, &good).await, 401);
    // A secret is not accepted from a private_key_jwt client.
    let (s, _) = post_form(
        &token_url,
        Some(("jwt-app", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &c2),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, 401);
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// A provider with a `private_key_jwt` client "uri-app" whose keys are served by a
/// local JWKS endpoint (serving `key`'s public half; what it serves can be changed);
/// returns the provider, the served document and the fetch counter.
async fn with_jwks_uri(
    key: &SigningKey,
    refetch_after: u64,
) -> (Harness, Shared<String>, Shared<u32>) {
    use std::sync::{Arc, Mutex};
    let served = Arc::new(Mutex::new(
        serde_json::to_string(&CoreJsonWebKeySet::new(vec![key.public_jwk().clone()])).unwrap(),
    ));
    let hits = Arc::new(Mutex::new(0u32));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s, n) = (Arc::clone(&served), Arc::clone(&hits));
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (s, n) = (Arc::clone(&s), Arc::clone(&n));
            async move {
                *n.lock().unwrap() += 1;
                s.lock().unwrap().clone()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut jwt_app = client("uri-app", "EdDSA");
    jwt_app.secret_hash = None;
    jwt_app.token_endpoint_auth_method = Some(AuthMethod::PrivateKeyJwt);
    jwt_app.jwks_uri = Some(format!("http://127.0.0.1:{port}/jwks"));
    let mut cs = clients();
    cs.push(jwt_app);
    let h = start_full(|s| s.jwks_refetch_after = refetch_after, cs).await;
    (h, served, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_at_the_clients_jwks_uri_is_picked_up() {
    let (first, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let (h, served, _) = with_jwks_uri(&first, 0).await;
    let now = unix_now();
    let claims = |jti: &str| json!({ "iss": "uri-app", "sub": "uri-app", "aud": h.issuer, "exp": now + 60, "iat": now, "jti": jti });
    let c = pkce_code(&h, "uri-app").await;
    assert_eq!(
        redeem(&h, &c, &jwt::sign(&first, "JWT", &claims("1")).unwrap()).await,
        200
    );
    // The client rotates: its endpoint now serves only the new key.
    let (second, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    *served.lock().unwrap() =
        serde_json::to_string(&CoreJsonWebKeySet::new(vec![second.public_jwk().clone()])).unwrap();
    let c = pkce_code(&h, "uri-app").await;
    assert_eq!(
        redeem(&h, &c, &jwt::sign(&second, "JWT", &claims("2")).unwrap()).await,
        200
    );
    let c = pkce_code(&h, "uri-app").await;
    assert_eq!(
        redeem(&h, &c, &jwt::sign(&first, "JWT", &claims("3")).unwrap()).await,
        401,
        "the retired key no longer works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_published_at_a_jwks_uri_are_fetched_cached_and_refetched_at_most_once_a_minute() {
    let (first, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let (h, _served, hits) = with_jwks_uri(&first, 60).await;
    let now = unix_now();
    let claims = |jti: &str| json!({ "iss": "uri-app", "sub": "uri-app", "aud": h.issuer, "exp": now + 60, "iat": now, "jti": jti });

    let c = pkce_code(&h, "uri-app").await;
    let ok = jwt::sign(&first, "JWT", &claims("1")).unwrap();
    assert_eq!(redeem(&h, &c, &ok).await, 200);
    let c = pkce_code(&h, "uri-app").await;
    let again = jwt::sign(&first, "JWT", &claims("2")).unwrap();
    assert_eq!(redeem(&h, &c, &again).await, 200);
    assert_eq!(*hits.lock().unwrap(), 1, "the keys are cached");

    // A forged assertion makes at most one extra fetch, and fails.
    let (forger, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let c = pkce_code(&h, "uri-app").await;
    let forged = jwt::sign(&forger, "JWT", &claims("3")).unwrap();
    assert_eq!(redeem(&h, &c, &forged).await, 401);
    let forged = jwt::sign(&forger, "JWT", &claims("4")).unwrap();
    assert_eq!(redeem(&h, &c, &forged).await, 401);
    assert!(*hits.lock().unwrap() <= 2, "refetches are rate-limited");
}

#[test]
fn a_jwks_uri_must_be_https_or_loopback_and_not_beside_inline_keys() {
    let mut c = client("uri-app", "EdDSA");
    c.secret_hash = None;
    c.token_endpoint_auth_method = Some(AuthMethod::PrivateKeyJwt);
    c.jwks_uri = Some("http://keys.example/jwks".into());
    let e = passerelle_oidc_provider::Registry::new(&[c.clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("jwks_uri"), "{e}");
    c.jwks_uri = Some("https://keys.example/jwks".into());
    assert!(passerelle_oidc_provider::Registry::new(&[c.clone()]).is_ok());
    c.jwks = Some("{\"keys\":[]}".into());
    let e = passerelle_oidc_provider::Registry::new(&[c])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not both"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_naming_another_audience_beside_the_issuer_is_refused() {
    let (key, _) = SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let mut jwt_app = client("jwt-app", "EdDSA");
    jwt_app.secret_hash = None;
    jwt_app.token_endpoint_auth_method = Some(AuthMethod::PrivateKeyJwt);
    jwt_app.jwks = Some(
        serde_json::to_string(&CoreJsonWebKeySet::new(vec![key.public_jwk().clone()])).unwrap(),
    );
    let mut cs = clients();
    cs.push(jwt_app);
    let h = start_full(|_| {}, cs).await;
    let now = unix_now();
    let token_url = format!("{}/token", h.issuer);
    let assertion = |aud: serde_json::Value, jti: &str| {
        jwt::sign(
            &key,
            "JWT",
            &json!({ "iss": "jwt-app", "sub": "jwt-app", "aud": aud, "exp": now + 60, "iat": now, "jti": jti }),
        )
        .unwrap()
    };
    let c = pkce_code(&h, "jwt-app").await;
    // draft-ietf-oauth-rfc7523bis: the authorization server is the sole audience; an
    // assertion also addressed to someone else could be replayed by that party to us.
    for (name, aud) in [
        ("issuer + evil", json!([h.issuer, "https://evil.example"])),
        (
            "evil + token endpoint",
            json!(["https://evil.example", token_url]),
        ),
        (
            "issuer twice + evil",
            json!([h.issuer, h.issuer, "https://evil.example"]),
        ),
        ("issuer + token endpoint", json!([h.issuer, token_url])),
        ("empty", json!([])),
    ] {
        assert_eq!(redeem(&h, &c, &assertion(aud, name)).await, 401, "{name}");
    }
    // The issuer (or the token endpoint) alone is fine, as a string or a one-element array.
    assert_eq!(
        redeem(&h, &c, &assertion(json!([h.issuer]), "ok")).await,
        200
    );
    let c = pkce_code(&h, "jwt-app").await;
    assert_eq!(
        redeem(&h, &c, &assertion(json!(token_url), "ok2")).await,
        200
    );
}
