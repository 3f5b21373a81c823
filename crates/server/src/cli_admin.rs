//! The sysadmin's verbs: `sp-metadata`, `keys …`, `clients …`, `accounts …`.
//!
//! Each reads the same configuration as `serve` (so it talks to the same store with the
//! same secret) and prints plain lines; a failure is one readable message and a non-zero
//! exit. Secrets are shown exactly once, when they are made (`clients add`,
//! `keys generate-secret` writes to a file), and never read back.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use passerelle_audit::Action;
use passerelle_local_auth::{Email, Lang, LinkPurpose};
use passerelle_oidc_provider::{SigningAlg, generate_secret, hash_secret, unix_now};

use crate::config::Config;
use crate::serve;

pub(crate) fn out(text: &str) -> anyhow::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        // `passerelle … | head` is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// A stored instant (Unix milliseconds) as RFC 3339, to the second.
pub(crate) fn rfc3339_of(t: passerelle_local_auth::Timestamp) -> String {
    rfc3339(i64::try_from(t.0 / 1000).unwrap_or(i64::MAX))
}

fn ts(t: Option<passerelle_local_auth::Timestamp>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| rfc3339(i64::try_from(t.0).unwrap_or(i64::MAX)),
    )
}

/// `passerelle keys …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Write a new server secret (32 random bytes, hex) to FILE, readable by its owner
    /// only. Refuses to overwrite.
    GenerateSecret {
        /// Where to write it (the `secret_file` of the configuration).
        file: PathBuf,
    },
    /// The OIDC signing keys: id, algorithm, state, dates.
    List {
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// Add a signing key: published in /jwks now, signing after --publish-ahead; the old
    /// key stays published until every token it signed has expired.
    Rotate {
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
        /// RS256, ES256 or EdDSA.
        #[arg(long)]
        alg: String,
        /// Seconds between publication and first signature (relying parties refresh
        /// their key caches in between).
        #[arg(long, default_value_t = 86_400)]
        publish_ahead: i64,
    },
}

/// `passerelle clients …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientsCommand {
    /// The relying parties of the configuration.
    List {
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// Print a new `[[oidc.clients]]` entry with a generated secret (shown once: give it
    /// to the app; only its digest goes in the configuration).
    Add {
        /// The client id, e.g. `cockpit`.
        client_id: String,
        /// Its exact redirect URI(s).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Its display name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `passerelle accounts …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccountsCommand {
    /// An account's state (never its password hash).
    Show {
        /// The address.
        email: String,
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// Block an account: nothing works for it until support acts again.
    Disable {
        /// The address.
        email: String,
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// E-mail a password-reset link to an active account.
    SendReset {
        /// The address.
        email: String,
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
        /// Language of the e-mail (fr or en).
        #[arg(long, default_value = "fr")]
        lang: String,
    },
    /// Rebuild support's account indexes (search by address prefix, by institution)
    /// from the accounts in the store: after an upgrade from a version without them, or
    /// after restoring a backup. Walks the store's keys; safe to run any time.
    Reindex {
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
    },
    /// Invite someone without a university login: a pending account and an e-mail with
    /// the link to create their UNESS password. Idempotent: a pending account gets a new
    /// link (earlier ones stay valid), an active one nothing. With --csv, every line
    /// `address[,name[,lang]]` of FILE (a header line `email,…` is skipped), then a
    /// summary; exits 1 when a line was refused.
    Invite {
        /// The address (or --csv FILE).
        #[arg(required_unless_present = "csv", conflicts_with = "csv")]
        email: Option<String>,
        /// A CSV file of addresses.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The person's name (greets them in the mail).
        #[arg(long)]
        name: Option<String>,
        /// The app (an OIDC client id) the person is invited to; the mail names it.
        #[arg(long)]
        app: Option<String>,
        /// The configuration.
        #[arg(long, env = "PASSERELLE_CONFIG")]
        config: PathBuf,
        /// Language of the e-mail (fr or en), for lines that do not say.
        #[arg(long, default_value = "fr")]
        lang: String,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `passerelle sp-metadata --config FILE`.
pub(crate) fn sp_metadata(config: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    out(&serve::service_provider(&config)?.metadata_xml())
}

pub(crate) fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::GenerateSecret { file } => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&file).with_context(|| {
                format!("cannot create {} (it must not exist yet)", file.display())
            })?;
            writeln!(f, "{hex}")?;
            out(&format!(
                "wrote a new secret to {} (mode 600); every instance needs this same file",
                file.display()
            ))
        }
        KeysCommand::List { config } => {
            let config = Config::load(&config)?;
            runtime()?.block_on(async {
                let secret = serve::read_secret(&config.secret_file)?;
                let store = serve::open_store(&config)?;
                let provider = serve::provider(&config, &store, &secret).await?;
                let keys = provider.keys();
                let now = unix_now();
                let mut lines = vec!["kid\talg\tstate\tpublished\tsigns from".to_owned()];
                for k in keys.ring().describe(now, keys.max_token_lifetime()) {
                    lines.push(format!(
                        "{}\t{}\t{:?}\t{}\t{}",
                        k.kid,
                        k.alg.as_str(),
                        k.state,
                        rfc3339(k.published_at),
                        rfc3339(k.signs_from)
                    ));
                }
                out(&lines.join("\n"))
            })
        }
        KeysCommand::Rotate {
            config,
            alg,
            publish_ahead,
        } => {
            let Some(alg) = SigningAlg::parse(&alg) else {
                bail!("--alg {alg:?}: use RS256, ES256 or EdDSA");
            };
            if publish_ahead < 0 {
                bail!("--publish-ahead must not be negative");
            }
            let config = Config::load(&config)?;
            runtime()?.block_on(async {
                let secret = serve::read_secret(&config.secret_file)?;
                let store = serve::open_store(&config)?;
                let provider = serve::provider(&config, &store, &secret).await?;
                let now = unix_now();
                let kid = provider.keys().rotate(alg, publish_ahead, now).await?;
                let log = crate::cli_audit::log(&config, &store);
                crate::cli_audit::record_cli(
                    &log,
                    Action::KeysRotated,
                    alg.as_str(),
                    Some(&format!("kid={kid}")),
                )
                .await?;
                out(&format!(
                    "new {} key {kid}: published now, signs from {}; running instances pick it up within a minute",
                    alg.as_str(),
                    rfc3339(now.saturating_add(publish_ahead))
                ))
            })
        }
    }
}

pub(crate) fn clients(cmd: ClientsCommand) -> anyhow::Result<()> {
    match cmd {
        ClientsCommand::List { config } => {
            let config = Config::load(&config)?;
            let mut lines = vec!["client_id\tname\tauth\tredirect_uris".to_owned()];
            for c in &config.oidc.clients {
                let auth = c.token_endpoint_auth_method.map_or_else(
                    || {
                        if c.secret_hash.is_some() {
                            "client_secret_basic".to_owned()
                        } else {
                            "none".to_owned()
                        }
                    },
                    |m| format!("{m:?}"),
                );
                lines.push(format!(
                    "{}\t{}\t{auth}\t{}",
                    c.client_id,
                    c.name.as_deref().unwrap_or("-"),
                    c.redirect_uris.join(" ")
                ));
            }
            out(&lines.join("\n"))
        }
        ClientsCommand::Add {
            client_id,
            redirect_uris,
            name,
        } => {
            let secret = generate_secret().map_err(|e| anyhow::anyhow!("{e}"))?;
            let entry = passerelle_oidc_provider::ClientConfig {
                client_id: client_id.clone(),
                name: name.clone(),
                secret_hash: Some(hash_secret(&secret)),
                token_endpoint_auth_method: None,
                redirect_uris: redirect_uris.clone(),
                post_logout_redirect_uris: Vec::new(),
                scopes: None,
                subject_type: passerelle_oidc_provider::SubjectType::Public,
                sector_identifier: None,
                backchannel_logout_uri: None,
                id_token_signed_response_alg: None,
                access_token_lifetime: None,
                refresh_tokens: None,
                jwks: None,
                jwks_uri: None,
                initiate_login_uri: None,
                client_uri: None,
                default_acr_values: Vec::new(),
            };
            // The same checks `serve` makes, before anything is printed.
            passerelle_oidc_provider::Registry::new(std::slice::from_ref(&entry))
                .context("the new client")?;
            let uris: Vec<String> = redirect_uris.iter().map(|u| format!("{u:?}")).collect();
            let mut toml = format!("[[oidc.clients]]\nclient_id = {client_id:?}\n");
            if let Some(n) = &name {
                toml.push_str(&format!("name = {n:?}\n"));
            }
            toml.push_str(&format!(
                "secret_hash = {:?}\nredirect_uris = [{}]\n",
                hash_secret(&secret),
                uris.join(", ")
            ));
            out(&format!(
                "# Add to the configuration:\n{toml}\n# Give the app its secret now; it is not stored anywhere and is shown only once:\n# client_secret = {secret}"
            ))
        }
    }
}

pub(crate) fn accounts(cmd: AccountsCommand) -> anyhow::Result<()> {
    let (email, config) = match cmd {
        AccountsCommand::Invite {
            email,
            csv,
            name,
            app,
            config,
            lang,
        } => {
            let lang = parse_lang(&lang)?;
            return crate::cli_invite::invite(&config, email, csv, name, app, lang);
        }
        AccountsCommand::Reindex { config } => {
            let config = Config::load(&config)?;
            return runtime()?.block_on(async {
                let secret = serve::read_secret(&config.secret_file)?;
                let store = serve::open_store(&config)?;
                let local = serve::local_auth(&config, &store, &secret)?;
                let done = local.reindex().await?;
                out(&format!(
                    "{} accounts indexed, {} of them linked to an institution",
                    done.accounts, done.linked
                ))
            });
        }
        AccountsCommand::Show {
            ref email,
            ref config,
        }
        | AccountsCommand::Disable {
            ref email,
            ref config,
        }
        | AccountsCommand::SendReset {
            ref email,
            ref config,
            ..
        } => (email.clone(), config.clone()),
    };
    let email = Email::parse(&email).with_context(|| format!("{email:?}"))?;
    let config = Config::load(&config)?;
    runtime()?.block_on(async {
        let secret = serve::read_secret(&config.secret_file)?;
        let store = serve::open_store(&config)?;
        let local = serve::local_auth(&config, &store, &secret)?;
        match cmd {
            AccountsCommand::Show { .. } => {
                let Some(a) = local.account(&email).await? else {
                    bail!("no account for {}", email.as_str());
                };
                let fed = a.federated.as_ref().map_or_else(|| "-".to_owned(), |f| format!("{} ({})", f.idp, f.subject));
                let invited = a.invitation.as_ref().map_or_else(
                    || "-".to_owned(),
                    |i| format!("by {} for {} at {}", i.inviter.label(), i.app.as_deref().unwrap_or("-"), ts(Some(i.at))),
                );
                out(&format!(
                    "email\t{}\nstatus\t{:?}\nkind\t{}\norigin\t{}\ninvited\t{invited}\nuniversity\t{fed}\nname\t{}\npassword\t{}\nmailbox proved\t{}\ncreated\t{}\nactivated\t{}\nlast login\t{}",
                    a.email.as_str(),
                    a.status,
                    a.kind().as_str(),
                    a.origin.as_str(),
                    a.profile.display_name.as_deref().unwrap_or("-"),
                    if a.has_password() { "set" } else { "none" },
                    ts(a.mailbox_proved_at),
                    ts(Some(a.created_at)),
                    ts(a.activated_at),
                    ts(a.last_login_at),
                ))
            }
            AccountsCommand::Disable { .. } => {
                let a = local.disable(&email).await?;
                let log = crate::cli_audit::log(&config, &store);
                crate::cli_audit::record_cli(&log, Action::AccountDisabled, a.email.as_str(), None)
                    .await?;
                out(&format!("{}: {:?}", a.email.as_str(), a.status))
            }
            AccountsCommand::Invite { .. } | AccountsCommand::Reindex { .. } => Ok(()),
            AccountsCommand::SendReset { lang, .. } => {
                let lang = parse_lang(&lang)?;
                let until = local.send_link(&email, LinkPurpose::PasswordReset, lang, "support-cli").await?;
                let log = crate::cli_audit::log(&config, &store);
                crate::cli_audit::record_cli(&log, Action::LinkSent, email.as_str(), Some("reset"))
                    .await?;
                out(&format!("reset link sent to {}; valid until {}", email.as_str(), ts(Some(until))))
            }
        }
    })
}

/// `fr` or `en`.
pub(crate) fn parse_lang(text: &str) -> anyhow::Result<Lang> {
    match text.trim() {
        "fr" | "" => Ok(Lang::Fr),
        "en" => Ok(Lang::En),
        other => bail!("language {other:?}: use fr or en"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_instants_in_milliseconds_print_as_rfc3339() {
        // Before: the milliseconds were read as seconds and printed as a bare number.
        assert_eq!(
            rfc3339_of(passerelle_local_auth::Timestamp(1_796_684_889_500)),
            "2026-12-07T23:08:09Z"
        );
    }
}
