//! `passerelle metadata …`: what a sysadmin runs on a federation feed before trusting it.
//!
//! - `verify FILE --cert PEM…`: signature against the given certificates, validity as of
//!   `--now`; prints the counts, exits non-zero with the reason otherwise.
//! - `list FILE`: one IdP per line (entityID, French name, scopes), or JSON.
//! - `search FILE TEXT` / `--email ADDRESS`: what the discovery page would offer (with
//!   `--config`, counting the operator's `[[saml.mail_domains]]` as `serve` does).
//!
//! `list` and `search` read the file without checking its signature (they are look-up
//! tools); they warn when the file is past its validUntil as of `--now`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use passerelle_saml_sp::directory::Directory;
use passerelle_saml_sp::metadata::{Aggregate, ParseOptions, PinnedCerts, load, parse};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `passerelle metadata` verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum MetadataCommand {
    /// Check a feed's signature and validity; print entity and IdP counts.
    Verify {
        /// The metadata file.
        file: PathBuf,
        /// PEM file(s) of the federation's signing certificate(s).
        #[arg(long = "cert", required = true)]
        certs: Vec<PathBuf>,
        /// Check as of this instant (RFC 3339), e.g. 2023-06-16T12:00:00Z.
        #[arg(long)]
        now: Option<String>,
        /// Refuse a validUntil further ahead than this many days.
        #[arg(long, default_value_t = 31)]
        max_validity_days: u64,
    },
    /// List the IdPs: entityID, French name, scopes.
    List {
        /// The metadata file.
        file: PathBuf,
        /// JSON instead of one line per IdP.
        #[arg(long)]
        json: bool,
        /// Warn relative to this instant (RFC 3339).
        #[arg(long)]
        now: Option<String>,
    },
    /// What the discovery page would offer for a search text or an e-mail address.
    Search {
        /// The metadata file.
        file: PathBuf,
        /// Words of an institution's name.
        text: Option<String>,
        /// An e-mail address (its domain is matched against the IdPs' scopes).
        #[arg(long, conflicts_with = "text")]
        email: Option<String>,
        /// Language of the names shown.
        #[arg(long, default_value = "fr")]
        lang: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Warn relative to this instant (RFC 3339).
        #[arg(long)]
        now: Option<String>,
        /// A configuration whose `[[saml.mail_domains]]` also count (what `serve` does).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn instant(now: Option<&str>) -> anyhow::Result<OffsetDateTime> {
    match now {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).with_context(|| {
            format!("--now {s:?} is not an RFC 3339 instant (e.g. 2023-06-16T12:00:00Z)")
        }),
    }
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn parse_unverified(file: &PathBuf, now: Option<&str>) -> anyhow::Result<Aggregate> {
    let now = instant(now)?;
    let agg =
        parse(&read(file)?, ParseOptions::default()).with_context(|| file.display().to_string())?;
    if let Err(e) = agg.check_validity(now, Duration::MAX) {
        eprintln!("passerelle: warning: {e}");
    }
    report_skipped(&agg);
    Ok(agg)
}

/// Every entity left out, one line each on stderr (what the output does not list).
fn report_skipped(agg: &Aggregate) {
    for s in &agg.skipped {
        eprintln!(
            "passerelle: skipped entity {}: {}",
            s.entity_id.as_deref().unwrap_or("(no entityID)"),
            s.reason
        );
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_out(&text)
}

fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

pub(crate) fn run(cmd: MetadataCommand) -> anyhow::Result<()> {
    match cmd {
        MetadataCommand::Verify {
            file,
            certs,
            now,
            max_validity_days,
        } => {
            let mut pem = String::new();
            for c in &certs {
                pem.push_str(
                    &std::fs::read_to_string(c)
                        .with_context(|| format!("cannot read {}", c.display()))?,
                );
                pem.push('\n');
            }
            let pinned = PinnedCerts::from_pem(&pem).context("--cert")?;
            let now = instant(now.as_deref())?;
            let max = Duration::from_secs(max_validity_days.saturating_mul(86_400));
            let agg = load(&read(&file)?, &pinned, now, max, ParseOptions::default())
                .with_context(|| format!("{} is not acceptable", file.display()))?;
            report_skipped(&agg);
            let until = agg
                .valid_until
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default();
            write_out(&format!(
                "OK: signature valid, valid until {until}; {} entities, {} IdPs, {} skipped",
                agg.entities,
                agg.idps.len(),
                agg.skipped.len()
            ))
        }
        MetadataCommand::List { file, json, now } => {
            let agg = parse_unverified(&file, now.as_deref())?;
            if json {
                return print_json(&agg.idps);
            }
            let mut lines = String::new();
            for idp in &agg.idps {
                let scopes: Vec<&str> = idp.scopes.iter().map(|s| s.value.as_str()).collect();
                lines.push_str(&format!(
                    "{}\t{}\t{}\n",
                    idp.entity_id,
                    idp.name("fr"),
                    scopes.join(" ")
                ));
            }
            write_out(lines.trim_end())
        }
        MetadataCommand::Search {
            file,
            text,
            email,
            lang,
            json,
            now,
            config,
        } => {
            let agg = parse_unverified(&file, now.as_deref())?;
            let mail_domains = match config {
                Some(path) => crate::config::Config::load(&path)?
                    .saml
                    .mail_domains()
                    .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?,
                None => passerelle_saml_sp::authority::MailDomains::none(),
            };
            let dir = Directory::with_mail_domains(&agg.idps, &mail_domains);
            let found = match (text, email) {
                (_, Some(address)) => dir.for_email(&address, &lang),
                (Some(text), None) => dir.search(&text, &lang, 50),
                (None, None) => bail!("give a search TEXT or --email ADDRESS"),
            };
            if json {
                return print_json(&found);
            }
            if found.is_empty() {
                eprintln!("passerelle: no institution found");
                return Ok(());
            }
            let lines: Vec<String> = found
                .iter()
                .map(|i| format!("{}\t{}", i.entity_id, i.name))
                .collect();
            write_out(&lines.join("\n"))
        }
    }
}
