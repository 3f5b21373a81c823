//! Passkey assertion verification as the sign-in path pays it, minus the network: the
//! ceremony taken from the store, the credential found, webauthn-rs' checks (client
//! data, RP ID hash, flags, ES256 signature, counter), the credential saved back. The
//! store is the in-memory one, so the figure is CPU per verification on one thread.
//! Each iteration gets a fresh ceremony and answer (made outside the measurement by a
//! software authenticator). Run: `cargo bench -p passerelle-local-auth --bench passkey`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

#[path = "../tests/support/device.rs"]
mod device;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use passerelle_local_auth::mailer::Transport;
use passerelle_local_auth::secret::SecretKey;
use passerelle_local_auth::{
    Config, Email, FederatedId, HashParams, LinkPurpose, LocalAuth, Mailer, MailerConfig,
    PasskeyConfig, Password, Profile,
};
use passerelle_store::Store;
use webauthn_rs::prelude::Url;

async fn setup() -> (LocalAuth, Email) {
    let outbox = std::env::temp_dir().join(format!("passkey-bench-{}", std::process::id()));
    let mailer = Mailer::new(&MailerConfig {
        from: "UNESS <no-reply@uness.fr>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Outbox { dir: outbox },
    })
    .unwrap();
    let config = Config {
        argon2: HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        link_base_url: "https://login.uness.fr/link".into(),
        ..Config::default()
    };
    let auth = LocalAuth::new(
        config,
        Store::memory("bench"),
        mailer,
        SecretKey::random().unwrap(),
    )
    .unwrap()
    .with_passkeys(&PasskeyConfig {
        rp_id: "login.uness.fr".into(),
        origin: Url::parse("https://login.uness.fr").unwrap(),
        rp_name: "UNESS".into(),
        max_per_account: 10,
    })
    .unwrap();
    let email = Email::parse("alice@unilim.fr").unwrap();
    let fed = FederatedId {
        idp: "https://idp.unilim.fr/idp/shibboleth".into(),
        subject: "alice".into(),
    };
    auth.register_federated(&email, &fed, Profile::default())
        .await
        .unwrap();
    let link = auth
        .issue_link(&email, LinkPurpose::Activation, "198.51.100.1")
        .await
        .unwrap();
    let token = link.url.rsplit('/').next().unwrap().to_owned();
    let grant = auth
        .consume_link(&token, LinkPurpose::Activation)
        .await
        .unwrap();
    let pw = Password::new("Abcdef1!");
    auth.complete_link(&grant, &pw, &pw).await.unwrap();
    (auth, email)
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (auth, email) = rt.block_on(setup());
    let mut device = device::Device::new();
    let reg = rt
        .block_on(auth.start_passkey_registration(&email))
        .unwrap();
    let answer = device.register(&reg.options);
    rt.block_on(auth.finish_passkey_registration(&email, &reg.id, &answer, "bench"))
        .unwrap();

    let mut group = c.benchmark_group("passkey");
    group.bench_function("verify an assertion (ES256, user verified)", |b| {
        b.iter_batched(
            || {
                let check = rt.block_on(auth.start_passkey_check(&email)).unwrap();
                let answer = device.assert(&check.options);
                (check.id, answer)
            },
            |(id, answer)| {
                rt.block_on(auth.finish_passkey_check(&email, &id, &answer))
                    .unwrap();
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
