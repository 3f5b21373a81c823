//! Where the apps send the browser: `/authorize` and `/logout`.
//!
//! The OIDC crate decides (valid request? redirect allowed?); this module renders: a
//! request that cannot be trusted with a redirect is a page, never a redirect; a
//! signed-in session that is fresh enough gets its code at once — unless the app's
//! `id_token_hint` names another user (compared as that app sees subjects, public or
//! pairwise); `prompt=none` without a session, or with another user's, is
//! `login_required`; otherwise the request waits in the session while the user signs in.
//! Logout needs the app's `id_token_hint` or the user's own click.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_local_auth::Email;
use passerelle_oidc_provider::{Authorize, OAuthError};

use super::{Fields, local_subject, resume};
use crate::web::i18n::negotiate;
use crate::web::page::{Cx, Fail, see_other};
use crate::web::{App, Peer};

fn pairs_of(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn invalid(e: &OAuthError) -> Fail {
    Fail::page(
        StatusCode::BAD_REQUEST,
        "error.authorize.title",
        "error.authorize.body",
    )
    .arg("detail", e.description.clone())
}

/// `GET /authorize`.
pub(crate) async fn authorize_get(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = pairs_of(query.unwrap_or_default().as_bytes());
    authorize(app, peer, headers, pairs).await
}

/// `POST /authorize` (form-encoded, as OIDC Core allows).
pub(crate) async fn authorize_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = if body.len() > 16 * 1024 {
        Vec::new()
    } else {
        pairs_of(&body)
    };
    authorize(app, peer, headers, pairs).await
}

async fn authorize(
    app: App,
    peer: SocketAddr,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let mut cx = match Cx::begin(&app, &headers, peer, "/authorize").await {
        Ok(cx) => cx,
        Err(r) => return r,
    };
    let result = authorize_inner(&mut cx, &pairs).await;
    cx.finish(result).await
}

async fn authorize_inner(cx: &mut Cx, pairs: &[(String, String)]) -> Result<Response, Fail> {
    // The pending request is stored state: an anonymous visitor's journey counts against
    // its address's allowance before it is written (a cookie-less client could otherwise
    // fill the store through /authorize).
    cx.app
        .sessions
        .admit_journey(&mut cx.session, &cx.client)
        .await
        .map_err(Fail::local)?;
    let pending = match cx.app.oidc.authorize(pairs).await? {
        Authorize::Invalid(e) => return Err(invalid(&e)),
        Authorize::Redirect(url) => return Ok(see_other(&url)),
        Authorize::Login(p) => p,
    };
    // A staff session never carries app sign-ins: an app asked, so the console closes
    // (its second factor is asked again next time).
    cx.session.record.console = None;
    if let Some(lang) = pending.ui_locales.as_deref().and_then(negotiate) {
        cx.session.record.lang = Some(lang);
        cx.t = cx.app.catalog.texts(lang);
    }
    let auth_time = cx.session.record.user.as_ref().map(|u| u.auth_time);
    let fresh_enough = !pending.needs_login(auth_time, cx.now);
    // The app's id_token_hint names someone else than the signed-in user.
    let mut someone_else = false;
    if fresh_enough && let Some(user) = cx.session.record.user.clone() {
        let account = match Email::parse(&user.email) {
            Ok(email) => cx.app.local.account(&email).await.map_err(Fail::local)?,
            Err(_) => None,
        };
        // Only an account still active gets a code: one disabled since its sign-in does not.
        match account.filter(|a| a.status == passerelle_local_auth::AccountStatus::Active) {
            Some(account)
                if cx
                    .app
                    .oidc
                    .hint_names_other(&pending, &local_subject(&account)) =>
            {
                // Never a code for this user when the app asked about another one.
                someone_else = true;
            }
            Some(account) => {
                cx.session.record.pending = Some(pending.id.clone());
                return resume(cx, &account).await;
            }
            // The account is gone or disabled: sign in again.
            None => cx.session.record.user = None,
        }
    }
    if pending.prompt.none {
        let why = if someone_else {
            "the signed-in user is not the one id_token_hint names"
        } else {
            "the user is not signed in"
        };
        let redirect = cx.app.oidc.deny(&pending.id, "login_required", why).await?;
        return Ok(redirect.map_or_else(|| see_other("/login"), |r| see_other(&r)));
    }
    cx.session.record.pending = Some(pending.id.clone());
    cx.session.record.force_authn =
        auth_time.is_some() || pending.prompt.login || pending.max_age.is_some();
    if let Some(hint) = pending
        .login_hint
        .as_deref()
        .and_then(|h| Email::parse(h).ok())
    {
        cx.session.record.email = Some(hint.as_str().to_owned());
    }
    if auth_time.is_some() {
        // prompt=login, max_age or another user's hint: the earlier sign-in does not
        // count for this request.
        cx.session.record.user = None;
    }
    Ok(see_other("/login"))
}

/// `GET /logout` (RP-initiated logout).
pub(crate) async fn logout_get(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = pairs_of(query.unwrap_or_default().as_bytes());
    logout(app, peer, headers, pairs, None).await
}

/// `POST /logout`: from an app (form post) or from our own « Se déconnecter » button.
pub(crate) async fn logout_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    let csrf = fields.get("csrf").to_owned();
    let pairs: Vec<(String, String)> = pairs_of(&body)
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    logout(app, peer, headers.clone(), pairs, Some((headers, csrf))).await
}

async fn logout(
    app: App,
    peer: SocketAddr,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    confirmed: Option<(HeaderMap, String)>,
) -> Response {
    let mut cx = match Cx::begin(&app, &headers, peer, "/logout").await {
        Ok(cx) => cx,
        Err(r) => return r,
    };
    let result = logout_inner(&mut cx, &pairs, confirmed).await;
    cx.finish(result).await
}

async fn logout_inner(
    cx: &mut Cx,
    pairs: &[(String, String)],
    confirmed: Option<(HeaderMap, String)>,
) -> Result<Response, Fail> {
    let end = cx.app.oidc.end_session(pairs).map_err(|e| {
        Fail::page(
            StatusCode::BAD_REQUEST,
            "error.logout.title",
            "error.logout.body",
        )
        .arg("detail", e.description)
    })?;
    let session_sid = cx.session.record.user.as_ref().map(|u| u.sid.clone());
    // The app's hint names this very session, or the user clicked our own button.
    let hinted = end.sid.is_some() && end.sid == session_sid;
    let clicked = match &confirmed {
        Some((headers, csrf)) => cx.check_form(headers, csrf).is_ok(),
        None => false,
    };
    if session_sid.is_some() && !hinted && !clicked {
        // Ask first: a bare link must not sign anyone out.
        let l = cx.layout("logout.title");
        let hidden: Vec<(String, String)> = pairs.to_vec();
        return cx.render(&crate::journey::account::LogoutConfirm { l: &l, hidden });
    }
    if let Some(sid) = session_sid.or(end.sid) {
        let notified = cx.app.oidc.logout_session(&sid).await?;
        tracing::info!(apps = notified, "signed out");
    }
    cx.sign_out().await?;
    match end.redirect {
        Some(url) => Ok(see_other(&url)),
        None => cx.message(
            "logout.done.title",
            vec![cx.t.get("logout.done.body").to_owned()],
            None,
        ),
    }
}
