//! The links sent by e-mail (activation, reset) and the password form behind them.
//!
//! A GET only shows a confirmation page (mail scanners pre-fetch links); the POST
//! consumes the link and puts the right to set a password in the session; the form
//! then shows the policy as a checklist (ticked live by `password.js`; the server's
//! check is the authority and lists every unmet rule).
//!
//! A link a university's sign-in asked for carries that university's word: confirmed
//! in the browser that did the sign-in, it links the identity to the account (an
//! already active account is then signed in, nothing more to set); confirmed in
//! another browser, it only lets the mailbox owner set a password.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use passerelle_local_auth::{
    AccountStatus, Error as LocalError, LinkGrant, LinkPurpose, Password, Rule,
};
use passerelle_oidc_provider::Amr;

use super::Fields;
use crate::page;
use crate::web::i18n::Texts;
use crate::web::page::{Cx, Fail, Layout, html, see_other};
use crate::web::{App, Peer};

#[derive(Template)]
#[template(path = "link.html")]
struct ConfirmPage<'a> {
    l: &'a Layout,
    email: &'a str,
    action: String,
    intro: String,
}

/// One line of the checklist.
pub(crate) struct RuleLine {
    kind: &'static str,
    value: String,
    text: String,
    /// The characters a rule lists (special characters), shown as one unbreakable
    /// group after the text.
    chars: String,
    unmet: bool,
}

#[derive(Template)]
#[template(path = "new_password.html")]
pub(crate) struct NewPasswordPage<'a> {
    pub l: &'a Layout,
    pub email: &'a str,
    pub rules: Vec<RuleLine>,
    pub error: Option<String>,
    pub action: &'a str,
    pub current: bool,
}

/// The checklist of `rules`, marking those in `unmet`.
pub(crate) fn checklist(t: &Texts, rules: &[Rule], unmet: &[Rule]) -> Vec<RuleLine> {
    rules
        .iter()
        .map(|r| {
            let (kind, value, text) = match r {
                Rule::MinLength(n) => (
                    "min_length",
                    n.to_string(),
                    t.fill("policy.min_length", &[("n", &n.to_string())]),
                ),
                Rule::MaxLength(n) => (
                    "max_length",
                    n.to_string(),
                    t.fill("policy.max_length", &[("n", &n.to_string())]),
                ),
                Rule::Uppercase => (
                    "uppercase",
                    String::new(),
                    t.get("policy.uppercase").to_owned(),
                ),
                Rule::Lowercase => (
                    "lowercase",
                    String::new(),
                    t.get("policy.lowercase").to_owned(),
                ),
                Rule::Digit => ("digit", String::new(), t.get("policy.digit").to_owned()),
                Rule::Special(s) => ("special", s.clone(), t.get("policy.special").to_owned()),
                Rule::NoSpaces => (
                    "no_spaces",
                    String::new(),
                    t.get("policy.no_spaces").to_owned(),
                ),
                Rule::OnlyAllowedCharacters(s) => (
                    "only_allowed",
                    s.clone(),
                    t.get("policy.only_allowed").to_owned(),
                ),
            };
            let chars = match r {
                // One group, never split between lines: characters joined by
                // non-breaking spaces.
                Rule::Special(s) => s
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join("\u{a0}"),
                _ => String::new(),
            };
            RuleLine {
                kind,
                value,
                text,
                chars,
                unmet: unmet.contains(r),
            }
        })
        .collect()
}

fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn gone() -> Fail {
    Fail::local(LocalError::NotFound)
}

/// `GET /link/{token}`: « Continuer » (nothing is consumed by a GET).
pub(crate) async fn confirm(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let here = format!("/link/{token}");
    page!(app, headers, peer, &here, |cx| {
        if !token_ok(&token) {
            return Err(gone());
        }
        let info = match cx.app.local.inspect_link(&token).await {
            Ok(info) => info,
            Err(LocalError::AlreadyUsed) => return used_link(cx, &token).await,
            Err(e) => return Err(Fail::local(e)),
        };
        let intro = match info.purpose {
            LinkPurpose::Activation => cx.t.get("link.activation"),
            LinkPurpose::PasswordReset => cx.t.get("link.reset"),
            LinkPurpose::Registration => cx.t.get("link.registration"),
        }
        .to_owned();
        let l = cx.layout("link.title");
        cx.render(&ConfirmPage {
            l: &l,
            email: info.email.as_str(),
            action: format!("/link/{token}"),
            intro,
        })
    })
}

/// A link already used: when its account is active, say so and offer to sign in (the
/// link did its job, maybe on another device); else the usual « lien invalide ». Both
/// are 410.
async fn used_link(cx: &Cx, token: &str) -> Result<Response, Fail> {
    let status = cx
        .app
        .local
        .used_link_account(token)
        .await
        .map_err(Fail::local)?;
    if status == Some(AccountStatus::Active) {
        // Still 410 for the link; the page says what to do now.
        return Err(
            Fail::page(StatusCode::GONE, "link_used.title", "link_used.active")
                .next("/login", "action.sign_in"),
        );
    }
    Err(Fail::local(LocalError::AlreadyUsed))
}

/// `POST /link/{token}`: consumes the link; the session may now set the password.
pub(crate) async fn confirm_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/link", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        if !token_ok(&token) {
            return Err(gone());
        }
        let info = match cx.app.local.inspect_link(&token).await {
            Ok(info) => info,
            Err(LocalError::AlreadyUsed) => return used_link(cx, &token).await,
            Err(e) => return Err(Fail::local(e)),
        };
        let grant = cx
            .app
            .local
            .consume_link(&token, info.purpose)
            .await
            .map_err(Fail::local)?;
        cx.session.record.email = Some(grant.email().as_str().to_owned());
        let browser = crate::web::session::Sessions::binding(&cx.session);
        let linked = cx
            .app
            .local
            .bind_vouched(&grant, &browser)
            .await
            .map_err(Fail::local)?;
        if let Some(account) = linked.filter(|a| a.status == AccountStatus::Active) {
            // University sign-in and mailbox both proven in this browser.
            return super::signed_in(cx, &account, Amr::Fed).await;
        }
        cx.session.record.grant = Some(grant);
        Ok(see_other("/password/new"))
    })
}

/// Which password form: « Créez votre mot de passe » behind a link, or the account
/// page's change (which also asks for the current password).
#[derive(Debug, Clone, Copy)]
pub(crate) enum PasswordForm {
    /// After an activation or reset link.
    New,
    /// On the account page.
    Change,
}

/// Renders a password form with the policy checklist, `unmet` rules marked.
pub(crate) fn password_form(
    cx: &Cx,
    which: PasswordForm,
    status: StatusCode,
    email: &str,
    unmet: &[Rule],
    error: Option<String>,
) -> Result<Response, Fail> {
    let (title, action, current) = match which {
        PasswordForm::New => ("new_password.title", "/password/new", false),
        PasswordForm::Change => ("account.change_password", "/account/password", true),
    };
    let rules = cx.app.local.policy().rules();
    let l = cx.layout(title);
    html(
        status,
        &NewPasswordPage {
            l: &l,
            email,
            rules: checklist(&cx.t, &rules, unmet),
            error,
            action,
            current,
        },
    )
}

/// The form again for what the user can fix (policy, confirmation); anything else is a
/// failure page.
pub(crate) fn password_form_again(
    cx: &Cx,
    which: PasswordForm,
    email: &str,
    e: LocalError,
) -> Result<Response, Fail> {
    let (unmet, key) = match e {
        LocalError::PolicyUnmet(unmet) => (unmet, "new_password.policy"),
        LocalError::ConfirmationMismatch => (Vec::new(), "new_password.mismatch"),
        other => return Err(Fail::local(other)),
    };
    let msg = cx.t.get(key).to_owned();
    password_form(
        cx,
        which,
        StatusCode::UNPROCESSABLE_ENTITY,
        email,
        &unmet,
        Some(msg),
    )
}

/// `GET /password/new`: « Créez votre mot de passe UNESS ».
pub(crate) async fn new_password(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    page!(app, headers, peer, "/password/new", |cx| {
        let Some(grant) = cx.session.record.grant.clone() else {
            return Ok(see_other("/login"));
        };
        password_form(
            cx,
            PasswordForm::New,
            StatusCode::OK,
            grant.email().as_str(),
            &[],
            None,
        )
    })
}

/// `POST /password/new`: « Créer ».
pub(crate) async fn new_password_post(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/password/new", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(grant) = cx.session.record.grant.clone() else {
            return Ok(see_other("/login"));
        };
        let password = Password::new(fields.get("password"));
        let confirmation = Password::new(fields.get("confirmation"));
        // A passkey-only account given a password again through an e-mailed link: a
        // recovery, recorded once the password is set.
        let recovering = match cx
            .app
            .local
            .account(grant.email())
            .await
            .map_err(Fail::local)?
        {
            Some(a) if !a.has_password() && a.status == AccountStatus::Active => cx
                .app
                .local
                .has_passkey(grant.email())
                .await
                .map_err(Fail::local)?,
            _ => false,
        };
        match cx
            .app
            .local
            .complete_link(&grant, &password, &confirmation)
            .await
        {
            Ok(account) => {
                if recovering {
                    super::passkeys::recovered(cx, &account.email, "email_link", "password")
                        .await?;
                }
                cx.session.record.grant = None;
                cx.session.record.email = Some(account.email.as_str().to_owned());
                let mut paragraphs = vec![cx.t.get("password_done.body").to_owned()];
                // Opened on another device (no app waits in this browser): continue to
                // the app the user was on the way to, when it says where.
                if cx.session.record.pending.is_none()
                    && let Some((name, url)) = continue_to(cx, &grant)
                {
                    paragraphs.push(cx.t.fill("password_done.elsewhere", &[("app", &name)]));
                    return cx.message(
                        "password_done.title",
                        paragraphs,
                        Some((url, "action.continue_to_app")),
                    );
                }
                cx.message(
                    "password_done.title",
                    paragraphs,
                    Some(("/login/password".to_owned(), "action.sign_in")),
                )
            }
            Err(e) => password_form_again(cx, PasswordForm::New, grant.email().as_str(), e),
        }
    })
}

/// Where a user who set the password through `grant` on another device continues: the
/// app's `initiate_login_uri` (with `iss`) or home page, with its name.
fn continue_to(cx: &Cx, grant: &LinkGrant) -> Option<(String, String)> {
    let client = cx.app.oidc.clients().get(grant.app()?)?;
    let url = client.continue_url(&cx.app.oidc.settings().issuer)?;
    Some((client.name.clone(), url.to_string()))
}
