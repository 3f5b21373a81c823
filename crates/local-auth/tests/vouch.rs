//! A university's word for an address: the link it sends names the institution, and the
//! identity is linked only when that link is confirmed in the browser that did the SAML
//! login; a pending account never locks out a later university identity. Real Redis.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use passerelle_local_auth::{
    AccountStatus, Error, FederatedId, Lang, LinkPurpose, Password, Profile, Vouch, Vouched,
};
use support::*;

fn vouch(idp: &str, subject: &str, browser: &str) -> Vouch {
    Vouch {
        federated: FederatedId {
            idp: idp.into(),
            subject: subject.into(),
        },
        profile: Profile {
            display_name: Some(format!("{subject} at {idp}")),
            ..Profile::default()
        },
        institution: "Université de Limoges".into(),
        browser: browser.into(),
    }
}

/// The text of every message in the outbox whose text has not been seen yet.
fn new_mails(f: &Fixture, seen: &mut Vec<std::path::PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&f.outbox).unwrap() {
        let path = entry.unwrap().path();
        if seen.contains(&path) || path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        out.push(parsed.body_text(0).unwrap().into_owned());
        seen.push(path);
    }
    out
}

/// Vouches, then consumes the mailed link (which names the institution); the grant.
async fn vouch_and_confirm(
    f: &Fixture,
    address: &str,
    v: Vouch,
    seen: &mut Vec<std::path::PathBuf>,
) -> passerelle_local_auth::LinkGrant {
    let sent = f
        .auth
        .vouch(&email(address), v, Lang::Fr, "10.0.0.1", None)
        .await
        .unwrap();
    assert!(matches!(sent, Vouched::LinkSent { .. }), "{sent:?}");
    let mails = new_mails(f, seen);
    let [text] = mails.as_slice() else {
        panic!("{} new mails", mails.len())
    };
    assert!(text.contains("Université de Limoges a confirmé"), "{text}");
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("https://login.example.fr/link/"))
        .unwrap();
    f.auth
        .consume_link(&token_of(url), LinkPurpose::Activation)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vouched_link_links_the_identity_only_in_the_browser_that_signed_in() {
    let h = fixture();
    let mut seen = Vec::new();
    let address = "carol@univ-a.fr";
    let idp = "https://idp.univ-a.fr/idp";
    // Vouching creates a pending account linked to nothing.
    let grant = vouch_and_confirm(&h, address, vouch(idp, "carol", "browser-1"), &mut seen).await;
    let pending = h.auth.account(&email(address)).await.unwrap().unwrap();
    assert_eq!(pending.status, AccountStatus::PendingActivation);
    assert_eq!(pending.federated, None);
    // Confirmed elsewhere: the mailbox owner may set a password, nothing is linked.
    let pw = Password::new(GOOD);
    h.auth.complete_link(&grant, &pw, &pw).await.unwrap();
    assert!(
        h.auth
            .bind_vouched(&grant, "browser-2")
            .await
            .unwrap()
            .is_none()
    );
    let active = h.auth.account(&email(address)).await.unwrap().unwrap();
    assert_eq!(active.status, AccountStatus::Active);
    assert_eq!(active.federated, None);
    let fed = FederatedId {
        idp: idp.into(),
        subject: "carol".into(),
    };
    assert!(h.auth.account_by_federated(&fed).await.unwrap().is_none());

    // The university again, then the link confirmed in the same browser: linked, and the
    // next university sign-in is a sign-in.
    let grant = vouch_and_confirm(&h, address, vouch(idp, "carol", "browser-3"), &mut seen).await;
    let linked = h
        .auth
        .bind_vouched(&grant, "browser-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.federated, Some(fed.clone()));
    assert_eq!(
        h.auth
            .account_by_federated(&fed)
            .await
            .unwrap()
            .unwrap()
            .email,
        email(address)
    );
    let again = h
        .auth
        .vouch(
            &email(address),
            vouch(idp, "carol", "browser-9"),
            Lang::Fr,
            "10.0.0.1",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(again, Vouched::SignedIn(_)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_vouch_never_locks_out_a_later_authoritative_identity() {
    let h = fixture();
    let mut seen = Vec::new();
    let address = "dan@univ-a.fr";
    // Someone's vouch leaves a pending account (the link is never used)…
    let first = h
        .auth
        .vouch(
            &email(address),
            vouch("https://idp.univ-b.fr/idp", "mallory", "browser-m"),
            Lang::Fr,
            "10.0.0.1",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(first, Vouched::LinkSent { .. }));
    new_mails(&h, &mut seen);
    // …and the address's own university still gets its link, and the link.
    let grant = vouch_and_confirm(
        &h,
        address,
        vouch("https://idp.univ-a.fr/idp", "dan", "browser-d"),
        &mut seen,
    )
    .await;
    let linked = h
        .auth
        .bind_vouched(&grant, "browser-d")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.federated.unwrap().subject, "dan");
    // An active account linked to one identity refuses another.
    let pw = Password::new(GOOD);
    h.auth.complete_link(&grant, &pw, &pw).await.unwrap();
    let err = h
        .auth
        .vouch(
            &email(address),
            vouch("https://idp.univ-b.fr/idp", "mallory", "browser-m"),
            Lang::Fr,
            "10.0.0.1",
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdentityConflict), "{err:?}");
}
