//! `passerelle-testkit` — real parts for tests: redis-server processes and an SMTP listener.
//!
//! Tests in this workspace talk to real services, never to mocks:
//! - [`redis::RedisServer`] starts a private `redis-server` on a free loopback port and
//!   can stop and restart it (to test outages); [`redis::redis_url`] prefers `REDIS_URL`
//!   when the environment sets one.
//! - [`redis::RedisCluster`] starts a three-master Redis Cluster on loopback ports.
//! - [`python::pysaml2`] makes the pysaml2 virtualenv once.
//! - [`npm::install`] installs pinned npm packages (openid-client, axe-core) once.
//! - [`smtp::SmtpSink`] is a small SMTP server (plain, STARTTLS or implicit TLS, optional
//!   AUTH PLAIN/LOGIN) that records every message a real client delivers to it.
//! - [`https::HttpsServer`] answers fixed paths over TLS (a self-signed `localhost`
//!   certificate): the web servers a feed's records point at.
//! - [`utf7::smuggle`] builds the encoding-declaration attack on a signed document.
//!
//! Everything started here is stopped when its handle is dropped. This crate is for tests
//! and benchmarks only; no production crate depends on it.

pub mod https;
pub mod npm;
pub mod python;
pub mod redis;
pub mod smtp;
pub mod utf7;

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed at once).
///
/// # Errors
/// When the OS cannot bind a loopback socket.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
