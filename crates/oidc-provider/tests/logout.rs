//! Logout: RP-initiated checks and back-channel logout tokens delivered to a real HTTP
//! listener, on real Redis.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use support::*;

async fn tokens(h: &Harness, client: &str) -> serde_json::Value {
    let code = pkce_code(h, client).await;
    let (s, t) = post_form(
        &format!("{}/token", h.issuer),
        Some((client, SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    t
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_redirects_only_to_a_registered_post_logout_uri_with_state() {
    let h = start().await;
    let t = tokens(&h, "cockpit").await;
    let hint = t["id_token"].as_str().unwrap();
    let ok = h
        .provider
        .end_session(&pairs(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://app.example/bye"),
            ("state", "s 1"),
        ]))
        .unwrap();
    assert_eq!(ok.client_id.as_deref(), Some("cockpit"));
    assert_eq!(ok.sid.as_deref(), Some("sid-1"));
    assert_eq!(
        ok.redirect.as_deref(),
        Some("https://app.example/bye?state=s+1")
    );
    for bad in [
        vec![
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://app.example/bye/"),
        ],
        vec![("post_logout_redirect_uri", "https://app.example/bye")],
        vec![("id_token_hint", hint), ("client_id", "sides")],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.e30."),
            ("post_logout_redirect_uri", "https://app.example/bye"),
        ],
    ] {
        assert!(h.provider.end_session(&pairs(&bad)).is_err(), "{bad:?}");
    }
    // Without a hint or redirect, logout is still accepted (the provider's own page).
    assert_eq!(h.provider.end_session(&[]).unwrap().redirect, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_a_session_revokes_its_grants_and_posts_signed_logout_tokens() {
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route(
            "/bcl",
            post(
                |State(r): State<Arc<Mutex<Vec<String>>>>, body: String| async move {
                    r.lock().unwrap().push(body);
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&received));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut cs = clients();
    for c in &mut cs {
        if c.client_id == "cockpit" {
            c.backchannel_logout_uri = Some(format!("http://127.0.0.1:{port}/bcl"));
        }
    }
    let h = start_full(|_| {}, cs).await;
    let a = tokens(&h, "cockpit").await;
    let b = tokens(&h, "sides").await;
    let told = h.provider.logout_session("sid-1").await.unwrap();
    assert_eq!(told, 1, "only cockpit registered a back-channel URI");
    for t in [&a, &b] {
        let s = http()
            .get(format!("{}/userinfo", h.issuer))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 401, "grants of the session must be revoked");
    }
    for _ in 0..50 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let body = received
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a logout token");
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let ring = h.provider.keys().ring();
    let claims: serde_json::Value =
        passerelle_oidc_provider::jwt::verify(&ring, Some("logout+jwt"), &token)
            .expect("signed by the provider");
    assert_eq!(claims["aud"], "cockpit");
    assert_eq!(claims["sid"], "sid-1");
    assert_eq!(claims["sub"], "acct-42");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    // A second logout of the same session tells nobody again.
    assert_eq!(h.provider.logout_session("sid-1").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_code_exchanges_of_one_session_are_all_revoked_at_logout() {
    // Each exchange appends its grant to the session's record; a read-modify-write
    // would let concurrent exchanges overwrite each other and escape logout.
    let h = Arc::new(start().await);
    let exchanges: Vec<_> = (0..12)
        .map(|i| {
            let h = Arc::clone(&h);
            let client = if i % 2 == 0 { "cockpit" } else { "sides" };
            tokio::spawn(async move { tokens(&h, client).await })
        })
        .collect();
    let mut issued = Vec::new();
    for e in exchanges {
        issued.push(e.await.unwrap());
    }
    h.provider.logout_session("sid-1").await.unwrap();
    for t in &issued {
        let s = http()
            .get(format!("{}/userinfo", h.issuer))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, 401, "every grant of the session is revoked");
    }
}
