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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_an_account_leaves_nothing_that_names_it_and_touches_no_one_else() {
    use passerelle_local_auth::{CodePurpose, LinkPurpose};
    let f = fixture();
    let gone = active_account(&f, "gone@unilim.fr").await;
    let kept = active_account(&f, "kept@unilim.fr").await;
    let id = f
        .auth
        .account(&gone)
        .await
        .unwrap()
        .unwrap()
        .federated
        .unwrap();
    // Traces of every kind: a used link (its tombstone names the address), a pending
    // reset link, a code and a wrong try, failed sign-ins from an address, activity.
    let used = issue_token(&f, &gone, LinkPurpose::PasswordReset, "198.51.100.2").await;
    f.auth
        .consume_link(&used, LinkPurpose::PasswordReset)
        .await
        .unwrap();
    let pending = issue_token(&f, &gone, LinkPurpose::PasswordReset, "198.51.100.2").await;
    f.auth
        .issue_code(&gone, CodePurpose::Login, "198.51.100.3")
        .await
        .unwrap();
    let _ = f
        .auth
        .verify_code(&gone, CodePurpose::Login, "000000")
        .await;
    let _ = f
        .auth
        .login_password(&gone, &Password::new("wrong"), "203.0.113.9")
        .await;
    f.auth
        .record_sign_in(&gone, "pwd", Some("cockpit"), "203.0.113.9")
        .await
        .unwrap();
    f.auth
        .record_sign_in(&kept, "pwd", None, "203.0.113.9")
        .await
        .unwrap();

    // Support sees what waits, never a value: the reset link not yet used, the code.
    let links = f.auth.pending_links(&gone).await.unwrap();
    assert_eq!(
        links.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![LinkPurpose::PasswordReset]
    );
    let codes = f.auth.pending_codes(&gone).await.unwrap();
    assert_eq!(
        codes.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![CodePurpose::Login]
    );

    let erased = f.auth.erase(&gone).await.unwrap();
    assert_eq!(erased.account.as_ref().unwrap().email, gone);
    assert!(erased.values >= 8, "{erased:?}");

    assert!(f.auth.account(&gone).await.unwrap().is_none());
    assert!(f.auth.account_by_federated(&id).await.unwrap().is_none());
    assert!(
        f.auth
            .find_accounts("gone", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.auth.recent_sign_ins(&gone, 10).await.unwrap().is_empty());
    assert!(matches!(
        f.auth.inspect_link(&pending).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        f.auth.inspect_link(&used).await,
        Err(Error::NotFound)
    ));
    assert_eq!(f.auth.used_link_account(&used).await.unwrap(), None);
    assert!(f.auth.pending_links(&gone).await.unwrap().is_empty());
    assert!(f.auth.pending_codes(&gone).await.unwrap().is_empty());
    assert!(matches!(
        f.auth
            .verify_code(&gone, CodePurpose::Login, "000000")
            .await,
        Err(Error::NotFound)
    ));
    let linked = f.auth.accounts_linked_to(&id.idp, None, 10).await.unwrap();
    assert_eq!(linked, vec!["kept@unilim.fr".to_owned()]);
    // The other account is whole.
    f.auth
        .login_password(&kept, &Password::new(GOOD), "10.0.0.1")
        .await
        .unwrap();
    assert_eq!(f.auth.recent_sign_ins(&kept, 10).await.unwrap().len(), 1);
    // The same identity may make a new account; erasing again finds nothing.
    f.auth
        .register_federated(&gone, &id, Profile::default())
        .await
        .unwrap();
    f.auth.erase(&gone).await.unwrap();
    let again = f.auth.erase(&gone).await.unwrap();
    assert!(again.account.is_none());
    assert_eq!(again.values, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_found_by_institution_and_reindexing_restores_lost_index_entries() {
    let f = fixture();
    let a = active_account(&f, "a@unilim.fr").await;
    let b = active_account(&f, "b@unilim.fr").await;
    let idp = fed("x").idp;
    assert_eq!(
        f.auth.accounts_linked_to(&idp, None, 10).await.unwrap(),
        vec!["a@unilim.fr", "b@unilim.fr"]
    );
    assert_eq!(
        f.auth
            .accounts_linked_to(&idp, Some("a@unilim.fr"), 10)
            .await
            .unwrap(),
        vec!["b@unilim.fr"]
    );
    assert!(
        f.auth
            .accounts_linked_to("https://other.example/idp", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Unlinked: no longer listed under the institution.
    f.auth.unlink(&b).await.unwrap();
    assert_eq!(
        f.auth.accounts_linked_to(&idp, None, 10).await.unwrap(),
        vec!["a@unilim.fr"]
    );
    // Accounts written before the indexes existed: listed again by a reindex.
    f.store
        .index_remove(&passerelle_local_auth::keys::account_index(), &a.key())
        .await
        .unwrap();
    f.store
        .index_remove(
            &passerelle_local_auth::keys::accounts_by_idp(&{
                use sha2::Digest as _;
                sha2::Sha256::digest(idp.as_bytes())
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
            }),
            &a.key(),
        )
        .await
        .unwrap();
    assert!(
        f.auth
            .find_accounts("a@", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.auth
            .accounts_linked_to(&idp, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let done = f.auth.reindex().await.unwrap();
    assert_eq!((done.accounts, done.linked), (2, 1));
    assert_eq!(
        f.auth.find_accounts("a@", None, 10).await.unwrap(),
        vec!["a@unilim.fr"]
    );
    assert_eq!(
        f.auth.accounts_linked_to(&idp, None, 10).await.unwrap(),
        vec!["a@unilim.fr"]
    );
}
