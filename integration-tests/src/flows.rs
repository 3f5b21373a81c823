//! Journey steps shared by the black-box tests and the load run: each drives a
//! [`Browser`] through one stretch and asserts what a user would see.

use crate::deploy::USER;
use crate::{Browser, Page};

/// Asserts a status and a text (entities decoded) on a page.
///
/// # Panics
/// When either differs.
pub fn ok(p: &Page, status: u16, needle: &str) {
    assert_eq!(
        p.status, status,
        "{} answered {}:\n{}",
        p.url, p.status, p.body
    );
    assert!(
        p.text().contains(needle),
        "{} lacks {needle:?}:\n{}",
        p.url,
        p.body
    );
}

/// The redirect back to the app (`redirect_uri?code=…`), from a `303`.
///
/// # Panics
/// When `p` is not that redirect.
#[must_use]
pub fn back_to_app(p: &Page, redirect_uri: &str) -> String {
    assert_eq!(
        p.status, 303,
        "{} answered {}:\n{}",
        p.url, p.status, p.body
    );
    let to = p.location.clone().unwrap_or_default();
    assert!(to.starts_with(redirect_uri), "{to}");
    to
}

/// From the portal to the "link sent" page, through the dev IdP of a [`crate::deploy::Deployment`].
pub async fn activate(b: &mut Browser, portal: &Page) -> Page {
    activate_as(b, portal, USER.2, (USER.0, USER.1)).await
}

/// From the portal, typing `typed`, through the dev IdP signed in as `login`: the page
/// the bridge shows after the university's answer.
pub async fn activate_as(
    b: &mut Browser,
    portal: &Page,
    typed: &str,
    (login, password): (&str, &str),
) -> Page {
    let select = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", typed)],
        )
        .await;
    ok(&select, 200, "Université de Test");
    through_university(b, &select, (login, password)).await
}

/// From a page offering Université de Test (the institution list), through the dev IdP
/// signed in as `login`: the page the bridge shows after the university's answer.
pub async fn through_university(
    b: &mut Browser,
    select: &Page,
    (login, password): (&str, &str),
) -> Page {
    let start = select
        .choices()
        .into_iter()
        .next()
        .expect("the institution is offered");
    let form = b.get(&start).await;
    ok(&form, 200, "SAMLRequest");
    let action = form.form_action("SAMLRequest");
    let answer = b
        .post(
            &action,
            &[
                ("SAMLRequest", &form.field("SAMLRequest")),
                ("RelayState", &form.field("RelayState")),
                ("login", login),
                ("password", password),
            ],
        )
        .await;
    ok(&answer, 200, "SAMLResponse");
    b.post(
        &answer.form_action("SAMLResponse"),
        &[
            ("SAMLResponse", &answer.field("SAMLResponse")),
            ("RelayState", &answer.field("RelayState")),
        ],
    )
    .await
}

/// Follows an e-mailed link and sets `password`; returns the success page.
pub async fn set_password(b: &mut Browser, link: &str, password: &str) -> Page {
    let confirm = b.get(link).await;
    ok(&confirm, 200, "Continuer");
    let form = b.post(link, &[("csrf", &confirm.field("csrf"))]).await;
    ok(&form, 200, "mot de passe");
    b.post(
        "/password/new",
        &[
            ("csrf", &form.field("csrf")),
            ("password", password),
            ("confirmation", password),
        ],
    )
    .await
}

/// On the password page (the session knows the address), signs in with `password` and
/// returns the redirect back to the app (`redirect_uri?code=…`).
pub async fn password_to_app(b: &mut Browser, password: &str, redirect_uri: &str) -> String {
    let pw = b.get("/login/password").await;
    let done = b
        .post_once(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", password)],
        )
        .await;
    back_to_app(&done, redirect_uri)
}

/// An active local account for `email` with `password` (CLI invitation, mailed link,
/// password form); `mails` is how many mails the sink held before. Returns the count
/// after.
pub async fn active_by_invitation(
    d: &crate::deploy::Deployment,
    email: &str,
    password: &str,
    mails: usize,
) -> usize {
    let config = d.config.display().to_string();
    let (done, out, err) = crate::cli(&["accounts", "invite", email, "--config", &config]);
    assert!(done, "{out}{err}");
    let (_, text) = crate::smtp_mail(&d.smtp, mails).await;
    let mut b = Browser::new(&d.public_url);
    ok(
        &set_password(&mut b, &crate::link_in(&text).expect("a link"), password).await,
        200,
        "réussi",
    );
    mails + 1
}

/// Signs `email` in with `password` in a new browser (on the account page).
pub async fn signed_in(d: &crate::deploy::Deployment, email: &str, password: &str) -> Browser {
    let mut b = Browser::new(&d.public_url);
    let portal = b.get("/login").await;
    let pw = b
        .post(
            "/login",
            &[("csrf", &portal.field("csrf")), ("email", email)],
        )
        .await;
    let done = b
        .post(
            "/login/password",
            &[("csrf", &pw.field("csrf")), ("password", password)],
        )
        .await;
    ok(&done, 200, "Gérer votre compte");
    b
}

/// Through the console's second factor (a wrong code first) as the signed-in staff
/// member of `b`; `mails` is how many mails the sink held before. Returns the count
/// after.
pub async fn console_second_factor(
    d: &crate::deploy::Deployment,
    b: &mut Browser,
    mails: usize,
) -> usize {
    let factor = b.get("/console").await;
    ok(&factor, 200, "confirmez que c'est vous");
    let sent = b
        .post("/console/code", &[("csrf", &factor.field("csrf"))])
        .await;
    ok(&sent, 200, "Code à 6 chiffres");
    let (_, text) = crate::smtp_mail(&d.smtp, mails).await;
    let code = crate::code_in(&text).expect("a code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = b
        .post(
            "/console/verify",
            &[("csrf", &sent.field("csrf")), ("code", wrong)],
        )
        .await;
    assert_eq!(refused.status, 422);
    let home = b
        .post(
            "/console/verify",
            &[("csrf", &refused.field("csrf")), ("code", &code)],
        )
        .await;
    ok(&home, 200, "Trouver un compte");
    mails + 1
}
