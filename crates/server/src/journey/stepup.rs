//! Step-up: the app asked for an authentication context (`acr`: REFEDS MFA,
//! phishing-resistant) that the sign-in did not meet. The OIDC crate issued nothing and
//! the request still waits; this page offers what can meet it — a passkey of the account,
//! the university asked for MFA — or going back to the app, which is then told
//! `unmet_authentication_requirements`.
//!
//! What it must never do: issue a code for a sign-in that does not meet the request, or
//! offer as a way up what cannot meet it (an e-mailed code, the password again).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_local_auth::Account;
use passerelle_oidc_provider::PendingAuthorization;

use super::Fields;
use crate::page;
use crate::web::page::{Cx, Fail, Layout, html, see_other};
use crate::web::{App, Peer};

#[derive(Template)]
#[template(path = "step_up.html")]
struct StepUp<'a> {
    l: &'a Layout,
    intro: String,
    /// The account has a passkey (the button is shown, with JavaScript).
    passkey: bool,
    /// A university can be asked for MFA for this address.
    university: bool,
    /// Neither: how to get a way up.
    no_way: Option<String>,
    cancel: String,
}

/// The step-up page for `account`, whose sign-in did not meet what `pending` asks for.
pub(crate) async fn page(
    cx: &mut Cx,
    account: &Account,
    pending: &PendingAuthorization,
) -> Result<Response, Fail> {
    let asked: Vec<&str> = pending.acr.values.iter().map(|a| a.as_str()).collect();
    tracing::info!(client = %pending.client_id, acr = %asked.join(" "), "sign-in does not meet the app's acr request: step-up offered");
    cx.app.metrics.login("step_up", "offered");
    let passkey = cx
        .app
        .local
        .has_passkey(&account.email)
        .await
        .map_err(Fail::local)?;
    let university =
        !pending.acr.federated_classes().is_empty() && super::has_institution(cx, &account.email);
    let app = [("app", pending.client_name.as_str())];
    let l = cx.layout("step_up.title");
    html(
        StatusCode::OK,
        &StepUp {
            l: &l,
            intro: cx.t.fill("step_up.intro", &app),
            passkey,
            university,
            no_way: (!passkey && !university).then(|| cx.t.fill("step_up.no_way", &app)),
            cancel: cx.t.fill("step_up.cancel", &app),
        },
    )
}

/// `POST /login/step-up/cancel`: back to the app without the sign-in it asked for
/// (`unmet_authentication_requirements`, OpenID Connect Core Unmet Authentication
/// Requirements 1.0).
pub(crate) async fn cancel(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/step-up/cancel", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(id) = cx.session.record.pending.take() else {
            return Ok(see_other("/account"));
        };
        let redirect = cx
            .app
            .oidc
            .deny(
                &id,
                "unmet_authentication_requirements",
                "the user could not meet the requested authentication context",
            )
            .await?;
        Ok(redirect.map_or_else(|| see_other("/account"), |r| see_other(&r)))
    })
}
