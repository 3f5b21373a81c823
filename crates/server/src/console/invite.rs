//! Console: inviting an address that has no account — the same invitation as
//! `passerelle accounts invite` and the machine API (a pending account, a mail with the
//! link to create a password, naming the app when one is chosen), made by a staff member
//! with a reason, written to the audit log before the page says it is sent.
//!
//! What it must never do: change an active account (the invitation leaves it alone),
//! or invite without a reason.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_audit::{Action, Record as AuditRecord};
use passerelle_local_auth::{Email, Invitation, Inviter};

use super::accounts::{MAX_REASON, Shown, show};
use super::{audit, hidden, staff};
use crate::journey::Fields;
use crate::page;
use crate::web::page::{Fail, see_other};
use crate::web::{App, Peer};

/// `POST /console/accounts/invite`: invites the address, confirmed, with a reason.
pub(crate) async fn invite(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/accounts/invite", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        cx.check_form(&headers, fields.get("csrf"))?;
        if !who.role.acts() {
            return Err(hidden());
        }
        let typed = fields.get("email").trim().to_owned();
        let email = Email::parse(&typed).map_err(|_| hidden())?;
        let reason: String = fields
            .get("reason")
            .trim()
            .chars()
            .take(MAX_REASON)
            .collect();
        let app_id = Some(fields.get("app").trim()).filter(|a| !a.is_empty());
        let client = app_id.and_then(|id| cx.app.oidc.clients().get(id));
        let refusal = if reason.is_empty() || fields.get("confirm") != "1" {
            Some("console.reason_needed")
        } else if app_id.is_some() && client.is_none() {
            Some("console.pick_app")
        } else {
            None
        };
        if let Some(key) = refusal {
            let msg = cx.t.get(key).to_owned();
            return show(
                cx,
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                &typed,
                Shown::error(msg),
            )
            .await;
        }
        let name: String = fields.get("name").trim().chars().take(200).collect();
        let invitation = Invitation {
            inviter: Inviter::Staff {
                email: who.email.as_str().to_owned(),
            },
            app: client.map(|c| c.id.to_string()),
            app_name: client.map(|c| c.name.clone()),
            name: Some(name).filter(|n| !n.is_empty()),
        };
        let outcome = cx
            .app
            .local
            .invite(&email, &invitation, cx.t.lang())
            .await
            .map_err(Fail::local)?;
        let from = cx.client.clone();
        audit(
            cx,
            AuditRecord::now(who.actor(), &from, Action::Invited)
                .on(email.as_str())
                .because(&reason)
                .detail(outcome.as_str()),
        )
        .await?;
        let done =
            cx.t.get(&format!("console.done_invite_{}", outcome.as_str()))
                .to_owned();
        show(
            cx,
            &who,
            StatusCode::OK,
            email.as_str(),
            Shown::notice(done),
        )
        .await
    })
}
