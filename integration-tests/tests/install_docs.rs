//! The install steps of `docs/operations.md`, run as written, leave files the service
//! user can read: the `sh` block under "Install and first start" is extracted and run
//! by bash as root in a temporary prefix (`/etc/passerelle` → `PREFIX/etc/passerelle`,
//! same for `/var/lib/passerelle` and `/usr/local/bin`), then every file and directory
//! it made is checked as the `passerelle` user (`runuser`), and `passerelle
//! check-config` must pass as that user, as `ExecStartPre` runs it.
//!
//! What the block cannot do here is left out and said: `cargo build` (the test binary is
//! put where the build would leave it) and the unit's installation and `systemctl` (no
//! systemd in CI: the test checks the unit's `User=` instead). The feed's
//! signing certificate the sysadmin downloads is a fresh self-signed one, and the
//! example configuration's paths are moved into the prefix (the "edit it" step).
//!
//! It needs root (to create the user and give files to it): elsewhere it says why and
//! passes. A `passerelle` user the block creates is removed afterwards; an existing one
//! is left alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use passerelle_integration_tests::{TempDir, binary, workspace};

const USER: &str = "passerelle";

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Why this machine cannot run the check, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = run(Command::new("id").arg("-u"));
    if text(&uid.stdout).trim() != "0" {
        return Some("not root (the documented install creates a user and chowns files)".into());
    }
    for tool in [
        "runuser", "useradd", "userdel", "openssl", "bash", "install",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

fn user_exists() -> bool {
    run(Command::new("id").arg(USER)).status.success()
}

/// Removes the service user on drop if the documented steps created it.
struct CreatedUser(bool);
impl Drop for CreatedUser {
    fn drop(&mut self) {
        if self.0 && user_exists() {
            let _ = Command::new("userdel").arg(USER).output();
        }
    }
}

/// The documented shell block.
fn documented_block(doc: &str) -> String {
    let section = doc
        .split("## Install and first start")
        .nth(1)
        .expect("docs/operations.md has an 'Install and first start' section");
    let start = section.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let len = section[start..].find("```").expect("the block ends");
    section[start..start + len].to_owned()
}

/// The block with its system paths moved into `prefix`, and what it cannot run here
/// turned into comments.
fn in_prefix(block: &str, prefix: &Path) -> (String, Vec<String>) {
    let p = prefix.display();
    let mut skipped = Vec::new();
    let mut script = String::new();
    for line in block.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.starts_with("cargo build")
            || code.contains("systemctl")
            || code.contains("/etc/systemd")
        {
            skipped.push(line.trim().to_owned());
            script.push_str("# (skipped here) ");
            script.push_str(line);
        } else {
            script.push_str(&move_paths(line, &p.to_string()));
        }
        script.push('\n');
    }
    (script, skipped)
}

fn move_paths(text: &str, prefix: &str) -> String {
    text.replace("/etc/passerelle", &format!("{prefix}/etc/passerelle"))
        .replace(
            "/var/lib/passerelle",
            &format!("{prefix}/var/lib/passerelle"),
        )
        .replace("/usr/local/bin/", &format!("{prefix}/usr/local/bin/"))
}

/// Runs `args` as the service user.
fn as_user(args: &[&str]) -> Output {
    run(Command::new("runuser").args(["-u", USER, "--"]).args(args))
}

/// Every path under `dir`, depth first.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[test]
fn the_documented_install_leaves_every_file_readable_by_the_service_user() {
    if let Some(why) = cannot_run() {
        eprintln!(
            "SKIPPED the_documented_install_leaves_every_file_readable_by_the_service_user: {why}"
        );
        return;
    }
    let existed = user_exists();
    let _cleanup = CreatedUser(!existed);

    // Where the sysadmin runs the steps: the source tree (example configuration, unit,
    // the built binary) and the federation certificate they downloaded.
    let work = TempDir::new("install-docs");
    let prefix = work.0.join("root");
    let src = work.0.join("src");
    for dir in [
        prefix.join("usr/local/bin"),
        prefix.join("etc"),
        prefix.join("var/lib"),
        src.join("config"),
        src.join("target/release"),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
    }
    // The service user must be able to reach the prefix, as it reaches / on a host.
    for dir in [
        &work.0,
        &prefix,
        &prefix.join("etc"),
        &prefix.join("var"),
        &prefix.join("var/lib"),
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let example =
        std::fs::read_to_string(workspace().join("config/passerelle.example.toml")).unwrap();
    std::fs::write(
        src.join("config/passerelle.example.toml"),
        move_paths(&example, &prefix.display().to_string()),
    )
    .unwrap();
    std::fs::copy(binary(), src.join("target/release/passerelle")).unwrap();
    let cert = run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=federation test", "-keyout", "/dev/null"])
        .args(["-out", "renater-metadata-signing.pem"])
        .current_dir(&src));
    assert!(cert.status.success(), "{}", text(&cert.stderr));

    let doc = std::fs::read_to_string(workspace().join("docs/operations.md")).unwrap();
    let (script, skipped) = in_prefix(&documented_block(&doc), &prefix);
    eprintln!("not run here: {skipped:?}");
    let path = format!(
        "{}:{}",
        prefix.join("usr/local/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&src)
        .env("PATH", &path)
        .env_remove("PASSERELLE_CONFIG"));
    assert!(
        out.status.success(),
        "the documented steps failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(user_exists(), "the documented steps create the {USER} user");

    // Everything under /etc/passerelle: readable (directories: traversable) by the
    // service user, nothing for others (the secret and the private keys are there).
    let etc = prefix.join("etc/passerelle");
    let mut made = vec![etc.clone()];
    walk(&etc, &mut made);
    let mut problems = Vec::new();
    for p in &made {
        let shown = p.display().to_string();
        let test = if p.is_dir() { "-x" } else { "-r" };
        if !as_user(&["test", test, &shown]).status.success() {
            problems.push(format!(
                "{shown}: not {} by {USER}",
                if p.is_dir() {
                    "traversable"
                } else {
                    "readable"
                }
            ));
        }
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        if mode & 0o007 != 0 {
            problems.push(format!(
                "{shown}: mode {:o} lets every user in",
                mode & 0o777
            ));
        }
    }
    // The feed cache: the service writes last good copies there.
    let cache = prefix.join("var/lib/passerelle/metadata");
    if !as_user(&["test", "-w", &cache.display().to_string()])
        .status
        .success()
    {
        problems.push(format!("{}: not writable by {USER}", cache.display()));
    }
    assert!(
        problems.is_empty(),
        "after the documented install:\n{}",
        problems.join("\n")
    );

    // What ExecStartPre runs, as the unit's user.
    let config = etc.join("passerelle.toml").display().to_string();
    let checked = as_user(&[
        "env",
        &format!("PATH={path}"),
        "passerelle",
        "check-config",
        &config,
    ]);
    assert!(
        checked.status.success() && text(&checked.stdout).contains(": OK"),
        "check-config as {USER}:\n{}{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
    // The unit runs as the user the steps create.
    let unit = std::fs::read_to_string(workspace().join("deploy/passerelle.service")).unwrap();
    assert!(unit.lines().any(|l| l == format!("User={USER}")), "{unit}");
}
