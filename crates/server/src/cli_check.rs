//! `passerelle check-config FILE`: what `serve` would refuse, or start degraded on, found
//! before it runs.
//!
//! After [`Config::load`] (syntax, every missing key, semantic checks, the store URL
//! parsed as the store will), every file the configuration names is opened and used as
//! `serve` would (secret, SP keys, pinned certificates, roots, TLS pair, mailer): each
//! failure is an error naming the file, the line and the key once. Then each federation
//! feed is verified as the refresher would verify it, now, with its pinned certificates
//! only: a `file =` feed is read, a `url =` feed is not fetched (no network here) but its
//! last good copy in `cache_dir` is checked when there is one. A feed that does not load
//! is a warning, not an error: `serve` starts without it (not ready) and the file may be
//! replaced before the next refresh.

use std::path::{Path, PathBuf};
use std::time::Duration;

use passerelle_saml_sp::federation::{Federation, Location, Source, SourceStatus};
use passerelle_saml_sp::metadata::PinnedCerts;
use time::OffsetDateTime;

use crate::config::{Config, ConfigError, FeedConfig, locate};

/// Runs the verb: `FILE: OK` on stdout, warnings on stderr; an error lists every problem.
pub(crate) fn run(file: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let config = Config::load(file)?;
    // (The SMTP transport's pool needs a runtime even to be built; feeds verify on the
    // blocking pool.)
    let (problems, notes) = crate::runtime()?.block_on(async {
        (
            check_files(&config, file),
            check_feeds(&config, file, OffsetDateTime::now_utc()).await,
        )
    });
    {
        let mut err = std::io::stderr().lock();
        for note in &notes {
            writeln!(err, "{note}")?;
        }
    }
    if problems.is_empty() {
        writeln!(std::io::stdout().lock(), "{}: OK", file.display())?;
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("\n"))
    }
}

/// `file:line: key: message`, the line found in the configuration's text (`None` when
/// the key is not written there: a default, or the environment).
struct Locator {
    file: PathBuf,
    text: String,
}

impl Locator {
    fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            text: std::fs::read_to_string(file).unwrap_or_default(),
        }
    }

    fn at(&self, key: &str, message: impl Into<String>) -> String {
        ConfigError {
            file: self.file.clone(),
            line: locate(&self.text, key),
            key: Some(key.to_owned()),
            message: message.into(),
        }
        .to_string()
    }
}

fn readable(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Every file the configuration names that cannot be read or used, one located line
/// each.
pub(crate) fn check_files(config: &Config, file: &Path) -> Vec<String> {
    let at = Locator::new(file);
    let mut problems = Vec::new();
    if let Err(e) = crate::serve::secret_bytes(&config.secret_file) {
        problems.push(at.at("secret_file", e));
    }
    if let Err(e) =
        crate::serve::passkey_config(&config.public_url, &config.branding.name, &config.passkeys)
            .and_then(|c| c.check())
    {
        let key = if config.passkeys.rp_id.is_some() {
            "passkeys.rp_id"
        } else {
            "public_url"
        };
        problems.push(at.at(key, e.to_string()));
    }
    if let Some(root) = &config.store.tls_root
        && let Err(e) = readable(root)
    {
        problems.push(at.at("store.tls_root", e));
    }
    if let Some(tls) = &config.tls
        && let Err(e) = crate::tls::load(&tls.cert, &tls.key)
    {
        // The error names tls.cert or tls.key itself.
        let key = if format!("{e}").starts_with("tls.key") {
            "tls.key"
        } else {
            "tls.cert"
        };
        problems.push(at.at(key, format!("{e:#}").trim_start_matches(key).trim_start()));
    }
    let k = &config.saml.keys;
    for (key, cert, key_name, cert_name) in [
        (
            &k.signing_key,
            &k.signing_cert,
            "saml.keys.signing_key",
            "saml.keys.signing_cert",
        ),
        (
            &k.encryption_key,
            &k.encryption_cert,
            "saml.keys.encryption_key",
            "saml.keys.encryption_cert",
        ),
    ] {
        match (readable(key), readable(cert)) {
            (Ok(key), Ok(cert)) => {
                if let Err(e) = passerelle_saml_sp::sp::KeyPair::from_pem(&key, &cert) {
                    problems.push(at.at(key_name, format!("with {cert_name}: {e}")));
                }
            }
            (key, cert) => {
                for (name, result) in [(key_name, key), (cert_name, cert)] {
                    if let Err(e) = result {
                        problems.push(at.at(name, e));
                    }
                }
            }
        }
    }
    for (i, f) in config.saml.federations.iter().enumerate() {
        if let Err(e) = pinned(f) {
            problems.push(at.at(&format!("saml.federations[{i}].certs"), e));
        }
        if let Some(root) = &f.extra_root
            && let Err(e) = readable(root)
        {
            problems.push(at.at(&format!("saml.federations[{i}].extra_root"), e));
        }
    }
    if let Some(root) = &config.saml.logos.extra_root
        && let Err(e) = readable(root)
    {
        problems.push(at.at("saml.logos.extra_root", e));
    }
    if let Err(e) = passerelle_local_auth::Mailer::new(&config.mail) {
        problems.push(at.at("mail", e.to_string()));
    }
    if let Err((key, message)) = crate::web::brand::Branding::load(&config.branding) {
        problems.push(at.at(&key, message));
    }
    if let Err((key, message)) = crate::console::Console::load(&config.console) {
        problems.push(at.at(&key, message));
    }
    problems
}

/// The feed's pinned certificates, as `serve` reads them.
fn pinned(f: &FeedConfig) -> Result<PinnedCerts, String> {
    let mut pem = String::new();
    for c in &f.certs {
        let bytes = readable(c)?;
        pem.push_str(&String::from_utf8_lossy(&bytes));
        pem.push('\n');
    }
    PinnedCerts::from_pem(&pem).map_err(|e| e.to_string())
}

/// Verifies the copy at `path` as the refresher would, at `now` (size cap, encoding,
/// pinned signature, validity), without writing anything (no cache directory).
async fn verify_copy(
    f: &FeedConfig,
    pinned: PinnedCerts,
    path: &Path,
    now: OffsetDateTime,
) -> Option<SourceStatus> {
    let source = Source {
        name: f.name.clone(),
        location: Location::File(path.to_path_buf()),
        pinned,
        max_validity: Duration::from_secs(f.max_validity_days.saturating_mul(86_400)),
        max_bytes: f.max_size_mib.saturating_mul(1 << 20),
    };
    let federation = Federation::new(vec![source], None).ok()?;
    federation.refresh(now).await.into_iter().next()
}

/// Why a verified copy is not served, if it is not: `(reason, error)`.
fn refusal(status: &SourceStatus) -> Option<(&'static str, String)> {
    status.error.as_ref().map(|e| {
        (
            status.last_failure.map_or("internal", |f| f.as_str()),
            e.clone(),
        )
    })
}

/// One warning or note per feed that `serve` could not load now, located at its `file`
/// or `url` key. A copy whose certificates do not load is left to [`check_files`].
pub(crate) async fn check_feeds(config: &Config, file: &Path, now: OffsetDateTime) -> Vec<String> {
    let at = Locator::new(file);
    let mut notes = Vec::new();
    for (i, f) in config.saml.federations.iter().enumerate() {
        let name = &f.name;
        if let Some(path) = &f.file {
            let key = format!("saml.federations[{i}].file");
            let Ok(pinned) = pinned(f) else {
                continue;
            };
            let Some(status) = verify_copy(f, pinned, path, now).await else {
                continue;
            };
            if let Some((reason, error)) = refusal(&status) {
                notes.push(at.at(
                    &key,
                    format!(
                        "warning: feed {name} does not load now ({reason}): {error}; serve would start without its IdPs (not ready) until the file is replaced"
                    ),
                ));
            }
            continue;
        }
        let key = format!("saml.federations[{i}].url");
        let cached = config
            .saml
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{name}.xml")))
            .filter(|p| p.exists());
        let Some(cached) = cached else {
            notes.push(at.at(
                &key,
                format!(
                    "note: feed {name} is not fetched by check-config (no network) and has no cached copy in cache_dir: serve verifies it when it fetches it"
                ),
            ));
            continue;
        };
        let Ok(pinned) = pinned(f) else {
            continue;
        };
        let Some(status) = verify_copy(f, pinned, &cached, now).await else {
            continue;
        };
        let message = match refusal(&status) {
            Some((reason, error)) => format!(
                "warning: feed {name} is not fetched by check-config (no network); its cached copy {} does not load now ({reason}): {error}",
                cached.display()
            ),
            None => format!(
                "note: feed {name} is not fetched by check-config (no network); its cached copy {} verifies ({} IdPs, valid until {})",
                cached.display(),
                status.idps,
                status.valid_until.as_deref().unwrap_or("-")
            ),
        };
        notes.push(at.at(&key, message));
    }
    notes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SAMPLE: &str = include_str!("../../../config/passerelle.example.toml");

    /// A configuration file, removed on drop.
    struct Written(PathBuf);
    impl Written {
        fn with(text: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let p = std::env::temp_dir().join(format!(
                "passerelle-check-{}-{nanos}.toml",
                std::process::id()
            ));
            std::fs::write(&p, text).unwrap();
            Self(p)
        }
    }
    impl Drop for Written {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_secret_file_error_names_the_key_once_with_its_line() {
        let missing =
            std::env::temp_dir().join(format!("passerelle-no-such-{}", std::process::id()));
        let text = SAMPLE.replacen(
            "secret_file = \"/etc/passerelle/secret\"",
            &format!("secret_file = {:?}", missing.display().to_string()),
            1,
        );
        let f = Written::with(&text);
        let config = Config::load(&f.0).unwrap();
        let line = text
            .lines()
            .position(|l| l.starts_with("secret_file"))
            .unwrap()
            + 1;
        // (The SMTP transport's pool needs a runtime even to be built, as in `run`.)
        let problems = block_on(async { check_files(&config, &f.0) });
        let secret: Vec<&String> = problems
            .iter()
            .filter(|p| p.contains("secret_file"))
            .collect();
        assert_eq!(secret.len(), 1, "{problems:?}");
        let shown = secret[0];
        assert!(
            shown.starts_with(&format!("{}:{line}: secret_file: ", f.0.display())),
            "{shown}"
        );
        assert_eq!(shown.matches("secret_file").count(), 1, "{shown}");
        assert!(shown.contains(&missing.display().to_string()), "{shown}");
    }

    #[test]
    fn a_passkey_relying_party_id_that_does_not_fit_the_public_url_is_refused_with_its_line() {
        for (rp_id, refused) in [("evil.example", true), ("uness.fr", false)] {
            let text = SAMPLE.replacen("# rp_id = \"uness.fr\"", &format!("rp_id = {rp_id:?}"), 1);
            let f = Written::with(&text);
            let config = Config::load(&f.0).unwrap();
            let problems = block_on(async { check_files(&config, &f.0) });
            let shown: Vec<&String> = problems
                .iter()
                .filter(|p| p.contains("passkeys.rp_id"))
                .collect();
            assert_eq!(shown.len(), usize::from(refused), "{rp_id}: {problems:?}");
            if refused {
                let line = text.lines().position(|l| l.starts_with("rp_id")).unwrap() + 1;
                assert!(
                    shown[0].starts_with(&format!("{}:{line}: passkeys.rp_id: ", f.0.display())),
                    "{}",
                    shown[0]
                );
            }
        }
    }

    #[test]
    fn check_config_says_a_url_feed_is_not_fetched_and_which_cached_copy_it_checked() {
        let f = Written::with(SAMPLE);
        let config = Config::load(&f.0).unwrap();
        let notes = block_on(check_feeds(&config, &f.0, OffsetDateTime::now_utc()));
        let line = SAMPLE
            .lines()
            .position(|l| l.starts_with("url = \"https://pub.federation"))
            .unwrap()
            + 1;
        assert_eq!(notes.len(), 1, "{notes:?}");
        let shown = &notes[0];
        assert!(
            shown.starts_with(&format!(
                "{}:{line}: saml.federations[0].url: ",
                f.0.display()
            )),
            "{shown}"
        );
        assert!(shown.contains("renater"), "{shown}");
        assert!(shown.contains("not fetched"), "{shown}");
        assert!(shown.contains("no cached copy"), "{shown}");
    }
}
