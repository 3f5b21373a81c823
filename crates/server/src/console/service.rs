//! Console: the service as a whole — the apps (OIDC clients, never a secret), the
//! signing keys (with a rotation for `admin`, the same as `passerelle keys rotate`), and
//! each federation feed's health. `admin` and `auditor` see these pages; `support` gets
//! 404.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_audit::{Action, Record as AuditRecord};
use passerelle_oidc_provider::{KeyState, SigningAlg, SubjectType};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Role, Staff, audit, hidden, staff};
use crate::journey::Fields;
use crate::page;
use crate::web::page::{Cx, Fail, Layout, see_other};
use crate::web::{App, Peer};

struct AppRow {
    id: String,
    name: String,
    auth: &'static str,
    redirect_uris: String,
    scopes: String,
    subject: &'static str,
    backchannel: String,
    api: String,
}

struct KeyRow {
    kid: String,
    alg: &'static str,
    state: &'static str,
    published: String,
    signs_from: String,
}

struct FeedRow {
    name: String,
    source: String,
    /// How old the data is: since its publication (hours).
    age: String,
    idps: usize,
    valid_until: String,
    checked_at: String,
    published: String,
    state: &'static str,
    error: String,
}

#[derive(Template)]
#[template(path = "console_service.html")]
struct ServicePage<'a> {
    l: &'a Layout,
    apps: Vec<AppRow>,
    keys: Vec<KeyRow>,
    feeds: Vec<FeedRow>,
    /// The last answers refused across the federation: when, IdP (link, name), why.
    refusals: Vec<RefusalRow>,
    admin: bool,
    notice: Option<String>,
    error: Option<String>,
}

struct RefusalRow {
    at: String,
    href: String,
    idp: String,
    reason: String,
}

/// The last refused answers across the federation, each with its IdP's name.
async fn refusals(cx: &Cx) -> Result<Vec<RefusalRow>, Fail> {
    let snapshot = cx.app.federation.snapshot();
    let lang = cx.t.tag();
    Ok(
        passerelle_saml_sp::acs::refusals::recent_overall(&cx.app.store, 30)
            .await?
            .into_iter()
            .map(|r| {
                let entity = r.idp.unwrap_or_default();
                let q: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("id", &entity)
                    .finish();
                RefusalRow {
                    at: r.at,
                    href: format!("/console/idps?{q}"),
                    idp: snapshot
                        .idp(&entity)
                        .map_or_else(|| entity.clone(), |i| i.name(lang).to_owned()),
                    reason: r.reason,
                }
            })
            .collect(),
    )
}

fn unix(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn key_state(s: KeyState) -> &'static str {
    match s {
        KeyState::Published => "published",
        KeyState::Signing => "signing",
        KeyState::Verifying => "verifying",
        KeyState::Retired => "retired",
    }
}

fn rows(cx: &Cx) -> (Vec<AppRow>, Vec<KeyRow>, Vec<FeedRow>) {
    let apps = cx
        .app
        .oidc
        .clients()
        .iter()
        .map(|c| AppRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            auth: c.auth_method.as_str(),
            redirect_uris: c
                .redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect::<Vec<_>>()
                .join(" "),
            scopes: c.allowed_scopes.to_string(),
            subject: match c.subject_type {
                SubjectType::Public => "public",
                SubjectType::Pairwise => "pairwise",
            },
            backchannel: c
                .backchannel_logout_uri
                .as_ref()
                .map_or_else(|| "—".to_owned(), ToString::to_string),
            api: if cx.app.api.invite.iter().any(|i| i == c.id.as_str()) {
                "invite".to_owned()
            } else {
                "—".to_owned()
            },
        })
        .collect();
    let keys = cx.app.oidc.keys();
    let keys = keys
        .ring()
        .describe(cx.now, keys.max_token_lifetime())
        .into_iter()
        .map(|k| KeyRow {
            kid: k.kid,
            alg: k.alg.as_str(),
            state: key_state(k.state),
            published: unix(k.published_at),
            signs_from: unix(k.signs_from),
        })
        .collect();
    let stamp = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "—".to_owned())
    };
    let origins = cx.app.federation.origins();
    let now = OffsetDateTime::now_utc();
    let feeds = cx
        .app
        .federation
        .snapshot()
        .sources
        .iter()
        .map(|s| FeedRow {
            name: s.name.clone(),
            source: origins
                .iter()
                .find(|(n, _)| *n == s.name)
                .map_or_else(|| "—".to_owned(), |(_, at)| at.clone()),
            // Known when the feed says when it was published (not a future validUntil).
            age: s.newest_published.filter(|p| *p <= now).map_or_else(
                || "—".to_owned(),
                |p| format!("{} h", (now - p).whole_hours()),
            ),
            idps: s.idps,
            valid_until: s.valid_until.clone().unwrap_or_else(|| "—".into()),
            checked_at: stamp(s.checked_at),
            published: stamp(s.newest_published),
            state: match (&s.error, s.stale) {
                (None, false) => "ok",
                (None, true) | (Some(_), true) => "stale",
                (Some(_), false) => "failing",
            },
            error: s
                .last_failure
                .map_or_else(|| "—".to_owned(), |f| f.as_str().to_owned()),
        })
        .collect();
    (apps, keys, feeds)
}

async fn render(
    cx: &Cx,
    who: &Staff,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, Fail> {
    let (apps, keys, feeds) = rows(cx);
    let refusals = refusals(cx).await?;
    let l = cx.layout("console.service_title");
    crate::web::page::html(
        status,
        &ServicePage {
            l: &l,
            apps,
            keys,
            feeds,
            refusals,
            admin: who.role == Role::Admin,
            notice,
            error,
        },
    )
}

/// `GET /console/service`: apps, keys, feeds.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/console/service", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        if !who.role.audits() {
            return Err(hidden());
        }
        render(cx, &who, StatusCode::OK, None, None).await
    })
}

/// `POST /console/service/rotate`: a new signing key (`admin`, with a reason): published
/// now, signing after a day, as `passerelle keys rotate`.
pub(crate) async fn rotate(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/console/service/rotate", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        cx.check_form(&headers, fields.get("csrf"))?;
        if who.role != Role::Admin {
            return Err(hidden());
        }
        let reason: String = fields.get("reason").trim().chars().take(500).collect();
        let Some(alg) = SigningAlg::parse(fields.get("alg")) else {
            let msg = cx.t.get("console.pick_change").to_owned();
            return render(cx, &who, StatusCode::UNPROCESSABLE_ENTITY, None, Some(msg)).await;
        };
        if reason.is_empty() || fields.get("confirm") != "1" {
            let msg = cx.t.get("console.reason_needed").to_owned();
            return render(cx, &who, StatusCode::UNPROCESSABLE_ENTITY, None, Some(msg)).await;
        }
        if cx.now.saturating_sub(who.verified_at) > super::REAUTH_SECS {
            cx.session.record.console = None;
            return Ok(see_other("/console"));
        }
        let kid = cx
            .app
            .oidc
            .keys()
            .rotate(alg, 86_400, cx.now)
            .await
            .map_err(Fail::internal)?;
        let from = cx.client.clone();
        audit(
            cx,
            AuditRecord::now(who.actor(), &from, Action::KeysRotated)
                .on(alg.as_str())
                .because(&reason)
                .detail(&format!("kid={kid}")),
        )
        .await?;
        let msg = cx.t.fill("console.rotated", &[("kid", &kid)]);
        render(cx, &who, StatusCode::OK, Some(msg), None).await
    })
}
