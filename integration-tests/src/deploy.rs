//! A production-shaped deployment for black-box tests: `passerelle serve` processes
//! with a TOML file, a private `redis-server`, a real SMTP listener, and a dev IdP
//! (another crate, served by this test process on its own port) listed in a signed
//! federation feed the bridge verifies with a pinned certificate.

use std::path::PathBuf;

use base64::Engine as _;
use passerelle_dev_idp::{DevIdp, DevIdpConfig, DevUser, IdpKeys};
use passerelle_saml_sp::metadata::writer::{SignatureAlgorithm, sign_aggregate, write_aggregate};
use passerelle_saml_sp::metadata::{ParseOptions, parse};
use passerelle_testkit::free_port;
use passerelle_testkit::redis::RedisServer;
use passerelle_testkit::smtp::{SinkTls, SmtpSink};
use sha2::Digest as _;

use crate::{Passerelle, TempDir};

/// The test app's registration.
pub const CLIENT_ID: &str = "it-app";
/// Its secret.
pub const CLIENT_SECRET: &str = "it-app-secret-with-enough-entropy-0123456789";
/// The dev IdP's test user and the address its university gives.
pub const USER: (&str, &str, &str) = ("alice", "alice-pw", "alice.durand@etu.univ-test.fr");
/// [`USER`]'s second factor at the dev IdP (asked when a request wants REFEDS MFA;
/// the other users have none, and their university answers without MFA).
pub const USER_OTP: &str = "424242";
/// A dev IdP user with no second factor: asked for REFEDS MFA, the university answers
/// with a password-only class.
pub const NO_MFA_USER: (&str, &str, &str) = ("bruno", "bruno-pw", "bruno.martin@etu.univ-test.fr");
/// A dev IdP user whose university asserts another university's address (pysaml2's
/// user's): what a compromised or misconfigured IdP would send.
pub const MALLORY: (&str, &str, &str) = ("mallory", "mallory-pw", PYSAML2_MAIL);

/// Everything a deployment runs.
pub struct Deployment {
    /// The store.
    pub redis: RedisServer,
    /// Where mail goes.
    pub smtp: SmtpSink,
    /// The running instances (the first one's URL is the public URL).
    pub instances: Vec<Passerelle>,
    /// The public URL (issuer).
    pub public_url: String,
    /// The app's redirect URI (nothing listens there: the test reads the redirect).
    pub redirect_uri: String,
    /// Where the app starts a sign-in (its `initiate_login_uri`, OIDC Core §4), on the
    /// redirect URI's origin.
    pub initiate_login_uri: String,
    /// The configuration file.
    pub config: PathBuf,
    /// pysaml2's key and certificate (PEM files).
    pub pysaml2_keys: (PathBuf, PathBuf),
    /// The feed file the instances read, and what signs it.
    pub feed: Feed,
    ports: Vec<u16>,
    _dir: TempDir,
    _idp: tokio::task::JoinHandle<()>,
}

/// The deployment's federation feed: its file, the federation key, the records it lists.
pub struct Feed {
    /// The file `[[saml.federations]]` names.
    pub path: PathBuf,
    key: IdpKeys,
    records: Vec<passerelle_saml_sp::metadata::IdpRecord>,
}

impl Feed {
    /// The feed, signed by the federation key, valid until `valid_until`.
    ///
    /// # Panics
    /// When writing or signing fails (test set-up).
    #[must_use]
    pub fn signed(&self, valid_until: time::OffsetDateTime) -> String {
        let xml = write_aggregate(
            "it",
            "it-feed",
            valid_until,
            std::time::Duration::from_secs(3600),
            &self.records,
        )
        .unwrap();
        sign_aggregate(
            &xml,
            self.key.key_der(),
            self.key.cert_der(),
            SignatureAlgorithm::RsaSha256,
        )
        .unwrap()
    }
}

/// pysaml2's IdP entityID (fixed in `crates/saml-sp/tests/pysaml2/idp.py`).
pub const PYSAML2_IDP: &str = "https://idp.pysaml2.test/idp";
/// The address pysaml2's test identity carries.
pub const PYSAML2_MAIL: &str = "camille.dupont@etu.pysaml2.test";

fn pysaml2_entity(cert_der: &[u8]) -> String {
    let cert = base64::engine::general_purpose::STANDARD.encode(cert_der);
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" entityID="{PYSAML2_IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:Extensions><shibmd:Scope regexp="false">pysaml2.test</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="fr">Université PySAML2</mdui:DisplayName></mdui:UIInfo></md:Extensions><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{PYSAML2_IDP}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn user(login: &str, password: &str, mail: &str) -> DevUser {
    DevUser {
        otp: None,
        login: login.into(),
        password: password.into(),
        attributes: vec![
            (
                "urn:oasis:names:tc:SAML:attribute:subject-id".into(),
                vec![format!("{login}@univ-test.fr")],
            ),
            (
                "urn:oid:0.9.2342.19200300.100.1.3".into(),
                vec![mail.into()],
            ),
            ("urn:oid:2.5.4.42".into(), vec!["Alice".into()]),
            ("urn:oid:2.5.4.4".into(), vec!["Durand".into()]),
            (
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.6".into(),
                vec![format!("{login}@univ-test.fr")],
            ),
            (
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.1".into(),
                vec!["student".into()],
            ),
        ],
    }
}

impl Deployment {
    /// Starts `instances` bridges on one Redis.
    pub async fn start(instances: usize) -> Self {
        Self::start_with(instances, "").await
    }

    /// Like [`Deployment::start`], with `extra` appended to the configuration (tables
    /// the base file does not set: `[local_auth]`, `[limits]`, `[sessions]`, `[log]`).
    pub async fn start_with(instances: usize, extra: &str) -> Self {
        Self::start_with_idps(instances, extra, Vec::new()).await
    }

    /// Like [`Deployment::start_with`], the feed listing `more` IdPs after the test's two
    /// (a real federation's records re-signed by the test federation, generated ones).
    pub async fn start_with_idps(
        instances: usize,
        extra: &str,
        more: Vec<passerelle_saml_sp::metadata::IdpRecord>,
    ) -> Self {
        let dir = TempDir::new("deploy");
        let redis = RedisServer::start().expect("redis-server (scripts/deps.sh test)");
        let smtp = SmtpSink::start(SinkTls::None, None).await.unwrap();
        let ports: Vec<u16> = (0..instances.max(1))
            .map(|_| free_port().unwrap())
            .collect();
        let public_url = format!("http://localhost:{}", ports[0]);
        let app_port = free_port().unwrap();
        let redirect_uri = format!("http://127.0.0.1:{app_port}/cb");
        let initiate_login_uri = format!("http://127.0.0.1:{app_port}/start");

        let sp_signing = IdpKeys::generate("it sp signing").unwrap();
        let sp_encryption = IdpKeys::generate("it sp encryption").unwrap();
        let federation = IdpKeys::generate("it federation").unwrap();
        let idp_port = free_port().unwrap();
        let dev = DevIdp::new(DevIdpConfig {
            entity_id: "https://idp.univ-test.fr/idp".into(),
            base_url: format!("http://127.0.0.1:{idp_port}"),
            name_fr: "Université de Test".into(),
            scope: "univ-test.fr".into(),
            users: vec![
                DevUser {
                    otp: Some(USER_OTP.into()),
                    ..user(USER.0, USER.1, USER.2)
                },
                user(MALLORY.0, MALLORY.1, MALLORY.2),
                user(NO_MFA_USER.0, NO_MFA_USER.1, NO_MFA_USER.2),
            ],
            sign_response: false,
            sp_encryption_cert_pem: Some(sp_encryption.cert_pem()),
            sp_signing_cert_pem: Some(sp_signing.cert_pem()),
        })
        .unwrap();
        // A second university: pysaml2 (PyPI), run by the tests as a one-shot responder.
        let pysaml2 = IdpKeys::generate("pysaml2 test idp").unwrap();
        let mut records = parse(&dev.metadata_xml(), ParseOptions::default())
            .unwrap()
            .idps;
        records.extend(
            parse(&pysaml2_entity(pysaml2.cert_der()), ParseOptions::default())
                .unwrap()
                .idps,
        );
        records.extend(more);
        let feed = Feed {
            path: dir.0.join("feed.xml"),
            key: federation,
            records,
        };
        let signed = feed.signed(time::OffsetDateTime::now_utc() + time::Duration::days(5));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", idp_port))
            .await
            .unwrap();
        let idp = tokio::spawn(async move {
            let _ = axum::serve(listener, dev.router()).await;
        });

        let p = |name: &str| dir.0.join(name);
        let write = |name: &str, text: &str| std::fs::write(p(name), text).unwrap();
        write("feed.xml", &signed);
        write("pysaml2.key", &pysaml2.key_pem());
        write("pysaml2.crt", &pysaml2.cert_pem());
        write("federation.pem", &feed.key.cert_pem());
        write("sp-signing.key", &sp_signing.key_pem());
        write("sp-signing.crt", &sp_signing.cert_pem());
        write("sp-encryption.key", &sp_encryption.key_pem());
        write("sp-encryption.crt", &sp_encryption.cert_pem());
        write(
            "secret",
            "8f2e5d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a39281706",
        );
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(CLIENT_SECRET.as_bytes()));
        let d = |name: &str| p(name).display().to_string();
        let config = format!(
            r#"public_url = "{public_url}"
listen = "127.0.0.1:{port}"
secret_file = "{secret}"

[store]
url = "{redis}"
prefix = "it"

[mail]
from = "UNESS test <no-reply@uness.test>"
transport = "smtp"
host = "127.0.0.1"
port = {smtp}
security = "none"

[saml]
cache_dir = "{cache}"

[saml.sp]
entity_id = "{public_url}/saml/metadata"
acs_url = "{public_url}/saml/acs"
name_fr = "UNESS (test)"
name_en = "UNESS (test)"
description_fr = "Test"
description_en = "Test"
information_url = "https://www.uness.fr/"
privacy_url = "https://www.uness.fr/"
organization_name = "UNESS"
organization_url = "https://www.uness.fr/"

[[saml.sp.contacts]]
kind = "technical"
name = "Tests"
email = "tech@uness.test"

[saml.keys]
signing_key = "{sk}"
signing_cert = "{sc}"
encryption_key = "{ek}"
encryption_cert = "{ec}"

[[saml.federations]]
name = "it"
file = "{feed}"
certs = ["{fed}"]

[[oidc.clients]]
client_id = "{CLIENT_ID}"
name = "Application de test"
secret_hash = "sha256:{hash}"
redirect_uris = ["{redirect_uri}"]
initiate_login_uri = "{initiate_login_uri}"
post_logout_redirect_uris = ["{public_url}/bye"]
scopes = "openid email profile academic offline_access"
id_token_signed_response_alg = "ES256"
"#,
            port = ports[0],
            secret = d("secret"),
            redis = redis.url(),
            smtp = smtp.port(),
            cache = d("cache"),
            sk = d("sp-signing.key"),
            sc = d("sp-signing.crt"),
            ek = d("sp-encryption.key"),
            ec = d("sp-encryption.crt"),
            feed = d("feed.xml"),
            fed = d("federation.pem"),
        );
        write("passerelle.toml", &format!("{config}\n{extra}\n"));
        let mut deployment = Self {
            redis,
            smtp,
            instances: Vec::new(),
            public_url,
            redirect_uri,
            initiate_login_uri,
            config: p("passerelle.toml"),
            pysaml2_keys: (p("pysaml2.key"), p("pysaml2.crt")),
            feed,
            ports,
            _dir: dir,
            _idp: idp,
        };
        for i in 0..deployment.ports.len() {
            deployment.start_instance(i).await;
        }
        deployment
    }

    /// Starts instance `i` (listening on its own port, same configuration).
    pub async fn start_instance(&mut self, i: usize) {
        let port = self.ports[i];
        let listen = format!("127.0.0.1:{port}");
        let config = self.config.display().to_string();
        let p = Passerelle::start(
            &["serve", "--config", &config],
            &[("PASSERELLE_LISTEN", &listen)],
            port,
        )
        .await;
        if i < self.instances.len() {
            self.instances[i] = p;
        } else {
            self.instances.push(p);
        }
    }

    /// Every instance's origin (`http://localhost:PORT`).
    #[must_use]
    pub fn origins(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("http://localhost:{p}"))
            .collect()
    }
}
