//! Console: an account, found by its address, and what support may do to it — re-send
//! the activation or reset link, disable / enable, unlink the university identity, sign
//! out everywhere, delete with the owner's data. Accounts are found by address (exact,
//! or the addresses starting with what was typed) or by their linked institution. Each
//! change needs a confirmation and a reason, a recent second
//! factor, and is written to the audit log before the page says it is done. The page
//! shows how the account was created and proved, never a secret.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_audit::{Action, Record as AuditRecord};
use passerelle_local_auth::{Account, AccountStatus, Email, LinkPurpose};

use super::{REAUTH_SECS, Staff, audit, hidden, staff};
use crate::cli_admin::rfc3339_of;
use crate::journey::Fields;
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

/// The longest reason kept.
pub(super) const MAX_REASON: usize = 500;

/// What support may do to an account: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The activation link (pending) or a reset link (active).
    Resend,
    /// Nothing works for the account any more; its sessions end.
    Disable,
    /// Back to what it was.
    Enable,
    /// The university identity is freed.
    Unlink,
    /// Every session ends (and the apps get back-channel logout).
    SignOut,
    /// The account and its owner's data are erased (RGPD article 17).
    Delete,
}

impl Change {
    const ALL: [Self; 6] = [
        Self::Resend,
        Self::Disable,
        Self::Enable,
        Self::Unlink,
        Self::SignOut,
        Self::Delete,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Resend => "resend",
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Unlink => "unlink",
            Self::SignOut => "sign_out",
            Self::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether it takes something away (a fresh second factor is asked first).
    fn destructive(self) -> bool {
        !matches!(self, Self::Resend | Self::Enable)
    }

    /// Whether it applies to this account now.
    fn applies(self, a: &Account) -> bool {
        match self {
            Self::Resend => a.status != AccountStatus::Disabled,
            Self::Disable => a.status != AccountStatus::Disabled,
            Self::Enable => a.status == AccountStatus::Disabled,
            Self::Unlink => a.federated.is_some(),
            Self::SignOut | Self::Delete => true,
        }
    }
}

struct Fact {
    label: String,
    value: String,
}

struct Choice {
    value: &'static str,
    label: String,
}

struct Seen {
    at: String,
    method: String,
    app: String,
    from: String,
}

#[derive(Template)]
#[template(path = "console_account.html")]
struct AccountPage<'a> {
    l: &'a Layout,
    query: String,
    facts: Vec<Fact>,
    sign_ins: Vec<Seen>,
    /// Browser sessions signed in now: (when, how).
    sessions: Vec<(String, String)>,
    email: Option<String>,
    choices: Vec<Choice>,
    notice: Option<String>,
    error: Option<String>,
    searched: bool,
    /// Addresses starting with the query, when it names no account exactly, or the
    /// accounts linked to an institution.
    matches: Vec<(String, String)>,
    /// What the list of matches is (empty: no heading).
    matches_title: String,
    /// What to say when the search found nothing.
    none_text: String,
    more: Option<String>,
    /// The institution searched for (by name or entityID).
    institution: String,
    /// Institutions matching it: (link to their accounts, name).
    idps: Vec<(String, String)>,
    /// An address with no account that support may invite.
    invite: Option<String>,
    /// The apps an invitation may name: (client id, name).
    apps: Vec<(String, String)>,
}

/// What a page says after an action.
#[derive(Default)]
pub(super) struct Shown {
    notice: Option<String>,
    error: Option<String>,
}

impl Shown {
    pub(super) fn notice(text: String) -> Self {
        Self {
            notice: Some(text),
            error: None,
        }
    }

    pub(super) fn error(text: String) -> Self {
        Self {
            notice: None,
            error: Some(text),
        }
    }
}

/// The page for `query`: its account, or — an address without one — the invitation
/// form for those who act.
pub(super) async fn show(
    cx: &mut Cx,
    who: &Staff,
    status: StatusCode,
    query: &str,
    shown: Shown,
) -> Result<Response, Fail> {
    let account = match Email::parse(query) {
        Ok(e) => cx.app.local.account(&e).await.map_err(Fail::local)?,
        Err(_) => None,
    };
    render(
        cx,
        who,
        status,
        query,
        account.as_ref(),
        shown.notice,
        shown.error,
    )
    .await
}

fn ts(t: Option<passerelle_local_auth::Timestamp>) -> String {
    t.map_or_else(|| "—".to_owned(), rfc3339_of)
}

fn facts(cx: &Cx, a: &Account) -> Vec<Fact> {
    let t = &cx.t;
    let f = |key: &str, value: String| Fact {
        label: t.get(key).to_owned(),
        value,
    };
    let status = match a.status {
        AccountStatus::PendingActivation => t.get("console.status_pending"),
        AccountStatus::Active => t.get("console.status_active"),
        AccountStatus::Disabled => t.get("console.status_disabled"),
    };
    let university = a.federated.as_ref().map_or_else(
        || "—".to_owned(),
        |id| {
            let snapshot = cx.app.federation.snapshot();
            let name = snapshot
                .idp(&id.idp)
                .map_or_else(|| id.idp.clone(), |idp| idp.name(t.tag()).to_owned());
            format!("{name} ({}) — {}", id.idp, id.subject)
        },
    );
    let invited = a.invitation.as_ref().map_or_else(
        || "—".to_owned(),
        |i| {
            format!(
                "{} · {} · {}",
                i.inviter.label(),
                i.app.as_deref().unwrap_or("—"),
                rfc3339_of(i.at)
            )
        },
    );
    vec![
        f("console.f_email", a.email.as_str().to_owned()),
        f("console.f_status", status.to_owned()),
        f("console.f_kind", a.kind().as_str().to_owned()),
        f("console.f_origin", a.origin.as_str().to_owned()),
        f("console.f_invited", invited),
        f("console.f_university", university),
        f(
            "console.f_name",
            a.profile.display_name.clone().unwrap_or_else(|| "—".into()),
        ),
        f(
            "console.f_password",
            t.get(if a.has_password() {
                "console.yes"
            } else {
                "console.no"
            })
            .to_owned(),
        ),
        f("console.f_mailbox", ts(a.mailbox_proved_at)),
        f("console.f_created", ts(Some(a.created_at))),
        f("console.f_activated", ts(a.activated_at)),
        f("console.f_last_login", ts(a.last_login_at)),
    ]
}

/// Links and codes waiting for the account (purpose and expiry, never a value).
async fn pending(cx: &Cx, a: &Account) -> Result<Vec<Fact>, Fail> {
    let links = cx
        .app
        .local
        .pending_links(&a.email)
        .await
        .map_err(Fail::local)?;
    let codes = cx
        .app
        .local
        .pending_codes(&a.email)
        .await
        .map_err(Fail::local)?;
    let list = |items: Vec<(&str, passerelle_local_auth::Timestamp)>| {
        if items.is_empty() {
            return "—".to_owned();
        }
        items
            .into_iter()
            .map(|(what, until)| format!("{what} → {}", rfc3339_of(until)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    Ok(vec![
        Fact {
            label: cx.t.get("console.f_links").to_owned(),
            value: list(links.into_iter().map(|(p, t)| (p.as_str(), t)).collect()),
        },
        Fact {
            label: cx.t.get("console.f_codes").to_owned(),
            value: list(codes.into_iter().map(|(p, t)| (p.as_str(), t)).collect()),
        },
    ])
}

/// The browser sessions signed in to the account now: when, how.
async fn sessions(cx: &Cx, a: &Account) -> Result<Vec<(String, String)>, Fail> {
    Ok(cx
        .app
        .sessions
        .active(&a.email.key())
        .await?
        .into_iter()
        .map(|u| {
            let at = time::OffsetDateTime::from_unix_timestamp(u.auth_time)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let how = u
                .amr
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            (at, how)
        })
        .collect())
}

async fn sign_ins(cx: &Cx, account: Option<&Account>) -> Result<Vec<Seen>, Fail> {
    let Some(a) = account else {
        return Ok(Vec::new());
    };
    Ok(cx
        .app
        .local
        .recent_sign_ins(&a.email, 20)
        .await
        .map_err(Fail::local)?
        .into_iter()
        .map(|s| Seen {
            at: rfc3339_of(s.at),
            method: s.method,
            app: s.app.unwrap_or_else(|| "—".into()),
            from: s.from,
        })
        .collect())
}

async fn render(
    cx: &Cx,
    who: &Staff,
    status: StatusCode,
    query: &str,
    account: Option<&Account>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, Fail> {
    let choices = match account {
        Some(a) if who.role.acts() => Change::ALL
            .into_iter()
            .filter(|c| c.applies(a))
            .map(|c| Choice {
                value: c.as_str(),
                label: cx.t.get(&format!("console.do_{}", c.as_str())).to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let seen = sign_ins(cx, account).await?;
    // An address without an account: support may invite it.
    let invite = match Email::parse(query) {
        Ok(e) if account.is_none() && who.role.acts() => Some(e.as_str().to_owned()),
        _ => None,
    };
    let apps = if invite.is_some() {
        cx.app
            .oidc
            .clients()
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect()
    } else {
        Vec::new()
    };
    let mut facts = account.map(|a| facts(cx, a)).unwrap_or_default();
    let mut open = Vec::new();
    if let Some(a) = account {
        facts.extend(pending(cx, a).await?);
        open = sessions(cx, a).await?;
    }
    let l = cx.layout("console.account_title");
    crate::web::page::html(
        status,
        &AccountPage {
            l: &l,
            query: query.to_owned(),
            facts,
            sign_ins: seen,
            sessions: open,
            email: account.map(|a| a.email.as_str().to_owned()),
            choices,
            notice,
            error,
            searched: !query.is_empty(),
            matches: Vec::new(),
            matches_title: String::new(),
            none_text: cx.t.get("console.no_account").to_owned(),
            more: None,
            institution: String::new(),
            idps: Vec::new(),
            invite,
            apps,
        },
    )
}

/// Matches per page of a prefix search.
const MATCHES: usize = 50;

fn account_href(address: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", address)
        .finish();
    format!("/console/accounts?{q}")
}

/// `GET /console/accounts?email=ADDRESS`: the account with this address, else the
/// addresses that start with it (`&after=` pages on).
pub(crate) async fn find(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/console/accounts", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        if !fields.get("idp").is_empty() || !fields.get("institution").trim().is_empty() {
            return by_institution(cx, &fields).await;
        }
        let query: String = fields.get("email").trim().chars().take(320).collect();
        let account = match Email::parse(&query) {
            Ok(e) => cx.app.local.account(&e).await.map_err(Fail::local)?,
            Err(_) => None,
        };
        if account.is_some() || query.is_empty() {
            return render(
                cx,
                &who,
                StatusCode::OK,
                &query,
                account.as_ref(),
                None,
                None,
            )
            .await;
        }
        let after = Some(fields.get("after")).filter(|a| !a.is_empty());
        let found = cx
            .app
            .local
            .find_accounts(&query, after, MATCHES)
            .await
            .map_err(Fail::local)?;
        if found.is_empty() {
            return render(cx, &who, StatusCode::OK, &query, None, None, None).await;
        }
        let more = (found.len() == MATCHES).then(|| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("email", &query)
                .append_pair("after", found.last().map_or("", String::as_str))
                .finish();
            format!("/console/accounts?{q}")
        });
        let l = cx.layout("console.account_title");
        crate::web::page::html(
            StatusCode::OK,
            &AccountPage {
                l: &l,
                query: query.clone(),
                facts: Vec::new(),
                sign_ins: Vec::new(),
                sessions: Vec::new(),
                email: None,
                choices: Vec::new(),
                notice: None,
                error: None,
                searched: found.is_empty(),
                matches: found.iter().map(|a| (account_href(a), a.clone())).collect(),
                matches_title: if found.is_empty() {
                    String::new()
                } else {
                    cx.t.get("console.matches").to_owned()
                },
                none_text: cx.t.get("console.no_account").to_owned(),
                more,
                institution: String::new(),
                idps: Vec::new(),
                invite: None,
                apps: Vec::new(),
            },
        )
    })
}

/// Institutions whose name matches, listed to pick one.
const INSTITUTIONS: usize = 20;

/// `GET /console/accounts?institution=TEXT` (the institutions whose name or entityID
/// matches) or `?idp=ENTITY_ID` (the accounts linked to it, `&after=` pages on).
async fn by_institution(cx: &mut Cx, fields: &Fields) -> Result<Response, Fail> {
    let snapshot = cx.app.federation.snapshot();
    let lang = cx.t.tag();
    let typed: String = fields.get("institution").trim().chars().take(200).collect();
    let chosen = fields.get("idp");
    let chosen = if chosen.is_empty() {
        typed.as_str()
    } else {
        chosen
    };
    let l = cx.layout("console.account_title");
    let page = |matches, matches_title, none_text, more, idps, searched| AccountPage {
        l: &l,
        query: String::new(),
        facts: Vec::new(),
        sign_ins: Vec::new(),
        sessions: Vec::new(),
        email: None,
        choices: Vec::new(),
        notice: None,
        error: None,
        searched,
        matches,
        matches_title,
        none_text,
        more,
        institution: typed.clone(),
        idps,
        invite: None,
        apps: Vec::new(),
    };
    // An entityID, typed or picked: the accounts linked to it. An institution that left
    // the federation is still named by its entityID: its accounts stay findable.
    let known = snapshot.idp(chosen).map(|i| i.name(lang).to_owned());
    if known.is_some() || !fields.get("idp").is_empty() {
        let after = Some(fields.get("after")).filter(|a| !a.is_empty());
        let found = cx
            .app
            .local
            .accounts_linked_to(chosen, after, MATCHES)
            .await
            .map_err(Fail::local)?;
        let more = (found.len() == MATCHES).then(|| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("idp", chosen)
                .append_pair("after", found.last().map_or("", String::as_str))
                .finish();
            format!("/console/accounts?{q}")
        });
        let title = cx.t.fill(
            "console.linked_to",
            &[("institution", known.as_deref().unwrap_or(chosen))],
        );
        let empty = found.is_empty();
        let matches = found.iter().map(|a| (account_href(a), a.clone())).collect();
        return crate::web::page::html(
            StatusCode::OK,
            &page(
                matches,
                title,
                cx.t.get("console.no_linked").to_owned(),
                more,
                Vec::new(),
                empty,
            ),
        );
    }
    let found = snapshot
        .directory
        .search_page(&typed, lang, 0, INSTITUTIONS);
    let idps = found
        .items
        .iter()
        .map(|i| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("idp", i.entity_id.as_str())
                .finish();
            (format!("/console/accounts?{q}"), i.name.clone())
        })
        .collect::<Vec<_>>();
    let none = idps.is_empty();
    crate::web::page::html(
        StatusCode::OK,
        &page(
            Vec::new(),
            String::new(),
            cx.t.get("console.no_institution").to_owned(),
            None,
            idps,
            none,
        ),
    )
}

/// `POST /console/accounts/change`: one change, confirmed, with a reason.
pub(crate) async fn change(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/accounts/change", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        cx.check_form(&headers, fields.get("csrf"))?;
        if !who.role.acts() {
            return Err(hidden());
        }
        let query = fields.get("email").to_owned();
        let email = Email::parse(&query).map_err(|_| hidden())?;
        let Some(account) = cx.app.local.account(&email).await.map_err(Fail::local)? else {
            return render(cx, &who, StatusCode::NOT_FOUND, &query, None, None, None).await;
        };
        let asked = match Change::parse(fields.get("change")).filter(|c| c.applies(&account)) {
            None => Err("console.pick_change"),
            Some(what) => {
                let reason: String = fields
                    .get("reason")
                    .trim()
                    .chars()
                    .take(MAX_REASON)
                    .collect();
                if reason.is_empty() || fields.get("confirm") != "1" {
                    Err("console.reason_needed")
                } else {
                    Ok((what, reason))
                }
            }
        };
        let (what, reason) = match asked {
            Ok(asked) => asked,
            Err(key) => {
                let msg = cx.t.get(key).to_owned();
                return render(
                    cx,
                    &who,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &query,
                    Some(&account),
                    None,
                    Some(msg),
                )
                .await;
            }
        };
        if what.destructive() && cx.now.saturating_sub(who.verified_at) > REAUTH_SECS {
            // Ask for the second factor again; the change is then made anew.
            cx.session.record.console = None;
            return Ok(see_other("/console"));
        }
        apply(cx, &who, what, &email, &reason).await?;
        let account = cx.app.local.account(&email).await.map_err(Fail::local)?;
        let done =
            cx.t.get(&format!("console.done_{}", what.as_str()))
                .to_owned();
        render(
            cx,
            &who,
            StatusCode::OK,
            &query,
            account.as_ref(),
            Some(done),
            None,
        )
        .await
    })
}

/// Makes the change, then records it (the record is what says it happened).
async fn apply(
    cx: &mut Cx,
    who: &Staff,
    what: Change,
    email: &Email,
    reason: &str,
) -> Result<(), Fail> {
    let from = cx.client.clone();
    let (action, detail) = match what {
        Change::Resend => {
            let account = cx.app.local.account(email).await.map_err(Fail::local)?;
            let purpose = match account.map(|a| a.status) {
                Some(AccountStatus::Active) => LinkPurpose::PasswordReset,
                _ => LinkPurpose::Activation,
            };
            cx.app
                .local
                .send_link(email, purpose, cx.t.lang(), &from)
                .await
                .map_err(Fail::local)?;
            (
                Action::LinkSent,
                match purpose {
                    LinkPurpose::PasswordReset => "reset",
                    _ => "activation",
                }
                .to_owned(),
            )
        }
        Change::Disable => {
            cx.app.local.disable(email).await.map_err(Fail::local)?;
            let n = sign_out_everywhere(cx, email).await?;
            (Action::AccountDisabled, format!("sessions={n}"))
        }
        Change::Enable => {
            let a = cx.app.local.enable(email).await.map_err(Fail::local)?;
            let now = match a.status {
                AccountStatus::Active => "active",
                AccountStatus::PendingActivation => "pending",
                AccountStatus::Disabled => "disabled",
            };
            (Action::AccountEnabled, now.to_owned())
        }
        Change::Unlink => {
            let id = cx.app.local.unlink(email).await.map_err(Fail::local)?;
            (
                Action::IdentityUnlinked,
                format!("{} {}", id.idp, id.subject),
            )
        }
        Change::SignOut => {
            let n = sign_out_everywhere(cx, email).await?;
            (Action::SignedOutEverywhere, format!("sessions={n}"))
        }
        Change::Delete => {
            let erased = crate::journey::delete::erase_account(&cx.app, email).await?;
            (Action::AccountDeleted, erased.detail())
        }
    };
    audit(
        cx,
        AuditRecord::now(who.actor(), &from, action)
            .on(email.as_str())
            .because(reason)
            .detail(&detail),
    )
    .await
}

/// Ends every session of the account (the apps get back-channel logout); how many.
async fn sign_out_everywhere(cx: &Cx, email: &Email) -> Result<usize, Fail> {
    let sids = cx.app.sessions.sign_out_everywhere(&email.key()).await?;
    for sid in &sids {
        cx.app.oidc.logout_session(sid).await?;
    }
    Ok(sids.len())
}
