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

/// A free TCP port on 127.0.0.1, for a server a test starts a moment later.
///
/// Taken below the kernel's ephemeral range (32768 and up on Linux), never twice in one
/// process: a port the OS picked for `bind(0)` is in the range every outgoing connection
/// draws its local port from, so between this answer and the server's own bind another
/// test's connection could take it ("Address already in use"). Each process starts at
/// its own offset; a candidate is checked by binding it. (Below 30000, so that a Redis
/// Cluster node's bus port, its port + 10000, is never one handed out here.)
///
/// # Errors
/// When no port of the range can be bound.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = (std::process::id() % 97) * 120;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = u16::try_from(LOW + n).unwrap_or(u16::MAX);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free loopback port between 20000 and 30000",
    ))
}
