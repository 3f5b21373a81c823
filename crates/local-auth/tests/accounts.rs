//! Accounts on real Redis: creation from a university's assertion, activation,
//! password sign-in, throttling, disabling, rehash on login.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use passerelle_local_auth::{AccountStatus, Error, HashParams, LocalAuth, Password, Profile};
use passerelle_store::Store;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_university_assertion_creates_a_pending_account_found_by_address_and_identity() {
    let f = fixture();
    let e = email("Prenom.Nom@ETU.unilim.fr");
    let profile = Profile {
        display_name: Some("Prénom Nom".into()),
        affiliations: vec!["student".into()],
        ..Profile::default()
    };
    let a = f
        .auth
        .register_federated(&e, &fed("s1"), profile.clone())
        .await
        .unwrap();
    assert_eq!(a.status, AccountStatus::PendingActivation);
    assert!(!a.has_password());
    let by_mail = f
        .auth
        .account(&email("prenom.nom@etu.unilim.fr"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_mail.profile, profile);
    let by_id = f
        .auth
        .account_by_federated(&fed("s1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.email, e);
    assert!(
        f.auth
            .account_by_federated(&fed("other"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_linked_to_another_identity_is_a_conflict_and_changes_nothing() {
    let f = fixture();
    let e = email("a@etu.unilim.fr");
    f.auth
        .register_federated(&e, &fed("s1"), Profile::default())
        .await
        .unwrap();
    let before = f.auth.account(&e).await.unwrap().unwrap();
    let err = f
        .auth
        .register_federated(
            &e,
            &fed("s2"),
            Profile {
                display_name: Some("X".into()),
                ..Profile::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdentityConflict), "{err:?}");
    assert_eq!(f.auth.account(&e).await.unwrap().unwrap(), before);
    // The identity is also bound to its address.
    let err = f
        .auth
        .register_federated(&email("b@etu.unilim.fr"), &fed("s1"), Profile::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdentityConflict), "{err:?}");
    assert!(
        f.auth
            .account(&email("b@etu.unilim.fr"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_account_signs_in_with_its_password() {
    let f = fixture();
    let e = active_account(&f, "c@etu.unilim.fr").await;
    let a = f
        .auth
        .login_password(&e, &Password::new(GOOD), "203.0.113.9")
        .await
        .unwrap();
    assert_eq!(a.status, AccountStatus::Active);
    assert!(a.activated_at.is_some() && a.last_login_at.is_some());
    // The address is matched case-insensitively.
    let upper = email("C@ETU.UNILIM.FR");
    assert!(
        f.auth
            .login_password(&upper, &Password::new(GOOD), "203.0.113.9")
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_address_and_pending_account_give_one_error() {
    let f = fixture();
    let e = active_account(&f, "d@etu.unilim.fr").await;
    let pending = email("p@etu.unilim.fr");
    f.auth
        .register_federated(&pending, &fed("p"), Profile::default())
        .await
        .unwrap();
    for (who, pw) in [
        (&e, "Abcdef1?"),
        (&email("nobody@etu.unilim.fr"), GOOD),
        (&pending, GOOD),
    ] {
        let err = f
            .auth
            .login_password(who, &Password::new(pw), "203.0.113.9")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials), "{who}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_pause_the_account_then_say_when_to_retry() {
    let f = fixture();
    let e = active_account(&f, "e@etu.unilim.fr").await;
    for _ in 0..10 {
        let err = f
            .auth
            .login_password(&e, &Password::new("nope"), "203.0.113.9")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials));
    }
    // Even the right password waits now.
    match f
        .auth
        .login_password(&e, &Password::new(GOOD), "203.0.113.9")
        .await
    {
        Err(Error::Throttled { retry_after }) => assert!(retry_after.as_secs() > 60),
        other => panic!("expected a pause, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_cannot_sign_in() {
    let f = fixture();
    let e = active_account(&f, "f@etu.unilim.fr").await;
    f.auth.disable(&e).await.unwrap();
    let err = f
        .auth
        .login_password(&e, &Password::new(GOOD), "203.0.113.9")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AccountDisabled), "{err:?}");
    let err = f
        .auth
        .disable(&email("ghost@etu.unilim.fr"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownAccount));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_made_with_weaker_costs_is_replaced_at_the_next_login() {
    let f = fixture();
    let e = active_account(&f, "g@etu.unilim.fr").await;
    let raw = |s: Store, e| async move {
        let v: serde_json::Value = s
            .get(&passerelle_local_auth::keys::account(&e))
            .await
            .unwrap()
            .unwrap();
        v["password_hash"].as_str().unwrap().to_owned()
    };
    let before = raw(f.store.clone(), e.clone()).await;
    assert!(
        before.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{before}"
    );
    let stronger = LocalAuth::new(
        Config {
            argon2: HashParams {
                memory_kib: 2048,
                iterations: 2,
                parallelism: 1,
            },
            ..config()
        },
        f.store.clone(),
        f.auth.mailer().clone(),
        passerelle_local_auth::secret::SecretKey::random().unwrap(),
    )
    .unwrap();
    stronger
        .login_password(&e, &Password::new(GOOD), "203.0.113.9")
        .await
        .unwrap();
    let after = raw(f.store.clone(), e.clone()).await;
    assert!(
        after.starts_with("$argon2id$v=19$m=2048,t=2,p=1$"),
        "{after}"
    );
    // And the new hash still opens the account.
    stronger
        .login_password(&e, &Password::new(GOOD), "203.0.113.9")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_current_one_and_the_policy() {
    let f = fixture();
    let e = active_account(&f, "h@etu.unilim.fr").await;
    let new = Password::new("Nouveau9$pass");
    let err = f
        .auth
        .change_password(&e, &Password::new("wrong"), &new, &new, "ip")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCredentials));
    let weak = Password::new("weak");
    match f
        .auth
        .change_password(&e, &Password::new(GOOD), &weak, &weak, "ip")
        .await
    {
        Err(Error::PolicyUnmet(rules)) => assert!(rules.len() >= 3, "{rules:?}"),
        other => panic!("{other:?}"),
    }
    f.auth
        .change_password(&e, &Password::new(GOOD), &new, &new, "ip")
        .await
        .unwrap();
    assert!(f.auth.login_password(&e, &new, "ip").await.is_ok());
    assert!(
        f.auth
            .login_password(&e, &Password::new(GOOD), "ip")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_hash_never_shows_in_debug_output() {
    let f = fixture();
    let e = active_account(&f, "i@etu.unilim.fr").await;
    let a = f.auth.account(&e).await.unwrap().unwrap();
    let dbg = format!("{a:?}");
    assert!(
        dbg.contains("StoredHash(***)") && !dbg.contains("argon2"),
        "{dbg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_unavailable_and_no_panic() {
    let port = passerelle_testkit::free_port().unwrap();
    let store = Store::open(&format!("redis://127.0.0.1:{port}"), "down").unwrap();
    let f = fixture();
    let auth = LocalAuth::new(
        config(),
        store,
        f.auth.mailer().clone(),
        passerelle_local_auth::secret::SecretKey::random().unwrap(),
    )
    .unwrap();
    let err = auth
        .login_password(&email("a@b.fr"), &Password::new(GOOD), "ip")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    let err = auth
        .register_federated(&email("a@b.fr"), &fed("x"), Profile::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_owasp_costs_hash_and_verify() {
    let f = fixture_with(Config {
        link_base_url: "https://login.example.fr/link".into(),
        ..Config::default()
    });
    let e = active_account(&f, "owasp@etu.unilim.fr").await;
    let v: serde_json::Value = f
        .store
        .get(&passerelle_local_auth::keys::account(&e))
        .await
        .unwrap()
        .unwrap();
    assert!(
        v["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    f.auth
        .login_password(&e, &Password::new(GOOD), "ip")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_trying_many_logins_is_paused() {
    let f = fixture_with(Config {
        login_failures_per_client: passerelle_local_auth::Limit::per_minutes(3, 15),
        ..config()
    });
    let e = active_account(&f, "k@etu.unilim.fr").await;
    for guess in ["x1", "x2", "x3"] {
        let err = f
            .auth
            .login_password(&e, &Password::new(guess), "203.0.113.60")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials));
    }
    let err = f
        .auth
        .login_password(&e, &Password::new(GOOD), "203.0.113.60")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    f.auth
        .login_password(&e, &Password::new(GOOD), "203.0.113.61")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_logins_from_one_address_are_not_counted_against_it() {
    let f = fixture_with(Config {
        login_failures_per_client: passerelle_local_auth::Limit::per_minutes(3, 15),
        ..config()
    });
    let e = active_account(&f, "campus@etu.unilim.fr").await;
    // A campus behind one NAT address: successes, however many, are not guesses.
    for _ in 0..50 {
        f.auth
            .login_password(&e, &Password::new(GOOD), "198.51.100.80")
            .await
            .unwrap();
    }
    // Guesses are: the fourth failure from the address is refused, right or wrong.
    for guess in ["x1", "x2", "x3"] {
        let err = f
            .auth
            .login_password(&e, &Password::new(guess), "198.51.100.80")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials), "{err:?}");
    }
    let err = f
        .auth
        .login_password(&e, &Password::new(GOOD), "198.51.100.80")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_from_one_address_cannot_overshoot_its_failure_limit() {
    let f = fixture_with(Config {
        login_failures_per_client: passerelle_local_auth::Limit::per_minutes(5, 15),
        login_failures_per_account: passerelle_local_auth::Limit::per_minutes(1000, 15),
        ..config()
    });
    let e = active_account(&f, "burst@etu.unilim.fr").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let auth = f.auth.clone();
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            auth.login_password(&e, &Password::new(format!("wrong{i}")), "198.51.100.81")
                .await
        }));
    }
    let mut evaluated = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::InvalidCredentials) => evaluated += 1,
            Err(Error::Throttled { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    let slots = Config::default().hash_concurrency;
    assert!(
        evaluated <= 5 + slots,
        "{evaluated} guesses evaluated for a limit of 5"
    );
}
