//! Test harness: a provider on real Redis behind a real HTTP listener, with a stand-in for
//! the server's login pages at `/authorize` (it authenticates a fixed test user).
#![allow(dead_code)]

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passerelle_oidc_provider::{
    Amr, Authentication, Authorize, ClientConfig, Completion, Provider, Registry, Settings,
    SubjectType, UserClaims, hash_secret, router, unix_now,
};
use passerelle_store::Store;
use passerelle_testkit::redis::{RedisServer, TestRedis, redis_url};

/// At least `MIN_SECRET_CHARS` (32) characters: shorter ones are refused when presented.
pub const SECRET: &str = "cockpit-secret-0123456789-abcdefgh";
/// The RFC 7636 example verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub struct Harness {
    pub issuer: String,
    pub provider: Arc<Provider>,
    pub store: Store,
    _redis: TestRedis,
}

pub fn client(id: &str, alg: &str) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        name: None,
        secret_hash: Some(hash_secret(SECRET)),
        token_endpoint_auth_method: None,
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1:9/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        scopes: Some("openid email profile academic offline_access".into()),
        subject_type: SubjectType::Public,
        sector_identifier: None,
        backchannel_logout_uri: None,
        id_token_signed_response_alg: Some(alg.into()),
        access_token_lifetime: None,
        refresh_tokens: None,
        jwks: None,
        jwks_uri: None,
        initiate_login_uri: None,
        client_uri: None,
        default_acr_values: Vec::new(),
    }
}

pub fn clients() -> Vec<ClientConfig> {
    let mut public = client("public-app", "ES256");
    public.secret_hash = None;
    let mut post = client("post-app", "EdDSA");
    post.token_endpoint_auth_method = Some(passerelle_oidc_provider::AuthMethod::ClientSecretPost);
    let mut pairwise = client("pairwise-app", "RS256");
    pairwise.subject_type = SubjectType::Pairwise;
    pairwise.sector_identifier = Some("app.example".into());
    vec![
        client("cockpit", "RS256"),
        client("sides", "EdDSA"),
        client("es-app", "ES256"),
        public,
        post,
        pairwise,
    ]
}

pub fn user() -> Authentication {
    Authentication {
        subject: "acct-42".into(),
        auth_time: unix_now() - 5,
        amr: vec![Amr::Pwd],
        assurance: passerelle_oidc_provider::Assurance::of(&[Amr::Pwd], None),
        acr: None,
        sid: "sid-1".into(),
        claims: UserClaims {
            email: Some("prenom.nom@etu.unilim.fr".into()),
            email_verified: true,
            name: Some("Prénom Nom".into()),
            given_name: Some("Prénom".into()),
            family_name: Some("Nom".into()),
            affiliation: vec!["student".into()],
            home_organization: Some("unilim.fr".into()),
            eppn: Some("pnom@unilim.fr".into()),
            account_kind: Some("university".into()),
        },
    }
}

async fn authorize(State(p): State<Arc<Provider>>, RawQuery(q): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let redirect = |to: String| (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    match p.authorize(&pairs).await {
        Ok(Authorize::Invalid(e)) => {
            (StatusCode::BAD_REQUEST, format!("page: {e}")).into_response()
        }
        Ok(Authorize::Redirect(to)) => redirect(to),
        Ok(Authorize::Login(pending)) => {
            if pending.prompt.none {
                match p.deny(&pending.id, "login_required", "no session").await {
                    Ok(Some(to)) => redirect(to),
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            } else {
                // login_hint=passkey: the user signs in with a device-bound passkey.
                let mut who = user();
                if pending.login_hint.as_deref() == Some("passkey") {
                    who.amr = vec![Amr::Hwk];
                    who.assurance = passerelle_oidc_provider::Assurance::of(&who.amr, None);
                }
                match p.complete(&pending.id, who).await {
                    Ok(Completion::Redirect(to)) => redirect(to),
                    Ok(Completion::Unmet(_)) => match p
                        .deny(
                            &pending.id,
                            "unmet_authentication_requirements",
                            "the sign-in does not meet the requested acr",
                        )
                        .await
                    {
                        Ok(Some(to)) => redirect(to),
                        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    },
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

pub async fn start() -> Harness {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Harness {
    start_full(tweak, clients()).await
}

pub async fn start_full(tweak: impl FnOnce(&mut Settings), clients: Vec<ClientConfig>) -> Harness {
    start_on(redis_url().expect("redis"), tweak, clients).await
}

/// A harness on a Redis of its own, which [`Harness::empty_store`] can empty.
pub async fn start_restartable() -> Harness {
    let redis = RedisServer::start().expect("redis-server");
    start_on(TestRedis::Owned(redis), |_| {}, clients()).await
}

impl Harness {
    /// Restarts the harness's own Redis, empty (it keeps nothing on disk): a store
    /// replaced without persistence.
    pub fn empty_store(&mut self) {
        match &mut self._redis {
            TestRedis::Owned(server) => server.restart().expect("redis restart"),
            TestRedis::External(_) => panic!("start_restartable owns its Redis"),
        }
    }
}

async fn start_on(
    redis: TestRedis,
    tweak: impl FnOnce(&mut Settings),
    clients: Vec<ClientConfig>,
) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let prefix = format!("t{}", unix_now_nanos());
    let store = Store::open(&redis.url(), &prefix).expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let mut settings = Settings::new(&issuer);
    tweak(&mut settings);
    let registry = Registry::new(&clients).expect("clients");
    let provider = Arc::new(
        Provider::new(settings, registry, store.clone(), &[7u8; 32])
            .await
            .expect("provider"),
    );
    let app = router(Arc::clone(&provider)).merge(
        axum::Router::new()
            .route("/authorize", get(authorize))
            .with_state(Arc::clone(&provider)),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Harness {
        issuer,
        provider,
        store,
        _redis: redis,
    }
}

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Follows `/authorize` once and returns the `Location` it redirects to.
pub async fn authorize_location(url: &str) -> String {
    let r = http().get(url).send().await.expect("authorize");
    assert_eq!(
        r.status(),
        303,
        "authorize answered {}: {:?}",
        r.status(),
        r.text().await
    );
    r.headers()[header::LOCATION.as_str()]
        .to_str()
        .expect("location")
        .to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// POSTs a form, with Basic credentials when given; returns status and JSON body.
pub async fn post_form(
    url: &str,
    basic: Option<(&str, &str)>,
    pairs: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let body = {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k, v);
        }
        ser.finish()
    };
    let mut r = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let resp = r.send().await.expect("post");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// A code for `client` (scope `openid`, PKCE with [`CHALLENGE`]) from `/authorize`.
pub async fn pkce_code(h: &Harness, client: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", "https://app.example/cb")
        .append_pair("scope", "openid")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let loc = authorize_location(&format!("{}/authorize?{q}", h.issuer)).await;
    query_param(&loc, "code").expect("code")
}
