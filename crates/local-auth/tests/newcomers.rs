//! People without a university, on real Redis: invitations (idempotent, never touching
//! an active account), self-registration (only the domains the operator opens; nothing
//! stored before the link is confirmed), and what each account says about its origin.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use passerelle_local_auth::{
    AccountKind, AccountStatus, DomainPattern, Error, Invitation, Invited, Inviter, Lang,
    LinkPurpose, Origin, Password, Registered,
};
use support::*;

fn outbox_count(f: &Fixture) -> usize {
    std::fs::read_dir(&f.outbox).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    })
}

fn invitation() -> Invitation {
    Invitation {
        inviter: Inviter::App {
            client_id: "cockpit".into(),
        },
        app: Some("cockpit".into()),
        app_name: Some("Cockpit".into()),
        name: Some("Claire Martin".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_makes_a_pending_account_and_inviting_again_resends_without_cancelling() {
    let f = fixture();
    let e = email("claire.martin@chu-limoges.fr");
    let first = f.auth.invite(&e, &invitation(), Lang::Fr).await.unwrap();
    assert!(matches!(first, Invited::Created { .. }), "{first:?}");
    let a = f.auth.account(&e).await.unwrap().unwrap();
    assert_eq!(a.status, AccountStatus::PendingActivation);
    assert_eq!(a.origin, Origin::Invitation);
    assert_eq!(a.profile.display_name.as_deref(), Some("Claire Martin"));
    assert_eq!(
        a.invitation.as_ref().unwrap().app.as_deref(),
        Some("cockpit")
    );
    assert!(a.federated.is_none());
    let second = f.auth.invite(&e, &invitation(), Lang::En).await.unwrap();
    assert!(matches!(second, Invited::Resent { .. }), "{second:?}");
    assert_eq!(outbox_count(&f), 2);

    // Both links work until one is used; the first one sets the password.
    let link = f
        .auth
        .issue_link(&e, LinkPurpose::Activation, "198.51.100.9")
        .await
        .unwrap();
    let grant = f
        .auth
        .consume_link(&token_of(&link.url), LinkPurpose::Activation)
        .await
        .unwrap();
    let active = f
        .auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
    assert_eq!(active.kind(), AccountKind::Invited);
    assert!(active.mailbox_proved_at.is_some());
    // An active account is never touched again by an invitation.
    let third = f.auth.invite(&e, &invitation(), Lang::Fr).await.unwrap();
    assert_eq!(third, Invited::AlreadyActive);
    assert_eq!(outbox_count(&f), 2);
    let still = f.auth.account(&e).await.unwrap().unwrap();
    assert_eq!(still.status, AccountStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_cannot_be_invited_back() {
    let f = fixture();
    let e = email("x@chu-limoges.fr");
    f.auth.invite(&e, &invitation(), Lang::Fr).await.unwrap();
    f.auth.disable(&e).await.unwrap();
    assert!(matches!(
        f.auth.invite(&e, &invitation(), Lang::Fr).await,
        Err(Error::AccountDisabled)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_registration_opens_only_listed_domains_and_stores_nothing_before_the_link() {
    let f = fixture_with(Config {
        self_registration_domains: vec![
            DomainPattern::parse("chu-limoges.fr").unwrap(),
            DomainPattern::parse("*.aphp.fr").unwrap(),
        ],
        ..config()
    });
    let closed = email("someone@gmail.com");
    assert!(matches!(
        f.auth
            .register(&closed, Lang::Fr, "198.51.100.2", None)
            .await,
        Err(Error::RegistrationClosed)
    ));
    assert!(matches!(
        f.auth
            .register(&email("a@aphp.fr"), Lang::Fr, "198.51.100.2", None)
            .await,
        Err(Error::RegistrationClosed)
    ));
    let e = email("interne@psl.aphp.fr");
    let sent = f
        .auth
        .register(&e, Lang::Fr, "198.51.100.2", None)
        .await
        .unwrap();
    assert!(matches!(sent, Registered::LinkSent { .. }));
    assert!(
        f.auth.account(&e).await.unwrap().is_none(),
        "nothing stored yet"
    );
    let link = f
        .auth
        .issue_link(&e, LinkPurpose::Registration, "198.51.100.2")
        .await
        .unwrap();
    let grant = f
        .auth
        .consume_link(&token_of(&link.url), LinkPurpose::Registration)
        .await
        .unwrap();
    let pending = f.auth.account(&e).await.unwrap().unwrap();
    assert_eq!(pending.origin, Origin::SelfRegistration);
    let active = f
        .auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
    assert_eq!(active.kind(), AccountKind::SelfRegistered);
    assert_eq!(
        f.auth
            .register(&e, Lang::Fr, "198.51.100.2", None)
            .await
            .unwrap(),
        Registered::AlreadyActive
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_account_outside_the_open_domains_still_gets_its_activation_link() {
    let f = fixture();
    let e = email("tuteur@cabinet.fr");
    f.auth.invite(&e, &invitation(), Lang::Fr).await.unwrap();
    let again = f
        .auth
        .register(&e, Lang::Fr, "198.51.100.3", None)
        .await
        .unwrap();
    assert!(matches!(again, Registered::LinkSent { .. }));
    assert_eq!(outbox_count(&f), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_wrong_passwords_from_another_address_never_pause_the_owner() {
    let f = fixture();
    let e = active_account(&f, "owner@etu.unilim.fr").await;
    for i in 0..50 {
        let r = f
            .auth
            .login_password(&e, &Password::new(format!("Wrong{i}!")), "203.0.113.66")
            .await;
        assert!(
            matches!(r, Err(Error::InvalidCredentials | Error::Throttled { .. })),
            "{r:?}"
        );
    }
    // The stranger's own address is paused for this account…
    assert!(matches!(
        f.auth
            .login_password(&e, &Password::new(GOOD), "203.0.113.66")
            .await,
        Err(Error::Throttled { .. })
    ));
    // …the owner's is not.
    f.auth
        .login_password(&e, &Password::new(GOOD), "198.51.100.1")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_spread_over_many_addresses_pause_password_sign_in_after_a_hundred() {
    let f = fixture();
    let e = active_account(&f, "target@etu.unilim.fr").await;
    for i in 0..100 {
        let r = f
            .auth
            .login_password(
                &e,
                &Password::new("Wrong-pass1!"),
                &format!("203.0.113.{}", i % 50),
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{i}: {r:?}");
    }
    assert!(matches!(
        f.auth
            .login_password(&e, &Password::new(GOOD), "198.51.100.1")
            .await,
        Err(Error::Throttled { .. })
    ));
}

/// The token of the link in the newest mail of the outbox.
fn newest_link_token(f: &Fixture) -> String {
    let newest = std::fs::read_dir(&f.outbox)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .max_by_key(|e| e.metadata().unwrap().modified().unwrap())
        .unwrap();
    let text = std::fs::read_to_string(newest.path())
        .unwrap()
        .replace("=\r\n", "")
        .replace("=\n", "");
    let at = text.find("https://login.example.fr/link/").unwrap();
    text[at..]
        .trim_start_matches("https://login.example.fr/link/")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_remembers_the_app_it_was_sent_for_and_a_used_link_tells_the_account_state() {
    let f = fixture_with(Config {
        self_registration_domains: vec![DomainPattern::parse("chu-limoges.fr").unwrap()],
        ..config()
    });
    let e = email("nina.roux@chu-limoges.fr");
    f.auth
        .register(&e, Lang::Fr, "198.51.100.4", Some("cockpit"))
        .await
        .unwrap();
    let token = newest_link_token(&f);
    assert_eq!(
        f.auth.inspect_link(&token).await.unwrap().app.as_deref(),
        Some("cockpit")
    );
    assert_eq!(
        f.auth.used_link_account(&token).await.unwrap(),
        None,
        "not used yet"
    );
    let grant = f
        .auth
        .consume_link(&token, LinkPurpose::Registration)
        .await
        .unwrap();
    assert_eq!(grant.app(), Some("cockpit"));
    assert_eq!(
        f.auth.used_link_account(&token).await.unwrap(),
        Some(AccountStatus::PendingActivation)
    );
    f.auth
        .complete_link(&grant, &Password::new(GOOD), &Password::new(GOOD))
        .await
        .unwrap();
    // Opened again (on the first device, later): the account is active.
    assert!(matches!(
        f.auth.inspect_link(&token).await,
        Err(Error::AlreadyUsed)
    ));
    assert_eq!(
        f.auth.used_link_account(&token).await.unwrap(),
        Some(AccountStatus::Active)
    );
    assert_eq!(
        f.auth.used_link_account("no-such-token").await.unwrap(),
        None
    );

    // A reset sent on the way to another app remembers that one; one sent from the
    // command line remembers none.
    f.auth
        .send_link_for_app(
            &e,
            LinkPurpose::PasswordReset,
            Lang::Fr,
            "198.51.100.4",
            Some("sides"),
        )
        .await
        .unwrap();
    let reset = newest_link_token(&f);
    assert_eq!(
        f.auth.inspect_link(&reset).await.unwrap().app.as_deref(),
        Some("sides")
    );
    let plain = f
        .auth
        .issue_link(&e, LinkPurpose::PasswordReset, "198.51.100.4")
        .await
        .unwrap();
    assert_eq!(
        f.auth
            .inspect_link(&token_of(&plain.url))
            .await
            .unwrap()
            .app,
        None
    );

    // An invitation's link leads to the app that invited.
    let invited = email("paul.petit@chu-limoges.fr");
    f.auth
        .invite(&invited, &invitation(), Lang::Fr)
        .await
        .unwrap();
    let token = newest_link_token(&f);
    assert_eq!(
        f.auth.inspect_link(&token).await.unwrap().app.as_deref(),
        Some("cockpit")
    );
}
