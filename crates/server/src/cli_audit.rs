//! `passerelle audit export`, and the audit records the command-line verbs write.
//!
//! Every change an operator makes from the command line (disable an account, send a
//! reset link, invite, rotate keys) is recorded in the audit log before the verb says
//! it is done, as `operator:$USER` from `cli`. Export writes the whole log (or from an
//! instant) as JSON lines on standard output, oldest first.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use passerelle_audit::{Action, Actor, AuditLog, Record};
use passerelle_store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::serve;

/// `passerelle audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Every audit record, oldest first, as JSON lines on standard output.
    Export {
        /// The configuration (for the store).
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
        /// Only records written from this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
}

/// Who runs the command: the operator's OS account, when the environment says.
pub(crate) fn operator() -> Actor {
    Actor::Operator {
        user: std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .ok()
            .filter(|u| !u.is_empty()),
    }
}

/// The audit log of `config`'s store.
pub(crate) fn log(config: &Config, store: &Store) -> AuditLog {
    AuditLog::new(store.clone(), config.audit)
}

/// Records what an operator did from the command line.
///
/// # Errors
/// When the record cannot be kept (the verb must then not say it is done).
pub(crate) async fn record_cli(
    log: &AuditLog,
    action: Action,
    subject: &str,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    let mut record = Record::now(operator(), "cli", action).on(subject);
    if let Some(d) = detail {
        record = record.detail(d);
    }
    log.record(record)
        .await
        .context("writing the audit record")?;
    Ok(())
}

/// `passerelle audit …`.
pub(crate) fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Export { config, since } => {
            let since = since
                .map(|s| {
                    OffsetDateTime::parse(&s, &Rfc3339)
                        .with_context(|| format!("--since {s:?}: an RFC 3339 instant"))
                })
                .transpose()?;
            let config = Config::load(&config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async {
                let store = serve::open_store(&config)?;
                let log = log(&config, &store);
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                let n = log.export(&mut out, since).await?;
                std::io::Write::flush(&mut out)?;
                eprintln!("{n} audit records exported");
                Ok(())
            })
        }
    }
}
