//! What operators see: a request id and one log line per request, and the Prometheus
//! metrics behind `/metrics`.
//!
//! Metrics: requests by route, method and status (and their latency), logins by method
//! and outcome, SAML rejections by reason, federation feeds (IdPs, age of the data, seconds until
//! validUntil, stale), store round-trip time (a ping every 10 s). Labels are route
//! templates and fixed words, never user input, so the series stay bounded. Nothing
//! here logs a query string, a form field or a cookie.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

use super::App;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedLabel {
    feed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedRefusalLabels {
    feed: String,
    reason: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The process's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    saml_rejections: Family<ReasonLabel, Counter>,
    store_ping: Histogram,
    store_up: Gauge,
    feed_idps: Family<FeedLabel, Gauge>,
    feed_valid: Family<FeedLabel, Gauge>,
    feed_stale: Family<FeedLabel, Gauge>,
    feed_age: Family<FeedLabel, Gauge>,
    feed_refusals: Family<FeedRefusalLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("passerelle");
        let m = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            logins: Family::default(),
            saml_rejections: Family::default(),
            store_ping: latency_histogram(),
            store_up: Gauge::default(),
            feed_idps: Family::default(),
            feed_valid: Family::default(),
            feed_stale: Family::default(),
            feed_age: Family::default(),
            feed_refusals: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            m.latency.clone(),
        );
        registry.register(
            "logins",
            "Sign-ins by method (pwd, otp, fed) and outcome",
            m.logins.clone(),
        );
        registry.register(
            "saml_rejections",
            "SAML responses refused, by reason",
            m.saml_rejections.clone(),
        );
        registry.register(
            "store_ping_seconds",
            "Store round-trip time (ping every 10 s)",
            m.store_ping.clone(),
        );
        registry.register(
            "store_up",
            "1 when the last store ping succeeded",
            m.store_up.clone(),
        );
        registry.register(
            "federation_idps",
            "IdPs served per federation feed",
            m.feed_idps.clone(),
        );
        registry.register(
            "federation_valid_seconds",
            "Seconds until the served feed's validUntil (negative: expired)",
            m.feed_valid.clone(),
        );
        registry.register(
            "federation_age_seconds",
            "Seconds since the feed's source last confirmed the data served (-1: not since start)",
            m.feed_age.clone(),
        );
        registry.register(
            "federation_stale",
            "1 when a feed serves old data after a failed refresh",
            m.feed_stale.clone(),
        );
        registry.register(
            "federation_refresh_refusals",
            "Feed refreshes refused since start, by feed and reason (rollback: an older copy than the one accepted)",
            m.feed_refusals.clone(),
        );
        Self { registry, ..m }
    }

    /// A sign-in attempt's outcome.
    pub(crate) fn login(&self, method: &'static str, outcome: &'static str) {
        self.logins
            .get_or_create(&LoginLabels { method, outcome })
            .inc();
    }

    /// A refused SAML response (the reason is the rejection's kind, not its text).
    pub(crate) fn saml_rejected(&self, reason: &'static str) {
        self.saml_rejections
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }
}

/// Gives each request an id (a well-formed incoming `X-Request-Id` is kept, so a proxy's
/// id follows the request; else a new one), a
/// span carrying it, one log line, and its metrics.
pub(crate) async fn observe(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(new_id, str::to_owned);
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.clone(),
            method,
            status,
        })
        .inc();
    app.metrics
        .latency
        .get_or_create(&RouteLabel { route })
        .observe(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

fn new_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `GET /metrics` (OpenMetrics text, which Prometheus reads).
pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let snapshot = app.federation.snapshot();
    let now = time::OffsetDateTime::now_utc();
    for s in &snapshot.sources {
        let feed = FeedLabel {
            feed: s.name.clone(),
        };
        app.metrics
            .feed_idps
            .get_or_create(&feed)
            .set(i64::try_from(s.idps).unwrap_or(i64::MAX));
        app.metrics
            .feed_stale
            .get_or_create(&feed)
            .set(i64::from(s.stale || s.error.is_some()));
        let remaining = s
            .valid_until
            .as_deref()
            .and_then(|v| {
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(0, |until| (until - now).whole_seconds());
        app.metrics.feed_valid.get_or_create(&feed).set(remaining);
        let age = s.checked_at.map_or(-1, |t| (now - t).whole_seconds());
        app.metrics.feed_age.get_or_create(&feed).set(age);
        // The federation counts refusals; the counter catches up with its total.
        for (failure, total) in &s.failures {
            let counter = app.metrics.feed_refusals.get_or_create(&FeedRefusalLabels {
                feed: s.name.clone(),
                reason: failure.as_str(),
            });
            let behind = total.saturating_sub(counter.get());
            if behind > 0 {
                counter.inc_by(behind);
            }
        }
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &app.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Pings the store every 10 s for the latency histogram and the `store_up` gauge.
pub(crate) fn spawn_store_probe(app: App) {
    tokio::spawn(async move {
        loop {
            let started = Instant::now();
            let ok = app.store.ping().await.is_ok();
            app.metrics
                .store_ping
                .observe(started.elapsed().as_secs_f64());
            app.metrics.store_up.set(i64::from(ok));
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    });
}
