//! « Sélectionnez votre établissement »: discovery that never hides an institution.
//!
//! The page offers, in this order: the institution last chosen on this device (a
//! cookie), the institutions that speak for the typed address (with the tutorial's
//! warning when there are several: look-alike names are different universities), and a
//! search whose every match is reachable — the page says how many matched and pages
//! through them, never cuts silently. Each entry is a button showing the name in the
//! page's language, the domains the institution speaks for and its logo, served from
//! our origin (`/logos/{id}`, [`passerelle_saml_sp::logo`]): the browser never asks a
//! third party. `/institutions` is the same search as JSON for the page's script.
//!
//! What it must never do: serve a logo no signed feed published, or trust the
//! remembered-institution cookie beyond "offer this one first" (it is looked up in the
//! current snapshot; an unknown value is ignored).

use askama::Template;
use axum::Json;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_local_auth::{AccountStatus, Email};
use passerelle_saml_sp::directory::Institution;
use passerelle_saml_sp::federation::Snapshot;
use passerelle_saml_sp::logo::LogoId;

use super::Fields;
use crate::page;
use crate::web::i18n::accepted;
use crate::web::page::{Fail, Layout};
use crate::web::session::cookie;
use crate::web::{App, Peer};

/// Search results per page.
pub(crate) const PAGE_SIZE: usize = 20;

/// The cookie remembering the institution last chosen on this device.
const REMEMBER_COOKIE: &str = "__Host-passerelle-idp";

/// How long it is remembered (the longest lifetime browsers keep: 400 days).
const REMEMBER_FOR_SECS: u64 = 400 * 24 * 3600;

/// The longest entityID remembered (a cookie stays well under 4 KiB).
const REMEMBER_MAX: usize = 1024;

/// One institution offered on the page.
pub(crate) struct Choice {
    entity_id: String,
    name: String,
    domains: String,
    logo: Option<String>,
}

fn choice(app: &App, snapshot: &Snapshot, i: &Institution) -> Choice {
    let logo = i
        .logo
        .filter(|id| app.federation.logo_available(snapshot, *id))
        .map(|id| format!("/logos/{id}"));
    Choice {
        entity_id: i.entity_id.as_str().to_owned(),
        name: i.name.clone(),
        domains: i.domains.join(", "),
        logo,
    }
}

#[derive(Template)]
#[template(path = "institutions.html")]
struct InstitutionsPage<'a> {
    l: &'a Layout,
    /// The account is active: this is a sign-in, not an activation.
    sign_in: bool,
    /// …through the university already linked to it (else the first time links it).
    linked: bool,
    email: Option<String>,
    last: Option<Choice>,
    matched: Vec<Choice>,
    query: String,
    results: Vec<Choice>,
    searched: bool,
    /// "Results 21 to 40 of 57".
    count: String,
    previous: Option<String>,
    next: Option<String>,
}

fn page_href(q: &str, page: usize) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", q)
        .append_pair("page", &page.to_string())
        .finish();
    format!("/activate?{query}#results")
}

/// The `Set-Cookie` that remembers `entity_id` on this device.
pub(crate) fn remember(entity_id: &str) -> Option<HeaderValue> {
    if entity_id.len() > REMEMBER_MAX {
        return None;
    }
    let value = URL_SAFE_NO_PAD.encode(entity_id.as_bytes());
    HeaderValue::from_str(&format!(
        "{REMEMBER_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={REMEMBER_FOR_SECS}"
    ))
    .ok()
}

/// Appends the remembering cookie to a response.
pub(crate) fn remember_on(response: &mut Response, entity_id: &str) {
    if let Some(c) = remember(entity_id) {
        response.headers_mut().append(SET_COOKIE, c);
    }
}

/// The institution remembered on this device, if it is still offered.
fn remembered(headers: &HeaderMap, snapshot: &Snapshot, lang: &str) -> Option<Institution> {
    let value = cookie(headers, REMEMBER_COOKIE)?;
    if value.len() > REMEMBER_MAX * 2 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    snapshot.directory.get(&id, lang)
}

/// The page number asked for (1 when missing or unreadable).
fn page_number(fields: &Fields) -> usize {
    fields
        .get("page")
        .parse::<usize>()
        .ok()
        .filter(|p| *p >= 1 && *p <= 100_000)
        .unwrap_or(1)
}

/// `GET /activate[?q=…&page=N]`: the institution list, pre-filtered by the typed address.
pub(crate) async fn institutions_page(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/activate", |cx| {
        let snapshot = cx.app.federation.snapshot();
        let lang = cx.t.tag();
        let email = cx.session.record.email.clone();
        let matched = email
            .as_deref()
            .map(|e| snapshot.directory.for_email(e, lang))
            .unwrap_or_default();
        let last = remembered(&headers, &snapshot, lang).map(|i| choice(&cx.app, &snapshot, &i));
        let q: String = fields.get("q").trim().chars().take(100).collect();
        let page = page_number(&fields);
        let found = if q.is_empty() {
            Default::default()
        } else {
            snapshot.directory.search_page(
                &q,
                lang,
                (page - 1).saturating_mul(PAGE_SIZE),
                PAGE_SIZE,
            )
        };
        let shown = found.items.len();
        let count = if shown == 0 {
            String::new()
        } else {
            let first = (found.offset + 1).to_string();
            let to = (found.offset + shown).to_string();
            let total = found.total.to_string();
            cx.t.fill(
                "activate.count",
                &[("first", &first), ("last", &to), ("total", &total)],
            )
        };
        let previous = (page > 1 && found.total > 0).then(|| page_href(&q, page - 1));
        let next = (found.offset + shown < found.total).then(|| page_href(&q, page + 1));
        // « Se connecter avec mon université » on an active account is a sign-in.
        let account = match email.as_deref().and_then(|e| Email::parse(e).ok()) {
            Some(e) => cx.app.local.account(&e).await.map_err(Fail::local)?,
            None => None,
        };
        let sign_in = account
            .as_ref()
            .is_some_and(|a| a.status == AccountStatus::Active);
        let linked = sign_in && account.as_ref().is_some_and(|a| a.federated.is_some());
        let l = cx.layout(if sign_in {
            "activate.sign_in_title"
        } else {
            "activate.title"
        });
        cx.render(&InstitutionsPage {
            l: &l,
            sign_in,
            linked,
            email,
            last,
            matched: matched
                .iter()
                .map(|i| choice(&cx.app, &snapshot, i))
                .collect(),
            searched: !q.is_empty(),
            query: q,
            results: found
                .items
                .iter()
                .map(|i| choice(&cx.app, &snapshot, i))
                .collect(),
            count,
            previous,
            next,
        })
    })
}

/// `GET /institutions?q=TEXT[&email=ADDRESS][&offset=N]`: the same search, as JSON:
/// `{"total", "offset", "institutions": [...]}`, `PAGE_SIZE` at a time (the address's
/// institutions first, on the first page).
pub(crate) async fn institutions_json(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    let lang = accepted(&headers).unwrap_or_default().tag();
    let snapshot = app.federation.snapshot();
    let q: String = fields.get("q").trim().chars().take(100).collect();
    let email: String = fields.get("email").trim().chars().take(320).collect();
    let offset = fields
        .get("offset")
        .parse::<usize>()
        .unwrap_or(0)
        .min(10_000_000);
    let mut items = if email.is_empty() || offset > 0 {
        Vec::new()
    } else {
        snapshot.directory.for_email(&email, lang)
    };
    let found = if q.is_empty() {
        Default::default()
    } else {
        snapshot.directory.search_page(&q, lang, offset, PAGE_SIZE)
    };
    let (total, offset) = (found.total, found.offset);
    for i in found.items {
        if !items.iter().any(|m| m.entity_id == i.entity_id) {
            items.push(i);
        }
    }
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let c = choice(&app, &snapshot, i);
            let login: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("idp", &c.entity_id)
                .finish();
            serde_json::json!({
                "entity_id": c.entity_id,
                "name": c.name,
                "domains": i.domains,
                "logo": c.logo,
                "login": format!("/saml/login?{login}"),
            })
        })
        .collect();
    Json(serde_json::json!({ "total": total, "offset": offset, "institutions": items }))
        .into_response()
}

/// `GET /logos/{id}`: a logo a feed of the current snapshot publishes, checked, from our
/// origin; 404 for anything else.
pub(crate) async fn logo(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Some(id) = LogoId::parse(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(image) = app.federation.logo(id).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = image.bytes.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(image.kind.as_str()));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
