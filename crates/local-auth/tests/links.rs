//! Magic links on real Redis: activation and reset, single use, expiry, resends that
//! keep earlier links valid, supersession, purpose binding, concurrency, throttling.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_local_auth::{AccountStatus, Error, LinkPurpose, Password, Profile, Rule};
use support::*;

const IP: &str = "192.0.2.20";

async fn pending(f: &Fixture, address: &str) -> passerelle_local_auth::Email {
    let e = email(address);
    f.auth
        .register_federated(&e, &fed(address), Profile::default())
        .await
        .unwrap();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_link_lets_its_owner_set_a_first_password() {
    let f = fixture();
    let e = pending(&f, "a@etu.unilim.fr").await;
    let link = f
        .auth
        .issue_link(&e, LinkPurpose::Activation, IP)
        .await
        .unwrap();
    assert!(link.url.starts_with("https://login.example.fr/link/"));
    let token = token_of(&link.url);
    assert!(token.len() >= 22, "token too short for 128 bits: {token}");
    // Opening the page (GET) does not use the link up.
    for _ in 0..3 {
        let info = f.auth.inspect_link(&token).await.unwrap();
        assert_eq!(
            (info.email.clone(), info.purpose),
            (e.clone(), LinkPurpose::Activation)
        );
    }
    let grant = f
        .auth
        .consume_link(&token, LinkPurpose::Activation)
        .await
        .unwrap();
    assert_eq!(grant.email(), &e);
    let account = f
        .auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    f.auth
        .login_password(&e, &Password::new(GOOD), IP)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_works_once_then_says_already_used() {
    let f = fixture();
    let e = pending(&f, "b@etu.unilim.fr").await;
    let token = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    f.auth
        .consume_link(&token, LinkPurpose::Activation)
        .await
        .unwrap();
    assert!(matches!(
        f.auth.consume_link(&token, LinkPurpose::Activation).await,
        Err(Error::AlreadyUsed)
    ));
    assert!(matches!(
        f.auth.inspect_link(&token).await,
        Err(Error::AlreadyUsed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_link_expires_after_24_hours_and_a_reset_link_after_one() {
    let f = fixture();
    let e = active_account(&f, "c@etu.unilim.fr").await;
    let act = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    let reset = issue_token(&f, &e, LinkPurpose::PasswordReset, IP).await;
    f.clock
        .advance(Duration::from_secs(3600) + Duration::from_secs(1));
    assert!(matches!(
        f.auth.inspect_link(&reset).await,
        Err(Error::Expired)
    ));
    assert!(matches!(
        f.auth
            .consume_link(&reset, LinkPurpose::PasswordReset)
            .await,
        Err(Error::Expired)
    ));
    assert!(matches!(
        f.auth
            .consume_link(&reset, LinkPurpose::PasswordReset)
            .await,
        Err(Error::Expired)
    ));
    assert!(f.auth.inspect_link(&act).await.is_ok());
    f.clock.advance(Duration::from_secs(23 * 3600));
    assert!(matches!(
        f.auth.consume_link(&act, LinkPurpose::Activation).await,
        Err(Error::Expired)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_again_keeps_the_first_link_valid_until_one_is_used() {
    let f = fixture();
    let e = pending(&f, "d@etu.unilim.fr").await;
    let first = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    f.clock.advance(Duration::from_secs(30));
    let second = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    assert_ne!(first, second);
    assert!(f.auth.inspect_link(&first).await.is_ok());
    assert!(f.auth.inspect_link(&second).await.is_ok());
    // The slow first mail arrives and is used: the second one is retired with it.
    f.clock.advance(Duration::from_secs(30));
    f.auth
        .consume_link(&first, LinkPurpose::Activation)
        .await
        .unwrap();
    assert!(matches!(
        f.auth.inspect_link(&second).await,
        Err(Error::Superseded)
    ));
    assert!(matches!(
        f.auth.consume_link(&second, LinkPurpose::Activation).await,
        Err(Error::Superseded)
    ));
    // A link asked for afterwards works.
    f.clock.advance(Duration::from_secs(1));
    let third = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    f.auth
        .consume_link(&third, LinkPurpose::Activation)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_are_throttled_per_account() {
    let f = fixture();
    let e = pending(&f, "e@etu.unilim.fr").await;
    for _ in 0..3 {
        f.auth
            .issue_link(&e, LinkPurpose::Activation, IP)
            .await
            .unwrap();
    }
    match f.auth.issue_link(&e, LinkPurpose::Activation, IP).await {
        Err(Error::Throttled { retry_after }) => assert!(retry_after <= Duration::from_secs(900)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_only_good_for_its_own_purpose() {
    let f = fixture();
    let e = active_account(&f, "f@etu.unilim.fr").await;
    let token = issue_token(&f, &e, LinkPurpose::PasswordReset, IP).await;
    assert!(matches!(
        f.auth.consume_link(&token, LinkPurpose::Activation).await,
        Err(Error::NotFound)
    ));
    let grant = f
        .auth
        .consume_link(&token, LinkPurpose::PasswordReset)
        .await
        .unwrap();
    let new = Password::new("Autre9{pass}");
    f.auth.complete_link(&grant, &new, &new).await.unwrap();
    f.auth.login_password(&e, &new, IP).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_needs_an_activated_account() {
    let f = fixture();
    let e = pending(&f, "g@etu.unilim.fr").await;
    assert!(matches!(
        f.auth.issue_link(&e, LinkPurpose::PasswordReset, IP).await,
        Err(Error::NotActivated)
    ));
    assert!(matches!(
        f.auth
            .issue_link(&email("nobody@etu.unilim.fr"), LinkPurpose::Activation, IP)
            .await,
        Err(Error::UnknownAccount)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_breaking_the_policy_lists_every_rule_and_changes_nothing() {
    let f = fixture();
    let e = pending(&f, "h@etu.unilim.fr").await;
    let token = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    let grant = f
        .auth
        .consume_link(&token, LinkPurpose::Activation)
        .await
        .unwrap();
    match f
        .auth
        .complete_link(&grant, &Password::new("abc def"), &Password::new("abc def"))
        .await
    {
        Err(Error::PolicyUnmet(rules)) => {
            assert!(
                rules.contains(&Rule::MinLength(8)) && rules.contains(&Rule::NoSpaces),
                "{rules:?}"
            );
            assert!(
                rules.contains(&Rule::Uppercase) && rules.contains(&Rule::Digit),
                "{rules:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mismatch = f
        .auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new("Abcdef1?"))
        .await;
    assert!(matches!(mismatch, Err(Error::ConfirmationMismatch)));
    let a = f.auth.account(&e).await.unwrap().unwrap();
    assert_eq!(a.status, AccountStatus::PendingActivation);
    assert!(!a.has_password());
    // The grant is still good for a correct attempt.
    f.auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_confirmations_of_one_link_have_one_winner() {
    let f = fixture();
    let e = pending(&f, "i@etu.unilim.fr").await;
    let token = issue_token(&f, &e, LinkPurpose::Activation, IP).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (auth, token) = (f.auth.clone(), token.clone());
            tokio::spawn(async move {
                auth.consume_link(&token, LinkPurpose::Activation)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_mangled_tokens_are_not_found() {
    let f = fixture();
    for token in ["", "x", "../../etc/passwd", "{tag}:*", &"A".repeat(10_000)] {
        assert!(matches!(
            f.auth.inspect_link(token).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            f.auth.consume_link(token, LinkPurpose::Activation).await,
            Err(Error::NotFound)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_asking_links_for_many_accounts_is_stopped() {
    let f = fixture_with(Config {
        link_issue_per_client: passerelle_local_auth::Limit::per_minutes(2, 15),
        ..config()
    });
    let a = pending(&f, "m1@etu.unilim.fr").await;
    let b = pending(&f, "m2@etu.unilim.fr").await;
    let c = pending(&f, "m3@etu.unilim.fr").await;
    f.auth
        .issue_link(&a, LinkPurpose::Activation, "203.0.113.50")
        .await
        .unwrap();
    f.auth
        .issue_link(&b, LinkPurpose::Activation, "203.0.113.50")
        .await
        .unwrap();
    let err = f
        .auth
        .issue_link(&c, LinkPurpose::Activation, "203.0.113.50")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    f.auth
        .issue_link(&c, LinkPurpose::Activation, "203.0.113.51")
        .await
        .unwrap();
}
