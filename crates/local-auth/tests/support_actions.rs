//! Support's changes to an account, on real Redis: unlinking a university identity frees
//! it (and only what this account held), enabling restores what the account had.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use passerelle_local_auth::{AccountStatus, Error, Password, Profile};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_frees_the_identity_for_another_account_and_keeps_the_password() {
    let f = fixture();
    let wrong = active_account(&f, "wrong@unilim.fr").await;
    let id = f
        .auth
        .account(&wrong)
        .await
        .unwrap()
        .unwrap()
        .federated
        .unwrap();
    // « Compte déjà lié »: the identity cannot go to the right account.
    let right = email("right@unilim.fr");
    assert!(matches!(
        f.auth
            .register_federated(&right, &id, Profile::default())
            .await,
        Err(Error::IdentityConflict)
    ));
    assert_eq!(f.auth.unlink(&wrong).await.unwrap(), id);
    let after = f.auth.account(&wrong).await.unwrap().unwrap();
    assert!(after.federated.is_none());
    assert_eq!(after.status, AccountStatus::Active);
    assert!(f.auth.account_by_federated(&id).await.unwrap().is_none());
    f.auth
        .login_password(&wrong, &Password::new(GOOD), "10.0.0.1")
        .await
        .unwrap();
    // Now the university links it where it belongs.
    f.auth
        .register_federated(&right, &id, Profile::default())
        .await
        .unwrap();
    assert_eq!(
        f.auth
            .account_by_federated(&id)
            .await
            .unwrap()
            .unwrap()
            .email,
        right
    );
    // Unlinking again is said plainly, and never undoes the other link.
    assert!(matches!(f.auth.unlink(&wrong).await, Err(Error::NotFound)));
    assert!(f.auth.account_by_federated(&id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_restores_active_with_a_password_and_pending_without() {
    let f = fixture();
    let active = active_account(&f, "a@unilim.fr").await;
    f.auth.disable(&active).await.unwrap();
    assert_eq!(
        f.auth.enable(&active).await.unwrap().status,
        AccountStatus::Active
    );
    let pending = email("p@unilim.fr");
    f.auth
        .register_federated(&pending, &fed("p@unilim.fr"), Profile::default())
        .await
        .unwrap();
    f.auth.disable(&pending).await.unwrap();
    assert_eq!(
        f.auth.enable(&pending).await.unwrap().status,
        AccountStatus::PendingActivation
    );
    assert!(matches!(
        f.auth.enable(&email("nobody@unilim.fr")).await,
        Err(Error::UnknownAccount)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_remembered_newest_first_within_the_history_cap() {
    let f = fixture_with(Config {
        sign_in_history: 3,
        ..config()
    });
    let e = active_account(&f, "s@unilim.fr").await;
    for (method, app) in [
        ("pwd", None),
        ("otp", Some("cockpit")),
        ("fed", None),
        ("pwd", Some("sides")),
    ] {
        f.auth
            .record_sign_in(&e, method, app, "198.51.100.7")
            .await
            .unwrap();
    }
    let seen = f.auth.recent_sign_ins(&e, 10).await.unwrap();
    let got: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.app.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("pwd", Some("sides")),
            ("fed", None),
            ("otp", Some("cockpit"))
        ]
    );
    assert!(seen.iter().all(|s| s.from == "198.51.100.7"));
    assert!(
        f.auth
            .recent_sign_ins(&email("x@unilim.fr"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
