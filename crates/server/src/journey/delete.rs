//! Deleting an account with its owner's data (RGPD article 17): by its owner from
//! « Gérer votre compte » after a fresh e-mailed code, or by support from the console.
//!
//! The order makes it safe to run again after a failure: the account is disabled (no
//! new sign-in can start), the browser sessions signed in to it are deleted (they name
//! the address), the apps' sessions are ended with back-channel logout and their
//! grants erased, then local-auth erases the account and everything in its slot. The
//! audit log keeps that it happened — who, when, why — not the data.
//!
//! What it must never do: delete without a fresh proof (the owner's code, or the
//! console's second factor and a reason), or report done before the audit record is
//! written.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_audit::{Action, Record as AuditRecord};
use passerelle_local_auth::{AccountStatus, CodePurpose, Email, Error as LocalError};

use super::Fields;
use crate::page;
use crate::web::App;
use crate::web::Peer;
use crate::web::page::{Cx, Fail, Layout, see_other};

/// What an erasure did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Erasure {
    /// Whether there was an account (else only traces went).
    pub existed: bool,
    /// Sign-in sessions ended.
    pub sessions: usize,
    /// Apps told by back-channel logout.
    pub apps: usize,
    /// Stored values deleted by local-auth.
    pub values: u64,
}

impl Erasure {
    /// The audit record's detail (counts only: nothing of the user).
    pub(crate) fn detail(self) -> String {
        format!(
            "{}sessions={} apps={} values={}",
            if self.existed { "" } else { "traces_only " },
            self.sessions,
            self.apps,
            self.values
        )
    }
}

/// Erases the account of `email` and everything stored about it (see the module).
pub(crate) async fn erase_account(app: &App, email: &Email) -> Result<Erasure, Fail> {
    let existed = match app.local.disable(email).await {
        Ok(_) => true,
        Err(LocalError::UnknownAccount) => false,
        Err(e) => return Err(Fail::local(e)),
    };
    let sids = app.sessions.end_browsers(&email.key()).await?;
    let apps = app.oidc.forget_sessions(&sids).await?;
    let erased = app.local.erase(email).await.map_err(Fail::local)?;
    Ok(Erasure {
        existed: existed || erased.account.is_some(),
        sessions: sids.len(),
        apps,
        values: erased.values,
    })
}

#[derive(Template)]
#[template(path = "account_delete.html")]
struct DeletePage<'a> {
    l: &'a Layout,
    email: &'a str,
    sent: bool,
    error: Option<String>,
}

fn delete_page(
    cx: &Cx,
    email: &Email,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> Result<Response, Fail> {
    let l = cx.layout("delete.title");
    crate::web::page::html(
        status,
        &DeletePage {
            l: &l,
            email: email.as_str(),
            sent,
            error,
        },
    )
}

/// The signed-in owner's address, when the account is active.
async fn owner(cx: &Cx) -> Result<Option<Email>, Fail> {
    let Some(email) = cx
        .session
        .record
        .user
        .as_ref()
        .and_then(|u| Email::parse(&u.email).ok())
    else {
        return Ok(None);
    };
    let account = cx.app.local.account(&email).await.map_err(Fail::local)?;
    Ok(account
        .filter(|a| a.status == AccountStatus::Active)
        .map(|_| email))
}

/// `GET /account/delete`: what deleting does, and the code that confirms it.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/account/delete", |cx| {
        let Some(email) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        delete_page(cx, &email, StatusCode::OK, false, None)
    })
}

/// `POST /account/delete/code`: e-mails the code that confirms the deletion.
pub(crate) async fn send_code(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/delete/code", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        cx.app
            .local
            .send_code(&email, CodePurpose::Reauthenticate, cx.t.lang(), &cx.client)
            .await
            .map_err(Fail::local)?;
        delete_page(cx, &email, StatusCode::OK, true, None)
    })
}

/// `POST /account/delete`: the code and the confirmation; then the account is gone,
/// this browser signed out, and the page says so.
pub(crate) async fn delete(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/delete", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        if fields.get("confirm") != "1" {
            let msg = cx.t.get("delete.confirm_needed").to_owned();
            return delete_page(
                cx,
                &email,
                StatusCode::UNPROCESSABLE_ENTITY,
                true,
                Some(msg),
            );
        }
        match cx
            .app
            .local
            .verify_code(&email, CodePurpose::Reauthenticate, fields.get("code"))
            .await
        {
            Ok(_) => {}
            Err(e @ (LocalError::Unavailable(_) | LocalError::Throttled { .. })) => {
                return Err(Fail::local(e));
            }
            Err(_) => {
                let msg = cx.t.get("delete.code_wrong").to_owned();
                return delete_page(
                    cx,
                    &email,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    true,
                    Some(msg),
                );
            }
        }
        let erased = erase_account(&cx.app, &email).await?;
        let from = cx.client.clone();
        crate::console::audit(
            cx,
            AuditRecord::by_owner(email.as_str(), &from, Action::AccountDeleted)
                .because("owner")
                .detail(&erased.detail()),
        )
        .await?;
        tracing::info!(
            sessions = erased.sessions,
            apps = erased.apps,
            "account deleted by its owner"
        );
        cx.sign_out().await?;
        cx.message(
            "delete.done_title",
            vec![cx.t.get("delete.done").to_owned()],
            None,
        )
    })
}
