//! `passerelle accounts invite`: one address, or every line of a CSV file.
//!
//! Each invitation goes through `passerelle-local-auth`'s `invite` (a pending account,
//! a mail with the link to « Créez votre mot de passe UNESS »), so running the same file
//! twice is harmless: pending accounts get a new link, active ones nothing. A bulk run
//! prints one line per refused row (with its line number and reason, never a secret)
//! and a summary; it exits 1 when a row was refused, after trying every row.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use passerelle_local_auth::{Email, Error as LocalError, Invitation, Invited, Inviter, Lang};

use crate::cli_admin::{out, parse_lang, rfc3339_of};
use crate::config::Config;
use crate::serve;

/// One row to invite.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    line: u64,
    email: String,
    name: Option<String>,
    lang: Option<String>,
}

/// Reads `address[,name[,lang]]` rows; a first row whose first cell is `email` (or
/// `mail`, `address`) is a header.
fn rows(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.context("reading the CSV file")?;
        // The reader's own line count skips comments: count from the byte offset.
        let offset = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        let mut line = text
            .get(..offset)
            .map_or(0, |t| t.matches('\n').count() as u64)
            + 1;
        // …which may point at the comments and blank lines before the record.
        let skipped = text.get(offset..).map_or(0, |rest| {
            rest.lines()
                .take_while(|l| l.trim().is_empty() || l.starts_with('#'))
                .count() as u64
        });
        line += skipped;
        let cell = |n: usize| {
            record
                .get(n)
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
        };
        let Some(email) = cell(0) else {
            continue;
        };
        if i == 0
            && matches!(
                email.to_ascii_lowercase().as_str(),
                "email" | "mail" | "address"
            )
        {
            continue;
        }
        out.push(Row {
            line,
            email,
            name: cell(1),
            lang: cell(2),
        });
    }
    Ok(out)
}

/// What one row came to.
#[derive(Debug, Default)]
struct Summary {
    invited: usize,
    resent: usize,
    already_active: usize,
    refused: usize,
}

/// Runs `accounts invite`.
pub(crate) fn invite(
    config: &Path,
    email: Option<String>,
    csv: Option<PathBuf>,
    name: Option<String>,
    app: Option<String>,
    lang: Lang,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let app_name = match &app {
        None => None,
        Some(id) => {
            let Some(c) = config.oidc.clients.iter().find(|c| &c.client_id == id) else {
                bail!("--app {id:?}: not one of the configured [[oidc.clients]]");
            };
            Some(c.name.clone().unwrap_or_else(|| id.clone()))
        }
    };
    let rows = match (email, csv) {
        (Some(e), None) => vec![Row {
            line: 0,
            email: e,
            name,
            lang: None,
        }],
        (None, Some(file)) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            rows(&text).with_context(|| file.display().to_string())?
        }
        _ => bail!("give one address or --csv FILE"),
    };
    let single = rows.len() == 1 && rows.first().is_some_and(|r| r.line == 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let secret = serve::read_secret(&config.secret_file)?;
        let store = serve::open_store(&config)?;
        let local = serve::local_auth(&config, &store, &secret)?;
        let audit = crate::cli_audit::log(&config, &store);
        let mut summary = Summary::default();
        for row in rows {
            let at = if row.line == 0 {
                String::new()
            } else {
                format!("line {}: ", row.line)
            };
            let result = async {
                let email = Email::parse(&row.email)?;
                let lang = match row.lang.as_deref() {
                    None => lang,
                    Some(l) => parse_lang(l).map_err(|e| LocalError::Config(e.to_string()))?,
                };
                let invitation = Invitation {
                    inviter: Inviter::Operator,
                    app: app.clone(),
                    app_name: app_name.clone(),
                    name: row.name.clone(),
                };
                let outcome = local.invite(&email, &invitation, lang).await?;
                Ok::<_, LocalError>((email, outcome))
            }
            .await;
            match result {
                Ok((email, outcome)) => {
                    if !matches!(outcome, Invited::AlreadyActive) {
                        crate::cli_audit::record_cli(
                            &audit,
                            passerelle_audit::Action::Invited,
                            email.as_str(),
                            Some(outcome.as_str()),
                        )
                        .await?;
                    }
                    match outcome {
                        Invited::Created { .. } => summary.invited += 1,
                        Invited::Resent { .. } => summary.resent += 1,
                        Invited::AlreadyActive => summary.already_active += 1,
                    }
                    if single {
                        let until = match outcome {
                            Invited::Created { expires_at } | Invited::Resent { expires_at } => {
                                format!("; link valid until {}", rfc3339_of(expires_at))
                            }
                            Invited::AlreadyActive => "; nothing sent".to_owned(),
                        };
                        out(&format!("{}: {}{until}", email.as_str(), outcome.as_str()))?;
                    }
                }
                Err(LocalError::Unavailable(e)) => {
                    bail!("{at}the store is unavailable ({e}); nothing more was tried")
                }
                Err(e) => {
                    summary.refused += 1;
                    let reason = match e {
                        LocalError::Throttled { retry_after } => format!(
                            "too many links sent to this address lately; retry in {} min",
                            retry_after.as_secs().div_ceil(60)
                        ),
                        other => other.to_string(),
                    };
                    out(&format!("{at}{}: refused: {reason}", row.email))?;
                }
            }
        }
        if !single {
            out(&format!(
                "invited {}, resent {}, already active {}, refused {}",
                summary.invited, summary.resent, summary.already_active, summary.refused
            ))?;
        }
        if summary.refused > 0 {
            bail!("{} invitation(s) refused", summary.refused);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn csv_rows_skip_a_header_comments_and_blank_lines_and_keep_quoted_names() {
        let text = "email,name,lang\n# the CHU\n\na@chu.fr\n\"b@chu.fr\",\"Dupont, Marie\",en\n  c@chu.fr ,,\n";
        let rows = rows(text).unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[0].email, "a@chu.fr");
        assert_eq!(rows[0].line, 4);
        assert_eq!(rows[1].name.as_deref(), Some("Dupont, Marie"));
        assert_eq!(rows[1].lang.as_deref(), Some("en"));
        assert_eq!(rows[2].email, "c@chu.fr");
        assert_eq!(rows[2].name, None);
    }

    #[test]
    fn a_file_without_header_starts_at_its_first_line() {
        let rows = rows("x@y.fr\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 1);
    }
}
