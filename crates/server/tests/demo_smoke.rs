//! The real `passerelle` binary, started as a process: `demo` comes up on embedded
//! defaults and answers its health and readiness probes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failed step is a failed test

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_demo_starts_on_embedded_defaults_and_is_ready() {
    let port = passerelle_testkit::free_port().unwrap();
    let outbox = std::env::temp_dir().join(format!("passerelle-smoke-{port}"));
    let log = std::env::temp_dir().join(format!("passerelle-smoke-{port}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--outbox")
        .arg(&outbox)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let start = Instant::now();
    let health = loop {
        if let Some(r) = get(port, "/healthz") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "demo did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = get(port, "/readyz").unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("\r\n\r\nready\n"),
        "{ready}"
    );
    // The in-memory store keeps nothing: readiness says so, without failing.
    assert!(ready.contains("does not persist"), "{ready}");
    let missing = get(port, "/nope").unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(outbox.is_dir());
}
