//! The configuration: one TOML file, overridden by `PASSERELLE_…` environment variables,
//! checked completely before anything starts.
//!
//! `PASSERELLE_A__B=value` overrides key `b` of table `[a]` (double underscore between
//! levels; the value is read as TOML when it parses, else as a string); a variable that
//! names no key is refused with its name, never ignored. Errors name the
//! file, the line and the key (`check-config` prints them); semantic checks (URLs, key
//! files, clients) run after parsing, in [`Config::check`]. Secrets are read from files
//! named here, never written in the TOML itself, and never printed.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use passerelle_local_auth::{Limit, MailerConfig};
use passerelle_oidc_provider::ClientConfig;
use passerelle_saml_sp::sp::SpConfig;
use serde::Deserialize;

mod missing;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The URL browsers and apps use (the OIDC issuer), e.g. `https://login.uness.fr`.
    pub public_url: String,
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The support link on every page and e-mail.
    #[serde(default = "default_support")]
    pub support_url: String,
    /// Reverse proxies whose `X-Forwarded-For` is believed (nothing else's is).
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// A file holding the server secret (≥ 32 random bytes; `passerelle keys
    /// generate-secret` writes one). It seals the OIDC keys and keys the code digests:
    /// every instance needs the same one.
    pub secret_file: PathBuf,
    /// Logs.
    #[serde(default)]
    pub log: LogConfig,
    /// The store.
    pub store: StoreConfig,
    /// Serve HTTPS directly (else plain HTTP behind a reverse proxy).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Browser sessions.
    #[serde(default)]
    pub sessions: SessionConfig,
    /// Outgoing mail.
    pub mail: MailerConfig,
    /// The local fallback (policy, codes, links, throttles). `link_base_url` is derived
    /// from `public_url`.
    #[serde(default)]
    pub local_auth: passerelle_local_auth::Config,
    /// Limits the server applies itself.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The SAML service provider and its federations.
    pub saml: SamlConfig,
    /// The OpenID provider and its relying parties.
    #[serde(default)]
    pub oidc: OidcConfig,
    /// The machine API for apps (`/api/…`).
    #[serde(default)]
    pub api: ApiConfig,
    /// Name, logo, colour and favicon of the pages (UNESS by default).
    #[serde(default)]
    pub branding: crate::web::brand::BrandingConfig,
    /// How much of the audit log is kept.
    #[serde(default)]
    pub audit: passerelle_audit::AuditConfig,
    /// The support console: who may use it, and how long a console session lasts idle.
    #[serde(default)]
    pub console: crate::console::ConsoleConfig,
    /// Passkeys (WebAuthn): where they are valid, how many an account may hold.
    #[serde(default)]
    pub passkeys: PasskeysConfig,
}

/// `[passkeys]`. The origin is always `public_url`; the relying party ID defaults to its
/// host and may be a registrable suffix of it (`uness.fr` for `login.uness.fr`, so that
/// passkeys also work on a sibling host later). Anything else is refused at start-up and
/// by `check-config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasskeysConfig {
    /// The relying party ID (default: the host of `public_url`).
    #[serde(default)]
    pub rp_id: Option<String>,
    /// The most passkeys one account may hold.
    #[serde(default = "default_max_passkeys")]
    pub max_per_account: usize,
}

impl Default for PasskeysConfig {
    fn default() -> Self {
        Self {
            rp_id: None,
            max_per_account: default_max_passkeys(),
        }
    }
}

fn default_max_passkeys() -> usize {
    10
}

/// `[api]`: what apps may do through the machine API, authenticated as their OIDC
/// client. Nothing is allowed unless listed here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApiConfig {
    /// Client ids allowed to invite people (`POST /api/invitations`).
    pub invite: Vec<String>,
    /// Invitations one app may send.
    pub invitations_per_client: Limit,
    /// Requests with wrong credentials one client address may make.
    pub auth_failures_per_address: Limit,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            invite: Vec::new(),
            invitations_per_client: Limit::per_minutes(1000, 60),
            auth_failures_per_address: Limit::per_minutes(100, 15),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreConfig {
    /// `redis://…`, `rediss://…`, `redis+cluster://…`, or `memory` (one instance, lost
    /// on restart: tests and trials only).
    pub url: String,
    /// Key prefix (several deployments may share one Redis).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// A PEM file with the root that signs the Redis server's certificate (`rediss://`).
    #[serde(default)]
    pub tls_root: Option<PathBuf>,
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// Seconds between checks of the files for a renewed certificate.
    #[serde(default = "default_reload")]
    pub reload_check_secs: u64,
}

fn default_reload() -> u64 {
    30
}

/// `[sessions]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SessionConfig {
    /// A journey in progress (not signed in), seconds.
    pub anonymous_secs: u64,
    /// A signed-in session without activity, seconds.
    pub idle_secs: u64,
    /// A signed-in session whatever the activity, seconds.
    pub absolute_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            anonymous_secs: 3600,
            idle_secs: 8 * 3600,
            absolute_secs: 7 * 86_400,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    /// Portal submissions per client address.
    pub portal_per_client: Limit,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            portal_per_client: Limit::per_minutes(600, 15),
        }
    }
}

/// `[saml]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SamlConfig {
    /// The SP itself.
    pub sp: SpConfig,
    /// Its key files.
    pub keys: SpKeys,
    /// The federation feeds, in order of precedence.
    #[serde(default)]
    pub federations: Vec<FeedConfig>,
    /// Seconds between refreshes (a feed's cacheDuration may ask sooner).
    #[serde(default = "default_refresh")]
    pub refresh_interval_secs: u64,
    /// Where last good copies of the feeds are kept (re-verified at start-up).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Tolerated clock difference with IdPs, seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    /// Mail domains an IdP speaks for beyond its `shibmd:Scope`s (a university whose
    /// addresses are not under its scope).
    #[serde(default)]
    pub mail_domains: Vec<MailDomainsConfig>,
    /// Institution logos published at `https://` URLs: fetched by the server into
    /// `cache_dir/logos/` and served from our origin (inline logos are always shown).
    #[serde(default)]
    pub logos: LogosConfig,
}

/// `[saml.logos]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogosConfig {
    /// Whether remote logos are fetched (needs `cache_dir`).
    #[serde(default = "yes")]
    pub fetch: bool,
    /// One more trusted root (PEM) for logo servers (a private or test server).
    #[serde(default)]
    pub extra_root: Option<PathBuf>,
}

impl Default for LogosConfig {
    fn default() -> Self {
        Self {
            fetch: true,
            extra_root: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[[saml.mail_domains]]`: one IdP's extra mail domains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailDomainsConfig {
    /// The IdP's entityID, as in the federation's metadata.
    pub idp: String,
    /// Domains whose addresses (and their subdomains') it may vouch for.
    pub domains: Vec<String>,
}

impl SamlConfig {
    /// The operator's mail domains, checked.
    pub(crate) fn mail_domains(
        &self,
    ) -> Result<passerelle_saml_sp::authority::MailDomains, (String, String)> {
        let mut all = passerelle_saml_sp::authority::MailDomains::none();
        for (i, m) in self.mail_domains.iter().enumerate() {
            if m.domains.is_empty() {
                return Err((
                    format!("saml.mail_domains[{i}].domains"),
                    "list at least one domain".into(),
                ));
            }
            all.add(&m.idp, &m.domains)
                .map_err(|e| (format!("saml.mail_domains[{i}].domains"), e.to_string()))?;
        }
        Ok(all)
    }
}

/// `[saml.keys]`: PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpKeys {
    /// Signs AuthnRequests.
    pub signing_key: PathBuf,
    /// Its certificate, published in the SP metadata.
    pub signing_cert: PathBuf,
    /// Decrypts assertions.
    pub encryption_key: PathBuf,
    /// Its certificate, published in the SP metadata.
    pub encryption_cert: PathBuf,
}

/// `[[saml.federations]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedConfig {
    /// A short name (letters, digits, `-`, `_`).
    pub name: String,
    /// An HTTPS URL to fetch…
    #[serde(default)]
    pub url: Option<String>,
    /// …or a file another process keeps up to date.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The federation's signing certificate(s), PEM files (several during a rollover).
    pub certs: Vec<PathBuf>,
    /// The longest validity window accepted, in days.
    #[serde(default = "default_max_validity")]
    pub max_validity_days: u64,
    /// An extra PEM root for the feed's HTTPS server.
    #[serde(default)]
    pub extra_root: Option<PathBuf>,
    /// The largest feed accepted, in MiB (checked before a file is read, while a body
    /// is received).
    #[serde(default = "default_max_size_mib")]
    pub max_size_mib: usize,
}

/// `[oidc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OidcConfig {
    /// Authorization code lifetime, seconds.
    pub code_lifetime_secs: u64,
    /// Access and ID token lifetime, seconds.
    pub token_lifetime_secs: u64,
    /// Refresh token lifetime without use, seconds.
    pub refresh_idle_secs: u64,
    /// Refresh token family lifetime, seconds.
    pub refresh_absolute_secs: u64,
    /// The relying parties.
    pub clients: Vec<ClientConfig>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        let s = passerelle_oidc_provider::Settings::new("https://unused.invalid");
        Self {
            code_lifetime_secs: s.code_lifetime,
            token_lifetime_secs: s.token_lifetime,
            refresh_idle_secs: s.refresh_idle,
            refresh_absolute_secs: s.refresh_absolute,
            clients: Vec::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_support() -> String {
    "https://sos.uness.fr/".into()
}
fn default_prefix() -> String {
    "passerelle".into()
}
fn default_refresh() -> u64 {
    3600
}
fn default_skew() -> u64 {
    180
}
fn default_max_validity() -> u64 {
    31
}
fn default_max_size_mib() -> usize {
    256
}

/// A configuration problem, located.
#[derive(Debug)]
pub(crate) struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every required key `text` lacks, one located line each (the first is the error, the
/// others follow in its message); `None` when the file's first error is another.
fn missing_keys_error(path: &Path, text: &str) -> Option<ConfigError> {
    let located = |key: &String| ConfigError {
        file: path.to_path_buf(),
        line: locate(text, key),
        key: Some(key.clone()),
        message: "missing required key".into(),
    };
    let keys = missing::missing_keys::<Config>(text);
    let (first, rest) = keys.split_first()?;
    let mut error = located(first);
    for key in rest {
        error.message = format!("{}\n{}", error.message, located(key));
    }
    Some(error)
}

/// The 1-based line of `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The line where dotted `key` is set (`a.b.c`, `oidc.clients[1].name`), found by
/// following table headers; `None` when it is not written in the file.
pub(crate) fn locate(text: &str, key: &str) -> Option<usize> {
    let parts: Vec<String> = key.split('.').map(str::to_owned).collect();
    let (table, leaf) = parts.split_at(parts.len().saturating_sub(1));
    let wanted_table = table.join(".");
    let leaf = leaf.first()?;
    let mut current = String::new();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut table_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = h.trim().to_owned();
            let n = counts.entry(name.clone()).or_insert(0);
            current = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(h) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = h.trim().to_owned();
        } else if let Some((k, _)) = line.split_once('=') {
            let k = k.trim().trim_matches('"');
            if current == wanted_table && k == leaf {
                return Some(i + 1);
            }
            continue;
        } else {
            continue;
        }
        if current == wanted_table || current == key {
            table_line = Some(i + 1);
        }
    }
    table_line
}

/// Sets `value` at `keys` in `table`, creating tables on the way; `false` when a
/// non-table value is in the way.
fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> bool {
    match keys {
        [] => false,
        [last] => {
            table.insert(last.clone(), value);
            true
        }
        [first, rest @ ..] => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => set_path(t, rest, value),
            _ => false,
        },
    }
}

/// One `PASSERELLE_…` variable read as a configuration override.
struct Override {
    /// The variable's name, for error messages.
    var: String,
    /// The dotted key path it sets.
    keys: Vec<String>,
    value: toml::Value,
}

/// The overrides among `vars`, sorted by variable name (the environment's order is not
/// stable). A `PASSERELLE_…` variable that is not UTF-8 is refused by name.
fn env_overrides(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<Vec<Override>, (String, String)> {
    let mut found = Vec::new();
    for (name, value) in vars {
        let Some(name) = name.to_str().filter(|n| n.starts_with("PASSERELLE_")) else {
            continue;
        };
        let path = name.trim_start_matches("PASSERELLE_");
        // The CLI's own variables, not configuration keys.
        if matches!(path, "CONFIG" | "OUTBOX" | "BIN") {
            continue;
        }
        let Ok(value) = value.into_string() else {
            return Err((name.to_owned(), "the value is not UTF-8".into()));
        };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        found.push(Override {
            var: name.to_owned(),
            keys,
            value: parsed,
        });
    }
    found.sort_by(|a, b| a.var.cmp(&b.var));
    Ok(found)
}

/// `table` with `overrides` applied, as a `Config`. A failure names the variable(s) to
/// blame: those without which the rest applies (an unrelated `PASSERELLE_…` variable, a
/// misspelt key), or every variable when no single one explains it.
fn with_overrides(table: &toml::Table, overrides: &[Override]) -> Result<Config, (String, String)> {
    let apply = |skip: Option<usize>| -> Result<Config, (String, String)> {
        let mut t = table.clone();
        for (i, o) in overrides.iter().enumerate() {
            if Some(i) != skip && !set_path(&mut t, &o.keys, o.value.clone()) {
                return Err((
                    o.keys.join("."),
                    format!(
                        "environment variable {}: a value that is not a table is in the way",
                        o.var
                    ),
                ));
            }
        }
        toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| (String::new(), e.message().to_owned()))
    };
    let (_, message) = match apply(None) {
        Ok(config) => return Ok(config),
        Err((key, message)) if !key.is_empty() => return Err((key, message)),
        Err(e) => e,
    };
    let blamed: Vec<&Override> = (0..overrides.len())
        .filter(|i| apply(Some(*i)).is_ok())
        .filter_map(|i| overrides.get(i))
        .collect();
    let blamed = if blamed.is_empty() {
        overrides.iter().collect()
    } else {
        blamed
    };
    let names: Vec<&str> = blamed.iter().map(|o| o.var.as_str()).collect();
    let keys: Vec<String> = blamed.iter().map(|o| o.keys.join(".")).collect();
    Err((
        keys.join(", "),
        format!(
            "set by environment variable {}: {message} (every PASSERELLE_<TABLE>__<KEY> variable overrides a key of this file: unset it, or fix its name)",
            names.join(", ")
        ),
    ))
}

impl Config {
    /// Reads, parses and checks `path` with the environment's overrides.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, std::env::vars_os())
    }

    /// Reads, parses and checks `path` with the overrides among `vars`.
    pub(crate) fn load_with(
        path: &Path,
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self, ConfigError> {
        let err = |line, key: Option<String>, message: String| ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(None, None, format!("cannot read: {e}")))?;
        // Parsed from the text first: errors then carry a position.
        let mut config: Self = toml::from_str(&text).map_err(|e| {
            missing_keys_error(path, &text).unwrap_or_else(|| {
                let line = e.span().map(|s| line_of(&text, s.start));
                err(line, None, e.message().to_owned())
            })
        })?;
        let overrides = env_overrides(vars)
            .map_err(|(var, m)| err(None, None, format!("environment variable {var}: {m}")))?;
        if !overrides.is_empty() {
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| err(None, None, e.message().to_owned()))?;
            config = with_overrides(&table, &overrides)
                .map_err(|(key, message)| err(None, Some(key), message))?;
        }
        config
            .check()
            .map_err(|(key, message)| err(locate(&text, &key), Some(key), message))?;
        Ok(config)
    }

    /// The checks types cannot make. Returns the first problem as (key, message).
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: String| Err((k.to_owned(), m));
        let url = match url::Url::parse(&self.public_url) {
            Ok(u) => u,
            Err(e) => return bad("public_url", format!("not a URL: {e}")),
        };
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return bad(
                "public_url",
                "must be https (http only for localhost)".into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            return bad(
                "public_url",
                "must be an origin without path, query or fragment".into(),
            );
        }
        // Parsed as `serve` will (the store's own open: it never connects).
        if self.store.url != "memory"
            && let Err(e) = passerelle_store::Store::open(&self.store.url, &self.store.prefix)
        {
            return bad("store.url", e.to_string());
        }
        let s = &self.sessions;
        if s.anonymous_secs == 0 || s.idle_secs == 0 || s.absolute_secs < s.idle_secs {
            return bad(
                "sessions.absolute_secs",
                "lifetimes must be positive and absolute ≥ idle".into(),
            );
        }
        if let Err(e) = self.local_auth.validate() {
            return bad("local_auth", e.to_string());
        }
        let expected_acs = format!("{}/saml/acs", self.public_url.trim_end_matches('/'));
        if self.saml.sp.acs_url != expected_acs {
            return bad(
                "saml.sp.acs_url",
                format!("must be {expected_acs} (the ACS this server serves)"),
            );
        }
        for (i, f) in self.saml.federations.iter().enumerate() {
            let key = |k: &str| format!("saml.federations[{i}].{k}");
            if f.url.is_some() == f.file.is_some() {
                return bad(&key("url"), "give exactly one of url and file".into());
            }
            if f.certs.is_empty() {
                return bad(&key("certs"), "at least one pinned certificate".into());
            }
        }
        self.saml.mail_domains()?;
        for (i, c) in self.oidc.clients.iter().enumerate() {
            if let Err(e) = passerelle_oidc_provider::Registry::new(std::slice::from_ref(c)) {
                // Name the field, so that the error points at its line.
                let key = match &e {
                    passerelle_oidc_provider::Error::Client { field, .. } => {
                        format!("oidc.clients[{i}].{field}")
                    }
                    _ => format!("oidc.clients[{i}]"),
                };
                return bad(&key, e.to_string());
            }
        }
        if let Err(e) = passerelle_oidc_provider::Registry::new(&self.oidc.clients) {
            return bad("oidc.clients", e.to_string());
        }
        for id in &self.api.invite {
            match self.oidc.clients.iter().find(|c| &c.client_id == id) {
                None => {
                    return bad(
                        "api.invite",
                        format!("{id:?} is not one of the [[oidc.clients]]"),
                    );
                }
                Some(c)
                    if c.secret_hash.is_none()
                        && c.token_endpoint_auth_method
                            != Some(passerelle_oidc_provider::AuthMethod::PrivateKeyJwt) =>
                {
                    return bad(
                        "api.invite",
                        format!("{id:?} is a public client: it cannot authenticate to the API"),
                    );
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const SAMPLE: &str = include_str!("../../../config/passerelle.example.toml");

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(text)
    }

    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(text: &str) -> Self {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let p = std::env::temp_dir().join(format!(
                    "passerelle-config-{}-{nanos}.toml",
                    std::process::id()
                ));
                std::fs::write(&p, text).ok();
                Self(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn the_example_configuration_parses_and_passes_its_checks() {
        let f = write(SAMPLE);
        let c = Config::load(&f.0).unwrap();
        assert_eq!(c.public_url, "https://login.uness.fr");
        assert!(!c.oidc.clients.is_empty());
    }

    #[test]
    fn an_unknown_key_is_reported_with_its_line() {
        let text = SAMPLE.replacen("[store]", "[store]\ncolour = \"blue\"", 1);
        let f = write(&text);
        let e = Config::load(&f.0).unwrap_err();
        let expected = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
        assert_eq!(e.line, Some(expected), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn a_semantic_error_names_the_key_and_its_line() {
        let text = SAMPLE.replacen(
            "public_url = \"https://login.uness.fr\"",
            "public_url = \"http://login.uness.fr\"",
            1,
        );
        let f = write(&text);
        let e = Config::load(&f.0).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("public_url"));
        assert!(e.line.is_some(), "{e}");
        let shown = e.to_string();
        assert!(shown.contains("must be https"), "{shown}");
    }

    #[test]
    fn the_api_may_only_be_opened_to_configured_confidential_clients() {
        let unknown = SAMPLE.replacen("invite = [\"cockpit\"]", "invite = [\"nobody\"]", 1);
        let e = Config::load(&write(&unknown).0).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("api.invite"), "{e}");
        assert!(e.line.is_some() && e.to_string().contains("nobody"), "{e}");
        let public = format!(
            "{}\n[[oidc.clients]]\nclient_id = \"kiosk\"\nredirect_uris = [\"https://kiosk.uness.fr/cb\"]\n",
            SAMPLE.replacen(
                "invite = [\"cockpit\"]",
                "invite = [\"cockpit\", \"kiosk\"]",
                1
            )
        );
        let e = Config::load(&write(&public).0).unwrap_err();
        assert!(e.to_string().contains("public client"), "{e}");
    }

    #[test]
    fn an_unknown_mail_key_is_refused_for_either_transport() {
        let text = SAMPLE.replacen("timeout_secs = 10", "timeout_secs = 10\ncolour = 1", 1);
        let e = Config::load(&write(&text).0).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let outbox = SAMPLE.replacen(
            "transport = \"smtp\"",
            "transport = \"outbox\"\ndir = \"/tmp/x\"",
            1,
        );
        let e = Config::load(&write(&outbox).0).unwrap_err();
        assert!(
            e.message.contains("host"),
            "smtp keys are unknown to the outbox: {e}"
        );
    }

    #[test]
    fn a_malformed_store_url_is_refused_with_its_line() {
        let text = SAMPLE.replacen("url = \"redis://", "url = \"redis//", 1);
        let e = Config::load(&write(&text).0).unwrap_err();
        let expected = text
            .lines()
            .position(|l| l.starts_with("url = \"redis//"))
            .unwrap()
            + 1;
        assert_eq!(e.key.as_deref(), Some("store.url"), "{e}");
        assert_eq!(e.line, Some(expected), "{e}");
    }

    #[test]
    fn every_missing_required_key_is_reported_at_once() {
        let text = SAMPLE
            .replacen(
                "signing_key = \"/etc/passerelle/saml/sp-signing.key\"\n",
                "",
                1,
            )
            .replacen(
                "encryption_cert = \"/etc/passerelle/saml/sp-encryption.crt\"\n",
                "",
                1,
            )
            .replacen("from = \"UNESS <no-reply@uness.fr>\"\n", "", 1)
            .replacen("secret_file = \"/etc/passerelle/secret\"\n", "", 1);
        let e = Config::load(&write(&text).0).unwrap_err();
        let shown = e.to_string();
        let line_of_header = |h: &str| text.lines().position(|l| l == h).unwrap() + 1;
        let keys = line_of_header("[saml.keys]");
        let mail = line_of_header("[mail]");
        for expected in [
            format!(":{keys}: saml.keys.signing_key: missing required key"),
            format!(":{keys}: saml.keys.encryption_cert: missing required key"),
            format!(":{mail}: mail.from: missing required key"),
            ": secret_file: missing required key".to_owned(),
        ] {
            assert!(shown.contains(&expected), "{expected} in:\n{shown}");
        }
        assert_eq!(shown.lines().count(), 4, "one line per key:\n{shown}");
    }

    #[test]
    fn keys_in_arrays_of_tables_are_located() {
        let text = "a = 1\n[[oidc.clients]]\nclient_id = \"x\"\n[[oidc.clients]]\nclient_id = \"y\"\nname = \"Y\"\n";
        assert_eq!(locate(text, "oidc.clients[1].name"), Some(6));
        assert_eq!(locate(text, "oidc.clients[0].client_id"), Some(3));
        assert_eq!(locate(text, "a"), Some(1));
        assert_eq!(locate(text, "oidc.clients[1]"), Some(4));
    }
    fn vars(pairs: &[(&str, &str)]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn an_unrelated_passerelle_variable_is_refused_naming_the_variable() {
        let f = write(SAMPLE);
        let e = Config::load_with(&f.0, vars(&[("PASSERELLE_DEPLOY_COLOUR", "blue")])).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("PASSERELLE_DEPLOY_COLOUR"),
            "the error names the variable: {shown}"
        );
        assert!(shown.contains("deploy_colour"), "{shown}");
    }

    #[test]
    fn a_variable_below_a_value_that_is_not_a_table_is_refused_naming_it() {
        let f = write(SAMPLE);
        let e = Config::load_with(&f.0, vars(&[("PASSERELLE_PUBLIC_URL__HOST", "x")])).unwrap_err();
        assert!(e.to_string().contains("PASSERELLE_PUBLIC_URL__HOST"), "{e}");
    }

    #[test]
    fn known_keys_are_overridden_and_the_cli_variables_are_left_to_the_cli() {
        let f = write(SAMPLE);
        let c = Config::load_with(
            &f.0,
            vars(&[
                ("PASSERELLE_STORE__URL", "memory"),
                ("PASSERELLE_LISTEN", "127.0.0.1:9"),
                ("PASSERELLE_CONFIG", "/elsewhere.toml"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.store.url, "memory");
        assert_eq!(c.listen.port(), 9);
    }
}
