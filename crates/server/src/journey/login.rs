//! The portal and the later logins: e-mail first, then password, or a 6-digit code by
//! e-mail, or a reset link; unknown or not-yet-activated addresses go to activation.
//!
//! Every form checks its CSRF token; wrong passwords and codes show the form again
//! with the error tied to its field; throttles show "try again in N minutes".

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_local_auth::{
    AccountStatus, CodePurpose, Email, Error as LocalError, LinkPurpose, Origin, Password, throttle,
};
use passerelle_oidc_provider::Amr;

use super::{Fields, Way, has_institution, hints, minutes, signed_in, typed_email, ways_page};
use crate::page;
use crate::web::page::{Cx, Fail, Layout, html, see_other};
use crate::web::{App, Peer};

#[derive(Template)]
#[template(path = "portal.html")]
struct Portal<'a> {
    l: &'a Layout,
    email: &'a str,
    error: Option<String>,
    suggestion: Option<String>,
    app_name: Option<String>,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    l: &'a Layout,
    email: &'a str,
    error: Option<String>,
    federated: bool,
    /// The account has no password, only passkeys: the page offers them instead.
    passkey_only: bool,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    l: &'a Layout,
    email: &'a str,
    error: Option<String>,
    validity: String,
}

/// `GET /`: the account page when signed in, else the portal.
pub(crate) async fn home(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/", |cx| {
        let signed = cx.session.record.user.is_some();
        Ok(see_other(if signed { "/account" } else { "/login" }))
    })
}

/// « pour accéder à {app} », saying so when the app asks for a stronger sign-in (an
/// `acr` request: a passkey or the university will be needed).
async fn app_name(cx: &Cx) -> Option<String> {
    let id = cx.session.record.pending.as_deref()?;
    let pending = cx.app.oidc.pending(id).await.ok()??;
    let key = if pending.acr.is_empty() {
        "portal.for_app"
    } else {
        "portal.for_app_strong"
    };
    Some(cx.t.fill(key, &[("app", &pending.client_name)]))
}

fn portal_page(
    cx: &Cx,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    suggestion: Option<String>,
    app: Option<String>,
) -> Result<Response, Fail> {
    let l = cx.layout("portal.title");
    html(
        status,
        &Portal {
            l: &l,
            email,
            error: error.map(|k| cx.t.get(k).to_owned()),
            suggestion,
            app_name: app,
        },
    )
}

/// `GET /login`: « Votre adresse email ».
pub(crate) async fn portal(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/login", |cx| {
        let email = cx.session.record.email.clone().unwrap_or_default();
        let name = app_name(cx).await;
        portal_page(cx, StatusCode::OK, &email, None, None, name)
    })
}

/// `POST /login`: the address decides the next step.
pub(crate) async fn portal_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let typed = fields.get("email").trim();
        let Ok(email) = Email::parse(typed) else {
            return portal_page(
                cx,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some("portal.invalid"),
                None,
                None,
            );
        };
        // Addresses without an active account are counted (probes, typos); an address
        // that can sign in is not: a campus behind one address is not slowed by its own
        // successes. A full window refuses every address alike (no answer tells).
        let counter = passerelle_local_auth::keys::throttle_client(&cx.client, "portal");
        let limit = cx.app.portal_limit;
        throttle::check(&cx.app.store, &counter, limit)
            .await
            .map_err(Fail::local)?;
        let account = cx.app.local.account(&email).await.map_err(Fail::local)?;
        if !account
            .as_ref()
            .is_some_and(|a| a.status == AccountStatus::Active)
        {
            match throttle::hit(&cx.app.store, &counter, limit).await {
                Ok(()) | Err(LocalError::Throttled { .. }) => {}
                Err(e) => return Err(Fail::local(e)),
            }
        }
        if account.is_none() && fields.get("confirmed") != "1" {
            let mut suggestion = hints::suggest(email.as_str(), &cx.app.federation.snapshot());
            if suggestion.is_none() {
                for variant in hints::separator_variants(email.as_str()) {
                    let Ok(v) = Email::parse(&variant) else {
                        continue;
                    };
                    if cx
                        .app
                        .local
                        .account(&v)
                        .await
                        .map_err(Fail::local)?
                        .is_some()
                    {
                        suggestion = Some(variant);
                        break;
                    }
                }
            }
            if let Some(s) = suggestion {
                return portal_page(cx, StatusCode::OK, email.as_str(), None, Some(s), None);
            }
        }
        cx.session.record.email = Some(email.as_str().to_owned());
        // A university speaks for the address: activation through it. Otherwise the
        // ways in without a university (self-registration, a pending invitation) or
        // the page that says why there is none yet — never an empty list.
        let institutions = has_institution(cx, &email);
        match account.map(|a| (a.status, a.origin)) {
            Some((AccountStatus::Active, _)) => Ok(see_other("/login/password")),
            Some((AccountStatus::Disabled, _)) => Err(Fail::local(LocalError::AccountDisabled)),
            Some((AccountStatus::PendingActivation, Origin::University)) | None if institutions => {
                Ok(see_other("/activate"))
            }
            Some((AccountStatus::PendingActivation, _)) | None => Ok(see_other("/register")),
        }
    })
}

async fn password_page(
    cx: &Cx,
    email: &Email,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Fail> {
    let account = cx.app.local.account(email).await.map_err(Fail::local)?;
    let federated = account.as_ref().is_some_and(|a| a.federated.is_some());
    let passkey_only = match &account {
        Some(a) if !a.has_password() => {
            cx.app.local.has_passkey(email).await.map_err(Fail::local)?
        }
        _ => false,
    };
    let l = cx.layout("password.title");
    html(
        status,
        &PasswordPage {
            l: &l,
            email: email.as_str(),
            error: error.map(|k| cx.t.get(k).to_owned()),
            federated,
            passkey_only,
        },
    )
}

/// `GET /login/password`.
pub(crate) async fn password(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/login/password", |cx| {
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        password_page(cx, &email, StatusCode::OK, None).await
    })
}

/// `POST /login/password`.
pub(crate) async fn password_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/password", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        let password = Password::new(fields.get("password"));
        match cx
            .app
            .local
            .login_password(&email, &password, &cx.client)
            .await
        {
            Ok(account) => signed_in(cx, &account, Amr::Pwd).await,
            Err(LocalError::InvalidCredentials) => {
                cx.app.metrics.login("pwd", "failure");
                password_page(cx, &email, StatusCode::UNAUTHORIZED, Some("password.wrong")).await
            }
            Err(LocalError::Throttled { retry_after }) => {
                cx.app.metrics.login("pwd", "throttled");
                password_paused(cx, &email, retry_after).await
            }
            Err(e) => Err(Fail::local(e)),
        }
    })
}

/// Password sign-in is paused for this account (from here, or from everywhere): the
/// other ways in stay open and are offered.
async fn password_paused(
    cx: &Cx,
    email: &Email,
    retry_after: std::time::Duration,
) -> Result<Response, Fail> {
    let federated = cx
        .app
        .local
        .account(email)
        .await
        .map_err(Fail::local)?
        .is_some_and(|a| a.federated.is_some());
    let mut ways = vec![
        Way::post(cx, "/login/code/send", "password.code"),
        Way::post(cx, "/password/forgot", "password.forgot"),
    ];
    if federated {
        ways.push(Way::get(cx, "/activate", "password.university"));
    }
    let body =
        cx.t.fill("paused.password", &[("minutes", &minutes(retry_after))]);
    ways_page(
        cx,
        StatusCode::TOO_MANY_REQUESTS,
        "paused.title",
        vec![body, cx.t.get("paused.others").to_owned()],
        ways,
        true,
    )
}

fn code_page(
    cx: &Cx,
    email: &Email,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, Fail> {
    let l = cx.layout("code.title");
    let minutes = cx.app.local.config().code_ttl_secs.div_ceil(60).to_string();
    html(
        status,
        &CodePage {
            l: &l,
            email: email.as_str(),
            error,
            validity: cx.t.fill("code.validity", &[("minutes", &minutes)]),
        },
    )
}

/// What « Recevoir le code » and « Mot de passe oublié ? » answer for an address the
/// fallback cannot serve: unknown and not-yet-activated look alike, as on the portal
/// (which sends both to activation).
fn not_sendable(e: LocalError, email: &Email) -> Fail {
    match e {
        LocalError::UnknownAccount | LocalError::NotActivated => Fail::page(
            StatusCode::NOT_FOUND,
            "error.no_account.title",
            "error.no_account.body",
        )
        .arg("email", email.as_str())
        .next("/activate", "action.activate"),
        other => Fail::local(other),
    }
}

/// `POST /login/code/send`: « Recevoir le code ».
pub(crate) async fn code_send(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/code/send", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        match cx
            .app
            .local
            .send_code(&email, CodePurpose::Login, cx.t.lang(), &cx.client)
            .await
        {
            Ok(_) => Ok(see_other("/login/code")),
            Err(LocalError::Throttled { retry_after }) => {
                let body =
                    cx.t.fill("paused.code", &[("minutes", &minutes(retry_after))]);
                ways_page(
                    cx,
                    StatusCode::TOO_MANY_REQUESTS,
                    "paused.title",
                    vec![body, cx.t.get("paused.others").to_owned()],
                    vec![
                        Way::get(cx, "/login/password", "paused.use_password"),
                        Way::post(cx, "/password/forgot", "password.forgot"),
                        Way::get(cx, "/activate", "password.university"),
                    ],
                    true,
                )
            }
            Err(e) => Err(not_sendable(e, &email)),
        }
    })
}

/// `GET /login/code`: the 6-digit code form.
pub(crate) async fn code(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/login/code", |cx| {
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        code_page(cx, &email, StatusCode::OK, None)
    })
}

/// `POST /login/code`.
pub(crate) async fn code_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/login/code", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        let code: String = fields
            .get("code")
            .chars()
            .filter(char::is_ascii_digit)
            .take(6)
            .collect();
        match cx
            .app
            .local
            .verify_code(&email, CodePurpose::Login, &code)
            .await
        {
            Ok(account) => signed_in(cx, &account, Amr::Otp).await,
            Err(LocalError::WrongCode { remaining }) => {
                cx.app.metrics.login("otp", "failure");
                let msg =
                    cx.t.fill("code.wrong", &[("remaining", &remaining.to_string())]);
                code_page(cx, &email, StatusCode::UNAUTHORIZED, Some(msg))
            }
            Err(
                LocalError::TooManyAttempts
                | LocalError::Expired
                | LocalError::NotFound
                | LocalError::AlreadyUsed,
            ) => {
                // The way forward is a new code, offered directly.
                cx.app.metrics.login("otp", "failure");
                ways_page(
                    cx,
                    StatusCode::GONE,
                    "error.code.title",
                    vec![cx.t.get("error.code.body").to_owned()],
                    vec![
                        Way::post(cx, "/login/code/send", "code.resend"),
                        Way::get(cx, "/login/password", "paused.use_password"),
                    ],
                    true,
                )
            }
            Err(e) => Err(Fail::local(e)),
        }
    })
}

/// `POST /password/forgot`: e-mails a reset link.
pub(crate) async fn forgot(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/password/forgot", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(email) = typed_email(cx) else {
            return Ok(see_other("/login"));
        };
        let app = super::pending_app(cx).await;
        cx.app
            .local
            .send_link_for_app(
                &email,
                LinkPurpose::PasswordReset,
                cx.t.lang(),
                &cx.client,
                app.as_deref(),
            )
            .await
            .map_err(|e| not_sendable(e, &email))?;
        let body = cx.t.fill("forgot.sent", &[("email", email.as_str())]);
        cx.message(
            "forgot.title",
            vec![body, cx.t.get("sent.delay").to_owned()],
            None,
        )
    })
}
