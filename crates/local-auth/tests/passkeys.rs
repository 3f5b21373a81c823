//! Passkey ceremonies on real Redis, without an authenticator (the browser test has a
//! virtual one): a ceremony is single use, bound to its account, and garbage answers
//! are refused without changing anything; the relying party must fit the origin.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

#[path = "support/device.rs"]
mod device;
mod support;

use device::Device;

use passerelle_local_auth::{Error, PasskeyConfig, Password};
use support::*;
use webauthn_rs::prelude::Url;

fn config(rp_id: &str) -> PasskeyConfig {
    PasskeyConfig {
        rp_id: rp_id.into(),
        origin: Url::parse("https://login.uness.fr").unwrap(),
        rp_name: "UNESS".into(),
        max_per_account: 2,
    }
}

#[test]
fn the_relying_party_id_must_fit_the_origin() {
    let f = fixture();
    assert!(
        f.auth
            .clone()
            .with_passkeys(&config("login.uness.fr"))
            .is_ok()
    );
    assert!(f.auth.clone().with_passkeys(&config("uness.fr")).is_ok());
    assert!(matches!(
        f.auth.clone().with_passkeys(&config("evil.example")),
        Err(Error::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_is_single_use_bound_to_its_account_and_garbage_changes_nothing() {
    let f = fixture();
    let auth = f
        .auth
        .clone()
        .with_passkeys(&config("login.uness.fr"))
        .unwrap();
    let alice = active_account(&f, "alice@unilim.fr").await;
    let bob = active_account(&f, "bob@unilim.fr").await;

    // Sign-in: options name no credential (discoverable), require user verification.
    let sign_in = auth.start_passkey_sign_in().await.unwrap();
    let pk = &sign_in.options["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert!(pk["allowCredentials"].as_array().is_none_or(Vec::is_empty));
    assert!(matches!(
        auth.finish_passkey_sign_in(&sign_in.id, "{not json").await,
        Err(Error::PasskeyRefused(r)) if r == "answer"
    ));
    // Spent by that first answer: a replay is refused as an unknown ceremony.
    assert!(matches!(
        auth.finish_passkey_sign_in(&sign_in.id, "{}").await,
        Err(Error::PasskeyRefused(r)) if r == "ceremony"
    ));

    // Registration: discoverable, user verification required; another account cannot
    // finish it, and it is spent by trying.
    let reg = auth.start_passkey_registration(&alice).await.unwrap();
    let sel = &reg.options["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required");
    assert_eq!(sel["userVerification"], "required");
    assert!(matches!(
        auth.finish_passkey_registration(&bob, &reg.id, "{}", "x").await,
        Err(Error::PasskeyRefused(r)) if r == "ceremony"
    ));
    assert!(matches!(
        auth.finish_passkey_registration(&alice, &reg.id, "{}", "x").await,
        Err(Error::PasskeyRefused(r)) if r == "ceremony"
    ));
    assert!(auth.passkeys(&alice).await.unwrap().is_empty());
    assert!(matches!(
        auth.delete_passkey(&alice, "nope").await,
        Err(Error::NotFound)
    ));
    // Without passkeys configured, every entry says so.
    assert!(matches!(
        f.auth.start_passkey_sign_in().await,
        Err(Error::PasskeysOff)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_dropped_only_with_a_passkey_and_the_account_still_signs_in_with_it() {
    let f = fixture();
    let auth = f
        .auth
        .clone()
        .with_passkeys(&config("login.uness.fr"))
        .unwrap();
    let alice = active_account(&f, "alice@unilim.fr").await;
    assert!(matches!(
        auth.drop_password(&alice).await,
        Err(Error::PasskeyRequired)
    ));
    assert!(auth.account(&alice).await.unwrap().unwrap().has_password());

    let mut device = Device::new();
    let reg = auth.start_passkey_registration(&alice).await.unwrap();
    auth.finish_passkey_registration(&alice, &reg.id, &device.register(&reg.options), "Téléphone")
        .await
        .unwrap();
    let dropped = auth.drop_password(&alice).await.unwrap();
    assert!(!dropped.has_password());
    assert!(matches!(
        auth.login_password(&alice, &Password::new(GOOD), "198.51.100.1")
            .await,
        Err(Error::InvalidCredentials)
    ));
    // The passkey still proves the owner: twice (the counter moves on), never a replay.
    for _ in 0..2 {
        let check = auth.start_passkey_check(&alice).await.unwrap();
        let answer = device.assert(&check.options);
        auth.finish_passkey_check(&alice, &check.id, &answer)
            .await
            .unwrap();
        assert!(matches!(
            auth.finish_passkey_check(&alice, &check.id, &answer).await,
            Err(Error::PasskeyRefused(r)) if r == "ceremony"
        ));
    }
}
