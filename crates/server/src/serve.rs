//! `passerelle serve --config FILE`: the bridge assembled from a checked configuration.
//!
//! Everything that can be wrong is found before the port opens: the secret, the key
//! files, the clients, the mailer, the store URL. The federation starts from its
//! on-disk copies (re-verified) and refreshes in the background; a feed server that is
//! down at start-up does not stop the bridge, it serves what it had. Neither does a store
//! that is down: the bridge starts not ready (pages and `/readyz` answer 503) and loads
//! the OIDC signing keys once the store answers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use passerelle_local_auth::secret::SecretKey;
use passerelle_local_auth::{LocalAuth, Mailer};
use passerelle_oidc_provider::{Provider, Registry, Settings};
use passerelle_saml_sp::acs::AcsSettings;
use passerelle_saml_sp::federation::{Federation, Location, Source, SourceStatus};
use passerelle_saml_sp::fetch::Fetcher;
use passerelle_saml_sp::logo::LogoFetcher;
use passerelle_saml_sp::metadata::PinnedCerts;
use passerelle_saml_sp::sp::{KeyPair, ServiceProvider};
use passerelle_store::{Store, StoreOptions};
use time::OffsetDateTime;

use crate::config::Config;
use crate::web::brand::Branding;
use crate::web::i18n::Catalog;
use crate::web::session::{Lifetimes, Sessions};
use crate::web::{App, Inner};

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()))
}

/// The server secret: the file's bytes, or the hex or base64 they spell.
pub(crate) fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    secret_bytes(path).map_err(|e| anyhow::anyhow!("secret_file: {e}"))
}

/// [`read_secret`] without the key's name in the error (`check-config` locates it).
pub(crate) fn secret_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&raw).trim().to_owned();
    let decoded = if !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        (0..text.len())
            .step_by(2)
            .filter_map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect()
    } else if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(&text) {
        b
    } else if let Ok(b) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&text) {
        b
    } else {
        raw
    };
    if decoded.len() < 32 {
        return Err(format!(
            "{} holds {} bytes; at least 32 are needed",
            path.display(),
            decoded.len()
        ));
    }
    Ok(decoded)
}

/// A key for one purpose, derived from the server secret.
fn derive(secret: &[u8], purpose: &str) -> anyhow::Result<Vec<u8>> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .map_err(|e| anyhow::anyhow!("HMAC: {e}"))?;
    mac.update(purpose.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Opens the configured store (never connects: Redis is reached on first use).
pub(crate) fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.store.url == "memory" {
        return Ok(Store::memory(&config.store.prefix));
    }
    let options = StoreOptions {
        tls_root_pem: config
            .store
            .tls_root
            .as_deref()
            .map(|p| read(p, "store.tls_root"))
            .transpose()?,
        ..StoreOptions::default()
    };
    Store::open_with(&config.store.url, &config.store.prefix, &options).context("store.url")
}

fn federation(config: &Config) -> anyhow::Result<Federation> {
    let mut sources = Vec::new();
    for f in &config.saml.federations {
        let mut pem = String::new();
        for c in &f.certs {
            pem.push_str(&String::from_utf8_lossy(&read(
                c,
                "saml.federations.certs",
            )?));
            pem.push('\n');
        }
        let location = match (&f.url, &f.file) {
            (Some(url), _) => {
                let extra = f
                    .extra_root
                    .as_deref()
                    .map(|p| {
                        read(p, "saml.federations.extra_root")
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .transpose()?;
                Location::Url {
                    url: url.clone(),
                    fetcher: Fetcher::new(
                        extra.as_deref(),
                        Duration::from_secs(60),
                        f.max_size_mib.saturating_mul(1 << 20),
                    )?,
                }
            }
            (None, Some(file)) => Location::File(file.clone()),
            (None, None) => anyhow::bail!("saml.federations {}: no url or file", f.name),
        };
        sources.push(Source {
            name: f.name.clone(),
            location,
            pinned: PinnedCerts::from_pem(&pem)
                .with_context(|| format!("saml.federations {} certs", f.name))?,
            max_validity: Duration::from_secs(f.max_validity_days.saturating_mul(86_400)),
            max_bytes: f.max_size_mib.saturating_mul(1 << 20),
        });
    }
    let mail_domains = config
        .saml
        .mail_domains()
        .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
    let mut federation =
        Federation::new(sources, config.saml.cache_dir.clone())?.with_mail_domains(mail_domains);
    let logos = &config.saml.logos;
    if logos.fetch && config.saml.cache_dir.is_some() {
        let extra = logos
            .extra_root
            .as_deref()
            .map(|p| {
                read(p, "saml.logos.extra_root").map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .transpose()?;
        federation = federation
            .with_logo_fetcher(LogoFetcher::new(extra.as_deref(), Duration::from_secs(10))?);
    }
    Ok(federation)
}

/// The local fallback from the configuration.
pub(crate) fn local_auth(
    config: &Config,
    store: &Store,
    secret: &[u8],
) -> anyhow::Result<LocalAuth> {
    let public = config.public_url.trim_end_matches('/');
    let mailer = Mailer::new(&config.mail).context("[mail]")?;
    let local_config = passerelle_local_auth::Config {
        link_base_url: format!("{public}/link"),
        ..config.local_auth.clone()
    };
    LocalAuth::new(
        local_config,
        store.clone(),
        mailer,
        SecretKey::new(derive(secret, "passerelle local-auth v1")?)?,
    )
    .and_then(|l| {
        l.with_passkeys(&passkey_config(
            public,
            &config.branding.name,
            &config.passkeys,
        )?)
    })
    .context("[local_auth]")
}

/// Passkeys are valid for the public URL's origin, with the configured relying party
/// ID (default: the public URL's host).
pub(crate) fn passkey_config(
    public_url: &str,
    name: &str,
    passkeys: &crate::config::PasskeysConfig,
) -> Result<passerelle_local_auth::PasskeyConfig, passerelle_local_auth::Error> {
    let bad = |e: String| passerelle_local_auth::Error::Config(format!("public_url: {e}"));
    let origin = url::Url::parse(public_url).map_err(|e| bad(e.to_string()))?;
    let rp_id = match &passkeys.rp_id {
        Some(id) => id.clone(),
        None => origin
            .host_str()
            .ok_or_else(|| bad("no host".into()))?
            .to_owned(),
    };
    Ok(passerelle_local_auth::PasskeyConfig {
        rp_id,
        origin,
        rp_name: name.to_owned(),
        max_per_account: passkeys.max_per_account,
    })
}

/// The provider's settings and relying parties from the configuration.
fn provider_parts(config: &Config) -> anyhow::Result<(Settings, Registry)> {
    let o = &config.oidc;
    let settings = Settings {
        code_lifetime: o.code_lifetime_secs,
        token_lifetime: o.token_lifetime_secs,
        refresh_idle: o.refresh_idle_secs,
        refresh_absolute: o.refresh_absolute_secs,
        ..Settings::new(config.public_url.trim_end_matches('/'))
    };
    let registry = Registry::new(&o.clients).context("[[oidc.clients]]")?;
    Ok((settings, registry))
}

/// What a provider error at start-up asks the operator to check.
const PROVIDER_HINT: &str =
    "OpenID provider (is the store reachable? is secret_file the one the other instances use?)";

/// The OpenID provider from the configuration (opens or creates the signing keys).
pub(crate) async fn provider(
    config: &Config,
    store: &Store,
    secret: &[u8],
) -> anyhow::Result<Provider> {
    let (settings, registry) = provider_parts(config)?;
    Provider::new(
        settings,
        registry,
        store.clone(),
        &derive(secret, "passerelle oidc v1")?,
    )
    .await
    .context(PROVIDER_HINT)
}

/// The OpenID provider for `serve`: as [`provider`], except that a store unavailable at
/// start-up is not fatal — the bridge starts without keys (nothing signs, `/readyz`
/// says so) and [`keep_keys_current`] loads them once the store answers. Keys are never
/// made outside the store, so a key still signs only once published.
async fn starting_provider(
    config: &Config,
    store: &Store,
    secret: &[u8],
) -> anyhow::Result<Provider> {
    let (settings, registry) = provider_parts(config)?;
    let provider = Provider::with_keys_unloaded(
        settings,
        registry,
        store.clone(),
        &derive(secret, "passerelle oidc v1")?,
    )
    .context(PROVIDER_HINT)?;
    match provider
        .keys()
        .load(passerelle_oidc_provider::unix_now())
        .await
    {
        Ok(()) => {}
        Err(passerelle_oidc_provider::Error::Store(e)) if e.is_unavailable() => {
            tracing::warn!(error = %e, "the store is unavailable: starting without the OIDC signing keys (not ready); they are loaded once it answers");
        }
        Err(e) => return Err(anyhow::Error::new(e).context(PROVIDER_HINT)),
    }
    Ok(provider)
}

/// Keeps the signing keys current: until they are loaded (the store was unavailable at
/// start-up), retries every few seconds; then re-reads them each minute (other instances
/// and `passerelle keys rotate` add keys).
fn keep_keys_current(keys: Arc<passerelle_oidc_provider::Keys>) {
    tokio::spawn(async move {
        let mut retry = Duration::from_secs(1);
        loop {
            let loaded = keys.is_loaded();
            tokio::time::sleep(if loaded {
                Duration::from_secs(60)
            } else {
                retry
            })
            .await;
            match keys.refresh().await {
                Ok(()) if !loaded => {
                    tracing::info!("OIDC signing keys loaded: the store answers");
                }
                Ok(()) => {}
                Err(passerelle_oidc_provider::Error::Store(e)) if e.is_unavailable() => {
                    tracing::warn!(error = %e, "signing keys not refreshed");
                    retry = (retry * 2).min(Duration::from_secs(10));
                }
                Err(e) if !loaded => {
                    tracing::error!(error = %e, "OIDC signing keys cannot be loaded (is secret_file the one the other instances use?): not ready");
                    retry = (retry * 2).min(Duration::from_secs(10));
                }
                Err(e) => tracing::warn!(error = %e, "signing keys not refreshed"),
            }
        }
    });
}

/// The SAML service provider from the configuration.
pub(crate) fn service_provider(config: &Config) -> anyhow::Result<ServiceProvider> {
    let k = &config.saml.keys;
    ServiceProvider::new(
        config.saml.sp.clone(),
        KeyPair::from_pem(
            &read(&k.signing_key, "saml.keys.signing_key")?,
            &read(&k.signing_cert, "saml.keys.signing_cert")?,
        )
        .context("saml.keys.signing_*")?,
        KeyPair::from_pem(
            &read(&k.encryption_key, "saml.keys.encryption_key")?,
            &read(&k.encryption_cert, "saml.keys.encryption_cert")?,
        )
        .context("saml.keys.encryption_*")?,
    )
    .context("[saml.sp]")
}

/// `SIGHUP` (`systemctl reload passerelle`) refreshes every feed at once: a sysadmin who
/// dropped a new file in place need not wait for the next interval.
fn refresh_on_hangup(federation: Arc<Federation>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP handler not installed: feeds refresh on their interval only");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: refreshing the federation feeds");
            for status in federation.refresh(OffsetDateTime::now_utc()).await {
                tracing::info!(feed = %status.name, idps = status.idps, refused = status.last_failure.map_or("-", |f| f.as_str()), "federation feed refreshed");
            }
            federation.sync_logos().await;
        }
    });
}

/// One line per feed at start-up: loaded, served from its last good copy, or serving
/// nothing — with the refusal's reason (the closed set `/metrics` counts).
fn log_start_up(status: &SourceStatus) {
    let (feed, idps) = (&status.name, status.idps);
    let reason = status.last_failure.map_or("-", |f| f.as_str());
    match &status.error {
        None => tracing::info!(feed = %feed, idps, "federation feed loaded"),
        Some(e) if idps == 0 => {
            tracing::error!(feed = %feed, reason = %reason, error = %e, "federation feed not loaded at start-up: none of its IdPs is offered until a refresh succeeds (not ready)")
        }
        Some(e) => {
            tracing::warn!(feed = %feed, idps, reason = %reason, error = %e, "federation feed refused at start-up: serving its last good copy")
        }
    }
}

/// The feeds that serve no IdP (the instance is not ready while there is one).
fn feeds_serving_nothing(federation: &Federation) -> String {
    let snapshot = federation.snapshot();
    let names: Vec<&str> = snapshot
        .sources
        .iter()
        .filter(|s| s.idps == 0)
        .map(|s| s.name.as_str())
        .collect();
    names.join(", ")
}

/// "passerelle is up", or up but not ready with the feeds to fix.
fn log_up(config: &Config, scheme: &str, empty_feeds: &str) {
    let (listen, public_url) = (config.listen, &config.public_url);
    if empty_feeds.is_empty() {
        tracing::info!(listen = %listen, public_url = %public_url, "passerelle is up ({scheme})");
    } else {
        tracing::warn!(listen = %listen, public_url = %public_url, "passerelle is up ({scheme}) but not ready: federation feeds serving no IdP: {empty_feeds} (see /readyz)");
    }
}

/// Writes each feed event (a copy refused, data dropped at its validUntil) to the audit
/// log as `feed_dropped` by the system; a record that cannot be kept is logged.
fn record_feed_events(
    mut events: tokio::sync::broadcast::Receiver<passerelle_saml_sp::federation::FeedEvent>,
    audit: passerelle_audit::AuditLog,
) {
    use tokio::sync::broadcast::error::RecvError;
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "feed events not audited: too many at once");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let record = passerelle_audit::Record::now(
                passerelle_audit::Actor::System,
                "refresher",
                passerelle_audit::Action::FeedDropped,
            )
            .on(&event.feed)
            .detail(event.kind.as_str());
            if let Err(e) = audit.record(record).await {
                tracing::warn!(feed = %event.feed, error = %e, "feed event not audited");
            }
        }
    });
}

/// Builds the application from a checked configuration.
pub(crate) async fn build(config: &Config) -> anyhow::Result<App> {
    let public = config.public_url.trim_end_matches('/').to_owned();
    let secret = read_secret(&config.secret_file)?;
    let store = open_store(config)?;
    let local = local_auth(config, &store, &secret)?;
    let sp = service_provider(config)?;
    let federation = Arc::new(federation(config)?);
    let audit = crate::cli_audit::log(config, &store);
    record_feed_events(federation.events(), audit.clone());
    let now = OffsetDateTime::now_utc();
    federation.start_from_cache(now).await;
    for status in federation.refresh(now).await {
        log_start_up(&status);
    }
    federation.clone().spawn_refresher(Duration::from_secs(
        config.saml.refresh_interval_secs.max(60),
    ));
    refresh_on_hangup(federation.clone());
    let oidc = Arc::new(starting_provider(config, &store, &secret).await?);
    keep_keys_current(oidc.keys().clone());
    let branding = Branding::load(&config.branding)
        .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
    let console = crate::console::Console::load(&config.console)
        .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
    let s = &config.sessions;
    Ok(App::new(Inner {
        sessions: Sessions::new(
            store.clone(),
            Lifetimes {
                anonymous: Duration::from_secs(s.anonymous_secs),
                idle: Duration::from_secs(s.idle_secs),
                absolute: Duration::from_secs(s.absolute_secs),
            },
        ),
        store,
        local,
        oidc,
        sp,
        federation,
        acs: AcsSettings {
            clock_skew: Duration::from_secs(config.saml.clock_skew_secs),
            ..AcsSettings::default()
        },
        catalog: Catalog::load_branded(&branding.name)?,
        branding,
        audit,
        console,
        origin: crate::demo::origin_of(&public)?,
        public_url: public,
        support_url: config.support_url.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        portal_limit: config.limits.portal_per_client,
        api: config.api.clone(),
        metrics: crate::web::observe::Metrics::new(),
    }))
}

/// Runs the bridge until Ctrl-C or SIGTERM.
pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    let app = build(&config).await?;
    let empty_feeds = feeds_serving_nothing(&app.federation);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let router = crate::web::router(app);
    let service = router.into_make_service_with_connect_info::<crate::web::Peer>();
    match &config.tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::start(
                listener,
                tls.cert.clone(),
                tls.key.clone(),
                Duration::from_secs(tls.reload_check_secs.max(1)),
            )?;
            log_up(&config, "HTTPS", &empty_feeds);
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown())
                .await
        }
        None => {
            log_up(&config, "HTTP", &empty_feeds);
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown())
                .await
        }
    }
    .context("HTTP server")
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and container runtimes send).
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
