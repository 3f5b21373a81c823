//! Real `redis-server` processes for tests: one node, or a three-master cluster.
//!
//! Servers listen on loopback only, keep nothing on disk (no RDB, no AOF; only
//! `restart_loading` saves a dump, to load it back) and live in a
//! private temporary directory. They are killed when their handle drops, so a failing
//! test never leaves one behind.

use std::io::{Error, ErrorKind};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// A private redis-server on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    cluster: bool,
    /// PEM of the self-signed certificate when the server speaks TLS only.
    tls_cert: Option<String>,
    /// Extra command-line options for the next start (`restart_loading`).
    extra: Vec<String>,
    child: Option<Child>,
}

fn missing(what: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("{what} not found on PATH: run scripts/deps.sh (Debian package redis-server)"),
    )
}

fn wait_until(deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl RedisServer {
    /// Starts a standalone server on a free port and waits until it answers.
    ///
    /// # Errors
    /// When redis-server is missing or does not come up within five seconds.
    pub fn start() -> std::io::Result<Self> {
        Self::start_inner(false)
    }

    /// Starts a standalone server on the given port (to bring up a server a client was
    /// already told about).
    ///
    /// # Errors
    /// When redis-server is missing, the port is taken, or it does not come up in 5 s.
    pub fn start_on(port: u16) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("passerelle-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            port,
            dir,
            cluster: false,
            tls_cert: None,
            extra: Vec::new(),
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a standalone server that speaks TLS only, with a fresh self-signed
    /// certificate for `localhost` ([`RedisServer::cert_pem`]).
    ///
    /// # Errors
    /// When the certificate cannot be made or the server does not come up in 5 s.
    pub fn start_tls() -> std::io::Result<Self> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(Error::other)?;
        let port = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("passerelle-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("tls.crt"), certified.cert.pem())?;
        std::fs::write(dir.join("tls.key"), certified.signing_key.serialize_pem())?;
        let mut server = Self {
            port,
            dir,
            cluster: false,
            tls_cert: Some(certified.cert.pem()),
            extra: Vec::new(),
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The server's certificate (PEM) when it speaks TLS.
    #[must_use]
    pub fn cert_pem(&self) -> Option<&str> {
        self.tls_cert.as_deref()
    }

    fn start_inner(cluster: bool) -> std::io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let dir = std::env::temp_dir()
                .join(format!("passerelle-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let mut server = Self {
                port,
                dir,
                cluster,
                tls_cert: None,
                extra: Vec::new(),
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::other("redis-server did not start")))
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        if self.tls_cert.is_some() {
            let cert = self.dir.join("tls.crt");
            cmd.args([
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-ca-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(self.dir.join("tls.key"));
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.args(&self.extra);
        if self.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
        }
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                missing("redis-server")
            } else {
                e
            }
        })?;
        self.child = Some(child);
        let port = self.port;
        let tls = self.tls_cert.is_some();
        let loading = !self.extra.is_empty();
        let ready = || {
            if tls {
                ping_tls(port)
            } else if loading {
                answers(port)
            } else {
                ping(port)
            }
        };
        if wait_until(Duration::from_secs(5), ready) {
            Ok(())
        } else {
            self.kill();
            Err(Error::new(
                ErrorKind::TimedOut,
                format!("redis-server on port {port} did not answer within 5 s"),
            ))
        }
    }

    /// The server's private directory (its working directory, log and dumps).
    #[must_use]
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The server's port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would) and waits until its port is closed.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    ///
    /// # Errors
    /// When it does not come back within five seconds.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Saves the dataset, then restarts the server so that it loads it back slowly
    /// (`micros_per_key` per key), as a Redis restarting with a large dataset does:
    /// until the load ends, every command is answered `LOADING`. Returns once the
    /// server answers (with `LOADING`).
    ///
    /// # Errors
    /// When `SAVE` fails or the server does not come back within five seconds.
    pub fn restart_loading(&mut self, micros_per_key: u32) -> std::io::Result<()> {
        let saved = self.cli(&["SAVE"])?;
        if saved.trim() != "OK" {
            return Err(Error::other(format!("SAVE answered {saved}")));
        }
        self.kill();
        self.extra = vec![
            "--key-load-delay".into(),
            micros_per_key.to_string(),
            // Answer clients every KiB of the file (the minimum) while loading.
            "--loading-process-events-interval-bytes".into(),
            "1024".into(),
        ];
        let started = self.spawn();
        self.extra.clear();
        started
    }

    /// Runs `redis-cli` against this server (plain servers only); returns its output.
    ///
    /// # Errors
    /// When redis-cli is missing or fails.
    pub fn cli(&self, args: &[&str]) -> std::io::Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    missing("redis-cli")
                } else {
                    e
                }
            })?;
        if !out.status.success() {
            return Err(Error::other(format!(
                "redis-cli {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port;
        let _ = wait_until(Duration::from_secs(2), || {
            TcpStream::connect(("127.0.0.1", port)).is_err()
        });
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `true` when something on 127.0.0.1:port answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// `true` when something on 127.0.0.1:port answers `PING` with a reply or an error
/// (`-LOADING` while a dataset loads).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut first = [0u8; 1];
    s.read_exact(&mut first).is_ok() && matches!(&first, b"+" | b"-")
}

/// `true` when a TLS server accepts connections on 127.0.0.1:port (it listens only once
/// it is ready; redis-cli is not used because it can hang mid-handshake at start-up).
fn ping_tls(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Where the tests' Redis is: the environment's `REDIS_URL`, or a server this handle owns.
#[derive(Debug)]
pub enum TestRedis {
    /// A server named by `REDIS_URL`; left running.
    External(String),
    /// A private server started for this test; stopped on drop.
    Owned(RedisServer),
}

impl TestRedis {
    /// The URL to connect to.
    #[must_use]
    pub fn url(&self) -> String {
        match self {
            Self::External(url) => url.clone(),
            Self::Owned(server) => server.url(),
        }
    }
}

/// `REDIS_URL` when set and non-empty, else a freshly started private server.
///
/// # Errors
/// When no `REDIS_URL` is set and redis-server cannot be started.
pub fn redis_url() -> std::io::Result<TestRedis> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(TestRedis::External(url)),
        _ => RedisServer::start().map(TestRedis::Owned),
    }
}

/// A three-master Redis Cluster on loopback ports, without replicas.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`
    /// and waits until every node reports `cluster_state:ok`.
    ///
    /// # Errors
    /// When a server or redis-cli is missing, or the cluster does not form in 20 s.
    pub fn start() -> std::io::Result<Self> {
        let nodes = (0..3)
            .map(|_| RedisServer::start_inner(true))
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port()));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    missing("redis-cli")
                } else {
                    e
                }
            })?;
        if !out.status.success() {
            return Err(Error::other(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let ports: Vec<u16> = nodes.iter().map(RedisServer::port).collect();
        let ok = wait_until(Duration::from_secs(20), || {
            ports.iter().all(|p| cluster_ok(*p))
        });
        if !ok {
            return Err(Error::new(
                ErrorKind::TimedOut,
                "the Redis Cluster did not form within 20 s",
            ));
        }
        Ok(Self { nodes })
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    #[must_use]
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
}
