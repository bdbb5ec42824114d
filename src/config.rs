//! Configuration: built-in defaults, then an optional TOML file, then environment
//! variables `SSOGATE_<SECTION>__<KEY>` (e.g. `SSOGATE_DATABASE__URL=postgres://…`).
//!
//! Unknown keys are errors (a typo must not silently fall back to a default). Only
//! environment variables with a `__` after the prefix are read as configuration, so that
//! unrelated variables such as `SSOGATE_CACHE_DIR` or `SSOGATE_TEST_…` are left alone.
//! Secrets (the master key, database passwords) are never printed: see [`redact_url`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub mail: MailConfig,
    pub log: LogConfig,
    pub login: LoginConfig,
    pub session: SessionConfig,
    pub tokens: TokensConfig,
    pub forward_auth: ForwardAuthConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: String,
    /// The URL people and IdPs reach ssogate at (used for ACS/callback URLs and cookies).
    /// Empty means `http://<listen address>`.
    pub public_url: String,
    /// Peers (CIDRs, e.g. `127.0.0.1/32`, `10.0.0.0/8`) whose forwarded headers are
    /// believed: X-Forwarded-Host/-Uri/-Proto by forward-auth (which answers only them),
    /// and X-Forwarded-For for the client address of rate limits and per-client caps.
    /// From any other peer those headers are ignored.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (embedded default) or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
    /// Seconds to wait for a connection (also bounds start-up against an unreachable database).
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Base64 of 32 random bytes. Encrypts SP private keys, token signing keys and client
    /// secrets at rest. When empty, `master_key_file` is used (and created if missing).
    pub master_key: String,
    pub master_key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `console` (the outbox is the log) or `smtp`.
    pub transport: String,
    /// `smtp+starttls://[user:password@]host[:587]`, `smtps://…[:465]`, or
    /// `smtp://…[:25]` for a loopback host only (src/mail/settings.rs).
    pub smtp_url: String,
    /// The sender: `a@example.com` or `Name <a@example.com>`.
    pub from: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `ssogate=debug,info`. `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// How long a sign-in in flight (at the IdP) may take.
    pub pending_ttl_secs: u64,
    /// At most this many sign-ins in flight; beyond it new ones are refused.
    pub pending_cap: u64,
    /// At most this many sign-ins in flight per client (address, IPv6 /64), so one client
    /// cannot fill `pending_cap` for everyone.
    pub pending_cap_per_client: u64,
    /// Requests per minute per client to `/login` and `/login/{connector}`, with this
    /// burst. The client is the address `server.trusted_proxies` lets ssogate read from
    /// `X-Forwarded-For`. The ACS and OIDC callbacks are admitted by their pending
    /// sign-in; only those without one spend a separate budget of the same size.
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// At most this many clients remembered by each rate limiter (memory bound).
    pub rate_limit_clients: u64,
    /// Allowed clock difference with IdPs when checking assertion times, seconds.
    pub max_clock_skew_secs: u32,
    /// At most this many SAML responses verified at once (CPU-bound, on the blocking pool).
    pub max_concurrent_saml_verifications: u32,
    /// How often IdP metadata configured by URL is refetched, seconds (at least 60).
    pub metadata_refresh_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://ssogate.db".into(),
            max_connections: 8,
            connect_timeout_secs: 5,
        }
    }
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            master_key: String::new(),
            master_key_file: "ssogate.key".into(),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: "console".into(),
            smtp_url: String::new(),
            from: "ssogate <no-reply@localhost>".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            pending_ttl_secs: 600,
            pending_cap: 10_000,
            pending_cap_per_client: 20,
            rate_limit_per_minute: 120,
            rate_limit_burst: 30,
            rate_limit_clients: 100_000,
            max_clock_skew_secs: 120,
            max_concurrent_saml_verifications: 4,
            metadata_refresh_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session ends after this long without use.
    pub idle_timeout_secs: u64,
    /// And at the latest this long after sign-in (or at the IdP's SessionNotOnOrAfter).
    pub absolute_lifetime_secs: u64,
    /// Share the session with sibling subdomains (e.g. `example.com`); empty = host only.
    pub cookie_domain: String,
    /// How often expired sessions are deleted.
    pub cleanup_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// `EdDSA` (Ed25519, default) or `ES256` (P-256). Applies to keys created from now on.
    pub algorithm: String,
    /// Lifetime of the JWTs ssogate hands to apps.
    pub lifetime_secs: u64,
    /// The `Cache-Control: max-age` of `/.well-known/jwks.json`: how long relying parties
    /// may keep the key set. A new key is published at least this long before it signs.
    pub jwks_max_age_secs: u64,
    /// A new signing key every this long (0 = only `ssogate keys rotate`).
    pub rotation_period_secs: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            algorithm: "EdDSA".into(),
            lifetime_secs: 300,
            jwks_max_age_secs: 3600,
            rotation_period_secs: 30 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// How long `/auth/verify` trusts what it learnt about a session (user, memberships,
    /// live or not) without asking the database again. This bounds how late a sign-out on
    /// another instance, a suspension or a role change takes effect. At most 60.
    pub cache_ttl_secs: u64,
    /// At most this many live sessions cached (unknown session ids are kept apart, in a
    /// quarter of this, so a flood of made-up cookies never evicts a live session).
    pub cache_capacity: u64,
    /// Database reads per minute (with a burst of a quarter of it) that one client may
    /// cause with session cookies that turn out not to exist. Over it, further unknown
    /// cookies from that client are answered "not signed in" without a database read.
    pub unknown_session_lookups_per_minute: u32,
}

impl Default for ForwardAuthConfig {
    fn default() -> Self {
        ForwardAuthConfig {
            cache_ttl_secs: 5,
            cache_capacity: 100_000,
            unknown_session_lookups_per_minute: 120,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_secs: 8 * 3600,
            absolute_lifetime_secs: 24 * 3600,
            cookie_domain: String::new(),
            cleanup_interval_secs: 300,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {0}: not found")]
    FileNotFound(PathBuf),
}

impl Config {
    /// Loads defaults, then `file` (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::FileNotFound(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only `SSOGATE_<SECTION>__<KEY>` variables are configuration.
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("SSOGATE_") else {
                continue;
            };
            if !rest.contains("__") {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            let value: Value = raw.parse().unwrap_or_else(|_| Value::from(raw.clone()));
            // Keep strings that look like numbers as given where the key expects a string;
            // figment converts "8" to 8 and back as needed.
            figment = figment.merge(Serialized::default(&key, value));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.public_url()?;
        let scheme = self.database.url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql")
            || !self.database.url.contains("://")
        {
            return Err(ConfigError::Invalid(format!(
                "database.url: expected sqlite://… or postgres://…, got {:?}",
                redact_url(&self.database.url)
            )));
        }
        if scheme != "sqlite" {
            Url::parse(&self.database.url).map_err(|e| {
                ConfigError::Invalid(format!("database.url: not a valid URL ({e})"))
            })?;
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections: must be at least 1".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format: expected \"text\" or \"json\", got {:?}",
                self.log.format
            )));
        }
        // The transport, the SMTP URL (TLS off loopback) and the sender: see src/mail/settings.rs.
        crate::mail::settings::validate(&self.mail).map_err(ConfigError::Invalid)?;
        if self.login.pending_ttl_secs == 0
            || self.login.pending_cap == 0
            || self.login.pending_cap_per_client == 0
        {
            return Err(ConfigError::Invalid(
                "login.pending_ttl_secs, login.pending_cap and login.pending_cap_per_client must be positive".into(),
            ));
        }
        if self.login.rate_limit_clients < 256 || self.login.rate_limit_clients > 10_000_000 {
            return Err(ConfigError::Invalid(
                "login.rate_limit_clients: 256 to 10000000".into(),
            ));
        }
        if self.login.rate_limit_per_minute == 0
            || self.login.rate_limit_burst == 0
            || self.login.max_concurrent_saml_verifications == 0
        {
            return Err(ConfigError::Invalid(
                "login.rate_limit_per_minute, login.rate_limit_burst and login.max_concurrent_saml_verifications must be positive".into(),
            ));
        }
        if self.session.idle_timeout_secs == 0 || self.session.absolute_lifetime_secs == 0 {
            return Err(ConfigError::Invalid(
                "session.idle_timeout_secs and session.absolute_lifetime_secs must be positive"
                    .into(),
            ));
        }
        if self.session.cleanup_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "session.cleanup_interval_secs must be positive".into(),
            ));
        }
        self.trusted_proxies()?;
        crate::tokens::Policy::from_config(&self.tokens)?;
        if self.forward_auth.cache_ttl_secs > 60
            || self.forward_auth.cache_capacity == 0
            || self.forward_auth.unknown_session_lookups_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "forward_auth.cache_ttl_secs: at most 60; forward_auth.cache_capacity and \
                 forward_auth.unknown_session_lookups_per_minute: positive"
                    .into(),
            ));
        }
        if self.login.max_clock_skew_secs > 600 {
            return Err(ConfigError::Invalid(
                "login.max_clock_skew_secs: at most 600".into(),
            ));
        }
        Ok(())
    }

    /// `server.trusted_proxies` parsed; a bare address is a single-host network.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.server
            .trusted_proxies
            .iter()
            .map(|raw| {
                raw.parse::<ipnet::IpNet>()
                    .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "server.trusted_proxies: {raw:?} is not a CIDR such as 127.0.0.1/32"
                        ))
                    })
            })
            .collect()
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "server.listen: expected an address such as 127.0.0.1:8080, got {:?}",
                self.server.listen
            ))
        })
    }

    /// The public URL without a trailing slash. With none configured it is derived from
    /// the listen address (and, for port 0, fixed up by the app once bound).
    pub fn public_url(&self) -> Result<Url, ConfigError> {
        let raw = if self.server.public_url.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.server.public_url.clone()
        };
        let url = Url::parse(&raw)
            .map_err(|e| ConfigError::Invalid(format!("server.public_url: {e} ({raw:?})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConfigError::Invalid(format!(
                "server.public_url: expected an http(s) URL, got {raw:?}"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid(format!(
                "server.public_url: must not have a query or fragment, got {raw:?}"
            )));
        }
        Ok(url)
    }
}

/// Figment's messages name the key path ("for key default.server.foo"); keep the first
/// error on one line.
fn describe_figment_error(e: figment::Error) -> String {
    let first = e.into_iter().next();
    match first {
        Some(err) => {
            let path = err.path.join(".");
            let what = err.kind.to_string();
            let source = err
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(src) => format!(" (from {} {src})", m.name),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            if path.is_empty() {
                format!("{what}{source}")
            } else {
                format!("{path}: {what}{source}")
            }
        }
        None => "invalid configuration".into(),
    }
}

/// A database URL with its password replaced by `***`, for messages and logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://ssogate.db");
        assert_eq!(
            c.public_url().expect("url").as_str(),
            "http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn env_overrides_a_key() {
        let c = Config::load_from(
            None,
            env(&[("SSOGATE_DATABASE__URL", "postgres://u:p@127.0.0.1/db")]),
        )
        .expect("loads");
        assert_eq!(c.database.url, "postgres://u:p@127.0.0.1/db");
    }

    #[test]
    fn unrelated_ssogate_variables_are_ignored() {
        let c = Config::load_from(
            None,
            env(&[
                ("SSOGATE_TEST_KEYCLOAK_URL", "x"),
                ("SSOGATE_CACHE_DIR", "/x"),
            ]),
        );
        assert!(c.is_ok(), "{c:?}");
    }

    #[test]
    fn unknown_env_key_names_the_key() {
        let err = Config::load_from(None, env(&[("SSOGATE_DATABASE__URLL", "x")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("urll"), "{msg}");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn unknown_file_key_names_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n",
        )
        .expect("write");
        let msg = Config::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("server") && msg.contains("listen_adress"),
            "{msg}"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_key() {
        let msg = Config::load_from(None, env(&[("SSOGATE_SERVER__PUBLIC_URL", "not a url")]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("configuration: server.public_url:"),
            "{msg}"
        );
        let msg = Config::load_from(None, env(&[("SSOGATE_DATABASE__URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("database.url"), "{msg}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
