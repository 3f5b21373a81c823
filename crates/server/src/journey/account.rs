//! « Gérer votre compte UNESS »: the address, the linked institution, password change,
//! sign out; and the language switch every page offers.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use passerelle_local_auth::{Email, Error as LocalError, Lang, Password};

use super::Fields;
use super::links::{PasswordForm, password_form, password_form_again};
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    l: &'a Layout,
    email: &'a str,
    institution: Option<String>,
    method: String,
    /// Recent sign-ins: when, how, to which app.
    sign_ins: Vec<(String, String, String)>,
}

/// How a sign-in was made, in words.
fn method_text<'a>(cx: &'a Cx, amr: &str) -> &'a str {
    cx.t.get(match amr {
        "pwd" => "account.method.pwd",
        "otp" => "account.method.otp",
        "hwk" => "account.method.hwk",
        "swk" => "account.method.swk",
        _ => "account.method.fed",
    })
}

/// "Sign out?" when a bare link (no hint naming this session) asks to.
#[derive(Template)]
#[template(path = "logout.html")]
pub(crate) struct LogoutConfirm<'a> {
    pub l: &'a Layout,
    pub hidden: Vec<(String, String)>,
}

async fn signed_in_email(cx: &Cx) -> Option<Email> {
    cx.session
        .record
        .user
        .as_ref()
        .and_then(|u| Email::parse(&u.email).ok())
}

/// `GET /account`.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/account", |cx| {
        let Some(email) = signed_in_email(cx).await else {
            return Ok(see_other("/login"));
        };
        let account = cx.app.local.account(&email).await.map_err(Fail::local)?;
        // Gone, or disabled by support since the sign-in: the session ends here.
        let Some(account) =
            account.filter(|a| a.status == passerelle_local_auth::AccountStatus::Active)
        else {
            cx.sign_out().await?;
            return Ok(see_other("/login"));
        };
        let snapshot = cx.app.federation.snapshot();
        let institution = account.federated.as_ref().map(|f| {
            snapshot
                .idp(&f.idp)
                .map_or_else(|| f.idp.clone(), |idp| idp.name(cx.t.tag()).to_owned())
        });
        let method = cx
            .session
            .record
            .user
            .as_ref()
            .map(|u| {
                u.amr
                    .iter()
                    .map(|a| method_text(cx, a.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let sign_ins = cx
            .app
            .local
            .recent_sign_ins(&email, 10)
            .await
            .map_err(Fail::local)?
            .into_iter()
            .map(|s| {
                let app = s
                    .app
                    .as_deref()
                    .and_then(|id| cx.app.oidc.clients().get(id))
                    .map_or_else(|| "—".to_owned(), |c| c.name.clone());
                (
                    crate::cli_admin::rfc3339_of(s.at),
                    method_text(cx, &s.method).to_owned(),
                    app,
                )
            })
            .collect();
        let l = cx.layout("account.title");
        cx.render(&AccountPage {
            l: &l,
            email: email.as_str(),
            institution,
            method,
            sign_ins,
        })
    })
}

/// `POST /account/password`: the current password, then the new one twice. Shown as a
/// form first when posted without fields.
pub(crate) async fn change_password(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/password", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = signed_in_email(cx).await else {
            return Ok(see_other("/login"));
        };
        if fields.get("password").is_empty() && fields.get("current").is_empty() {
            return password_form(
                cx,
                PasswordForm::Change,
                StatusCode::OK,
                email.as_str(),
                &[],
                None,
            );
        }
        let result = cx
            .app
            .local
            .change_password(
                &email,
                &Password::new(fields.get("current")),
                &Password::new(fields.get("password")),
                &Password::new(fields.get("confirmation")),
                &cx.client,
            )
            .await;
        match result {
            Ok(_) => cx.message(
                "password_done.title",
                vec![cx.t.get("password_done.changed").to_owned()],
                Some(("/account".to_owned(), "action.account")),
            ),
            Err(LocalError::InvalidCredentials) => {
                let msg = cx.t.get("account.wrong_current").to_owned();
                password_form(
                    cx,
                    PasswordForm::Change,
                    StatusCode::UNAUTHORIZED,
                    email.as_str(),
                    &[],
                    Some(msg),
                )
            }
            Err(e) => password_form_again(cx, PasswordForm::Change, email.as_str(), e),
        }
    })
}

/// `POST /account/logout-everywhere`: ends every sign-in of this account, on every
/// device, and the apps' sessions opened from them (back-channel logout).
pub(crate) async fn logout_everywhere(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/account/logout-everywhere", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = signed_in_email(cx).await else {
            return Ok(see_other("/login"));
        };
        let sids = cx.app.sessions.sign_out_everywhere(&email.key()).await?;
        for sid in &sids {
            cx.app.oidc.logout_session(sid).await?;
        }
        tracing::info!(sessions = sids.len(), "signed out everywhere");
        cx.sign_out().await?;
        cx.message(
            "logout.done.title",
            vec![cx.t.get("account.signed_out_everywhere").to_owned()],
            Some(("/login".to_owned(), "action.sign_in")),
        )
    })
}

/// `POST /lang`: the language switch; comes back to the page it was on.
pub(crate) async fn switch_language(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/lang", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let lang = match fields.get("lang") {
            "en" => Lang::En,
            _ => Lang::Fr,
        };
        cx.session.record.lang = Some(lang);
        let back = fields.get("back");
        // Only a path of ours: never an open redirect.
        let local = back.starts_with('/') && !back.starts_with("//") && !back.contains('\\');
        let back = if local && !back.starts_with("/lang") {
            back
        } else {
            "/login"
        };
        Ok(see_other(back))
    })
}

/// `GET /account/data`: everything Passerelle holds about the signed-in user, as JSON
/// (RGPD articles 15 and 20): the account (never its password hash), the linked
/// identity, the recent sign-ins, the apps they were for. Audited.
pub(crate) async fn data(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/account/data", |cx| {
        let Some(email) = signed_in_email(cx).await else {
            return Ok(see_other("/login"));
        };
        let Some(a) = cx.app.local.account(&email).await.map_err(Fail::local)? else {
            return Ok(see_other("/login"));
        };
        let at = |t: Option<passerelle_local_auth::Timestamp>| t.map(crate::cli_admin::rfc3339_of);
        let sign_ins = cx
            .app
            .local
            .recent_sign_ins(&email, 1000)
            .await
            .map_err(Fail::local)?;
        let mut apps: Vec<serde_json::Value> = Vec::new();
        for id in sign_ins.iter().filter_map(|s| s.app.as_deref()) {
            if !apps.iter().any(|a| a["client_id"] == id) {
                let name = cx.app.oidc.clients().get(id).map(|c| c.name.clone());
                apps.push(serde_json::json!({ "client_id": id, "name": name }));
            }
        }
        let snapshot = cx.app.federation.snapshot();
        let linked = a.federated.as_ref().map(|f| {
            serde_json::json!({
                "idp": f.idp,
                "institution": snapshot.idp(&f.idp).map(|i| i.name(cx.t.tag()).to_owned()),
                "subject": f.subject,
            })
        });
        let p = &a.profile;
        let body = serde_json::json!({
            "account": {
                "email": a.email.as_str(),
                "status": match a.status {
                    passerelle_local_auth::AccountStatus::PendingActivation => "pending",
                    passerelle_local_auth::AccountStatus::Active => "active",
                    passerelle_local_auth::AccountStatus::Disabled => "disabled",
                },
                "kind": a.kind().as_str(),
                "origin": a.origin.as_str(),
                "invitation": a.invitation.as_ref().map(|i| serde_json::json!({
                    "by": i.inviter.label(), "app": i.app, "at": crate::cli_admin::rfc3339_of(i.at),
                })),
                "password_set": a.has_password(),
                "created_at": at(Some(a.created_at)),
                "activated_at": at(a.activated_at),
                "last_login_at": at(a.last_login_at),
                "password_changed_at": at(a.password_changed_at),
                "mailbox_proved_at": at(a.mailbox_proved_at),
                "profile": {
                    "display_name": p.display_name, "given_name": p.given_name,
                    "family_name": p.family_name, "institution": p.institution,
                    "affiliations": p.affiliations, "principal_name": p.principal_name,
                },
            },
            "linked_identity": linked,
            "sign_ins": sign_ins.iter().map(|s| serde_json::json!({
                "at": crate::cli_admin::rfc3339_of(s.at), "method": s.method, "app": s.app, "from": s.from,
            })).collect::<Vec<_>>(),
            "apps": apps,
        });
        let from = cx.client.clone();
        crate::console::audit(
            cx,
            passerelle_audit::Record::by_owner(
                email.as_str(),
                &from,
                passerelle_audit::Action::DataExported,
            ),
        )
        .await?;
        let text = serde_json::to_string_pretty(&body).map_err(Fail::internal)?;
        Ok((
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"mes-donnees.json\"",
                ),
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response())
    })
}
