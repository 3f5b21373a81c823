//! The mailer through lettre to a real SMTP listener (plain, STARTTLS, implicit TLS,
//! with AUTH), the file outbox, and what arrives: French by default, English on
//! request, text and HTML, escaped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

mod support;

use std::time::Duration;

use mail_parser::MessageParser;
use passerelle_local_auth::mailer::Transport;
use passerelle_local_auth::{
    CodePurpose, Error, Lang, LinkPurpose, Mail, Mailer, MailerConfig, SmtpConfig, SmtpSecurity,
};
use passerelle_testkit::smtp::{SinkTls, SmtpSink};
use support::*;

fn smtp_mailer(sink: &SmtpSink, security: SmtpSecurity, creds: Option<(&str, &str)>) -> Mailer {
    let root = std::env::temp_dir().join(format!("{}.pem", unique("sink")));
    std::fs::write(&root, sink.cert_pem()).unwrap();
    Mailer::new(&MailerConfig {
        from: "UNESS <no-reply@uness.fr>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Smtp(SmtpConfig {
            host: "localhost".into(),
            port: Some(sink.port()),
            security,
            username: creds.map(|c| c.0.to_owned()),
            password: creds.map(|c| c.1.to_owned()),
            extra_root_pem: Some(root),
            timeout_secs: 5,
        }),
    })
    .unwrap()
}

fn code_mail() -> Mail {
    Mail::LoginCode {
        code: "042917".into(),
        valid_for: Duration::from_secs(180),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_delivers_a_french_text_and_html_message() {
    let sink = SmtpSink::start(SinkTls::StartTls, Some(("relay-user", "relay-pass")))
        .await
        .unwrap();
    let mailer = smtp_mailer(
        &sink,
        SmtpSecurity::Starttls,
        Some(("relay-user", "relay-pass")),
    );
    mailer
        .send(&email("Prenom.Nom@etu.unilim.fr"), Lang::Fr, &code_mail())
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.tls, "sent in clear");
    assert_eq!(m.user.as_deref(), Some("relay-user"));
    assert_eq!(m.from, "no-reply@uness.fr");
    assert_eq!(m.to, vec!["Prenom.Nom@etu.unilim.fr"]);
    let parsed = MessageParser::default().parse(&m.data).unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Votre code de connexion UNESS : 042917")
    );
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("042917") && text.contains("3 minutes"),
        "{text}"
    );
    assert!(text.contains("https://sos.uness.fr/"));
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains("<html lang=\"fr\">") && html.contains("042917"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers_an_english_activation_link() {
    let sink = SmtpSink::start(SinkTls::Implicit, None).await.unwrap();
    let mailer = smtp_mailer(&sink, SmtpSecurity::Tls, None);
    let mail = Mail::Activation {
        url: "https://login.example.fr/link/tok".into(),
        valid_for: Duration::from_secs(86_400),
        institution: Some("University of Limoges".into()),
    };
    mailer
        .send(&email("a@etu.unilim.fr"), Lang::En, &mail)
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert!(got[0].tls);
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("Activate your UNESS account"));
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("https://login.example.fr/link/tok") && text.contains("24 hours"),
        "{text}"
    );
    // The mail names the institution that asked.
    assert!(
        text.contains("University of Limoges has confirmed"),
        "{text}"
    );
    assert!(
        parsed
            .body_html(0)
            .unwrap()
            .contains("href=\"https://login.example.fr/link/tok\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_relay_is_used_only_when_configured_so() {
    let sink = SmtpSink::start(SinkTls::None, None).await.unwrap();
    // STARTTLS is required by default: a relay that cannot upgrade gets nothing.
    let strict = smtp_mailer(&sink, SmtpSecurity::Starttls, None);
    let err = strict
        .send(&email("a@b.fr"), Lang::Fr, &code_mail())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Mail(_)), "{err:?}");
    assert!(sink.messages().is_empty());
    let plain = smtp_mailer(&sink, SmtpSecurity::None, None);
    plain
        .send(&email("a@b.fr"), Lang::Fr, &code_mail())
        .await
        .unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_relay_password_or_a_dead_relay_is_a_mail_error() {
    let sink = SmtpSink::start(SinkTls::StartTls, Some(("u", "right")))
        .await
        .unwrap();
    let wrong = smtp_mailer(&sink, SmtpSecurity::Starttls, Some(("u", "wrong")));
    assert!(matches!(
        wrong.send(&email("a@b.fr"), Lang::Fr, &code_mail()).await,
        Err(Error::Mail(_))
    ));
    assert!(sink.messages().is_empty());
    drop(sink);
    let port = passerelle_testkit::free_port().unwrap();
    let dead = Mailer::new(&MailerConfig {
        from: "UNESS <no-reply@uness.fr>".into(),
        support_url: "https://sos.uness.fr/".into(),
        transport: Transport::Smtp(SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::None,
            username: None,
            password: None,
            extra_root_pem: None,
            timeout_secs: 2,
        }),
    })
    .unwrap();
    assert!(matches!(
        dead.send(&email("a@b.fr"), Lang::Fr, &code_mail()).await,
        Err(Error::Mail(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_holds_one_eml_per_message_sent_by_the_flows() {
    let f = fixture();
    let e = active_account(&f, "outbox@etu.unilim.fr").await;
    f.auth
        .send_code(&e, CodePurpose::Login, Lang::Fr, "ip")
        .await
        .unwrap();
    f.auth
        .send_link(&e, LinkPurpose::PasswordReset, Lang::En, "ip")
        .await
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&f.outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let subjects: Vec<String> = files
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).unwrap();
            MessageParser::default()
                .parse(&raw)
                .unwrap()
                .subject()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Votre code de connexion UNESS : ")),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Reset your UNESS password".to_owned()),
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_in_the_delivered_mail_activates_the_account() {
    let sink = SmtpSink::start(SinkTls::StartTls, None).await.unwrap();
    let mailer = smtp_mailer(&sink, SmtpSecurity::Starttls, None);
    let f = fixture();
    let auth = passerelle_local_auth::LocalAuth::new(
        config(),
        f.store.clone(),
        mailer,
        passerelle_local_auth::secret::SecretKey::random().unwrap(),
    )
    .unwrap();
    let e = email("journey@etu.unilim.fr");
    auth.register_federated(&e, &fed("j"), passerelle_local_auth::Profile::default())
        .await
        .unwrap();
    auth.send_link(&e, LinkPurpose::Activation, Lang::Fr, "ip")
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    let text = parsed.body_text(0).unwrap();
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("https://login.example.fr/link/"))
        .unwrap();
    let grant = auth
        .consume_link(&token_of(url), LinkPurpose::Activation)
        .await
        .unwrap();
    let pw = passerelle_local_auth::Password::new(GOOD);
    auth.complete_link(&grant, &pw, &pw).await.unwrap();
    auth.login_password(&e, &pw, "ip").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_bodies_escape_what_they_interpolate() {
    let mailer = Mailer::new(&MailerConfig {
        from: "UNESS <no-reply@uness.fr>".into(),
        support_url: "https://sos.uness.fr/?a=\"><script>alert(1)</script>".into(),
        transport: Transport::Outbox {
            dir: std::env::temp_dir().join(unique("esc")),
        },
    })
    .unwrap();
    let msg = mailer
        .render(&email("a@b.fr"), Lang::Fr, &code_mail())
        .unwrap();
    let raw = msg.formatted();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let html = parsed.body_html(0).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
        "{html}"
    );
}

#[test]
fn a_bad_from_address_is_a_configuration_error() {
    let err = Mailer::new(&MailerConfig {
        from: "not an address".into(),
        support_url: String::new(),
        transport: Transport::Outbox {
            dir: std::env::temp_dir(),
        },
    })
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

fn header_of(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    head.lines()
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(name))
        })
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_has_a_message_id_and_a_date() {
    let sink = SmtpSink::start(SinkTls::StartTls, None).await.unwrap();
    let mailer = smtp_mailer(&sink, SmtpSecurity::Starttls, None);
    let link = Mail::PasswordReset {
        url: "https://login.example.fr/link/tok".into(),
        valid_for: Duration::from_secs(3600),
    };
    for mail in [code_mail(), link.clone(), code_mail()] {
        mailer
            .send(&email("a@etu.unilim.fr"), Lang::Fr, &mail)
            .await
            .unwrap();
    }
    let got = sink.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    let mut ids = std::collections::HashSet::new();
    for m in &got {
        let parsed = MessageParser::default().parse(&m.data).unwrap();
        assert!(parsed.date().is_some(), "no Date header");
        let id = header_of(&m.data, "Message-ID").expect("a Message-ID header");
        assert!(
            id.starts_with('<') && id.ends_with("@uness.fr>"),
            "a Message-ID in the sender's domain: {id}"
        );
        assert_eq!(parsed.message_id(), Some(&id[1..id.len() - 1]));
        assert!(ids.insert(id), "Message-IDs are unique");
    }
    // The outbox (demo, tests) writes the same headers.
    let f = fixture();
    let e = active_account(&f, "ids@etu.unilim.fr").await;
    f.auth
        .send_code(&e, CodePurpose::Login, Lang::En, "ip")
        .await
        .unwrap();
    let file = std::fs::read_dir(&f.outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    let raw = std::fs::read(file).unwrap();
    assert!(header_of(&raw, "Message-ID").is_some_and(|id| id.ends_with("@uness.fr>")));
    assert!(header_of(&raw, "Date").is_some());
}
