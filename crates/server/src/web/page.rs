//! The page layer: the request context every page handler starts with ([`Cx`]), the
//! common layout, and [`Fail`], the one way a handler says "show the user this problem".
//!
//! A handler does `let mut cx = Cx::begin(…)`, works, and ends with `cx.finish(result)`,
//! which saves the session, sets its cookie and renders a failure as a page in the
//! user's language. Internal details are logged, never shown; no failure panics.
//!
//! One store deadline per request: a page whose work found the store unavailable
//! answers 503 without trying to save the session (that would wait as long again), and
//! the save itself only gets what is left of the deadline that began with the request.

use std::fmt::Display;
use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use axum::http::header::{CONTENT_TYPE, LOCATION, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_local_auth::Lang;
use passerelle_store::StoreError;

use super::App;
use super::i18n::{Texts, accepted};
use super::session::{Session, SignedIn, set_cookies};

/// Runs a page handler's body with a request context: loads the session, runs
/// `$body` with `$cx: &mut Cx` (its `?` and `return` give a `Result<Response, Fail>`),
/// then saves the session and renders a failure as a page.
#[macro_export]
macro_rules! page {
    ($app:expr, $headers:expr, $peer:expr, $here:expr, |$cx:ident| $body:block) => {{
        let mut cx = match $crate::web::page::Cx::begin(&$app, &$headers, $peer, $here).await {
            Ok(cx) => cx,
            Err(r) => return r,
        };
        let result: Result<axum::response::Response, $crate::web::page::Fail> = async {
            let $cx = &mut cx;
            $body
        }
        .await;
        cx.finish(result).await
    }};
}

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The texts in the page's language.
    pub t: Texts,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// The support link.
    pub support: String,
    /// The page title (already translated).
    pub title: String,
    /// Whether someone is signed in (shows the account link).
    pub signed_in: bool,
    /// The language the switch offers.
    pub other_lang: &'static str,
    /// The current path, for the switch to come back to.
    pub here: String,
    /// The header shows the configured logo.
    pub logo: bool,
    /// The page names the configured favicon.
    pub favicon: bool,
}

/// The generic page: a title, paragraphs, an optional button.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message<'a> {
    pub l: &'a Layout,
    pub paragraphs: Vec<String>,
    pub next: Option<(String, String)>,
    pub alert: bool,
}

/// A problem to show instead of the page asked for.
#[derive(Debug)]
pub(crate) struct Fail {
    status: StatusCode,
    title: &'static str,
    body: &'static str,
    args: Vec<(&'static str, String)>,
    next: Option<(String, &'static str)>,
}

impl Fail {
    /// A page with a status, a title key and a body key.
    pub(crate) fn page(status: StatusCode, title: &'static str, body: &'static str) -> Self {
        Self {
            status,
            title,
            body,
            args: Vec::new(),
            next: None,
        }
    }

    /// A value for a `{name}` in the body.
    pub(crate) fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// The button: where to go next and its label key.
    pub(crate) fn next(mut self, href: impl Into<String>, label: &'static str) -> Self {
        self.next = Some((href.into(), label));
        self
    }

    /// The store (or another dependency) cannot be reached.
    pub(crate) fn unavailable() -> Self {
        Self::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable.title",
            "error.unavailable.body",
        )
    }

    /// Whether this is the store-unavailable page (503).
    pub(crate) fn is_unavailable(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
    }

    /// Something that should not happen; the detail is logged, not shown.
    pub(crate) fn internal(detail: impl Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error.internal.title",
            "error.internal.body",
        )
    }

    /// The form is stale or was not sent by our page.
    pub(crate) fn forged_form() -> Self {
        Self::page(StatusCode::FORBIDDEN, "error.csrf.title", "error.csrf.body")
            .next("/login", "action.restart")
    }

    /// Maps the local fallback's errors that every step treats alike.
    pub(crate) fn local(e: passerelle_local_auth::Error) -> Self {
        use passerelle_local_auth::Error as E;
        match e {
            E::Throttled { retry_after } => {
                let minutes = retry_after.as_secs().div_ceil(60).max(1);
                Self::page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "error.throttled.title",
                    "error.throttled.body",
                )
                .arg("minutes", minutes.to_string())
            }
            E::Unavailable(_) => Self::unavailable(),
            E::Mail(detail) => {
                tracing::error!(error = %detail, "mail not sent");
                Self::page(
                    StatusCode::BAD_GATEWAY,
                    "error.mail.title",
                    "error.mail.body",
                )
            }
            E::AccountDisabled => Self::page(
                StatusCode::FORBIDDEN,
                "error.disabled.title",
                "error.disabled.body",
            ),
            E::Expired | E::AlreadyUsed | E::Superseded | E::NotFound => {
                Self::page(StatusCode::GONE, "error.link.title", "error.link.body")
                    .next("/login", "action.restart")
            }
            E::IdentityConflict => Self::page(
                StatusCode::CONFLICT,
                "error.conflict.title",
                "error.conflict.body",
            ),
            E::PasskeyRefused(detail) => {
                tracing::warn!(reason = %detail, "passkey refused");
                Self::page(
                    StatusCode::BAD_REQUEST,
                    "error.passkey.title",
                    "error.passkey.body",
                )
                .next("/login", "action.restart")
            }
            E::PasskeysOff => Self::page(
                StatusCode::NOT_FOUND,
                "error.not_found.title",
                "error.not_found.body",
            ),
            other => Self::internal(other),
        }
    }
}

impl From<passerelle_audit::Error> for Fail {
    fn from(e: passerelle_audit::Error) -> Self {
        match e {
            passerelle_audit::Error::Store(s) => Self::from(s),
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "store unavailable");
            Self::unavailable()
        } else {
            Self::internal(e)
        }
    }
}

impl From<passerelle_oidc_provider::Error> for Fail {
    fn from(e: passerelle_oidc_provider::Error) -> Self {
        match e {
            passerelle_oidc_provider::Error::Store(s) => s.into(),
            other => Self::internal(other),
        }
    }
}

impl From<askama::Error> for Fail {
    fn from(e: askama::Error) -> Self {
        Self::internal(e)
    }
}

/// A `303 See Other` to `to`.
pub(crate) fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The request context of a page.
pub(crate) struct Cx {
    /// The application.
    pub app: App,
    /// The browser's session.
    pub session: Session,
    /// Texts in the page's language.
    pub t: Texts,
    /// The client's address, for the throttles.
    pub client: String,
    /// The request instant (Unix seconds).
    pub now: i64,
    here: String,
    cookies: Vec<HeaderValue>,
    ended: bool,
    /// When the request's store deadline ends.
    deadline: tokio::time::Instant,
}

/// What the session save may take past the request's deadline (a healthy store answers
/// in a millisecond; a request slowed by argon2 must still save its sign-in).
const SAVE_FLOOR: Duration = Duration::from_millis(300);

impl Cx {
    /// Loads the session and picks the language. A store outage is a 503 page.
    pub(crate) async fn begin(
        app: &App,
        headers: &HeaderMap,
        peer: SocketAddr,
        here: &str,
    ) -> Result<Self, Response> {
        let now = passerelle_oidc_provider::unix_now();
        let deadline = tokio::time::Instant::now() + passerelle_store::Timeouts::default().response;
        let accept = accepted(headers);
        let loaded = async {
            let mut session = app.sessions.load(headers, now).await?;
            // « Se déconnecter partout » ends this sign-in too.
            if let Some(user) = &session.record.user
                && let Ok(email) = passerelle_local_auth::Email::parse(&user.email)
                && app
                    .sessions
                    .signed_out(&email.key(), user.generation)
                    .await?
            {
                session.record.user = None;
            }
            Ok::<_, StoreError>(session)
        };
        let session = match loaded.await {
            Ok(s) => s,
            Err(e) => {
                let t = app.catalog.texts(accept.unwrap_or_default());
                return Err(render_fail(app, &t, Fail::from(e), here));
            }
        };
        let lang = session.record.lang.or(accept).unwrap_or(Lang::Fr);
        Ok(Self {
            t: app.catalog.texts(lang),
            app: app.clone(),
            session,
            client: app.client_address(headers, peer),
            now,
            here: here.to_owned(),
            cookies: Vec::new(),
            ended: false,
            deadline,
        })
    }

    /// Checks a posted form: its CSRF token, and the `Origin` header when the browser
    /// named one (`null`, sent under some privacy settings, leaves the token alone to
    /// decide).
    pub(crate) fn check_form(&self, headers: &HeaderMap, csrf: &str) -> Result<(), Fail> {
        if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok())
            && origin != "null"
            && origin != self.app.origin
        {
            tracing::warn!(origin, "form posted from another origin");
            return Err(Fail::forged_form());
        }
        if self.session.record.csrf.is_empty()
            || !passerelle_local_auth::secret::ct_eq(csrf, &self.session.record.csrf)
        {
            return Err(Fail::forged_form());
        }
        Ok(())
    }

    /// The layout for a page titled by `title_key`.
    pub(crate) fn layout(&self, title_key: &str) -> Layout {
        Layout {
            title: self.t.get(title_key).to_owned(),
            t: self.t.clone(),
            csrf: self.session.record.csrf.clone(),
            support: self.app.support_url.clone(),
            signed_in: self.session.record.user.is_some(),
            other_lang: match self.t.lang() {
                Lang::Fr => "en",
                Lang::En => "fr",
            },
            here: self.here.clone(),
            logo: self.app.branding.has_logo(),
            favicon: self.app.branding.has_favicon(),
        }
    }

    /// Renders a template as an HTML page.
    pub(crate) fn render(&self, template: &impl Template) -> Result<Response, Fail> {
        html(StatusCode::OK, template)
    }

    /// The generic page with a title, paragraphs and a button.
    pub(crate) fn message(
        &self,
        title_key: &str,
        paragraphs: Vec<String>,
        next: Option<(String, &str)>,
    ) -> Result<Response, Fail> {
        let l = self.layout(title_key);
        self.render(&Message {
            l: &l,
            paragraphs,
            next: next.map(|(href, label)| (href, self.t.get(label).to_owned())),
            alert: false,
        })
    }

    /// Signs `user` in: a new session id (no fixation), the sign-in remembered with the
    /// account (its `sid`, for « se déconnecter partout »), the user recorded with the
    /// account's sign-out generation.
    pub(crate) async fn sign_in(
        &mut self,
        mut user: SignedIn,
        email_key: &str,
    ) -> Result<(), Fail> {
        self.app
            .sessions
            .rotate(&mut self.session, self.now)
            .await?;
        user.generation = self
            .app
            .sessions
            .remember_sign_in(email_key, &user.sid)
            .await?;
        self.session.record.user = Some(user);
        Ok(())
    }

    /// Ends the session and clears its cookie.
    pub(crate) async fn sign_out(&mut self) -> Result<(), Fail> {
        let clear = self.app.sessions.destroy(&mut self.session).await?;
        self.cookies.push(clear);
        self.ended = true;
        Ok(())
    }

    /// Saves the session and turns the result into the response. Nothing is saved when
    /// the work found the store unavailable; the save gets what is left of the
    /// request's deadline (at least [`SAVE_FLOOR`]).
    pub(crate) async fn finish(mut self, result: Result<Response, Fail>) -> Response {
        let unavailable = matches!(&result, Err(f) if f.is_unavailable());
        if !self.ended && !unavailable {
            let left = self
                .deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(SAVE_FLOOR);
            let sessions = &self.app.sessions;
            let (session, client) = (&mut self.session, self.client.as_str());
            let saved = tokio::time::timeout(left, async {
                // A first stored anonymous session counts against its address.
                sessions.admit(session, client).await.map_err(Fail::local)?;
                sessions.save(session).await.map_err(Fail::from)
            });
            match saved.await {
                Ok(Ok(Some(cookie))) => self.cookies.push(cookie),
                Ok(Ok(None)) => {}
                Ok(Err(fail)) => return render_fail(&self.app, &self.t, fail, &self.here),
                Err(_) => {
                    tracing::warn!("store unavailable: the session save ran out of time");
                    return render_fail(&self.app, &self.t, Fail::unavailable(), &self.here);
                }
            }
        }
        let mut response = match result {
            Ok(r) => r,
            Err(fail) => render_fail_with(&self.app, &self.t, fail, &self.here, &self.session),
        };
        set_cookies(response.headers_mut(), std::mem::take(&mut self.cookies));
        response
    }
}

/// Renders a template with a status.
pub(crate) fn html(status: StatusCode, template: &impl Template) -> Result<Response, Fail> {
    let body = template.render()?;
    Ok((
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response())
}

fn render_fail_with(app: &App, t: &Texts, fail: Fail, here: &str, session: &Session) -> Response {
    let l = Layout {
        title: t.get(fail.title).to_owned(),
        t: t.clone(),
        csrf: session.record.csrf.clone(),
        support: app.support_url.clone(),
        signed_in: session.record.user.is_some(),
        other_lang: match t.lang() {
            Lang::Fr => "en",
            Lang::En => "fr",
        },
        here: here.to_owned(),
        logo: app.branding.has_logo(),
        favicon: app.branding.has_favicon(),
    };
    let args: Vec<(&str, &str)> = fail.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = Message {
        l: &l,
        paragraphs: vec![t.fill(fail.body, &args)],
        next: fail
            .next
            .map(|(href, label)| (href, t.get(label).to_owned())),
        alert: true,
    };
    match html(fail.status, &page) {
        Ok(r) => r,
        Err(_) => (fail.status, t.get(fail.title).to_owned()).into_response(),
    }
}

/// Renders a failure without a session (the store is down, or the request is not a
/// page of the journey).
pub(crate) fn render_fail(app: &App, t: &Texts, fail: Fail, here: &str) -> Response {
    let session = Session::detached();
    render_fail_with(app, t, fail, here, &session)
}
