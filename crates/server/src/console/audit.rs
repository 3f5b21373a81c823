//! Console: the audit log, newest first, filtered by action, actor and subject, one
//! page at a time (`admin` and `auditor` only; 404 for `support`).

use askama::Template;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use passerelle_audit::{Action, Filter};
use passerelle_store::JournalId;

use super::{hidden, staff};
use crate::journey::Fields;
use crate::page;
use crate::web::page::{Layout, see_other};
use crate::web::{App, Peer};

/// Records per page.
const PAGE: usize = 50;

struct Row {
    id: String,
    at: String,
    actor: String,
    from: String,
    action: &'static str,
    subject: String,
    reason: String,
    detail: String,
}

struct ActionChoice {
    value: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage<'a> {
    l: &'a Layout,
    rows: Vec<Row>,
    actions: Vec<ActionChoice>,
    actor: String,
    subject: String,
    next: Option<String>,
}

/// `GET /console/audit?action=&actor=&subject=&before=`.
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/console/audit", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        if !who.role.audits() {
            return Err(hidden());
        }
        let text = |name: &str| -> Option<String> {
            let v: String = fields.get(name).trim().chars().take(200).collect();
            (!v.is_empty()).then_some(v)
        };
        let filter = Filter {
            action: Action::parse(fields.get("action")),
            actor: text("actor"),
            subject: text("subject"),
        };
        let before = JournalId::parse(fields.get("before"));
        let (entries, next) = cx.app.audit.page(before, PAGE, &filter).await?;
        let next = next.map(|id| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("action", filter.action.map_or("", Action::as_str))
                .append_pair("actor", filter.actor.as_deref().unwrap_or(""))
                .append_pair("subject", filter.subject.as_deref().unwrap_or(""))
                .append_pair("before", &id.to_string())
                .finish();
            format!("/console/audit?{q}")
        });
        let rows = entries
            .into_iter()
            .map(|e| Row {
                id: e.id,
                at: e.record.at,
                actor: e.record.actor.label(),
                from: e.record.from,
                action: e.record.action.as_str(),
                subject: e.record.subject.unwrap_or_default(),
                reason: e.record.reason.unwrap_or_default(),
                detail: e.record.detail.unwrap_or_default(),
            })
            .collect();
        let actions = Action::ALL
            .into_iter()
            .map(|a| ActionChoice {
                value: a.as_str(),
                selected: filter.action == Some(a),
            })
            .collect();
        let l = cx.layout("console.audit_title");
        cx.render(&AuditPage {
            l: &l,
            rows,
            actions,
            actor: filter.actor.unwrap_or_default(),
            subject: filter.subject.unwrap_or_default(),
            next,
        })
    })
}
