//! The mailer: French/English messages (text + HTML) sent through lettre.
//!
//! Transports: SMTP (STARTTLS or implicit TLS through rustls, optional AUTH, optional
//! extra trusted root for a private relay; plain text only when explicitly configured)
//! or a file outbox, one `.eml` per message, for the demo and tests. Templates are
//! askama's, HTML-escaped by default; words come from the catalogue in `texts.rs`.
//! Every message carries `Date` (lettre adds it) and a `Message-ID` of 256 random bits
//! in the From address's domain (spam filters and mail clients expect both).
//! The mailer never logs message bodies: they carry codes and link tokens.

mod texts;

use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::error::Error;
use texts::{Texts, texts};

/// The language of a page or message. French is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Français.
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag.
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }
}

/// A message to send.
#[derive(Clone)]
pub enum Mail {
    /// The activation link.
    Activation {
        /// The link.
        url: String,
        /// Its validity.
        valid_for: Duration,
        /// The institution that vouched for the address (named in the mail), if any.
        institution: Option<String>,
    },
    /// An invitation: the link to create the account's password.
    Invitation {
        /// The link.
        url: String,
        /// Its validity.
        valid_for: Duration,
        /// The app the person is invited to, if any.
        app: Option<String>,
        /// The person's name, if the inviter gave it.
        name: Option<String>,
    },
    /// Self-registration: the link that creates the account.
    Registration {
        /// The link.
        url: String,
        /// Its validity.
        valid_for: Duration,
    },
    /// The password-reset link.
    PasswordReset {
        /// The link.
        url: String,
        /// Its validity.
        valid_for: Duration,
    },
    /// A six-digit sign-in code.
    LoginCode {
        /// The code.
        code: String,
        /// Its validity.
        valid_for: Duration,
    },
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Activation { .. } => "Mail::Activation",
            Self::Invitation { .. } => "Mail::Invitation",
            Self::Registration { .. } => "Mail::Registration",
            Self::PasswordReset { .. } => "Mail::PasswordReset",
            Self::LoginCode { .. } => "Mail::LoginCode",
        })
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS; refuses to send if the upgrade fails.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a trusted network.
    None,
}

/// SMTP settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host name (also the name checked in its certificate).
    pub host: String,
    /// Port; default 587 for STARTTLS, 465 for TLS, 25 for none.
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection protection.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// AUTH user name.
    #[serde(default)]
    pub username: Option<String>,
    /// AUTH password.
    #[serde(default)]
    pub password: Option<String>,
    /// A PEM file with an extra trusted root (private relay).
    #[serde(default)]
    pub extra_root_pem: Option<PathBuf>,
    /// Seconds before a send is abandoned.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("extra_root_pem", &self.extra_root_pem)
            .finish()
    }
}

fn default_timeout() -> u64 {
    10
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// An SMTP relay.
    Smtp(SmtpConfig),
    /// One `.eml` file per message in a directory (demo, tests).
    Outbox {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

/// Mailer configuration (the `[mail]` table). Unknown keys are still refused: they flow
/// into the flattened transport, whose settings deny them (serde cannot combine
/// `deny_unknown_fields` with `flatten` on this struct itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailerConfig {
    /// The From header, e.g. `UNESS <no-reply@uness.fr>`.
    pub from: String,
    /// The support link shown in every message.
    #[serde(default = "default_support")]
    pub support_url: String,
    /// The transport.
    #[serde(flatten)]
    pub transport: Transport,
}

fn default_support() -> String {
    "https://sos.uness.fr/".into()
}

#[derive(Clone)]
enum Sender {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

/// Sends the fallback's messages.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    support_url: String,
    sender: Sender,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.sender {
            Sender::Smtp(_) => "smtp",
            Sender::Outbox(_) => "outbox",
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &kind)
            .finish()
    }
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlBody<'a> {
    t: &'a Texts,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextBody<'a> {
    t: &'a Texts,
}

impl Mailer {
    /// Builds the mailer. Does not connect: a relay that is down shows up on send.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad From address, an unreadable root certificate or an
    /// outbox directory that cannot be created.
    pub fn new(config: &MailerConfig) -> Result<Self, Error> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| Error::Config(format!("mail.from {:?}: {e}", config.from)))?;
        let sender = match &config.transport {
            Transport::Outbox { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Config(format!("mail outbox {}: {e}", dir.display())))?;
                Sender::Outbox(AsyncFileTransport::new(dir))
            }
            Transport::Smtp(smtp) => Sender::Smtp(smtp_transport(smtp)?),
        };
        Ok(Self {
            from,
            support_url: config.support_url.clone(),
            sender,
        })
    }

    /// Renders a message without sending it (tests, previews).
    ///
    /// # Errors
    /// [`Error::Internal`] if a template fails to render or the OS random source fails.
    pub fn render(&self, to: &Email, lang: Lang, mail: &Mail) -> Result<Message, Error> {
        let t = texts(lang, mail, &self.support_url);
        let html = HtmlBody { t: &t }
            .render()
            .map_err(|e| Error::Internal(format!("mail template: {e}")))?;
        let text = TextBody { t: &t }
            .render()
            .map_err(|e| Error::Internal(format!("mail template: {e}")))?;
        let to: Mailbox = to
            .as_str()
            .parse()
            .map_err(|e| Error::Mail(format!("recipient: {e}")))?;
        // Random bits in the sender's domain: unique without naming the host.
        let id = crate::secret::random_token()?;
        let domain = self.from.email.domain();
        Message::builder()
            .message_id(Some(format!("<{id}@{domain}>")))
            .from(self.from.clone())
            .to(to)
            .subject(t.subject.clone())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Error::Internal(format!("mail message: {e}")))
    }

    /// Renders and sends a message.
    ///
    /// # Errors
    /// [`Error::Mail`] when the relay or the outbox refuses it.
    pub async fn send(&self, to: &Email, lang: Lang, mail: &Mail) -> Result<(), Error> {
        let message = self.render(to, lang, mail)?;
        let result = match &self.sender {
            Sender::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Sender::Outbox(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
        };
        result.map_err(|reason| {
            tracing::warn!(kind = ?mail, %reason, "mail not sent");
            Error::Mail(reason)
        })
    }
}

fn smtp_transport(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
    let params = || -> Result<TlsParameters, Error> {
        let mut builder = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.extra_root_pem {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!("mail.extra_root_pem {}: {e}", path.display()))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                Error::Config(format!("mail.extra_root_pem {}: {e}", path.display()))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|e| Error::Config(format!("mail TLS: {e}")))
    };
    let (tls, default_port) = match smtp.security {
        SmtpSecurity::Starttls => (Tls::Required(params()?), 587),
        SmtpSecurity::Tls => (Tls::Wrapper(params()?), 465),
        SmtpSecurity::None => (Tls::None, 25),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(builder.build())
}
