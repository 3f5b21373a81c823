//! The UNESS journey (DESIGN.md §1), one module per stretch of it:
//!
//! - `oidc`: `/authorize` (where apps send the browser) and `/logout`;
//! - `login`: the portal (e-mail first), password, e-mail code, forgotten password;
//! - `discovery`: institution selection (every match reachable, logos from our origin,
//!   the last institution remembered on the device);
//! - `activation`: the SAML round trip, the activation link sent;
//! - `links`: a link's confirmation page and the password form behind it;
//! - `register`: people without a university: self-registration, a pending
//!   invitation's link, and the page that says why an address has no way in yet;
//! - `account`: the account page, password change, language switch.
//!
//! Shared here: reading forms without ever failing, and the end of every login
//! (a new session id, then a code for the waiting app or the account page).

pub(crate) mod account;
pub(crate) mod activation;
pub(crate) mod delete;
pub(crate) mod discovery;
pub(crate) mod hints;
pub(crate) mod links;
pub(crate) mod login;
pub(crate) mod oidc;
pub(crate) mod passkeys;
pub(crate) mod register;
pub(crate) mod stepup;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_local_auth::Account;
use passerelle_oidc_provider::{Acr, Amr, Assurance, Authentication, Completion, UserClaims};
use sha2::{Digest as _, Sha256};

use crate::web::page::{Cx, Fail, see_other};
use crate::web::session::{SignedIn, random_id};

/// The largest form we read (the ACS has its own, larger, limit).
const MAX_FORM: usize = 16 * 1024;

/// A posted form: the first value of each field. Never fails: a malformed body reads
/// as empty fields, which every handler treats as missing input.
#[derive(Debug, Default)]
pub(crate) struct Fields(HashMap<String, String>);

impl Fields {
    /// A query string's fields (`RawQuery`), read like a form.
    pub(crate) fn query(raw: Option<String>) -> Self {
        Self::parse(&Bytes::from(raw.unwrap_or_default()))
    }

    pub(crate) fn parse(body: &Bytes) -> Self {
        Self::parse_limited(body, MAX_FORM)
    }

    pub(crate) fn parse_limited(body: &Bytes, limit: usize) -> Self {
        if body.len() > limit {
            return Self::default();
        }
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Self(map)
    }

    /// The field's value, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// The app's stable subject for an account: a digest of its normalized address (the
/// OIDC crate derives pairwise values from it).
pub(crate) fn local_subject(account: &Account) -> String {
    let digest = Sha256::digest(format!("passerelle-subject\0{}", account.email.key()).as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// What the OIDC provider is told about a signed-in user.
pub(crate) fn authentication(account: &Account, user: &SignedIn) -> Authentication {
    let p = &account.profile;
    Authentication {
        subject: local_subject(account),
        auth_time: user.auth_time,
        amr: user.amr.clone(),
        assurance: user.assurance,
        acr: None,
        sid: user.sid.clone(),
        claims: UserClaims {
            email: Some(account.email.as_str().to_owned()),
            email_verified: true,
            name: p.display_name.clone().or_else(|| {
                // No displayName: the given name and the family name, as sent.
                let parts: Vec<&str> = [&p.given_name, &p.family_name]
                    .into_iter()
                    .flatten()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            affiliation: p.affiliations.clone(),
            home_organization: p.institution.clone(),
            eppn: p.principal_name.clone(),
            account_kind: Some(account.kind().as_str().to_owned()),
        },
    }
}

/// The app (OIDC client id) this browser's pending authorization is for: what a link
/// sent now remembers, so the user can continue there from another device. A store
/// failure reads as none (the link is then sent without it).
pub(crate) async fn pending_app(cx: &Cx) -> Option<String> {
    let id = cx.session.record.pending.as_deref()?;
    cx.app
        .oidc
        .pending(id)
        .await
        .ok()
        .flatten()
        .map(|p| p.client_id)
}

/// Signs `account` in by `amr` and continues: the waiting app gets its code, or the
/// user lands on the account page.
pub(crate) async fn signed_in(cx: &mut Cx, account: &Account, amr: Amr) -> Result<Response, Fail> {
    signed_in_with(cx, account, amr, None).await
}

/// [`signed_in`], for a university sign-in whose assertion carried `federated` (a class
/// the ACS checked against what was asked). A sign-in of the account the session already
/// holds is a step-up: the session keeps the earlier methods too.
pub(crate) async fn signed_in_with(
    cx: &mut Cx,
    account: &Account,
    amr: Amr,
    federated: Option<Acr>,
) -> Result<Response, Fail> {
    let mut methods = vec![amr];
    let mut assurance = Assurance::of(&methods, federated);
    if let Some(earlier) = cx.session.record.user.as_ref().filter(|u| {
        passerelle_local_auth::Email::parse(&u.email).is_ok_and(|e| e.key() == account.email.key())
    }) {
        for m in earlier.amr.iter().rev() {
            if !methods.contains(m) {
                methods.insert(0, *m);
            }
        }
        assurance = assurance.union(earlier.assurance);
    }
    let user = SignedIn {
        email: account.email.as_str().to_owned(),
        auth_time: cx.now,
        amr: methods,
        assurance,
        sid: random_id()?,
        generation: 0,
    };
    cx.sign_in(user, &account.email.key()).await?;
    cx.app.metrics.login(amr.as_str(), "success");
    // The account's activity (its owner and support see it); a failure to record it
    // never stops the sign-in.
    let app = pending_app(cx).await;
    if let Err(e) = cx
        .app
        .local
        .record_sign_in(&account.email, amr.as_str(), app.as_deref(), &cx.client)
        .await
    {
        tracing::warn!(error = %e, "sign-in not recorded in the account's activity");
    }
    cx.session.record.email = Some(account.email.as_str().to_owned());
    resume(cx, account).await
}

/// Answers the pending authorization request, if any, for the signed-in user.
pub(crate) async fn resume(cx: &mut Cx, account: &Account) -> Result<Response, Fail> {
    let Some(user) = cx.session.record.user.clone() else {
        return Ok(see_other("/login"));
    };
    let Some(pending) = cx.session.record.pending.take() else {
        return Ok(see_other("/account"));
    };
    match cx
        .app
        .oidc
        .complete(&pending, authentication(account, &user))
        .await?
    {
        Completion::Redirect(redirect) => Ok(see_other(&redirect)),
        Completion::Gone => Err(Fail::page(
            StatusCode::GONE,
            "error.request_expired.title",
            "error.request_expired.body",
        )
        .next("/account", "action.account")),
        // Signed in, but not as strongly as the app asked: nothing was issued.
        Completion::Unmet(waiting) if waiting.prompt.none => {
            let redirect = cx
                .app
                .oidc
                .deny(
                    &pending,
                    "interaction_required",
                    "the session does not meet the requested authentication context",
                )
                .await?;
            Ok(redirect.map_or_else(|| see_other("/account"), |r| see_other(&r)))
        }
        Completion::Unmet(waiting) => {
            cx.session.record.pending = Some(pending);
            stepup::page(cx, account, &waiting).await
        }
    }
}

/// One way forward offered on a page: a link, or a button posting the CSRF token.
pub(crate) struct Way {
    pub href: &'static str,
    pub label: String,
    pub post: bool,
}

impl Way {
    /// A link.
    pub(crate) fn get(cx: &Cx, href: &'static str, label: &str) -> Self {
        Self {
            href,
            label: cx.t.get(label).to_owned(),
            post: false,
        }
    }

    /// A button posting a form.
    pub(crate) fn post(cx: &Cx, href: &'static str, label: &str) -> Self {
        Self {
            href,
            label: cx.t.get(label).to_owned(),
            post: true,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "ways.html")]
struct WaysPage<'a> {
    l: &'a crate::web::page::Layout,
    paragraphs: Vec<String>,
    ways: Vec<Way>,
    alert: bool,
}

/// A page that says something and offers the ways that are open (a throttle names
/// the others, never a dead end).
pub(crate) fn ways_page(
    cx: &Cx,
    status: StatusCode,
    title: &str,
    paragraphs: Vec<String>,
    ways: Vec<Way>,
    alert: bool,
) -> Result<Response, Fail> {
    let l = cx.layout(title);
    crate::web::page::html(
        status,
        &WaysPage {
            l: &l,
            paragraphs,
            ways,
            alert,
        },
    )
}

/// "N minute(s)" until a throttle's window reopens.
pub(crate) fn minutes(retry_after: std::time::Duration) -> String {
    retry_after.as_secs().div_ceil(60).max(1).to_string()
}

/// The address typed on the portal, if the session holds a valid one.
pub(crate) fn typed_email(cx: &Cx) -> Option<passerelle_local_auth::Email> {
    cx.session
        .record
        .email
        .as_deref()
        .and_then(|e| passerelle_local_auth::Email::parse(e).ok())
}

/// Whether an institution of the federation speaks for `email` (its scopes or the
/// operator's mail domains): activation through a university is possible.
pub(crate) fn has_institution(cx: &Cx, email: &passerelle_local_auth::Email) -> bool {
    !cx.app
        .federation
        .snapshot()
        .directory
        .for_email(email.as_str(), cx.t.tag())
        .is_empty()
}
