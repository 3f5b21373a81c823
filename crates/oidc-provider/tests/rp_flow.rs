//! The whole flow driven by the openidconnect crate as a relying party, over real HTTP, on
//! real Redis: discovery, authorization with PKCE, code exchange, ID token validation,
//! userinfo, refresh, revocation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
};
use support::*;

#[derive(Debug)]
struct HttpError(String);
impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HttpError {}

async fn send(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let mut r = http()
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        r = r.header(k, v);
    }
    let resp = r.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut b = axum::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        b = b.header(k, v);
    }
    let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    b.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

async fn full_flow(client_id: &str, alg: CoreJwsSigningAlgorithm) {
    let h = start().await;
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(h.issuer.clone()).unwrap(), &send)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new("https://app.example/cb".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("academic".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_location(url.as_str()).await;
    assert!(back.starts_with("https://app.example/cb?"), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(h.issuer.as_str())
    );
    let code = query_param(&back, "code").expect("code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&send)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id token");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token.claims(&verifier, &nonce).expect("valid ID token");
    assert_eq!(claims.subject().as_str(), "acct-42");
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("prenom.nom@etu.unilim.fr")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(at_hash, &expected);
    // RFC 9068 access token, ES256 whatever the ID token's algorithm (the one resource
    // servers' JWT libraries verify most widely).
    let header = tokens.access_token().secret().split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&send)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), "acct-42");
    assert_eq!(
        info.email().map(|e| e.as_str()),
        Some("prenom.nom@etu.unilim.fr")
    );

    // Refresh rotates; the new access token works.
    let rt = tokens.refresh_token().expect("refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&rt)
        .unwrap()
        .request_async(&send)
        .await
        .expect("refresh");
    assert_ne!(refreshed.refresh_token().unwrap().secret(), rt.secret());
    let _: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&send)
        .await
        .expect("userinfo after refresh");

    // Revocation ends the grant: userinfo refuses the access token.
    // (openidconnect refuses a plain-http revocation URL, so the RP's call is made by hand.)
    let (status, _) = post_form(
        &format!("{}/revoke", h.issuer),
        Some((client_id, SECRET)),
        &[("token", refreshed.access_token().secret().as_str())],
    )
    .await;
    assert_eq!(status, 200);
    let after: Result<CoreUserInfoClaims, _> = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&send)
        .await;
    assert!(after.is_err(), "a revoked grant's access token still works");
    let again = client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .unwrap()
        .request_async(&send)
        .await;
    assert!(
        again.is_err(),
        "a revoked grant's refresh token still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openidconnect_rp_completes_the_flow_with_an_rs256_id_token() {
    full_flow("cockpit", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openidconnect_rp_completes_the_flow_with_an_eddsa_id_token() {
    full_flow("sides", CoreJwsSigningAlgorithm::EdDsa).await;
}
