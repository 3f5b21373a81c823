//! A provider for load runs: real Redis (`REDIS_URL`), one client `bench` (secret
//! `bench-secret-0123456789-abcdefghij`, ID tokens signed with `ALG`, default EdDSA), and
//! `MINT` authorization codes minted at start into `CODES` (one per line) so that a load
//! tool can redeem each once at `/token`. Used by `benches/token-load.sh`; not part of the
//! product.
#![allow(clippy::print_stdout, clippy::expect_used, clippy::panic)] // a bench tool: it prints, and stops on set-up failure

use std::io::Write as _;
use std::sync::Arc;

use passerelle_oidc_provider::{
    Amr, Authentication, Authorize, ClientConfig, Provider, Registry, Settings, SubjectType,
    UserClaims, hash_secret, router, unix_now,
};
use passerelle_store::Store;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let redis = env("REDIS_URL", "redis://127.0.0.1:6379");
    let port = env("PORT", "8181");
    let mint: usize = env("MINT", "100000").parse().expect("MINT");
    let alg = env("ALG", "EdDSA");
    let issuer = format!("http://127.0.0.1:{port}");
    let store = Store::open(&redis, &format!("bench{}", unix_now())).expect("store");
    let mut settings = Settings::new(&issuer);
    settings.code_lifetime = 3600;
    let client = ClientConfig {
        client_id: "bench".into(),
        name: None,
        secret_hash: Some(hash_secret("bench-secret-0123456789-abcdefghij")),
        token_endpoint_auth_method: None,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        scopes: None,
        subject_type: SubjectType::Public,
        sector_identifier: None,
        backchannel_logout_uri: None,
        id_token_signed_response_alg: Some(alg),
        access_token_lifetime: None,
        refresh_tokens: None,
        jwks: None,
        jwks_uri: None,
        initiate_login_uri: None,
        client_uri: None,
        default_acr_values: Vec::new(),
    };
    let provider = Arc::new(
        Provider::new(
            settings,
            Registry::new(&[client]).expect("client"),
            store,
            &[9u8; 32],
        )
        .await
        .expect("provider"),
    );
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(env("CODES", "target/codes.txt")).expect("codes file"),
    );
    let pairs: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "bench"),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid email profile"),
        ("nonce", "n"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for i in 0..mint {
        let Ok(Authorize::Login(p)) = provider.authorize(&pairs).await else {
            panic!("authorize refused the bench request");
        };
        let auth = Authentication {
            subject: "acct-bench".into(),
            auth_time: unix_now(),
            amr: vec![Amr::Pwd],
            assurance: passerelle_oidc_provider::Assurance::NONE,
            acr: None,
            sid: format!("sid-{i}"),
            claims: UserClaims {
                email: Some("bench@univ.example".into()),
                email_verified: true,
                ..UserClaims::default()
            },
        };
        let passerelle_oidc_provider::Completion::Redirect(to) =
            provider.complete(&p.id, auth).await.expect("complete")
        else {
            panic!("the pending request was not answered");
        };
        let code = url::Url::parse(&to)
            .expect("redirect")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        writeln!(out, "{code}").expect("write");
    }
    out.flush().expect("flush");
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    println!("ready {issuer} ({mint} codes)");
    axum::serve(listener, router(provider))
        .await
        .expect("serve");
}
