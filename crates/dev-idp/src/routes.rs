//! The dev IdP's HTTP routes: metadata, the login form behind `/sso`, and the
//! auto-posting answer. Every value put in a page is escaped.

use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use quick_xml::escape::escape;
use serde::Deserialize;

use crate::DevIdp;
use crate::response::{read_request, respond};

#[derive(Debug, Deserialize)]
struct SsoQuery {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    otp: String,
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

const AUTOSUBMIT_JS: &str = "document.forms[0].submit();\n";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><main><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    ))
}

fn login_page(
    idp: &DevIdp,
    saml_request: &str,
    relay_state: &str,
    error: Option<&str>,
    mfa: bool,
) -> Html<String> {
    let otp = if mfa {
        r#"<p>Le service demande une authentification multi-facteurs (REFEDS MFA).</p><p><label for="otp">Code à usage unique</label> <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code"></p>"#
    } else {
        ""
    };
    let users: String = idp
        .config
        .users
        .iter()
        .map(|u| format!("<li><code>{}</code></li>", escape(u.login.as_str())))
        .collect();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        &format!("{} — IdP de démonstration", idp.config.name_fr),
        &format!(
            r#"<p>IdP de démonstration : ne pas utiliser en production.</p>{error}<form method="post" action="{base}/sso/login"><input type="hidden" name="SAMLRequest" value="{req}"><input type="hidden" name="RelayState" value="{relay}"><p><label for="login">Identifiant</label> <input id="login" name="login" autocomplete="username" required></p><p><label for="password">Mot de passe</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>{otp}<p><button type="submit">Se connecter</button></p></form><p>Comptes de test :</p><ul>{users}</ul>"#,
            base = escape(idp.config.base_url.as_str()),
            req = escape(saml_request),
            relay = escape(relay_state),
        ),
    )
}

async fn metadata(State(idp): State<DevIdp>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        idp.metadata_xml(),
    )
        .into_response()
}

async fn sso(
    State(idp): State<DevIdp>,
    RawQuery(raw): RawQuery,
    Query(q): Query<SsoQuery>,
) -> Response {
    if let Some(cert) = idp.config.sp_signing_cert_pem.as_deref()
        && let Err(e) = crate::verify::redirect_signature(raw.as_deref().unwrap_or_default(), cert)
    {
        return (
            StatusCode::BAD_REQUEST,
            page("Requête refusée", &escape(e.to_string().as_str())),
        )
            .into_response();
    }
    match read_request(&q.saml_request) {
        Ok(r) => {
            login_page(&idp, &q.saml_request, &q.relay_state, None, r.wants_mfa()).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            page("Requête invalide", &escape(e.to_string().as_str())),
        )
            .into_response(),
    }
}

async fn login(State(idp): State<DevIdp>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let request = match read_request(&f.saml_request) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                page("Requête invalide", &escape(e.to_string().as_str())),
            )
                .into_response();
        }
    };
    let Some(user) = idp
        .config
        .users
        .iter()
        .find(|u| u.login == f.login && u.password == f.password)
    else {
        let page = login_page(
            &idp,
            &f.saml_request,
            &f.relay_state,
            Some("Identifiant ou mot de passe incorrect."),
            request.wants_mfa(),
        );
        return (StatusCode::UNAUTHORIZED, page).into_response();
    };
    // Asked for MFA: a user with a second factor must give it; one without is answered
    // with a password-only class (the SP decides what that is worth).
    let mfa = match user.otp.as_deref() {
        Some(code) if request.wants_mfa() => {
            if f.otp.trim() != code {
                let page = login_page(
                    &idp,
                    &f.saml_request,
                    &f.relay_state,
                    Some("Code à usage unique incorrect."),
                    true,
                );
                return (StatusCode::UNAUTHORIZED, page).into_response();
            }
            true
        }
        _ => false,
    };
    match respond(&idp, &request, user, mfa) {
        Ok(saml_response) => page(
            "Retour vers le service",
            &format!(
                r#"<form method="post" action="{acs}"><input type="hidden" name="SAMLResponse" value="{resp}"><input type="hidden" name="RelayState" value="{relay}"><button type="submit">Continuer</button></form><script src="{base}/autosubmit.js"></script>"#,
                acs = escape(request.acs_url.as_str()),
                resp = escape(saml_response.as_str()),
                relay = escape(f.relay_state.as_str()),
                base = escape(idp.config.base_url.as_str()),
            ),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dev IdP could not answer");
            (StatusCode::INTERNAL_SERVER_ERROR, page("Erreur", "L'IdP de démonstration n'a pas pu répondre.")).into_response()
        }
    }
}

impl DevIdp {
    /// The routes, to mount under the path of `base_url` (e.g. `.nest("/dev-idp", …)`).
    pub fn router(self) -> Router {
        Router::new()
            .route("/metadata", get(metadata))
            .route("/sso", get(sso))
            .route("/sso/login", post(login))
            .route(
                "/autosubmit.js",
                get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], AUTOSUBMIT_JS) }),
            )
            .with_state(self)
    }
}
