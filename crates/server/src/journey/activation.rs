//! Activation through the user's university: « Sélectionnez votre établissement »,
//! the SAML round trip, and the link sent to the address the university vouched for.
//!
//! The round trip must come back to the browser that started it. `/saml/login`
//! records a flow bound to the session (a digest of its id); the IdP's cross-site POST
//! to `/saml/acs` carries no Lax cookie, so the ACS only validates the response and
//! stores the result under the flow; it then sends the browser (a top-level GET, which
//! carries the cookie) to `/saml/continue`, which takes the result once and only for
//! the bound session. Nothing grants access before the ACS's checks passed.
//!
//! What the university vouched for is used only if it speaks for the address (its
//! scopes, or the mail domains the operator lists for it: checked by the ACS). Then
//! `passerelle-local-auth`'s `vouch` signs in the account already linked to that
//! identity, or mails a link naming the institution; the identity is linked only when
//! that link is confirmed in this same browser (`links.rs`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_local_auth::{Email, FederatedId, Profile, Vouch};
use passerelle_oidc_provider::{Acr, Amr};
use passerelle_saml_sp::acs::{AcsRequest, Identity, Rejection, consume};
use passerelle_saml_sp::sp::request::LoginOptions;
use passerelle_store::{Expiry, Key};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Fields, signed_in_with};
use crate::page;
use crate::web::i18n::accepted;
use crate::web::page::{Cx, Fail, Layout, render_fail, see_other};
use crate::web::session::{Sessions, random_id};
use crate::web::{App, Peer};

/// How long a SAML round trip may take, and its result may wait for the browser.
const FLOW_TTL: std::time::Duration = std::time::Duration::from_secs(900);

/// What the university vouched for, kept between the ACS and `/saml/continue` (and in
/// the session while the user decides between the typed and the asserted address).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Vouched {
    idp: String,
    subject: String,
    /// The class the assertion carried, when it is one of ours (REFEDS SFA / MFA).
    #[serde(default)]
    acr: Option<Acr>,
    mail: Option<String>,
    /// An address the university asserted but does not speak for.
    #[serde(default)]
    refused_mail: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    institution: Option<String>,
    affiliations: Vec<String>,
    /// eduPersonPrincipalName, scope-checked by the ACS.
    #[serde(default)]
    principal_name: Option<String>,
}

impl Vouched {
    /// The address the university asserted, if any.
    pub(crate) fn mail(&self) -> Option<&str> {
        self.mail.as_deref()
    }
}

impl From<Identity> for Vouched {
    fn from(i: Identity) -> Self {
        Self {
            idp: i.idp.as_str().to_owned(),
            acr: i
                .authn_context
                .as_deref()
                .and_then(Acr::parse)
                .filter(|a| a.federated()),
            subject: i.subject,
            mail: i.mail,
            refused_mail: i.refused_mail,
            display_name: i.display_name,
            given_name: i.given_name,
            family_name: i.family_name,
            institution: i.institution,
            affiliations: i.affiliations,
            principal_name: i.principal_name,
        }
    }
}

/// A SAML round trip in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flow {
    /// [`Sessions::binding`] of the session that started it.
    binding: String,
    /// Filled by the ACS.
    vouched: Option<Vouched>,
}

fn flow_key(id: &str) -> Key {
    Key::new("saml-flow", id)
}

/// `GET /saml/login?idp=ENTITY_ID`: a signed AuthnRequest to that IdP.
pub(crate) async fn saml_login(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/saml/login", |cx| {
        let snapshot = cx.app.federation.snapshot();
        let Some(idp) = snapshot.idp(fields.get("idp")) else {
            return Err(Fail::page(
                StatusCode::NOT_FOUND,
                "error.unknown_idp.title",
                "error.unknown_idp.body",
            )
            .next("/activate", "action.choose_again"));
        };
        let flow = random_id()?;
        let record = Flow {
            binding: Sessions::binding(&cx.session),
            vouched: None,
        };
        cx.app
            .store
            .set(&flow_key(&flow), &record, Expiry::After(FLOW_TTL))
            .await?;
        // The waiting app's acr request, as far as a university can meet it (REFEDS).
        let authn_context = match cx.session.record.pending.as_deref() {
            Some(id) => cx
                .app
                .oidc
                .pending(id)
                .await?
                .map(|p| {
                    p.acr
                        .federated_classes()
                        .into_iter()
                        .map(|a| a.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let options = LoginOptions {
            force_authn: cx.session.record.force_authn,
            flow,
            authn_context,
        };
        let redirect = cx
            .app
            .sp
            .start_login(&cx.app.store, &idp, options, OffsetDateTime::now_utc())
            .await
            .map_err(|e| match e {
                passerelle_saml_sp::Error::Store(s) => Fail::from(s),
                passerelle_saml_sp::Error::Input(_) => Fail::page(
                    StatusCode::BAD_GATEWAY,
                    "error.unknown_idp.title",
                    "error.idp_unusable.body",
                )
                .next("/activate", "action.choose_again"),
                other => Fail::internal(other),
            })?;
        let mut response = see_other(&redirect.url);
        super::discovery::remember_on(&mut response, idp.entity_id.as_str());
        Ok(response)
    })
}

fn rejection_page(r: &Rejection) -> Fail {
    match r {
        // Asked for MFA, the university did not confirm it: said as such, never a
        // silent downgrade (the ACS logged which class came back).
        Rejection::AuthnContextNotMet { .. } => weak_university(),
        Rejection::IdpStatus {
            subcode: Some(s), ..
        } if s.ends_with(":NoAuthnContext") => weak_university(),
        Rejection::IdpStatus { subcode, .. } => {
            let cancelled = subcode
                .as_deref()
                .is_some_and(|s| s.ends_with("AuthnFailed") || s.ends_with("RequestDenied"));
            Fail::page(
                StatusCode::FORBIDDEN,
                "error.idp_refused.title",
                if cancelled {
                    "error.idp_refused.cancelled"
                } else {
                    "error.idp_refused.body"
                },
            )
            .next("/activate", "action.choose_again")
        }
        Rejection::UnknownRequest => Fail::page(
            StatusCode::BAD_REQUEST,
            "error.saml_expired.title",
            "error.saml_expired.body",
        )
        .next("/activate", "action.choose_again"),
        _ => Fail::page(
            StatusCode::BAD_REQUEST,
            "error.saml_rejected.title",
            "error.saml_rejected.body",
        )
        .next("/activate", "action.choose_again"),
    }
}

fn weak_university() -> Fail {
    Fail::page(
        StatusCode::FORBIDDEN,
        "error.weak_university.title",
        "error.weak_university.body",
    )
    .next("/login", "action.sign_in")
}

/// `POST /saml/acs`: validates the university's answer (HTTP-POST binding).
pub(crate) async fn saml_acs(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = accepted(&headers).unwrap_or_default();
    let t = app.catalog.texts(lang);
    let limit = app.acs.max_response_bytes.saturating_mul(2);
    if body.len() > limit {
        // Said as it is, not as the empty form the size would otherwise leave.
        let r = Rejection::TooLarge;
        tracing::warn!(
            idp = "-",
            reason = r.as_str(),
            bytes = body.len(),
            limit,
            "SAML response rejected"
        );
        app.metrics.saml_rejected(r.as_str());
        app.metrics.login("fed", "rejected");
        return render_fail(&app, &t, rejection_page(&r), "/saml/acs");
    }
    let fields = Fields::parse_limited(&body, limit);
    let relay = fields.get("RelayState");
    let input = AcsRequest {
        saml_response: fields.get("SAMLResponse"),
        relay_state: (!relay.is_empty()).then_some(relay),
    };
    let snapshot = app.federation.snapshot();
    let identity = match consume(
        &app.sp,
        &snapshot,
        &app.store,
        input,
        &app.acs,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(i) => i,
        Err(passerelle_saml_sp::Error::Rejected(r)) => {
            app.metrics.saml_rejected(r.as_str());
            app.metrics.login("fed", "rejected");
            return render_fail(&app, &t, rejection_page(&r), "/saml/acs");
        }
        Err(passerelle_saml_sp::Error::Store(e)) => {
            return render_fail(&app, &t, Fail::from(e), "/saml/acs");
        }
        Err(other) => return render_fail(&app, &t, Fail::internal(other), "/saml/acs"),
    };
    let flow_id = identity.flow.clone();
    let stored: Result<Option<Flow>, _> = app.store.get(&flow_key(&flow_id)).await;
    let mut flow = match stored {
        Ok(Some(f)) => f,
        Ok(None) => {
            return render_fail(
                &app,
                &t,
                rejection_page(&Rejection::UnknownRequest),
                "/saml/acs",
            );
        }
        Err(e) => return render_fail(&app, &t, Fail::from(e), "/saml/acs"),
    };
    flow.vouched = Some(Vouched::from(identity));
    if let Err(e) = app
        .store
        .set(&flow_key(&flow_id), &flow, Expiry::After(FLOW_TTL))
        .await
    {
        return render_fail(&app, &t, Fail::from(e), "/saml/acs");
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("flow", &flow_id)
        .finish();
    see_other(&format!("/saml/continue?{q}"))
}

/// `GET /saml/continue?flow=…`: the vouched identity, in the browser that asked.
pub(crate) async fn saml_continue(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let fields = Fields::query(raw);
    page!(app, headers, peer, "/saml/continue", |cx| {
        let id = fields.get("flow");
        let expired = || {
            Fail::page(
                StatusCode::BAD_REQUEST,
                "error.saml_expired.title",
                "error.saml_expired.body",
            )
            .next("/activate", "action.choose_again")
        };
        if id.is_empty() || id.len() > 64 {
            return Err(expired());
        }
        let Some(flow) = cx.app.store.take::<Flow>(&flow_key(id)).await? else {
            return Err(expired());
        };
        if !passerelle_local_auth::secret::ct_eq(&flow.binding, &Sessions::binding(&cx.session)) {
            tracing::warn!("a SAML result was opened in another browser than the one that asked");
            return Err(expired());
        }
        let Some(v) = flow.vouched else {
            return Err(expired());
        };
        cx.session.record.force_authn = false;
        act_on(cx, v, false).await
    })
}

#[derive(Template)]
#[template(path = "wrong_address.html")]
struct WrongAddress<'a> {
    l: &'a Layout,
    typed: &'a str,
    institution: &'a str,
    asserted: &'a str,
    continue_as: String,
}

/// `POST /saml/choose`: after « Vous avez saisi A ; X vous connaît comme C », continue
/// as C, or go back and choose another institution.
pub(crate) async fn saml_choose(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    page!(app, headers, peer, "/saml/choose", |cx| {
        cx.check_form(&headers, fields.get("csrf"))?;
        let Some(v) = cx.session.record.asserted.take() else {
            return Err(Fail::page(
                StatusCode::BAD_REQUEST,
                "error.saml_expired.title",
                "error.saml_expired.body",
            )
            .next("/activate", "action.choose_again"));
        };
        if fields.get("choice") == "asserted" {
            act_on(cx, v, true).await
        } else {
            Ok(see_other("/activate"))
        }
    })
}

/// Acts on what the university vouched for, in the browser that asked. Unless the user
/// already chose (`confirmed`), an asserted address other than the one typed on the
/// portal stops here with the choice: nothing switches silently.
async fn act_on(cx: &mut Cx, v: Vouched, confirmed: bool) -> Result<Response, Fail> {
    let institution = cx
        .app
        .federation
        .snapshot()
        .idp(&v.idp)
        .map_or_else(|| v.idp.clone(), |i| i.name(cx.t.tag()).to_owned());
    let Some(email) = v.mail.as_deref().and_then(|m| Email::parse(m).ok()) else {
        if let Some(refused) = &v.refused_mail {
            // Logged by the ACS with the IdP; the user is told what happened.
            return Err(Fail::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "error.foreign_mail.title",
                "error.foreign_mail.body",
            )
            .arg("institution", institution)
            .arg("email", refused.clone())
            .next("/activate", "action.choose_again"));
        }
        return Err(Fail::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.no_mail.title",
            "error.no_mail.body",
        ));
    };
    let typed = cx
        .session
        .record
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok());
    if let Some(typed) = typed.filter(|t| !confirmed && t.key() != email.key()) {
        tracing::info!(idp = %v.idp, reason = "asserted_address_differs", "university sign-in: the asserted address is not the typed one; the user chooses");
        let continue_as =
            cx.t.fill("wrong_address.continue", &[("email", email.as_str())]);
        let l = cx.layout("wrong_address.title");
        let page = crate::web::page::html(
            StatusCode::OK,
            &WrongAddress {
                l: &l,
                typed: typed.as_str(),
                institution: &institution,
                asserted: email.as_str(),
                continue_as,
            },
        );
        cx.session.record.asserted = Some(v);
        return page;
    }
    let vouch = Vouch {
        federated: FederatedId {
            idp: v.idp.clone(),
            subject: v.subject.clone(),
        },
        profile: Profile {
            display_name: v.display_name.clone(),
            given_name: v.given_name.clone(),
            family_name: v.family_name.clone(),
            institution: v.institution.clone(),
            affiliations: v.affiliations.clone(),
            principal_name: v.principal_name.clone(),
        },
        institution,
        browser: Sessions::binding(&cx.session),
    };
    let app = super::pending_app(cx).await;
    let outcome = cx
            .app
            .local
            .vouch(&email, vouch, cx.t.lang(), &cx.client, app.as_deref())
            .await
            .map_err(|e| {
                if matches!(e, passerelle_local_auth::Error::IdentityConflict) {
                    tracing::warn!(idp = %v.idp, reason = "identity_conflict", "university sign-in refused: the address or the identity is linked to another account");
                }
                Fail::local(e)
            })?;
    cx.session.record.email = Some(email.as_str().to_owned());
    match outcome {
        // « Se connecter avec mon université » for an account linked to this identity.
        passerelle_local_auth::Vouched::SignedIn(account) => {
            signed_in_with(cx, &account, Amr::Fed, v.acr).await
        }
        passerelle_local_auth::Vouched::LinkSent { .. } => super::register::sent_page(cx, &email),
    }
}

/// `GET /saml/metadata`: the SP's metadata, to register in the federation.
pub(crate) async fn sp_metadata(State(app): State<App>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/samlmetadata+xml"),
        )],
        app.sp.metadata_xml(),
    )
        .into_response()
}
