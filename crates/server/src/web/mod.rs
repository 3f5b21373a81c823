//! The web application: shared state ([`App`]), the route table, and what every
//! response carries (security headers, no caching of pages).
//!
//! Submodules: `session` (store-backed sessions), `i18n` (catalogues), `page` (request
//! context, layout, failures). The journey's handlers live in `crate::journey`.

pub(crate) mod brand;
pub(crate) mod i18n;
pub(crate) mod observe;
pub(crate) mod page;
pub(crate) mod session;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_local_auth::LocalAuth;
use passerelle_oidc_provider::Provider;
use passerelle_saml_sp::acs::AcsSettings;
use passerelle_saml_sp::federation::Federation;
use passerelle_saml_sp::sp::ServiceProvider;
use passerelle_store::Store;

use crate::journey;
use i18n::Catalog;
use session::Sessions;

/// The TCP peer of a request (what `ConnectInfo` gives handlers, over HTTP or HTTPS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

/// The parts of the application.
pub(crate) struct Inner {
    /// The key/value store.
    pub store: Store,
    /// The local fallback (accounts, passwords, codes, links).
    pub local: LocalAuth,
    /// The OpenID provider.
    pub oidc: Arc<Provider>,
    /// The SAML service provider.
    pub sp: ServiceProvider,
    /// The federation's IdPs.
    pub federation: Arc<Federation>,
    /// ACS checks.
    pub acs: AcsSettings,
    /// Browser sessions.
    pub sessions: Sessions,
    /// Message catalogues.
    pub catalog: Catalog,
    /// Name, logo, colour, favicon.
    pub branding: brand::Branding,
    /// The audit log.
    pub audit: passerelle_audit::AuditLog,
    /// The support console's staff and lifetimes.
    pub console: crate::console::Console,
    /// The public URL, without a trailing slash.
    pub public_url: String,
    /// `scheme://host[:port]` of the public URL (what `Origin` must say).
    pub origin: String,
    /// The support link shown on every page.
    pub support_url: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Portal submissions per client address.
    pub portal_limit: passerelle_local_auth::Limit,
    /// The machine API's permissions and limits.
    pub api: crate::config::ApiConfig,
    /// Prometheus metrics.
    pub metrics: observe::Metrics,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub(crate) fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The client's address for rate limits (see [`client_address`]).
    pub(crate) fn client_address(&self, headers: &HeaderMap, peer: SocketAddr) -> String {
        client_address(&self.trusted_proxies, headers, peer)
    }

    /// Whether the public URL is https (HSTS is sent then).
    fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The client's address: the peer, or — only when the peer is a trusted proxy — the
/// last address in `X-Forwarded-For` that is not itself a trusted proxy (what a client
/// writes at the start of the header is never believed).
pub(crate) fn client_address(trusted: &[IpAddr], headers: &HeaderMap, peer: SocketAddr) -> String {
    let peer_ip = peer.ip();
    if !trusted.contains(&peer_ip) {
        return peer_ip.to_string();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(&peer_ip)
        .to_string()
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(State(app): State<App>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let redirect = response.status() == StatusCode::SEE_OTHER;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Links carry one-time tokens in their path: never leak them to another site. Not
    // `no-referrer`: with it browsers send `Origin: null` on our own forms.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if app.https() {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let is_html = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html || (redirect && !h.contains_key(CACHE_CONTROL)) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const STYLE: &str = include_str!("../../static/style.css");
const DISCOVERY_JS: &str = include_str!("../../static/discovery.js");
const PASSWORD_JS: &str = include_str!("../../static/password.js");
const WAITING_JS: &str = include_str!("../../static/waiting.js");
const PASSKEY_JS: &str = include_str!("../../static/passkey.js");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /readyz`: 200 when the store answers, every federation feed serves data and an
/// OIDC key signs for each algorithm; the body lists what is degraded (a stale feed is
/// served, and reported).
async fn readyz(State(app): State<App>) -> (StatusCode, String) {
    let mut lines = Vec::new();
    let mut ready = true;
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "readiness: store unavailable");
        ready = false;
        lines.push("store: unavailable".to_owned());
    } else {
        lines.push("store: ok".to_owned());
        match app.store.persistence().await {
            Ok(Some(false)) => lines.push(
                "warning: the store does not persist (no AOF, no RDB save points, or the in-memory store): accounts would not survive its restart".to_owned(),
            ),
            Ok(None) => lines.push("store persistence: unknown (CONFIG GET refused)".to_owned()),
            Ok(Some(true)) | Err(_) => {}
        }
    }
    // Tokens need a key that signs now, for every algorithm the provider uses.
    let unsigned = app
        .oidc
        .keys()
        .unable_to_sign(passerelle_oidc_provider::unix_now());
    if unsigned.is_empty() {
        lines.push("oidc signing keys: ok".to_owned());
    } else {
        let algs: Vec<&str> = unsigned.iter().map(|a| a.as_str()).collect();
        tracing::warn!(algs = %algs.join(" "), "readiness: no signing key can sign");
        ready = false;
        lines.push(format!("oidc signing keys: none signs {}", algs.join(", ")));
    }
    for s in &app.federation.snapshot().sources {
        let state = match (&s.error, s.idps, s.stale) {
            (Some(_), 0, _) => {
                ready = false;
                "no data"
            }
            (Some(_), _, _) | (None, _, true) => "stale (serving the last good copy)",
            (None, _, false) => "ok",
        };
        let until = s.valid_until.as_deref().unwrap_or("-");
        let mut line = format!(
            "federation {}: {state}, {} IdPs, valid until {until}",
            s.name, s.idps
        );
        if let (Some(failure), Some(error)) = (s.last_failure, &s.error) {
            // What the operator must fix, in the feed's own words.
            let _ = write!(
                line,
                "; last refresh refused ({}): {error}",
                failure.as_str()
            );
        }
        lines.push(line);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    lines.insert(
        0,
        if ready {
            "ready".into()
        } else {
            "not ready".into()
        },
    );
    (status, lines.join("\n") + "\n")
}

/// A browser that asked for a page never sees a bare error: a 405 (a GET-only page
/// posted to) or a 413 (a body over the server's limit) answered without a page of ours
/// becomes the framed error page, status and `Allow` kept. Clients asking for JSON get
/// the answer untouched.
async fn framed_errors(State(app): State<App>, request: Request, next: Next) -> Response {
    let wants_html = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let lang = i18n::accepted(request.headers()).unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status();
    let ours = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    let (title, body) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("error.method.title", "error.method.body"),
        StatusCode::PAYLOAD_TOO_LARGE => ("error.too_large.title", "error.too_large.body"),
        _ => return response,
    };
    if !wants_html || ours {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let t = app.catalog.texts(lang);
    let mut framed = page::render_fail(
        &app,
        &t,
        page::Fail::page(status, title, body).next("/login", "action.restart"),
        "/",
    );
    if let Some(allow) = allow {
        framed
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    framed
}

/// Any other path: the « page introuvable » page inside the usual frame (title, support
/// link, a way back), 404.
async fn not_found(State(app): State<App>, headers: HeaderMap) -> Response {
    let t = app
        .catalog
        .texts(i18n::accepted(&headers).unwrap_or_default());
    let fail = page::Fail::page(
        StatusCode::NOT_FOUND,
        "error.not_found.title",
        "error.not_found.body",
    )
    .next("/login", "action.restart");
    page::render_fail(&app, &t, fail, "/")
}

/// Every route of the bridge (the demo adds its own beside them).
pub(crate) fn router(app: App) -> Router {
    let pages = Router::new()
        .route("/", get(journey::login::home))
        .route(
            "/authorize",
            get(journey::oidc::authorize_get).post(journey::oidc::authorize_post),
        )
        .route(
            "/logout",
            get(journey::oidc::logout_get).post(journey::oidc::logout_post),
        )
        .route(
            "/login",
            get(journey::login::portal).post(journey::login::portal_post),
        )
        .route(
            "/login/password",
            get(journey::login::password).post(journey::login::password_post),
        )
        .route(
            "/login/code",
            get(journey::login::code).post(journey::login::code_post),
        )
        .route("/login/code/send", post(journey::login::code_send))
        .route("/password/forgot", post(journey::login::forgot))
        .route("/login/status", get(journey::register::status))
        .route(
            "/login/continue",
            get(journey::register::continue_after_link),
        )
        .route("/activate", get(journey::discovery::institutions_page))
        .route("/institutions", get(journey::discovery::institutions_json))
        .route("/logos/{id}", get(journey::discovery::logo))
        .route("/saml/login", get(journey::activation::saml_login))
        .route("/saml/acs", post(journey::activation::saml_acs))
        .route("/saml/continue", get(journey::activation::saml_continue))
        .route("/saml/metadata", get(journey::activation::sp_metadata))
        .route(
            "/link/{token}",
            get(journey::links::confirm).post(journey::links::confirm_post),
        )
        .route(
            "/password/new",
            get(journey::links::new_password).post(journey::links::new_password_post),
        )
        .route("/account", get(journey::account::page))
        .route("/account/password", post(journey::account::change_password))
        .route("/account/data", get(journey::account::data))
        .route(
            "/account/delete",
            get(journey::delete::page).post(journey::delete::delete),
        )
        .route("/account/delete/code", post(journey::delete::send_code))
        .route("/account/passkeys", get(journey::passkeys::page))
        .route(
            "/account/passkeys/options",
            post(journey::passkeys::add_options),
        )
        .route("/account/passkeys/add", post(journey::passkeys::add))
        .route("/account/passkeys/rename", post(journey::passkeys::rename))
        .route("/account/passkeys/delete", post(journey::passkeys::delete))
        .route(
            "/account/password/drop",
            post(journey::passkeys::drop_password),
        )
        .route(
            "/login/passkey/options",
            post(journey::passkeys::sign_in_options),
        )
        .route("/login/passkey", post(journey::passkeys::sign_in))
        .route("/login/step-up/cancel", post(journey::stepup::cancel))
        .route(
            "/static/passkey.js",
            get(|| async { asset("text/javascript", PASSKEY_JS) }),
        )
        .route(
            "/account/logout-everywhere",
            post(journey::account::logout_everywhere),
        )
        .route("/lang", post(journey::account::switch_language))
        .route(
            "/register",
            get(journey::register::page).post(journey::register::send),
        )
        .route("/saml/choose", post(journey::activation::saml_choose))
        .route("/api/invitations", post(crate::api::invitations))
        .route("/console", get(crate::console::home))
        .route("/console/code", post(crate::console::send_code))
        .route("/console/verify", post(crate::console::verify))
        .route(
            "/console/passkey/options",
            post(crate::console::passkey_options),
        )
        .route("/console/passkey", post(crate::console::passkey_verify))
        .route("/console/accounts", get(crate::console::accounts::find))
        .route(
            "/console/accounts/change",
            post(crate::console::accounts::change),
        )
        .route(
            "/console/accounts/invite",
            post(crate::console::invite::invite),
        )
        .route("/console/audit", get(crate::console::audit::page))
        .route("/console/service", get(crate::console::service::page))
        .route("/console/idps", get(crate::console::idps::page))
        .route(
            "/console/service/rotate",
            post(crate::console::service::rotate),
        )
        .route(
            "/static/style.css",
            get(|| async { asset("text/css", STYLE) }),
        )
        .route(
            "/static/discovery.js",
            get(|| async { asset("text/javascript", DISCOVERY_JS) }),
        )
        .route("/static/brand.css", get(brand::css))
        .route("/static/brand-logo", get(brand::logo))
        .route("/favicon.ico", get(brand::favicon))
        .route(
            "/static/waiting.js",
            get(|| async { asset("text/javascript", WAITING_JS) }),
        )
        .route(
            "/static/password.js",
            get(|| async { asset("text/javascript", PASSWORD_JS) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::metrics))
        .fallback(not_found)
        .with_state(app.clone());
    observe::spawn_store_probe(app.clone());
    pages
        .merge(passerelle_oidc_provider::router(app.oidc.clone()))
        .layer(middleware::from_fn_with_state(app.clone(), framed_errors))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(app, observe::observe))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let from_proxy = SocketAddr::new(proxy, 4000);
        let from_client = SocketAddr::new("192.0.2.7".parse().unwrap(), 4000);
        let h = forwarded("203.0.113.9");
        assert_eq!(client_address(&[proxy], &h, from_proxy), "203.0.113.9");
        assert_eq!(
            client_address(&[proxy], &h, from_client),
            "192.0.2.7",
            "a client cannot name itself"
        );
        assert_eq!(
            client_address(&[], &h, from_proxy),
            "10.0.0.2",
            "no proxy configured: the peer"
        );
    }

    #[test]
    fn a_spoofed_first_hop_does_not_hide_the_real_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        // The client wrote "1.2.3.4"; the proxy appended the address it saw.
        let h = forwarded("1.2.3.4, 198.51.100.5");
        assert_eq!(
            client_address(&[proxy], &h, SocketAddr::new(proxy, 1)),
            "198.51.100.5"
        );
        // Two proxies in a row: the last untrusted hop is the client.
        let inner: IpAddr = "10.0.0.3".parse().unwrap();
        let h = forwarded("1.2.3.4, 198.51.100.5, 10.0.0.3");
        assert_eq!(
            client_address(&[proxy, inner], &h, SocketAddr::new(proxy, 1)),
            "198.51.100.5"
        );
        // Garbage in the header: the proxy itself.
        let h = forwarded("not-an-ip");
        assert_eq!(
            client_address(&[proxy], &h, SocketAddr::new(proxy, 1)),
            "10.0.0.2"
        );
    }
}
