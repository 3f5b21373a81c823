//! A real SMTP listener for tests: it speaks enough ESMTP for lettre (EHLO, STARTTLS,
//! AUTH PLAIN and LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and
//! records every delivered message.
//!
//! TLS uses a fresh self-signed certificate for `localhost`; tests give its PEM to the
//! client as an extra trusted root. It is a test sink, not a mail server: it relays
//! nothing and keeps messages in memory.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How the listener protects the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain text only (what a local relay on port 25 often is).
    None,
    /// Plain text, upgraded by STARTTLS; mail before the upgrade is refused.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465 style).
    Implicit,
}

/// One message as the client delivered it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO).
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed, CRLF line ends.
    pub data: Vec<u8>,
    /// Whether the message arrived over TLS.
    pub tls: bool,
    /// The user name the client authenticated as, if any.
    pub user: Option<String>,
}

/// A running SMTP sink; it stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    cert_pem: String,
    messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Setup {
    mode: SinkTls,
    credentials: Option<(String, String)>,
    acceptor: TlsAcceptor,
    messages: Arc<Mutex<Vec<Received>>>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl SmtpSink {
    /// Starts a sink on a free loopback port. With `credentials`, mail is accepted only
    /// after a successful AUTH with that user name and password.
    ///
    /// # Errors
    /// When the certificate cannot be made or no port can be bound.
    pub async fn start(mode: SinkTls, credentials: Option<(&str, &str)>) -> std::io::Result<Self> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(std::io::Error::other)?;
        let cert_pem = certified.cert.pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certified.cert.der().to_vec())],
                key,
            )
            .map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let setup = Setup {
            mode,
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            messages: Arc::clone(&messages),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let setup = setup.clone();
                tokio::spawn(async move {
                    let _ = session(stream, setup).await;
                });
            }
        });
        Ok(Self {
            port,
            cert_pem,
            messages,
            task,
        })
    }

    /// The listening port on 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM of the self-signed `localhost` certificate, to trust in the client.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Every message received so far.
    #[must_use]
    pub fn messages(&self) -> Vec<Received> {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until at least `n` messages arrived or `timeout` passed; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: tokio::net::TcpStream, setup: Setup) -> std::io::Result<()> {
    let (io, tls): (Box<dyn Io>, bool) = if setup.mode == SinkTls::Implicit {
        (Box::new(setup.acceptor.accept(stream).await?), true)
    } else {
        (Box::new(stream), false)
    };
    let mut conn = BufReader::new(io);
    let mut tls = tls;
    let mut user: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    conn.get_mut()
        .write_all(b"220 localhost ESMTP passerelle-testkit sink\r\n")
        .await?;
    loop {
        let Some(line) = read_line(&mut conn).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();
        let reply: String = match verb {
            "EHLO" => {
                let mut r = String::from("250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n");
                if setup.mode == SinkTls::StartTls && !tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                if setup.credentials.is_some() && (tls || setup.mode == SinkTls::None) {
                    r.push_str("250-AUTH PLAIN LOGIN\r\n");
                }
                r.push_str("250 HELP\r\n");
                r
            }
            "HELO" => "250 localhost\r\n".into(),
            "STARTTLS" if setup.mode == SinkTls::StartTls && !tls => {
                conn.get_mut()
                    .write_all(b"220 ready to start TLS\r\n")
                    .await?;
                let plain = conn.into_inner();
                let upgraded = setup.acceptor.accept(plain).await?;
                conn = BufReader::new(Box::new(upgraded) as Box<dyn Io>);
                tls = true;
                from = None;
                to.clear();
                continue;
            }
            "AUTH" => match authenticate(&mut conn, &line, setup.credentials.as_ref()).await? {
                Some(name) => {
                    user = Some(name);
                    "235 2.7.0 authenticated\r\n".into()
                }
                None => "535 5.7.8 authentication failed\r\n".into(),
            },
            "MAIL" => {
                if setup.mode == SinkTls::StartTls && !tls {
                    "530 5.7.0 must issue STARTTLS first\r\n".into()
                } else if setup.credentials.is_some() && user.is_none() {
                    "530 5.7.0 authentication required\r\n".into()
                } else {
                    from = Some(angle(&line));
                    to.clear();
                    "250 OK\r\n".into()
                }
            }
            "RCPT" if from.is_some() => {
                to.push(angle(&line));
                "250 OK\r\n".into()
            }
            "DATA" if from.is_some() && !to.is_empty() => {
                conn.get_mut()
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut conn).await?;
                let received = Received {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                    tls,
                    user: user.clone(),
                };
                setup
                    .messages
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(received);
                "250 OK queued\r\n".into()
            }
            "RSET" => {
                from = None;
                to.clear();
                "250 OK\r\n".into()
            }
            "NOOP" => "250 OK\r\n".into(),
            "QUIT" => {
                conn.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "503 5.5.1 bad sequence or unknown command\r\n".into(),
        };
        conn.get_mut().write_all(reply.as_bytes()).await?;
    }
}

async fn read_line(conn: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if conn.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn read_data(conn: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if conn.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let body = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(body);
    }
}

/// Handles AUTH PLAIN (with or without initial response) and AUTH LOGIN; returns the
/// user name on success.
async fn authenticate(
    conn: &mut BufReader<Box<dyn Io>>,
    line: &str,
    credentials: Option<&(String, String)>,
) -> std::io::Result<Option<String>> {
    let Some((want_user, want_pass)) = credentials else {
        return Ok(None);
    };
    let mut words = line.split(' ').skip(1);
    let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let (user, pass) = match mechanism.as_str() {
        "PLAIN" => {
            let encoded = match initial {
                Some(i) => i,
                None => prompt(conn, "334 \r\n").await?,
            };
            let decoded = B64.decode(encoded.trim()).unwrap_or_default();
            let mut parts = decoded.split(|b| *b == 0).skip(1);
            let user = parts.next().unwrap_or_default().to_vec();
            let pass = parts.next().unwrap_or_default().to_vec();
            (user, pass)
        }
        "LOGIN" => {
            let user = prompt(conn, "334 VXNlcm5hbWU6\r\n").await?;
            let pass = prompt(conn, "334 UGFzc3dvcmQ6\r\n").await?;
            (
                B64.decode(user.trim()).unwrap_or_default(),
                B64.decode(pass.trim()).unwrap_or_default(),
            )
        }
        _ => return Ok(None),
    };
    let user = String::from_utf8_lossy(&user).into_owned();
    if user == *want_user && pass == want_pass.as_bytes() {
        Ok(Some(user))
    } else {
        Ok(None)
    }
}

async fn prompt(conn: &mut BufReader<Box<dyn Io>>, ask: &str) -> std::io::Result<String> {
    conn.get_mut().write_all(ask.as_bytes()).await?;
    Ok(read_line(conn).await?.unwrap_or_default())
}

/// The address between `<` and `>` in a MAIL/RCPT line.
fn angle(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line.get(start..end).unwrap_or_default().to_owned()
}
