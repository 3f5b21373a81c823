//! The support console (`/console`): UNESS support and sysadmins fix a user's problem in
//! the browser, and every action is audited.
//!
//! Who: the staff listed in `[console] staff` by address with a role — `support`
//! (accounts), `admin` (support, and more as it lands), `auditor` (read-only, and the
//! audit log). Everyone else, signed in or not, gets the ordinary 404 page on every
//! console path: the console does not exist for them.
//!
//! How: a staff member signs in through the ordinary login (password or university: an
//! e-mailed code alone is one factor, the mailbox), then passes a second factor — a
//! 6-digit code sent to their address (`CodePurpose::Reauthenticate`, separate from login
//! codes) — which signs the browser session out of the apps (a staff session never
//! carries app sign-ins; an app's `/authorize` closes the console in turn), rotates the
//! session id and opens a console grant that lapses after
//! `idle_secs` without a console request. Changes ask for a fresh second factor when the
//! last one is older than [`REAUTH_SECS`]. Every change needs a reason and is written to
//! the audit log before the page says it is done.
//!
//! What it must never do: show a secret (password hash, code, link token), act without a
//! reason and an audit record, or answer anything but 404 to a non-staff request.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod idps;
pub(crate) mod invite;
pub(crate) mod service;

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use passerelle_audit::{Action, Actor, Record as AuditRecord};
use passerelle_local_auth::{CodePurpose, Email, Error as LocalError};
use passerelle_oidc_provider::Amr;
use serde::{Deserialize, Serialize};

use crate::journey::Fields;
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

/// A change older than this after the second factor asks for it again, seconds.
pub(crate) const REAUTH_SECS: i64 = 600;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// Accounts: search, view, re-send, unlink, disable/enable, sign out everywhere.
    Support,
    /// Support, the audit log, the service (feeds, apps, keys) and key rotation.
    Admin,
    /// Read-only: accounts, the service, and the audit log.
    Auditor,
}

impl Role {
    /// A stable name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Support => "support",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }

    /// Whether this role may change accounts.
    pub(crate) fn acts(self) -> bool {
        matches!(self, Self::Support | Self::Admin)
    }

    /// Whether this role reads the audit log and the service pages.
    pub(crate) fn audits(self) -> bool {
        matches!(self, Self::Admin | Self::Auditor)
    }
}

/// `[[console.staff]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaffConfig {
    /// Their address (their UNESS account).
    pub email: String,
    /// What they may do.
    pub role: Role,
}

/// `[console]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ConsoleConfig {
    /// Who may use the console.
    pub staff: Vec<StaffConfig>,
    /// A console grant lapses after this long without a console request, seconds.
    pub idle_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            staff: Vec::new(),
            idle_secs: 900,
        }
    }
}

/// The staff, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Console {
    staff: HashMap<String, Role>,
    idle: Duration,
}

impl Console {
    /// Checks `[console]`.
    ///
    /// # Errors
    /// `(key, message)` for an address that does not parse, a repeated one, or an idle
    /// lifetime outside 5 seconds – 8 hours.
    pub(crate) fn load(c: &ConsoleConfig) -> Result<Self, (String, String)> {
        let mut staff = HashMap::new();
        for (i, s) in c.staff.iter().enumerate() {
            let key = format!("console.staff[{i}].email");
            let email = Email::parse(&s.email).map_err(|e| (key.clone(), e.to_string()))?;
            if staff.insert(email.key(), s.role).is_some() {
                return Err((key, format!("{} is listed twice", s.email)));
            }
        }
        if !(5..=8 * 3600).contains(&c.idle_secs) {
            return Err((
                "console.idle_secs".into(),
                "between 5 and 28800 seconds".into(),
            ));
        }
        Ok(Self {
            staff,
            idle: Duration::from_secs(c.idle_secs),
        })
    }

    fn role_of(&self, email: &Email) -> Option<Role> {
        self.staff.get(&email.key()).copied()
    }

    fn idle_secs(&self) -> i64 {
        i64::try_from(self.idle.as_secs()).unwrap_or(i64::MAX)
    }
}

/// A passed second factor, kept in the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Grant {
    /// The staff member.
    pub email: String,
    /// When the second factor passed (Unix seconds).
    pub verified_at: i64,
    /// The last console request (Unix seconds).
    pub seen_at: i64,
}

/// A staff member in a console request.
pub(crate) struct Staff {
    /// Their address.
    pub email: Email,
    /// Their role.
    pub role: Role,
    /// When their second factor passed.
    pub verified_at: i64,
}

impl Staff {
    /// The audit actor.
    pub(crate) fn actor(&self) -> Actor {
        Actor::Staff {
            email: self.email.as_str().to_owned(),
        }
    }
}

/// The ordinary 404, for anyone the console does not exist for.
pub(crate) fn hidden() -> Fail {
    Fail::page(
        StatusCode::NOT_FOUND,
        "error.not_found.title",
        "error.not_found.body",
    )
    .next("/login", "action.restart")
}

/// The signed-in staff member and their role; a 404 for anyone else.
fn listed(cx: &Cx) -> Result<(Email, Role), Fail> {
    let user = cx.session.record.user.as_ref().ok_or_else(hidden)?;
    let email = Email::parse(&user.email).map_err(|_| hidden())?;
    let role = cx.app.console.role_of(&email).ok_or_else(hidden)?;
    Ok((email, role))
}

/// The staff member of a console request with a live grant (`None`: the second factor
/// must be passed first); the grant's idle clock restarts.
pub(crate) fn staff(cx: &mut Cx) -> Result<Option<Staff>, Fail> {
    let (email, role) = listed(cx)?;
    let now = cx.now;
    let idle = cx.app.console.idle_secs();
    let live = cx
        .session
        .record
        .console
        .as_mut()
        .filter(|g| g.email == email.as_str() && now.saturating_sub(g.seen_at) < idle);
    let Some(grant) = live else {
        cx.session.record.console = None;
        return Ok(None);
    };
    grant.seen_at = now;
    let verified_at = grant.verified_at;
    Ok(Some(Staff {
        email,
        role,
        verified_at,
    }))
}

#[derive(Template)]
#[template(path = "console_factor.html")]
struct FactorPage<'a> {
    l: &'a Layout,
    email: &'a str,
    sent: bool,
    error: Option<String>,
    /// Signed in by an e-mailed code only: one factor; sign in with a password first.
    needs_password: bool,
    /// The staff member holds a passkey: it is the second factor (the code only
    /// enrols the first one).
    passkey: bool,
}

#[derive(Template)]
#[template(path = "console_home.html")]
struct HomePage<'a> {
    l: &'a Layout,
    email: &'a str,
    role: &'a str,
    acts: bool,
    audits: bool,
    /// No passkey yet: the console asks to add one (it then replaces the code).
    enrol: bool,
}

async fn factor_page(
    cx: &Cx,
    email: &Email,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> Result<Response, Fail> {
    let needs_password = cx.session.record.user.as_ref().is_none_or(|u| {
        !u.amr
            .iter()
            .any(|a| matches!(a, Amr::Pwd | Amr::Fed | Amr::Hwk | Amr::Swk))
    });
    let passkey = cx.app.local.has_passkey(email).await.map_err(Fail::local)?;
    let l = cx.layout("console.factor_title");
    crate::web::page::html(
        status,
        &FactorPage {
            l: &l,
            email: email.as_str(),
            sent,
            error,
            needs_password,
            passkey,
        },
    )
}

/// Refuses the e-mailed code to a staff member who holds a passkey (the code only
/// enrols the first one).
async fn code_allowed(cx: &Cx, email: &Email) -> Result<Option<Response>, Fail> {
    if !cx.app.local.has_passkey(email).await.map_err(Fail::local)? {
        return Ok(None);
    }
    let msg = cx.t.get("console.use_passkey").to_owned();
    factor_page(cx, email, StatusCode::CONFLICT, false, Some(msg))
        .await
        .map(Some)
}

/// The second factor passed (`how`: `passkey` or `email_code`): a staff session never
/// carries app sign-ins, so the apps this browser session signed in to are signed out
/// (back-channel logout) under a new sign-in id; the session id changes; the grant
/// opens; the audit log records it.
async fn open_console(
    cx: &mut Cx,
    email: &Email,
    role: Role,
    how: &str,
    back: &str,
) -> Result<Response, Fail> {
    let from = cx.client.clone();
    cx.app.sessions.rotate(&mut cx.session, cx.now).await?;
    if let Some(old) = cx.session.record.user.as_ref().map(|u| u.sid.clone()) {
        cx.app.oidc.logout_session(&old).await?;
        let sid = crate::web::session::random_id()?;
        cx.app.sessions.remember_sign_in(&email.key(), &sid).await?;
        if let Some(user) = cx.session.record.user.as_mut() {
            user.sid = sid;
        }
    }
    cx.session.record.console = Some(Grant {
        email: email.as_str().to_owned(),
        verified_at: cx.now,
        seen_at: cx.now,
    });
    let actor = Actor::Staff {
        email: email.as_str().to_owned(),
    };
    audit(
        cx,
        AuditRecord::now(actor, &from, Action::StaffSignIn)
            .detail(&format!("{} {how}", role.as_str())),
    )
    .await?;
    Ok(see_other(if back.starts_with("/console/") {
        back
    } else {
        "/console"
    }))
}

/// Writes an audit record; the action is not reported done when it cannot be kept.
pub(crate) async fn audit(cx: &Cx, record: AuditRecord) -> Result<(), Fail> {
    cx.app.audit.record(record).await?;
    Ok(())
}

/// `GET /console`: the second factor, or the console's home.
pub(crate) async fn home(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/console", |cx| {
        let Some(staff) = staff(cx)? else {
            let (email, _) = listed(cx)?;
            return factor_page(cx, &email, StatusCode::OK, false, None).await;
        };
        let enrol = !cx
            .app
            .local
            .has_passkey(&staff.email)
            .await
            .map_err(Fail::local)?;
        let l = cx.layout("console.title");
        cx.render(&HomePage {
            l: &l,
            email: staff.email.as_str(),
            role: staff.role.as_str(),
            acts: staff.role.acts(),
            audits: staff.role.audits(),
            enrol,
        })
    })
}

/// `POST /console/code`: e-mails the second factor's code.
pub(crate) async fn send_code(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/code", |cx| {
        let (email, _) = listed(cx)?;
        cx.check_form(&headers, fields.get("csrf"))?;
        if let Some(refused) = code_allowed(cx, &email).await? {
            return Ok(refused);
        }
        cx.app
            .local
            .send_code(&email, CodePurpose::Reauthenticate, cx.t.lang(), &cx.client)
            .await
            .map_err(Fail::local)?;
        factor_page(cx, &email, StatusCode::OK, true, None).await
    })
}

/// `POST /console/verify`: checks the code; opens the console (new session id).
pub(crate) async fn verify(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/verify", |cx| {
        let (email, role) = listed(cx)?;
        cx.check_form(&headers, fields.get("csrf"))?;
        if let Some(refused) = code_allowed(cx, &email).await? {
            return Ok(refused);
        }
        let from = cx.client.clone();
        let actor = Actor::Staff {
            email: email.as_str().to_owned(),
        };
        match cx
            .app
            .local
            .verify_code(&email, CodePurpose::Reauthenticate, fields.get("code"))
            .await
        {
            Ok(_) => open_console(cx, &email, role, "email_code", fields.get("back")).await,
            Err(e @ (LocalError::Unavailable(_) | LocalError::Throttled { .. })) => {
                Err(Fail::local(e))
            }
            Err(e) => {
                audit(
                    cx,
                    AuditRecord::now(actor, &from, Action::StaffSecondFactorRefused)
                        .detail(local_reason(&e)),
                )
                .await?;
                let msg = cx.t.get("console.factor_wrong").to_owned();
                factor_page(
                    cx,
                    &email,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    true,
                    Some(msg),
                )
                .await
            }
        }
    })
}

/// `POST /console/passkey/options`: the second factor's passkey ceremony (JSON).
pub(crate) async fn passkey_options(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/passkey/options", |cx| {
        let (email, _) = listed(cx)?;
        cx.check_form(&headers, fields.get("csrf"))?;
        let c = cx
            .app
            .local
            .start_passkey_check(&email)
            .await
            .map_err(Fail::local)?;
        Ok(
            axum::Json(serde_json::json!({ "ceremony": c.id, "options": c.options }))
                .into_response(),
        )
    })
}

/// `POST /console/passkey`: the browser's answer; opens the console.
pub(crate) async fn passkey_verify(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/passkey", |cx| {
        let (email, role) = listed(cx)?;
        cx.check_form(&headers, fields.get("csrf"))?;
        match cx
            .app
            .local
            .finish_passkey_check(&email, fields.get("ceremony"), fields.get("credential"))
            .await
        {
            Ok(_) => open_console(cx, &email, role, "passkey", fields.get("back")).await,
            Err(e @ LocalError::Unavailable(_)) => Err(Fail::local(e)),
            Err(e) => {
                tracing::warn!(error = %e, "console passkey refused");
                let from = cx.client.clone();
                let actor = Actor::Staff {
                    email: email.as_str().to_owned(),
                };
                audit(
                    cx,
                    AuditRecord::now(actor, &from, Action::StaffSecondFactorRefused)
                        .detail("passkey"),
                )
                .await?;
                let msg = cx.t.get("console.passkey_refused").to_owned();
                factor_page(
                    cx,
                    &email,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    false,
                    Some(msg),
                )
                .await
            }
        }
    })
}

/// A closed label for a refused code.
fn local_reason(e: &LocalError) -> &'static str {
    match e {
        LocalError::WrongCode { .. } => "wrong_code",
        LocalError::Expired => "expired",
        LocalError::TooManyAttempts => "too_many_attempts",
        LocalError::NotFound => "no_code",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn staff_addresses_must_parse_once_each_and_the_idle_lifetime_be_sane() {
        let staff = |emails: &[&str]| ConsoleConfig {
            staff: emails
                .iter()
                .map(|e| StaffConfig {
                    email: (*e).into(),
                    role: Role::Support,
                })
                .collect(),
            idle_secs: 900,
        };
        assert!(Console::load(&staff(&["a@uness.fr", "b@uness.fr"])).is_ok());
        assert!(Console::load(&staff(&["not an address"])).is_err());
        assert!(Console::load(&staff(&["a@uness.fr", "A@UNESS.FR"])).is_err());
        let lazy = ConsoleConfig {
            idle_secs: 2,
            ..ConsoleConfig::default()
        };
        assert_eq!(Console::load(&lazy).unwrap_err().0, "console.idle_secs");
    }

    #[test]
    fn only_support_and_admin_act_and_only_admin_and_auditor_read_the_log() {
        assert!(Role::Support.acts() && !Role::Support.audits());
        assert!(Role::Admin.acts() && Role::Admin.audits());
        assert!(!Role::Auditor.acts() && Role::Auditor.audits());
    }
}
