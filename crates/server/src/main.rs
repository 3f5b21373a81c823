//! `passerelle` — the binary: CLI, HTTP server, and the one-command demo.
//!
//! Map: `web` (state, routes, sessions, catalogues, the page layer), `journey` (the
//! UNESS journey's pages, one module per stretch), `demo` (embedded defaults: dev IdPs,
//! demo federation, demo app, mail outbox), `cli_metadata` (`metadata` verbs). It must
//! never panic on input, log a secret, or start with a configuration it could not fully
//! validate.

mod cli_metadata;
mod demo;
mod journey;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Passerelle, the UNESS login bridge.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run on embedded defaults: in-memory store, mail written to an outbox directory.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "PASSERELLE_LISTEN")]
        listen: SocketAddr,
        /// The URL browsers use (default: http://localhost:PORT).
        #[arg(long, env = "PASSERELLE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Where the demo writes its e-mails (one .eml per message).
        #[arg(long, env = "PASSERELLE_OUTBOX")]
        outbox: Option<PathBuf>,
    },
    /// Inspect federation metadata: verify, list, search.
    Metadata {
        #[command(subcommand)]
        command: cli_metadata::MetadataCommand,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line per cause; no backtrace for an operator's mistake.
            eprintln!("passerelle: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    match cli.command {
        Command::Demo {
            listen,
            public_url,
            outbox,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(demo::run(listen, public_url, outbox)),
        Command::Metadata { command } => cli_metadata::run(command),
    }
}
