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
