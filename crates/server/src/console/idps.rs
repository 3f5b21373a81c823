//! Console: the federation's IdPs — a paginated search over every one of them (the
//! discovery index: fast on 10,000), and each IdP's page: names in every language,
//! scopes, the operator's extra mail domains, its signing certificates' expiry, its SSO
//! endpoints. `admin` and `auditor`.

use askama::Template;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{hidden, staff};
use crate::journey::Fields;
use crate::page;
use crate::web::page::{Layout, see_other};
use crate::web::{App, Peer};

const PAGE: usize = 50;

struct Row {
    href: String,
    name: String,
    domains: String,
}

struct Detail {
    entity_id: String,
    names: Vec<String>,
    scopes: Vec<String>,
    mail_domains: Vec<String>,
    certificates: Vec<String>,
    sso: Vec<String>,
    categories: Vec<String>,
    /// The last answers refused from it: when, why.
    refusals: Vec<(String, String)>,
    /// The accounts linked to it (console accounts page).
    accounts: String,
}

#[derive(Template)]
#[template(path = "console_idps.html")]
struct IdpsPage<'a> {
    l: &'a Layout,
    query: String,
    count: String,
    rows: Vec<Row>,
    next: Option<String>,
    detail: Option<Detail>,
}

fn href(entity_id: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id", entity_id)
        .finish();
    format!("/console/idps?{q}")
}

/// `GET /console/idps?q=TEXT&page=N` (search) or `?id=ENTITY_ID` (one IdP).
pub(crate) async fn page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/console/idps", |cx| {
        let Some(who) = staff(cx)? else {
            return Ok(see_other("/console"));
        };
        if !who.role.audits() {
            return Err(hidden());
        }
        let snapshot = cx.app.federation.snapshot();
        let lang = cx.t.tag();
        let refused = match snapshot.idp(fields.get("id")) {
            Some(idp) => {
                passerelle_saml_sp::acs::refusals::recent(&cx.app.store, idp.entity_id.as_str())
                    .await?
                    .into_iter()
                    .map(|r| (r.at, r.reason))
                    .collect()
            }
            None => Vec::new(),
        };
        let detail = snapshot.idp(fields.get("id")).map(|idp| Detail {
            entity_id: idp.entity_id.to_string(),
            names: idp
                .display_names
                .iter()
                .map(|n| format!("{} ({})", n.value, n.lang))
                .collect(),
            scopes: idp
                .scopes
                .iter()
                .map(|s| {
                    if s.regexp {
                        format!("{} (regexp)", s.value)
                    } else {
                        s.value.clone()
                    }
                })
                .collect(),
            mail_domains: cx.app.federation.mail_domains().of(&idp.entity_id).to_vec(),
            certificates: idp.signing_cert_expiries(),
            sso: idp
                .sso
                .iter()
                .map(|e| format!("{} {}", e.binding, e.location))
                .collect(),
            categories: idp.entity_categories.clone(),
            refusals: refused,
            accounts: {
                let q: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("idp", idp.entity_id.as_str())
                    .finish();
                format!("/console/accounts?{q}")
            },
        });
        let q: String = fields.get("q").trim().chars().take(100).collect();
        let page = fields
            .get("page")
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .unwrap_or(1);
        let found = snapshot
            .directory
            .search_page(&q, lang, (page - 1) * PAGE, PAGE);
        let shown = found.items.len();
        let count = cx.t.fill(
            "console.idps_count",
            &[
                ("shown", &shown.to_string()),
                ("total", &found.total.to_string()),
            ],
        );
        let next = (found.offset + shown < found.total).then(|| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &q)
                .append_pair("page", &(page + 1).to_string())
                .finish();
            format!("/console/idps?{query}")
        });
        let rows = found
            .items
            .iter()
            .map(|i| Row {
                href: href(i.entity_id.as_str()),
                name: i.name.clone(),
                domains: i.domains.join(", "),
            })
            .collect();
        let status = if detail.is_none() && !fields.get("id").is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let l = cx.layout("console.idps_title");
        crate::web::page::html(
            status,
            &IdpsPage {
                l: &l,
                query: q,
                count,
                rows,
                next,
                detail,
            },
        )
    })
}
