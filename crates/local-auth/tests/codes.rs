//! Six-digit e-mail codes on real Redis: single use, expiry, tries, retirement,
//! purpose binding, throttling, hashed storage, and the 200-parallel-guesses bound.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use passerelle_local_auth::{CodePurpose, Error, Profile};
use support::*;

const IP: &str = "192.0.2.10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_signs_in_once() {
    let f = fixture();
    let e = active_account(&f, "a@etu.unilim.fr").await;
    let issued = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    assert_eq!(issued.code.len(), 6);
    let a = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap();
    assert_eq!(a.email, e);
    let err = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_past_three_minutes_is_expired() {
    let f = fixture();
    let e = active_account(&f, "b@etu.unilim.fr").await;
    let issued = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    f.clock.advance(Duration::from_secs(179));
    let wrong = if issued.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(matches!(
        f.auth.verify_code(&e, CodePurpose::Login, wrong).await,
        Err(Error::WrongCode { .. })
    ));
    f.clock.advance(Duration::from_secs(2));
    let err = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Expired), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_retire_the_code_even_for_the_right_one() {
    let f = fixture();
    let e = active_account(&f, "c@etu.unilim.fr").await;
    let issued = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    let wrong = if issued.code == "123456" {
        "654321"
    } else {
        "123456"
    };
    for left in (0..5).rev() {
        match f.auth.verify_code(&e, CodePurpose::Login, wrong).await {
            Err(Error::WrongCode { remaining }) => assert_eq!(remaining, left),
            other => panic!("{other:?}"),
        }
    }
    let err = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyAttempts), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_wrong_guesses_evaluate_at_most_five() {
    let f = fixture();
    let e = active_account(&f, "d@etu.unilim.fr").await;
    let issued = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let auth = f.auth.clone();
            let e = e.clone();
            let mut guess = format!("{:06}", (i * 4999) % 1_000_000);
            if guess == issued.code {
                guess = format!("{:06}", (i * 4999 + 1) % 1_000_000);
            }
            tokio::spawn(async move { auth.verify_code(&e, CodePurpose::Login, &guess).await })
        })
        .collect();
    let (mut evaluated, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::WrongCode { .. }) => evaluated += 1,
            Err(Error::TooManyAttempts) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((evaluated, refused), (5, 195));
    let err = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyAttempts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_code_retires_the_old_one_and_gets_fresh_tries() {
    let f = fixture();
    let e = active_account(&f, "e@etu.unilim.fr").await;
    let first = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    for _ in 0..5 {
        let _ = f.auth.verify_code(&e, CodePurpose::Login, "abcdef").await;
    }
    let second = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    if first.code != second.code {
        let err = f
            .auth
            .verify_code(&e, CodePurpose::Login, &first.code)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WrongCode { remaining: 4 }), "{err:?}");
    }
    f.auth
        .verify_code(&e, CodePurpose::Login, &second.code)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_for_one_purpose_is_refused_for_another() {
    let f = fixture();
    let e = active_account(&f, "f@etu.unilim.fr").await;
    let issued = f
        .auth
        .issue_code(&e, CodePurpose::Reauthenticate, IP)
        .await
        .unwrap();
    let err = f
        .auth
        .verify_code(&e, CodePurpose::Login, &issued.code)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    f.auth
        .verify_code(&e, CodePurpose::Reauthenticate, &issued.code)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_stored_as_keyed_digests_only() {
    let f = fixture();
    let e = active_account(&f, "g@etu.unilim.fr").await;
    let issued = f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    let raw: serde_json::Value = f
        .store
        .get(&passerelle_local_auth::keys::code(&e, "login"))
        .await
        .unwrap()
        .unwrap();
    let text = raw.to_string();
    assert!(!text.contains(&issued.code), "{text}");
    assert_eq!(raw["mac"].as_str().unwrap().len(), 64);
    assert!(!format!("{issued:?}").contains(&issued.code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuing_is_throttled_per_account() {
    let f = fixture();
    let e = active_account(&f, "h@etu.unilim.fr").await;
    for _ in 0..5 {
        f.auth.issue_code(&e, CodePurpose::Login, IP).await.unwrap();
    }
    let err = f
        .auth
        .issue_code(&e, CodePurpose::Login, IP)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_asking_codes_for_many_accounts_is_stopped() {
    let f = fixture_with(Config {
        code_issue_per_client: passerelle_local_auth::Limit::per_minutes(3, 15),
        ..config()
    });
    let mut accounts = Vec::new();
    for i in 0..4 {
        accounts.push(active_account(&f, &format!("many{i}@etu.unilim.fr")).await);
    }
    for e in &accounts[..3] {
        f.auth
            .issue_code(e, CodePurpose::Login, "198.51.100.77")
            .await
            .unwrap();
    }
    let err = f
        .auth
        .issue_code(&accounts[3], CodePurpose::Login, "198.51.100.77")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    // Another address is not affected.
    f.auth
        .issue_code(&accounts[3], CodePurpose::Login, "198.51.100.78")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_that_cannot_sign_in_get_no_code() {
    let f = fixture();
    let pending = email("p@etu.unilim.fr");
    f.auth
        .register_federated(&pending, &fed("p"), Profile::default())
        .await
        .unwrap();
    assert!(matches!(
        f.auth.issue_code(&pending, CodePurpose::Login, IP).await,
        Err(Error::NotActivated)
    ));
    assert!(matches!(
        f.auth
            .issue_code(&email("nobody@etu.unilim.fr"), CodePurpose::Login, IP)
            .await,
        Err(Error::UnknownAccount)
    ));
    let e = active_account(&f, "j@etu.unilim.fr").await;
    f.auth.disable(&e).await.unwrap();
    assert!(matches!(
        f.auth.issue_code(&e, CodePurpose::Login, IP).await,
        Err(Error::AccountDisabled)
    ));
}
