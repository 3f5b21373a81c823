//! People without a university login: what the portal offers an address that no
//! institution speaks for, or whose account waits for its password.
//!
//! `GET /register` shows one of three pages for the typed address: « Créer votre compte
//! UNESS » (a self-registration domain the operator opened), « Activez votre compte »
//! (a pending account: invited, or started by a university), or the page that says why
//! there is no way in yet and what to do (never an empty institution list).
//! `POST /register` e-mails the link (`passerelle-local-auth`'s `register`: a
//! registration link, or the pending account's activation link; earlier links stay
//! valid) and shows « lien envoyé » with the address, the link's rule and a re-send
//! button.
//!
//! The link may be opened on another device (the phone). The tab left on « lien envoyé »
//! does not stay stuck: it asks `GET /login/status` now and then (script) and offers
//! « J'ai créé mon mot de passe : continuer » (`GET /login/continue`, no script needed),
//! which leads to the password sign-in once the account is active — the pending app
//! then gets its answer. Nothing signs this tab in by itself: the password is asked here
//! too (a link opened by someone else must never sign in the tab that asked for it).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use passerelle_local_auth::{AccountStatus, Email, Error as LocalError, Registered};

use super::{Fields, Way, has_institution, minutes, typed_email, ways_page};
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

#[derive(askama::Template)]
#[template(path = "sent.html")]
struct SentPage<'a> {
    l: &'a Layout,
    email: &'a str,
    validity: String,
    not_yet: bool,
}

/// « lien envoyé »: the address in bold, how long the link works, a re-send button.
pub(crate) fn sent_page(cx: &Cx, email: &Email) -> Result<Response, Fail> {
    render_sent(cx, email, false)
}

/// « lien envoyé », saying the account is not active yet when `not_yet`.
fn render_sent(cx: &Cx, email: &Email, not_yet: bool) -> Result<Response, Fail> {
    let secs = cx.app.local.config().activation_link_ttl_secs;
    let duration = if secs >= 3600 && secs.is_multiple_of(3600) {
        cx.t.fill("unit.hours", &[("n", &(secs / 3600).to_string())])
    } else {
        cx.t.fill("unit.minutes", &[("n", &secs.div_ceil(60).to_string())])
    };
    let l = cx.layout("sent.title");
    cx.render(&SentPage {
        l: &l,
        email: email.as_str(),
        validity: cx.t.fill("sent.validity", &[("duration", &duration)]),
        not_yet,
    })
}

/// The page for an address without a way in: why, and what to do.
fn no_way_in(cx: &Cx, email: &Email) -> Result<Response, Fail> {
    let paragraphs = vec![
        cx.t.fill("no_way_in.body", &[("domain", email.domain())]),
        cx.t.get("no_way_in.university").to_owned(),
        cx.t.get("no_way_in.invitation").to_owned(),
    ];
    let ways = vec![
        Way::get(cx, "/login", "no_way_in.other_address"),
        Way::get(cx, "/activate", "no_way_in.search"),
    ];
    ways_page(
        cx,
        StatusCode::OK,
        "no_way_in.title",
        paragraphs,
        ways,
        false,
    )
}

/// `GET /register`.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/register", |cx| {
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        let account = cx.app.local.account(&email).await.map_err(Fail::local)?;
        let institutions = has_institution(cx, &email);
        match account.map(|a| a.status) {
            Some(AccountStatus::Active) => Ok(see_other("/login/password")),
            Some(AccountStatus::Disabled) => Err(Fail::local(LocalError::AccountDisabled)),
            Some(AccountStatus::PendingActivation) => {
                let mut ways = vec![Way::post(cx, "/register", "register.pending_send")];
                if institutions {
                    ways.push(Way::get(cx, "/activate", "action.activate"));
                }
                ways.push(Way::get(cx, "/login", "no_way_in.other_address"));
                let body = cx.t.fill("register.pending", &[("email", email.as_str())]);
                ways_page(
                    cx,
                    StatusCode::OK,
                    "register.pending_title",
                    vec![body],
                    ways,
                    false,
                )
            }
            None if cx.app.local.self_registration_open(&email) => {
                let mut ways = vec![Way::post(cx, "/register", "register.send")];
                if institutions {
                    ways.push(Way::get(cx, "/activate", "action.activate"));
                }
                ways.push(Way::get(cx, "/login", "no_way_in.other_address"));
                let body = cx.t.fill("register.open", &[("email", email.as_str())]);
                ways_page(
                    cx,
                    StatusCode::OK,
                    "register.title",
                    vec![body, cx.t.get("register.how").to_owned()],
                    ways,
                    false,
                )
            }
            None => no_way_in(cx, &email),
        }
    })
}

/// Whether the address typed in this session has an active account.
async fn typed_is_active(cx: &Cx) -> Result<Option<(Email, bool)>, Fail> {
    let Some(email) = typed_email(cx) else {
        return Ok(None);
    };
    let active = cx
        .app
        .local
        .account(&email)
        .await
        .map_err(Fail::local)?
        .is_some_and(|a| a.status == AccountStatus::Active);
    Ok(Some((email, active)))
}

/// `GET /login/status`: `{"active": true}` once the typed address's account is active
/// (the « lien envoyé » tab asks, to continue by itself).
pub(crate) async fn status(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/login/status", |cx| {
        let active = typed_is_active(cx).await?.is_some_and(|(_, a)| a);
        let mut r = axum::Json(serde_json::json!({ "active": active })).into_response();
        r.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        Ok(r)
    })
}

/// `GET /login/continue`: « J'ai créé mon mot de passe : continuer » — the password
/// sign-in when the account is active, else « lien envoyé » again, saying so.
pub(crate) async fn continue_after_link(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/login/continue", |cx| {
        match typed_is_active(cx).await? {
            None => Ok(see_other("/login")),
            Some((_, true)) => Ok(see_other("/login/password")),
            Some((email, false)) => render_sent(cx, &email, true),
        }
    })
}

/// `POST /register`: e-mails the link (first time or again).
pub(crate) async fn send(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/register", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        let app = super::pending_app(cx).await;
        match cx
            .app
            .local
            .register(&email, cx.t.lang(), &cx.client, app.as_deref())
            .await
        {
            Ok(Registered::LinkSent { .. }) => sent_page(cx, &email),
            Ok(Registered::AlreadyActive) => Ok(see_other("/login/password")),
            Err(LocalError::RegistrationClosed) => no_way_in(cx, &email),
            Err(LocalError::Throttled { retry_after }) => {
                let body =
                    cx.t.fill("sent.throttled", &[("minutes", &minutes(retry_after))]);
                ways_page(
                    cx,
                    StatusCode::TOO_MANY_REQUESTS,
                    "error.throttled.title",
                    vec![body, cx.t.get("sent.delay").to_owned()],
                    vec![Way::get(cx, "/login", "action.restart")],
                    true,
                )
            }
            Err(e) => Err(Fail::local(e)),
        }
    })
}
