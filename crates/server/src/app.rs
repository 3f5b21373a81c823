//! The HTTP application: state, routes, and the demo's embedded defaults.
//!
//! Routes today: `/healthz` (the process answers) and `/readyz` (the store answers;
//! 503 otherwise). The journey's pages arrive with issue #5.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use passerelle_local_auth::mailer::Transport;
use passerelle_local_auth::secret::SecretKey;
use passerelle_local_auth::{Config, LocalAuth, Mailer, MailerConfig};
use passerelle_store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    store: Store,
    #[allow(dead_code)] // used by the journey's pages (issue #5)
    local: LocalAuth,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
    }
}

/// `passerelle demo`: embedded defaults, one port.
pub(crate) async fn demo(listen: SocketAddr, outbox: Option<PathBuf>) -> anyhow::Result<()> {
    let outbox = outbox.unwrap_or_else(|| std::env::temp_dir().join("passerelle-demo-outbox"));
    let store = Store::memory("passerelle");
    let mailer = Mailer::new(&MailerConfig {
        from: "UNESS démo <no-reply@demo.passerelle.test>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Outbox {
            dir: outbox.clone(),
        },
    })?;
    let config = Config {
        link_base_url: format!("http://{listen}/link"),
        ..Config::default()
    };
    let local = LocalAuth::new(config, store.clone(), mailer, SecretKey::random()?)?;
    let app = router(AppState { store, local });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, outbox = %outbox.display(), "passerelle demo is up");
    tracing::info!("health: http://{bound}/healthz   readiness: http://{bound}/readyz");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
        .context("HTTP server")
}
