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
