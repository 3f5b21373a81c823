//! `passerelle` — the binary: CLI, HTTP server, and the one-command demo.
//!
//! Map: `web` (state, routes, sessions, catalogues, the page layer), `journey` (the
//! UNESS journey's pages, one module per stretch), `demo` (embedded defaults: dev IdPs,
//! demo federation, demo app, mail outbox), `cli_metadata` (`metadata` verbs). It must
//! never panic on input, log a secret, or start with a configuration it could not fully
//! validate.

mod api;
mod cli_admin;
mod cli_audit;
mod cli_check;
mod cli_invite;
mod cli_metadata;
mod config;
mod console;
mod demo;
mod journey;
mod serve;
mod tls;
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
    /// Run the bridge from a configuration file.
    Serve {
        /// The TOML configuration (see config/passerelle.example.toml).
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file (with the environment's overrides); errors name the
    /// file, line and key.
    CheckConfig {
        /// The TOML configuration.
        file: PathBuf,
    },
    /// Print the SP metadata to register in the federation.
    SpMetadata {
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// The server secret and the OIDC signing keys: generate-secret, list, rotate.
    Keys {
        #[command(subcommand)]
        command: cli_admin::KeysCommand,
    },
    /// Relying parties: list, add (with a generated secret shown once).
    Clients {
        #[command(subcommand)]
        command: cli_admin::ClientsCommand,
    },
    /// Support operations on accounts: show, disable, send-reset.
    Accounts {
        #[command(subcommand)]
        command: cli_admin::AccountsCommand,
    },
    /// The audit log: export (JSON lines).
    Audit {
        #[command(subcommand)]
        command: cli_audit::AuditCommand,
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

fn logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Logs go to stderr: stdout is for what a verb prints (JSON, metadata).
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            listen,
            public_url,
            outbox,
        } => {
            logging(false);
            runtime()?.block_on(demo::run(listen, public_url, outbox))
        }
        Command::Serve { config } => {
            let config = config::Config::load(&config)?;
            logging(config.log.format == config::LogFormat::Json);
            runtime()?.block_on(serve::run(config))
        }
        Command::CheckConfig { file } => cli_check::run(&file),
        Command::SpMetadata { config } => cli_admin::sp_metadata(&config),
        Command::Keys { command } => {
            logging(false);
            cli_admin::keys(command)
        }
        Command::Clients { command } => cli_admin::clients(command),
        Command::Accounts { command } => {
            logging(false);
            cli_admin::accounts(command)
        }
        Command::Metadata { command } => {
            logging(false);
            cli_metadata::run(command)
        }
        Command::Audit { command } => {
            logging(false);
            cli_audit::run(command)
        }
    }
}
