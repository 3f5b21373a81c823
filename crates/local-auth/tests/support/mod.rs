//! Shared fixture for the local-auth suites: a `LocalAuth` on a real Redis (the
//! harness's or `REDIS_URL`'s), a manual clock, cheap argon2 costs (the default costs
//! are covered by the benchmark and one test), and a file outbox or a real SMTP sink.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

pub use passerelle_local_auth::Config;
use passerelle_local_auth::mailer::Transport;
use passerelle_local_auth::secret::SecretKey;
use passerelle_local_auth::{
    Email, FederatedId, HashParams, LocalAuth, Mailer, MailerConfig, ManualClock, Password, Profile,
};
use passerelle_store::Store;
use passerelle_testkit::redis::{TestRedis, redis_url};

pub const CHEAP: HashParams = HashParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

pub struct Fixture {
    pub auth: LocalAuth,
    pub clock: ManualClock,
    pub store: Store,
    pub outbox: PathBuf,
    _redis: TestRedis,
}

pub fn unique(label: &str) -> String {
    let n: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!("{label}-{}-{n}", std::process::id())
}

pub fn config() -> Config {
    Config {
        argon2: CHEAP,
        link_base_url: "https://login.example.fr/link".into(),
        ..Config::default()
    }
}

pub fn fixture() -> Fixture {
    fixture_with(config())
}

pub fn fixture_with(config: Config) -> Fixture {
    let redis = redis_url().unwrap();
    let store = Store::open(&redis.url(), &unique("la")).unwrap();
    let outbox = std::env::temp_dir().join(unique("outbox"));
    let mailer = Mailer::new(&MailerConfig {
        from: "UNESS <no-reply@uness.fr>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Outbox {
            dir: outbox.clone(),
        },
    })
    .unwrap();
    let clock = ManualClock::starting_now();
    let auth = LocalAuth::with_clock(
        config,
        store.clone(),
        mailer,
        SecretKey::random().unwrap(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    Fixture {
        auth,
        clock,
        store,
        outbox,
        _redis: redis,
    }
}

pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

pub fn fed(subject: &str) -> FederatedId {
    FederatedId {
        idp: "https://idp.unilim.fr/idp/shibboleth".into(),
        subject: subject.into(),
    }
}

pub const GOOD: &str = "Abcdef1!";

/// A pending account vouched for by a university, then activated with `GOOD`.
pub async fn active_account(f: &Fixture, address: &str) -> Email {
    let e = email(address);
    f.auth
        .register_federated(&e, &fed(address), Profile::default())
        .await
        .unwrap();
    let link = f
        .auth
        .issue_link(
            &e,
            passerelle_local_auth::LinkPurpose::Activation,
            "198.51.100.1",
        )
        .await
        .unwrap();
    let token = link.url.rsplit('/').next().unwrap().to_owned();
    let grant = f
        .auth
        .consume_link(&token, passerelle_local_auth::LinkPurpose::Activation)
        .await
        .unwrap();
    f.auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
    e
}

pub fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Issues a link and returns its token (what the user's click carries).
pub async fn issue_token(
    f: &Fixture,
    e: &Email,
    purpose: passerelle_local_auth::LinkPurpose,
    client: &str,
) -> String {
    token_of(&f.auth.issue_link(e, purpose, client).await.unwrap().url)
}
