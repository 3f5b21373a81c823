//! Negative tests named after the OpenID conformance modules they mirror, against the real
//! HTTP endpoints on real Redis.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code

mod support;

use support::*;

const CB: &str = "https://app.example/cb";

fn authorize_url(h: &Harness, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    format!("{}/authorize?{}", h.issuer, ser.finish())
}

fn base(client: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CB),
        ("scope", "openid email"),
        ("state", "st&=ü é"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn code(h: &Harness, client: &str) -> String {
    let loc = authorize_location(&authorize_url(h, &base(client))).await;
    query_param(&loc, "code").expect("code")
}

async fn exchange(h: &Harness, client: &str, code: &str) -> (u16, serde_json::Value) {
    post_form(
        &format!("{}/token", h.issuer),
        Some((client, SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn userinfo_status(h: &Harness, at: &str) -> u16 {
    http()
        .get(format!("{}/userinfo", h.issuer))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_codereuse_fails_and_revokes_the_tokens_of_the_first_use() {
    let h = start().await;
    let c = code(&h, "cockpit").await;
    let (s, first) = exchange(&h, "cockpit", &c).await;
    assert_eq!(s, 200, "{first}");
    let at = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&h, at).await, 200);
    let (s, second) = exchange(&h, "cockpit", &c).await;
    assert_eq!((s, second["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(&h, at).await,
        401,
        "tokens from a reused code must be revoked"
    );
    let (s, r) = post_form(
        &format!("{}/token", h.issuer),
        Some(("cockpit", SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_of_one_code_let_exactly_one_win() {
    let h = start().await;
    let c = code(&h, "cockpit").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (issuer, c) = (h.issuer.clone(), c.clone());
            tokio::spawn(async move {
                post_form(
                    &format!("{issuer}/token"),
                    Some(("cockpit", SECRET)),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &c),
                        ("redirect_uri", CB),
                        ("code_verifier", VERIFIER),
                    ],
                )
                .await
                .0
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_pkce_wrong_or_missing_verifier_is_refused() {
    let h = start().await;
    for verifier in [Some("a".repeat(43)), None, Some("short".into())] {
        let c = code(&h, "cockpit").await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CB),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v));
        }
        let (s, r) = post_form(
            &format!("{}/token", h.issuer),
            Some(("cockpit", SECRET)),
            &form,
        )
        .await;
        assert_eq!(
            (s, r["error"].as_str()),
            (400, Some("invalid_grant")),
            "{verifier:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pkce_and_public_clients_without_pkce_get_an_error_redirect() {
    let h = start().await;
    let mut plain = base("cockpit");
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let mut no_pkce = base("public-app");
    no_pkce.retain(|(k, _)| !k.starts_with("code_challenge"));
    for params in [plain, no_pkce] {
        let loc = authorize_location(&authorize_url(&h, &params)).await;
        assert!(loc.starts_with(CB), "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(
            query_param(&loc, "state").as_deref(),
            Some("st&=ü é"),
            "state byte-exact"
        );
        assert!(query_param(&loc, "code").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_redirect_uri_mismatch_variants_show_a_page_and_never_redirect() {
    let h = start().await;
    for wrong in [
        "https://app.example/cb?extra=1",
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://other.example/cb",
        "http://app.example/cb",
        "",
    ] {
        let mut p = base("cockpit");
        p.retain(|(k, _)| *k != "redirect_uri");
        p.push(("redirect_uri", wrong));
        let r = http().get(authorize_url(&h, &p)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{wrong}");
        assert!(r.headers().get("location").is_none(), "{wrong}");
    }
    // A repeated parameter and an unknown client are pages too.
    let mut p = base("cockpit");
    p.push(("redirect_uri", CB));
    assert_eq!(
        http()
            .get(authorize_url(&h, &p))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let p = base("nobody");
    assert_eq!(
        http()
            .get(authorize_url(&h, &p))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_unknown_client_and_unregistered_auth_method_are_invalid_client() {
    let h = start().await;
    let url = format!("{}/token", h.issuer);
    let c = code(&h, "cockpit").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (s, r) = post_form(&url, Some(("cockpit", "wrong")), &form).await;
    assert_eq!((s, r["error"].as_str()), (401, Some("invalid_client")));
    let (s, r) = post_form(&url, Some(("nobody", SECRET)), &form).await;
    assert_eq!((s, r["error"].as_str()), (401, Some("invalid_client")));
    // cockpit is registered for client_secret_basic: the secret in the body is refused.
    let mut post = form.to_vec();
    post.extend([("client_id", "cockpit"), ("client_secret", SECRET)]);
    let (s, r) = post_form(&url, None, &post).await;
    assert_eq!((s, r["error"].as_str()), (401, Some("invalid_client")));
    // And post-app, registered for client_secret_post, may not use Basic.
    let (s, _) = post_form(&url, Some(("post-app", SECRET)), &form).await;
    assert_eq!(s, 401);
    // The failed attempts did not consume the code.
    let (s, r) = exchange(&h, "cockpit", &c).await;
    assert_eq!(s, 200, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused() {
    let h = start_with(|s| s.code_lifetime = 1).await;
    let c = code(&h, "cockpit").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, r) = exchange(&h, "cockpit", &c).await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_issued_to_another_client_is_refused() {
    let h = start().await;
    let c = code(&h, "cockpit").await;
    let (s, r) = exchange(&h, "sides", &c).await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let h = start().await;
    let c = code(&h, "cockpit").await;
    let (_, t) = exchange(&h, "cockpit", &c).await;
    let url = format!("{}/token", h.issuer);
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, t2) = post_form(
        &url,
        Some(("cockpit", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(s, 200, "{t2}");
    let at2 = t2["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&h, at2).await, 200);
    let (s, r) = post_form(
        &url,
        Some(("cockpit", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(&h, at2).await,
        401,
        "the family must be revoked"
    );
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let (s, _) = post_form(
        &url,
        Some(("cockpit", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_responses_are_not_cached_and_errors_are_rfc_6749_json() {
    let h = start().await;
    let r = http()
        .post(format!("{}/token", h.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .basic_auth("cockpit", Some(SECRET))
        .body("grant_type=password&username=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let r = http()
        .post(format!("{}/token", h.issuer))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_without_a_session_returns_login_required_with_state() {
    let h = start().await;
    let mut p = base("cockpit");
    p.push(("prompt", "none"));
    let loc = authorize_location(&authorize_url(&h, &p)).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st&=ü é"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(h.issuer.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_redeems_with_pkce_only_and_pairwise_subjects_differ_per_sector() {
    let h = start().await;
    let c = code(&h, "public-app").await;
    let (s, t) = post_form(
        &format!("{}/token", h.issuer),
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public-app"),
            ("code", &c),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    // A public client may not present a secret-less Basic header for someone else.
    let c = code(&h, "pairwise-app").await;
    let (s, t) = exchange(&h, "pairwise-app", &c).await;
    assert_eq!(s, 200, "{t}");
    let info: serde_json::Value = serde_json::from_slice(
        &http()
            .get(format!("{}/userinfo", h.issuer))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let sub = info["sub"].as_str().unwrap();
    assert_ne!(sub, "acct-42");
    assert_eq!(sub.len(), 43);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_reports_live_and_revoked_tokens_to_their_client_only() {
    let h = start().await;
    let c = code(&h, "cockpit").await;
    let (_, t) = exchange(&h, "cockpit", &c).await;
    let at = t["access_token"].as_str().unwrap();
    let url = format!("{}/introspect", h.issuer);
    let (s, r) = post_form(&url, Some(("cockpit", SECRET)), &[("token", at)]).await;
    assert_eq!((s, r["active"].as_bool()), (200, Some(true)), "{r}");
    let (_, r) = post_form(&url, Some(("sides", SECRET)), &[("token", at)]).await;
    assert_eq!(r["active"].as_bool(), Some(false));
    let (s, _) = post_form(&url, Some(("cockpit", "nope")), &[("token", at)]).await;
    assert_eq!(s, 401);
    post_form(
        &format!("{}/revoke", h.issuer),
        Some(("cockpit", SECRET)),
        &[("token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    let (_, r) = post_form(&url, Some(("cockpit", SECRET)), &[("token", at)]).await;
    assert_eq!(r["active"].as_bool(), Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_uri_is_answered_request_uri_not_supported_and_request_request_not_supported() {
    let h = start().await;
    // OIDC Core §6.3 / §6.2: each parameter has its own error code.
    for (param, value, error) in [
        (
            "request_uri",
            "https://app.example/request.jwt",
            "request_uri_not_supported",
        ),
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "request_not_supported",
        ),
    ] {
        let mut p = base("cockpit");
        p.push((param, value));
        let loc = authorize_location(&authorize_url(&h, &p)).await;
        assert!(loc.starts_with(CB), "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some(error),
            "{param}"
        );
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st&=ü é"));
        assert!(query_param(&loc, "code").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_shorter_than_32_characters_is_invalid_client_at_token_introspect_and_revoke()
 {
    // A digest cannot tell how long its secret was: a short one registered by hand is
    // refused when presented, at every endpoint that authenticates clients.
    const SHORT: &str = "only-31-characters-long-secret!";
    assert_eq!(SHORT.chars().count(), 31);
    let mut short = client("short-app", "RS256");
    short.secret_hash = Some(passerelle_oidc_provider::hash_secret(SHORT));
    let mut cs = clients();
    cs.push(short);
    let h = start_full(|_| {}, cs).await;
    let c = code(&h, "short-app").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (s, r) = post_form(
        &format!("{}/token", h.issuer),
        Some(("short-app", SHORT)),
        &form,
    )
    .await;
    assert_eq!(
        (s, r["error"].as_str()),
        (401, Some("invalid_client")),
        "{r}"
    );
    for endpoint in ["introspect", "revoke"] {
        let (s, r) = post_form(
            &format!("{}/{endpoint}", h.issuer),
            Some(("short-app", SHORT)),
            &[("token", "whatever")],
        )
        .await;
        assert_eq!(
            (s, r["error"].as_str()),
            (401, Some("invalid_client")),
            "{endpoint}: {r}"
        );
    }
    // An empty secret, in the header or the body, is invalid_client too.
    let (s, r) = post_form(&format!("{}/token", h.issuer), Some(("cockpit", "")), &form).await;
    assert_eq!(
        (s, r["error"].as_str()),
        (401, Some("invalid_client")),
        "{r}"
    );
    let mut post = form.to_vec();
    post.extend([("client_id", "post-app"), ("client_secret", "")]);
    let (s, r) = post_form(&format!("{}/token", h.issuer), None, &post).await;
    assert_eq!(
        (s, r["error"].as_str()),
        (401, Some("invalid_client")),
        "{r}"
    );
}

/// An ID token signed by `key` for `aud`, about `sub`, expiring at `exp`.
fn id_token(
    key: &passerelle_oidc_provider::SigningKey,
    iss: &str,
    aud: &str,
    sub: &str,
    exp: i64,
) -> String {
    let now = passerelle_oidc_provider::unix_now();
    passerelle_oidc_provider::jwt::sign(
        key,
        "JWT",
        &serde_json::json!({ "iss": iss, "aud": [aud], "sub": sub, "iat": now - 3600, "exp": exp }),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_hint_not_issued_here_to_this_client_is_refused_and_an_expired_one_is_not() {
    use passerelle_oidc_provider::{SigningAlg, SigningKey, unix_now};
    let h = start().await;
    let now = unix_now();
    let ours = h
        .provider
        .keys()
        .ring()
        .signer(SigningAlg::Rs256, now)
        .unwrap();
    let (foreign, _) = SigningKey::generate(SigningAlg::Rs256).unwrap();
    for (name, hint) in [
        (
            "foreign key",
            id_token(&foreign, &h.issuer, "cockpit", "acct-42", now + 60),
        ),
        (
            "other client",
            id_token(&ours, &h.issuer, "sides", "acct-42", now + 60),
        ),
        (
            "other issuer",
            id_token(
                &ours,
                "https://evil.example",
                "cockpit",
                "acct-42",
                now + 60,
            ),
        ),
        ("not a JWT", "hint".to_owned()),
    ] {
        let mut p = base("cockpit");
        p.push(("id_token_hint", &hint));
        let loc = authorize_location(&authorize_url(&h, &p)).await;
        assert!(loc.starts_with(CB), "{name}: {loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("invalid_request"),
            "{name}: {loc}"
        );
        assert!(query_param(&loc, "code").is_none(), "{name}");
    }
    // Our own ID token for this client, long expired, is still a hint (OIDC Core §3.1.2.1).
    let mut p = base("cockpit");
    let expired = id_token(&ours, &h.issuer, "cockpit", "acct-42", now - 3000);
    p.push(("id_token_hint", &expired));
    let loc = authorize_location(&authorize_url(&h, &p)).await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_hint_is_compared_with_the_subject_its_client_sees_public_or_pairwise() {
    use passerelle_oidc_provider::{Authorize, SigningAlg, unix_now};
    let h = start().await;
    let now = unix_now();
    let key = h
        .provider
        .keys()
        .ring()
        .signer(SigningAlg::Rs256, now)
        .unwrap();
    for client in ["cockpit", "pairwise-app"] {
        let c = h.provider.clients().get(client).unwrap();
        let sub = h.provider.subject_for(c, "acct-42");
        let hint = id_token(&key, &h.issuer, client, &sub, now + 60);
        let mut p: Vec<(String, String)> = base(client)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        p.push(("id_token_hint".into(), hint));
        let Authorize::Login(pending) = h.provider.authorize(&p).await.unwrap() else {
            panic!("{client}: the request is valid");
        };
        assert_eq!(
            pending.hint_subject.as_deref(),
            Some(sub.as_str()),
            "{client}"
        );
        assert!(
            !h.provider.hint_names_other(&pending, "acct-42"),
            "{client}"
        );
        assert!(h.provider.hint_names_other(&pending, "acct-43"), "{client}");
    }
    // No hint: nobody is excluded.
    let p: Vec<(String, String)> = base("cockpit")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let Authorize::Login(pending) = h.provider.authorize(&p).await.unwrap() else {
        panic!("the request is valid");
    };
    assert!(!h.provider.hint_names_other(&pending, "anyone"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_only_claims_this_provider_can_send() {
    let h = start().await;
    let body = http()
        .get(format!("{}/.well-known/openid-configuration", h.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let claims: Vec<&str> = doc["claims_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let acrs: Vec<&str> = doc["acr_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(
        acrs,
        [
            "https://refeds.org/profile/mfa",
            "https://refeds.org/profile/sfa",
            "phr",
            "phrh"
        ]
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    for sent in [
        "acr",
        "sub",
        "email",
        "name",
        "eduperson_principal_name",
        "sid",
        "amr",
    ] {
        assert!(claims.contains(&sent), "{sent} missing from {claims:?}");
    }
}

const MFA: &str = "https://refeds.org/profile/mfa";

/// The ID token's claims (its signature is checked by the provider's own tests).
fn id_token_claims(token: &serde_json::Value) -> serde_json::Value {
    use base64::Engine as _;
    let jwt = token["id_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn code_for(h: &Harness, extra: &[(&str, &str)]) -> Result<String, String> {
    let mut p = base("cockpit");
    p.extend_from_slice(extra);
    let loc = authorize_location(&authorize_url(h, &p)).await;
    query_param(&loc, "code").ok_or_else(|| query_param(&loc, "error").unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refeds_mfa_asked_is_met_by_a_passkey_and_never_by_a_password() {
    let h = start().await;
    // A password alone: no code, unmet_authentication_requirements (never a downgrade).
    assert_eq!(
        code_for(&h, &[("acr_values", MFA)]).await.unwrap_err(),
        "unmet_authentication_requirements"
    );
    let essential = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{MFA}"]}}}}}}"#);
    assert_eq!(
        code_for(&h, &[("claims", &essential)]).await.unwrap_err(),
        "unmet_authentication_requirements"
    );
    // A device-bound passkey: the first class asked for that it meets.
    let code = code_for(
        &h,
        &[
            ("acr_values", &format!("urn:gold {MFA} phrh")),
            ("login_hint", "passkey"),
        ],
    )
    .await
    .unwrap();
    let (status, tokens) = exchange(&h, "cockpit", &code).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["acr"], MFA);
    assert_eq!(claims["amr"], serde_json::json!(["hwk"]));
    let code = code_for(
        &h,
        &[
            ("claims", &essential.replace(MFA, "phrh")),
            ("login_hint", "passkey"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        id_token_claims(&exchange(&h, "cockpit", &code).await.1)["acr"],
        "phrh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_is_what_was_met_when_nothing_is_asked_and_bad_claims_requests_are_errors() {
    let h = start().await;
    let code = code_for(&h, &[]).await.unwrap();
    let (_, tokens) = exchange(&h, "cockpit", &code).await;
    assert_eq!(
        id_token_claims(&tokens)["acr"],
        "https://refeds.org/profile/sfa"
    );
    // The refreshed ID token keeps it.
    let (status, refreshed) = post_form(
        &format!("{}/token", h.issuer),
        Some(("cockpit", SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        id_token_claims(&refreshed)["acr"],
        "https://refeds.org/profile/sfa"
    );
    // Unknown voluntary classes are ignored; an essential one we cannot assert is unmet.
    assert!(code_for(&h, &[("acr_values", "urn:gold")]).await.is_ok());
    let gold = r#"{"id_token":{"acr":{"essential":true,"value":"urn:gold"}}}"#;
    assert_eq!(
        code_for(&h, &[("claims", gold)]).await.unwrap_err(),
        "unmet_authentication_requirements"
    );
    assert_eq!(
        code_for(&h, &[("claims", "{not json")]).await.unwrap_err(),
        "invalid_request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_default_is_mfa_gets_it_without_asking() {
    let mut clients = clients();
    for c in &mut clients {
        c.default_acr_values = vec![MFA.into()];
    }
    let h = start_full(|_| {}, clients).await;
    assert_eq!(
        code_for(&h, &[]).await.unwrap_err(),
        "unmet_authentication_requirements"
    );
    let code = code_for(&h, &[("login_hint", "passkey")]).await.unwrap();
    assert_eq!(
        id_token_claims(&exchange(&h, "cockpit", &code).await.1)["acr"],
        MFA
    );
    // An unknown default is refused at start-up.
    let mut bad = passerelle_oidc_provider::ClientConfig::clone(&support::clients()[0]);
    bad.default_acr_values = vec!["urn:gold".into()];
    let err = passerelle_oidc_provider::Client::from_config(&bad).unwrap_err();
    assert!(err.to_string().contains("default_acr_values"), "{err}");
}
