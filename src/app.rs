//! Building the application: configuration → database (migrated) → master key → bound
//! listener → router. `main` and the test harness both go through [`App::build`].
//!
//! The top of the dependency graph: `app` builds the router ([`crate::http`]) and starts
//! the background tasks ([`crate::jobs`]); `http` uses the domain modules (`flow`,
//! `session`, `gateway`, `provisioning`, `store`, ...), and those never use `http`. The
//! one name every layer takes from here is [`AppState`], the bag of shared handles
//! (configuration, store, keys, caches): it holds no behaviour of its own, so depending
//! on it does not turn the direction around.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use url::Url;

use crate::client_addr::TrustedProxies;
use crate::config::Config;
use crate::connectors::oidc::rp::ProviderCache;
use crate::gateway::Gateway;
use crate::http::rate_limit::{callback_limiter, login_limiter};
use crate::limiter::Limiter;
use crate::mail::Mailer;
use crate::secrets::MasterKey;
use crate::store::{Backend, Store};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub master_key: MasterKey,
    /// The one outbound HTTP client (IdP metadata, discovery, token and JWKS requests).
    pub http: reqwest::Client,
    /// Where people and IdPs reach ssogate, without a trailing slash.
    pub public_url: Arc<str>,
    /// OIDC discovery documents and JWKS, per issuer.
    pub oidc: Arc<ProviderCache>,
    /// Bounds how many SAML responses are verified at once on the blocking pool.
    pub saml_verifications: crate::connectors::saml::pool::VerificationPool,
    /// Per-client limit on `/login` and `/login/{connector}`.
    pub login_limiter: Arc<Limiter>,
    /// Per-client limit on ACS / callback requests that carry no valid pending sign-in.
    pub callback_limiter: Arc<Limiter>,
    /// `server.trusted_proxies`: whose `X-Forwarded-*` headers are believed.
    pub proxies: TrustedProxies,
    /// Downstream apps, forward-auth caches, ssogate's signing keys.
    pub gateway: Arc<Gateway>,
    /// Outgoing mail (`[mail]`): the console outbox or SMTP.
    pub mailer: Arc<Mailer>,
}

impl axum::extract::FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> TrustedProxies {
        state.proxies.clone()
    }
}

impl AppState {
    /// What a connector may use while it signs someone in.
    pub fn sign_in_env(&self) -> crate::connectors::signin::SignInEnv<'_> {
        crate::connectors::signin::SignInEnv {
            master_key: &self.master_key,
            public_url: &self.public_url,
            oidc: &self.oidc,
            saml_verifications: &self.saml_verifications,
            store: &self.store,
            max_clock_skew_secs: self.config.login.max_clock_skew_secs as i64,
        }
    }
}

pub struct App {
    listener: TcpListener,
    state: AppState,
}

/// Outbound HTTP: no redirects followed (an IdP endpoint that redirects is a
/// misconfiguration, and following redirects turns metadata fetches into an SSRF aid),
/// bounded timeouts.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("ssogate/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(
        &config.database.url,
        config.database.max_connections,
        Duration::from_secs(config.database.connect_timeout_secs),
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// The master key from `secrets.master_key`, else from `secrets.master_key_file` (created
/// on first start: the embedded default needs no set-up).
pub fn load_master_key(config: &Config, backend: Backend) -> anyhow::Result<MasterKey> {
    if !config.secrets.master_key.is_empty() {
        return Ok(MasterKey::from_base64(&config.secrets.master_key)?);
    }
    let path = Path::new(&config.secrets.master_key_file);
    let (key, created) = MasterKey::load_or_create_file(path)?;
    if created {
        tracing::info!(path = %path.display(), "generated a new master key file; back it up with the database");
        if backend == Backend::Postgres {
            tracing::warn!(
                "using a master key generated into a local file with PostgreSQL: every ssogate instance \
                 sharing this database needs the same key (set secrets.master_key)"
            );
        }
    }
    Ok(key)
}

/// The signing keys (the first one is created on the first start) and the apps, loaded
/// before the first request.
async fn build_gateway(
    config: &Config,
    public_url: &str,
    store: &Store,
    master_key: &MasterKey,
) -> anyhow::Result<Arc<Gateway>> {
    let policy = crate::tokens::Policy::from_config(&config.tokens)?;
    let now = crate::store::now_ms();
    crate::tokens::rotation::ensure(store, master_key, &policy, now, false)
        .await
        .context("signing keys")?;
    let keys = crate::tokens::KeyRing::new(Default::default());
    keys.reload(store, master_key, now)
        .await
        .context("signing keys")?;
    let gateway = Arc::new(Gateway::new(config, public_url, keys, policy)?);
    gateway.reload_apps(store).await.context("apps")?;
    Ok(gateway)
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let addr = config.listen_addr()?;
        let store = open_store(&config).await?;
        let master_key = load_master_key(&config, store.backend())?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("server.listen: cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let public_url = if config.server.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            config
                .public_url()?
                .as_str()
                .trim_end_matches('/')
                .to_string()
        };
        Url::parse(&public_url).context("server.public_url")?;
        let http = http_client()?;
        let gateway = build_gateway(&config, &public_url, &store, &master_key).await?;
        let mailer = Arc::new(Mailer::from_config(&config.mail)?);
        let state = AppState {
            mailer,
            gateway,
            oidc: ProviderCache::new(http.clone()),
            saml_verifications: crate::connectors::saml::pool::VerificationPool::new(
                config.login.max_concurrent_saml_verifications as usize,
            ),
            login_limiter: login_limiter(&config.login),
            callback_limiter: callback_limiter(&config.login),
            proxies: TrustedProxies::new(config.trusted_proxies()?),
            config: Arc::new(config),
            store,
            master_key,
            http,
            public_url: public_url.into(),
        };
        Ok(App { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::http::router(self.state.clone());
        tracing::info!(addr = %self.local_addr(), public_url = %self.state.public_url, "ssogate listening");
        let jobs = crate::jobs::spawn(&self.state);
        // The peer address decides whether forward-auth believes X-Forwarded-* headers.
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        jobs.abort();
        self.state.store.close().await;
        served
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn shutdown_signal() {
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
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
