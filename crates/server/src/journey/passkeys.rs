//! Passkeys in the journey: signing in with one on the portal (autofill or the button;
//! the browser's answer comes back as an ordinary form POST) and managing them from
//! « Gérer votre compte » — add (after a sign-in of less than [`FRESH_SECS`]), rename,
//! delete. The WebAuthn work is local-auth's; this module only moves JSON between the
//! browser and it.
//!
//! What it must never do: add a passkey without a fresh sign-in, or act for another
//! account than the session's.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use passerelle_audit::{Action, Record as AuditRecord};
use passerelle_local_auth::{AccountStatus, Ceremony, Email};
use passerelle_oidc_provider::Amr;

use super::Fields;
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

/// How recent a sign-in must be to add a passkey, seconds.
pub(crate) const FRESH_SECS: i64 = 600;

fn ceremony_json(c: Ceremony) -> Response {
    Json(serde_json::json!({ "ceremony": c.id, "options": c.options })).into_response()
}

/// `POST /login/passkey/options`: a sign-in ceremony (JSON for passkey.js).
pub(crate) async fn sign_in_options(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/passkey/options", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let c = cx
            .app
            .local
            .start_passkey_sign_in()
            .await
            .map_err(Fail::local)?;
        Ok(ceremony_json(c))
    })
}

/// `POST /login/passkey`: the browser's answer; signs in and continues like every
/// other method (the waiting app gets its code).
pub(crate) async fn sign_in(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/passkey", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let (account, bound) = match cx
            .app
            .local
            .finish_passkey_sign_in(fields.get("ceremony"), fields.get("credential"))
            .await
        {
            Ok(done) => done,
            Err(e) => {
                cx.app.metrics.login("passkey", "failure");
                return Err(Fail::local(e));
            }
        };
        let amr = if bound { Amr::Hwk } else { Amr::Swk };
        super::signed_in(cx, &account, amr).await
    })
}

struct Row {
    id: String,
    name: String,
    created: String,
    used: String,
    /// « synchronisée » or « liée à l'appareil ».
    kind: String,
}

#[derive(Template)]
#[template(path = "passkeys.html")]
struct PasskeysPage<'a> {
    l: &'a Layout,
    keys: Vec<Row>,
    fresh: bool,
    notice: Option<String>,
    /// A password and at least one passkey, fresh: the password may be dropped.
    can_drop: bool,
    /// No password any more.
    passkey_only: bool,
}

/// The signed-in owner of an active account, and whether the sign-in is fresh.
async fn owner(cx: &Cx) -> Result<Option<(Email, bool)>, Fail> {
    let Some(user) = cx.session.record.user.as_ref() else {
        return Ok(None);
    };
    let Ok(email) = Email::parse(&user.email) else {
        return Ok(None);
    };
    let fresh = cx.now.saturating_sub(user.auth_time) <= FRESH_SECS;
    let active = cx
        .app
        .local
        .account(&email)
        .await
        .map_err(Fail::local)?
        .is_some_and(|a| a.status == AccountStatus::Active);
    Ok(active.then_some((email, fresh)))
}

async fn list(cx: &Cx, email: &Email, fresh: bool, notice: Option<&str>) -> Result<Response, Fail> {
    let ts = |t| crate::cli_admin::rfc3339_of(t);
    let keys: Vec<Row> = cx
        .app
        .local
        .passkeys(email)
        .await
        .map_err(Fail::local)?
        .into_iter()
        .map(|k| Row {
            id: k.id,
            name: k.name,
            created: ts(k.created_at),
            used: k
                .last_used_at
                .map_or_else(|| cx.t.get("passkey.never").to_owned(), ts),
            kind: cx
                .t
                .get(match k.synced {
                    Some(true) => "account.method.swk",
                    Some(false) => "account.method.hwk",
                    None => "passkey.kind_unknown",
                })
                .to_owned(),
        })
        .collect();
    let has_password = cx
        .app
        .local
        .account(email)
        .await
        .map_err(Fail::local)?
        .is_some_and(|a| a.has_password());
    let l = cx.layout("passkey.title");
    cx.render(&PasskeysPage {
        l: &l,
        can_drop: fresh && has_password && !keys.is_empty(),
        passkey_only: !has_password && !keys.is_empty(),
        keys,
        fresh,
        notice: notice.map(|k| cx.t.get(k).to_owned()),
    })
}

/// `GET /account/passkeys`.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/account/passkeys", |cx| {
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        list(cx, &email, fresh, None).await
    })
}

/// `POST /account/passkeys/options`: a registration ceremony (JSON for passkey.js);
/// 403 when the sign-in is not fresh.
pub(crate) async fn add_options(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/passkeys/options", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok((
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({"error": "login"})),
            )
                .into_response());
        };
        if !fresh {
            return Ok((
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({"error": "reauth"})),
            )
                .into_response());
        }
        let c = cx
            .app
            .local
            .start_passkey_registration(&email)
            .await
            .map_err(Fail::local)?;
        Ok(ceremony_json(c))
    })
}

/// `POST /account/passkeys/add`: the browser's answer and the name.
pub(crate) async fn add(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/passkeys/add", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        if !fresh {
            return list(cx, &email, false, None).await;
        }
        // A passkey-only account signed in without one (an e-mailed code, its
        // university): this passkey is its way back in — a recovery, recorded with
        // what proved the owner.
        let recovering = match cx.app.local.account(&email).await.map_err(Fail::local)? {
            Some(a) if !a.has_password() => cx
                .session
                .record
                .user
                .as_ref()
                .filter(|u| !u.amr.iter().any(|m| matches!(m, Amr::Hwk | Amr::Swk)))
                .map(|u| proof_of(&u.amr)),
            _ => None,
        };
        cx.app
            .local
            .finish_passkey_registration(
                &email,
                fields.get("ceremony"),
                fields.get("credential"),
                fields.get("name"),
            )
            .await
            .map_err(Fail::local)?;
        if let Some(proof) = recovering {
            recovered(cx, &email, proof, "passkey").await?;
        }
        list(cx, &email, fresh, Some("passkey.added")).await
    })
}

/// `POST /account/passkeys/rename`.
pub(crate) async fn rename(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/passkeys/rename", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        cx.app
            .local
            .rename_passkey(&email, fields.get("id"), fields.get("name"))
            .await
            .map_err(Fail::local)?;
        list(cx, &email, fresh, Some("passkey.renamed")).await
    })
}

/// `POST /account/passkeys/delete`.
pub(crate) async fn delete(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/passkeys/delete", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        cx.app
            .local
            .delete_passkey(&email, fields.get("id"))
            .await
            .map_err(Fail::local)?;
        list(cx, &email, fresh, Some("passkey.deleted")).await
    })
}

/// What proved the owner of a sign-in made by `amr` (for the recovery record).
fn proof_of(amr: &[Amr]) -> &'static str {
    if amr.contains(&Amr::Fed) {
        "university"
    } else if amr.contains(&Amr::Otp) {
        "email_code"
    } else if amr.contains(&Amr::Pwd) {
        "password"
    } else {
        "unknown"
    }
}

/// Records that the passkey-only account `email` got a way in back (`then`: `passkey`
/// or `password`) after `proof`.
pub(crate) async fn recovered(cx: &Cx, email: &Email, proof: &str, then: &str) -> Result<(), Fail> {
    tracing::info!(proof, then, "passkey-only account recovered");
    crate::console::audit(
        cx,
        AuditRecord::by_owner(email.as_str(), &cx.client, Action::AccountRecovered)
            .detail(&format!("proof={proof} then={then}")),
    )
    .await
}

/// `POST /account/password/drop`: the account signs in with its passkeys only (after a
/// fresh sign-in; refused without a passkey).
pub(crate) async fn drop_password(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/password/drop", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some((email, fresh)) = owner(cx).await? else {
            return Ok(see_other("/login"));
        };
        if !fresh {
            return list(cx, &email, false, None).await;
        }
        match cx.app.local.drop_password(&email).await {
            Ok(_) => {}
            Err(passerelle_local_auth::Error::PasskeyRequired) => {
                return list(cx, &email, fresh, None).await;
            }
            Err(e) => return Err(Fail::local(e)),
        }
        crate::console::audit(
            cx,
            AuditRecord::by_owner(email.as_str(), &cx.client, Action::PasswordDropped),
        )
        .await?;
        list(cx, &email, fresh, Some("passkey.password_dropped")).await
    })
}
