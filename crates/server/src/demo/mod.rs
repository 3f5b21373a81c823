//! `passerelle demo`: the whole bridge on embedded defaults, one port, nothing to set up.
//!
//! In-memory store; three dev IdPs ("universities") with test users, listed in a demo
//! federation whose metadata is written and signed at start and then loaded like a real
//! feed (pinned certificate, signature, validity); a demo app (an OIDC relying party
//! that signs in through Passerelle and shows the ID token's claims); and an outbox page
//! where the demo's e-mails (links, codes) can be read. Every key is made at start and
//! lives in memory: the demo must never be exposed as a service.

mod outbox;
mod rp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use passerelle_dev_idp::{DevIdp, DevIdpConfig, DevUser, IdpKeys};
use passerelle_local_auth::mailer::Transport;
use passerelle_local_auth::secret::SecretKey;
use passerelle_local_auth::{Config, Limit, LocalAuth, Mailer, MailerConfig};
use passerelle_oidc_provider::{
    ClientConfig, Provider, Registry, Settings, SubjectType, generate_secret, hash_secret,
};
use passerelle_saml_sp::acs::AcsSettings;
use passerelle_saml_sp::federation::{Federation, Location, Source};
use passerelle_saml_sp::metadata::writer::{SignatureAlgorithm, sign_aggregate, write_aggregate};
use passerelle_saml_sp::metadata::{ParseOptions, PinnedCerts, parse};
use passerelle_saml_sp::sp::{Contact, KeyPair, ServiceProvider, SpConfig};
use passerelle_store::Store;
use time::OffsetDateTime;

use crate::web::i18n::Catalog;
use crate::web::session::{Lifetimes, Sessions};
use crate::web::{App, Inner};

/// One demo university.
struct University {
    slug: &'static str,
    name: &'static str,
    domain: &'static str,
    users: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

/// (login, given name, family name, affiliation); every password is `<login>-pw`.
const UNIVERSITIES: &[University] = &[
    University {
        slug: "lumiere",
        name: "Université Lumière (démo)",
        domain: "univ-lumiere.test",
        users: &[
            ("alice", "Alice", "Martin", "student"),
            ("bruno", "Bruno", "Petit", "staff"),
        ],
    },
    University {
        slug: "littoral",
        name: "Université du Littoral (démo)",
        domain: "univ-littoral.test",
        users: &[("chloe", "Chloé", "Durand", "student")],
    },
    University {
        slug: "sante",
        name: "École de santé de la Loire (démo)",
        domain: "sante-loire.test",
        users: &[("david", "David", "Nguyen", "student")],
    },
];

/// The demo universities' second factor (asked when an app wants REFEDS MFA).
const DEMO_OTP: &str = "123456";

fn dev_user(u: &University, login: &str, given: &str, family: &str, affiliation: &str) -> DevUser {
    let folded: String = given
        .chars()
        .map(|c| {
            if c == 'é' {
                'e'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let mail = format!("{folded}.{}@etu.{}", family.to_ascii_lowercase(), u.domain);
    DevUser {
        otp: Some(DEMO_OTP.into()),
        login: login.into(),
        password: format!("{login}-pw"),
        attributes: vec![
            (
                "urn:oasis:names:tc:SAML:attribute:subject-id".into(),
                vec![format!("{login}@{}", u.domain)],
            ),
            ("urn:oid:0.9.2342.19200300.100.1.3".into(), vec![mail]),
            ("urn:oid:2.5.4.42".into(), vec![given.into()]),
            ("urn:oid:2.5.4.4".into(), vec![family.into()]),
            (
                "urn:oid:2.16.840.1.113730.3.1.241".into(),
                vec![format!("{given} {family}")],
            ),
            (
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.1".into(),
                vec![affiliation.into()],
            ),
            (
                "urn:oid:1.3.6.1.4.1.25178.1.2.9".into(),
                vec![u.domain.into()],
            ),
        ],
    }
}

/// The demo's parts, for the route table and the start-up banner.
pub(crate) struct Demo {
    pub router: Router,
    pub public_url: String,
    pub outbox: PathBuf,
    pub logins: Vec<String>,
}

/// Builds everything the demo runs.
pub(crate) async fn build(
    public_url: &str,
    outbox: PathBuf,
    work: &std::path::Path,
) -> anyhow::Result<Demo> {
    let public = public_url.trim_end_matches('/').to_owned();
    let store = Store::memory("passerelle");
    let audit =
        passerelle_audit::AuditLog::new(store.clone(), passerelle_audit::AuditConfig::default());
    let sp_signing = IdpKeys::generate("Passerelle demo SP signing")?;
    let sp_encryption = IdpKeys::generate("Passerelle demo SP encryption")?;

    // The universities and the federation that lists them. On localhost they are reached
    // as 127.0.0.1: another site for the browser, as a real university is, so the demo
    // exercises the cross-site return to the ACS.
    let idp_base = public.replacen("://localhost:", "://127.0.0.1:", 1);
    let mut idps = Vec::new();
    let mut records = Vec::new();
    let mut logins = Vec::new();
    for u in UNIVERSITIES {
        let users: Vec<DevUser> = u
            .users
            .iter()
            .map(|(l, g, f, a)| dev_user(u, l, g, f, a))
            .collect();
        for user in &users {
            logins.push(format!(
                "{} — {} / {} (code MFA {DEMO_OTP})",
                u.name, user.login, user.password
            ));
        }
        let dev = DevIdp::new(DevIdpConfig {
            entity_id: format!("https://idp.{}/idp", u.domain),
            base_url: format!("{idp_base}/dev-idp/{}", u.slug),
            name_fr: u.name.into(),
            scope: u.domain.into(),
            users,
            sign_response: true,
            sp_encryption_cert_pem: Some(sp_encryption.cert_pem()),
            sp_signing_cert_pem: Some(sp_signing.cert_pem()),
        })?;
        let parsed =
            parse(&dev.metadata_xml(), ParseOptions::default()).context("dev IdP metadata")?;
        records.extend(parsed.idps);
        idps.push((u.slug, dev));
    }
    let federation_key = IdpKeys::generate("Passerelle demo federation")?;
    let now = OffsetDateTime::now_utc();
    let xml = write_aggregate(
        "Fédération de démonstration",
        "demo-federation",
        now + time::Duration::days(7),
        Duration::from_secs(3600),
        &records,
    )?;
    let signed = sign_aggregate(
        &xml,
        federation_key.key_der(),
        federation_key.cert_der(),
        SignatureAlgorithm::RsaSha256,
    )?;
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let feed = work.join("demo-federation.xml");
    std::fs::write(&feed, signed).with_context(|| format!("cannot write {}", feed.display()))?;
    let federation = Arc::new(Federation::new(
        vec![Source {
            name: "demo".into(),
            location: Location::File(feed),
            pinned: PinnedCerts::from_pem(&federation_key.cert_pem())?,
            max_validity: Duration::from_secs(30 * 86_400),
            max_bytes: 256 << 20,
        }],
        None,
    )?);
    for status in federation.refresh(now).await {
        if let Some(e) = status.error {
            anyhow::bail!("the demo federation did not load: {e}");
        }
    }

    let sp = ServiceProvider::new(
        SpConfig {
            entity_id: format!("{public}/saml/metadata"),
            acs_url: format!("{public}/saml/acs"),
            name_fr: "UNESS (démo)".into(),
            name_en: "UNESS (demo)".into(),
            description_fr: "Connexion aux services numériques UNESS".into(),
            description_en: "Sign-in to the UNESS digital services".into(),
            information_url: "https://www.uness.fr/".into(),
            privacy_url: "https://www.uness.fr/".into(),
            organization_name: "UNESS".into(),
            organization_url: "https://www.uness.fr/".into(),
            contacts: vec![Contact {
                kind: "technical".into(),
                name: "Demo".into(),
                email: "support@uness.test".into(),
            }],
            request_ttl_secs: 600,
        },
        KeyPair::from_pem(
            sp_signing.key_pem().as_bytes(),
            sp_signing.cert_pem().as_bytes(),
        )?,
        KeyPair::from_pem(
            sp_encryption.key_pem().as_bytes(),
            sp_encryption.cert_pem().as_bytes(),
        )?,
    )?;

    // The demo app, registered like any relying party.
    let rp_secret = generate_secret().map_err(|e| anyhow::anyhow!("{e}"))?;
    let registry = Registry::new(&[ClientConfig {
        client_id: rp::CLIENT_ID.into(),
        name: Some("Application de démonstration".into()),
        secret_hash: Some(hash_secret(&rp_secret)),
        token_endpoint_auth_method: None,
        redirect_uris: vec![format!("{public}/demo-app/callback")],
        post_logout_redirect_uris: vec![format!("{public}/demo-app")],
        scopes: Some("openid email profile academic offline_access".into()),
        subject_type: SubjectType::Public,
        sector_identifier: None,
        backchannel_logout_uri: None,
        id_token_signed_response_alg: Some("EdDSA".into()),
        access_token_lifetime: None,
        refresh_tokens: None,
        jwks: None,
        jwks_uri: None,
        initiate_login_uri: None,
        client_uri: Some(format!("{public}/demo-app")),
        default_acr_values: Vec::new(),
    }])?;
    let provider_secret = passerelle_local_auth::secret::random_bytes::<32>()?;
    let oidc = Arc::new(
        Provider::new(
            Settings::new(&public),
            registry,
            store.clone(),
            &provider_secret,
        )
        .await?,
    );

    let mailer = Mailer::new(&MailerConfig {
        from: "UNESS démo <no-reply@demo.passerelle.test>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Outbox {
            dir: outbox.clone(),
        },
    })?;
    let local = LocalAuth::new(
        Config {
            link_base_url: format!("{public}/link"),
            // People without a university: any address @chu-demo.test may register.
            self_registration_domains: vec![passerelle_local_auth::DomainPattern::parse(
                "chu-demo.test",
            )?],
            ..Config::default()
        },
        store.clone(),
        mailer,
        SecretKey::random()?,
    )?
    .with_passkeys(&crate::serve::passkey_config(
        &public,
        "UNESS",
        &crate::config::PasskeysConfig::default(),
    )?)?;
    let origin = origin_of(&public)?;
    let rp = rp::DemoRp::new(&public, &rp_secret, oidc.clone())?;
    let app = App::new(Inner {
        sessions: Sessions::new(store.clone(), Lifetimes::default()),
        store,
        local,
        oidc,
        sp,
        federation,
        acs: AcsSettings::default(),
        catalog: Catalog::load_branded("UNESS")?,
        branding: crate::web::brand::Branding::default(),
        audit,
        console: crate::console::Console::default(),
        public_url: public.clone(),
        origin,
        support_url: "https://sos.uness.fr/".into(),
        trusted_proxies: Vec::new(),
        portal_limit: Limit::per_minutes(600, 15),
        api: crate::config::ApiConfig::default(),
        metrics: crate::web::observe::Metrics::new(),
    });

    let mut router = crate::web::router(app);
    for (slug, dev) in idps {
        router = router.nest(&format!("/dev-idp/{slug}"), dev.router());
    }
    router = router
        .merge(rp::router(rp))
        .merge(outbox::router(outbox.clone()));
    Ok(Demo {
        router,
        public_url: public,
        outbox,
        logins,
    })
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin_of(url: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    Ok(u.origin().ascii_serialization())
}

/// `passerelle demo`: builds, listens, prints where to click.
pub(crate) async fn run(
    listen: SocketAddr,
    public_url: Option<String>,
    outbox: Option<PathBuf>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let public = public_url.unwrap_or_else(|| {
        if bound.ip().is_loopback() {
            format!("http://localhost:{}", bound.port())
        } else {
            format!("http://{bound}")
        }
    });
    let work = std::env::temp_dir().join(format!("passerelle-demo-{}", bound.port()));
    let outbox = outbox.unwrap_or_else(|| work.join("outbox"));
    let demo = build(&public, outbox, &work).await?;
    let p = &demo.public_url;
    tracing::info!("passerelle demo is up on {bound}");
    let banner = format!(
        "\nPasserelle demo — open these in a browser:\n  demo app (start here): {p}/demo-app\n  mail outbox:           {p}/demo/outbox\n  account page:          {p}/account\n  OIDC discovery:        {p}/.well-known/openid-configuration\n  SP metadata:           {p}/saml/metadata\nTest users at the demo universities (login / password):\n  {}\nNo university? Any address @chu-demo.test may create an account (self-registration).\nE-mails are also written to {}\n",
        demo.logins.join("\n  "),
        demo.outbox.display()
    );
    eprintln!("{banner}");
    axum::serve(
        listener,
        demo.router
            .into_make_service_with_connect_info::<crate::web::Peer>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await
    .context("HTTP server")
}
