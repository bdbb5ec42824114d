//! The test harness: fresh database per test (a temporary SQLite file, or a new
//! PostgreSQL database), the app on port 0, a client with a cookie jar that does not
//! follow redirects.

/// `both!(test_fn, …)`: each `async fn test_fn(db: Db)` as a test on SQLite and on
/// PostgreSQL (the store conformance pattern): `<module>::sqlite::test_fn` and
/// `<module>::postgres::test_fn`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $name() { super::$name(crate::support::Db::Sqlite).await })* }
        mod postgres { $(#[tokio::test] async fn $name() { super::$name(crate::support::Db::Postgres).await })* }
    };
}

pub mod browser;
pub mod downstream;
pub mod keycloak;
pub mod nginx_site;
pub mod oidc_mock;
pub mod private_postgres;
pub mod saml_forge;

use std::sync::Once;
use std::time::Duration;

use sqlx::Connection;
use ssogate::app::{App, AppState};
use ssogate::config::Config;
use ssogate::secrets::MasterKey;
use ssogate::store::Store;

pub const POSTGRES_VAR: &str = "SSOGATE_TEST_POSTGRES_URL";
pub const KEYCLOAK_VAR: &str = "SSOGATE_TEST_KEYCLOAK_URL";
pub const KEYCLOAK_REALM_VAR: &str = "SSOGATE_TEST_KEYCLOAK_REALM";
pub const MAILPIT_SMTP_VAR: &str = "SSOGATE_TEST_MAILPIT_SMTP";
pub const MAILPIT_API_VAR: &str = "SSOGATE_TEST_MAILPIT_API";

/// A service address from the environment, or a failure that says how to get it.
pub fn required_service(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{what} is not available: {var} is not set. Run the suite with `scripts/test.sh` \
             (it installs and starts {what} on 127.0.0.1), or start it yourself and export {var}."
        ),
    }
}

pub fn postgres_admin_url() -> String {
    required_service(POSTGRES_VAR, "PostgreSQL")
}

pub fn keycloak_url() -> String {
    required_service(KEYCLOAK_VAR, "Keycloak")
}

pub fn keycloak_realm() -> String {
    std::env::var(KEYCLOAK_REALM_VAR).unwrap_or_else(|_| "ssogate-test".into())
}

/// Mailpit (`scripts/services/mailpit.sh`): its SMTP URL (`smtp://127.0.0.1:PORT`).
pub fn mailpit_smtp() -> String {
    required_service(MAILPIT_SMTP_VAR, "Mailpit")
}

/// ...and its HTTP API (`http://127.0.0.1:PORT`; messages at `/api/v1/messages`).
pub fn mailpit_api() -> String {
    required_service(MAILPIT_API_VAR, "Mailpit")
}

pub fn keycloak_issuer() -> String {
    format!("{}/realms/{}", keycloak_url(), keycloak_realm())
}

static TRACING: Once = Once::new();

/// Logs of the app under test: off unless `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
pub fn init_tracing() {
    TRACING.call_once(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            ssogate::telemetry::init(&ssogate::config::LogConfig {
                format: "text".into(),
                level,
            });
        }
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database of its own for one test. The SQLite file lives in `dir`; a PostgreSQL
/// database is named `ssogate_test_<uuid>` (dropped by the next `scripts/test.sh` run).
pub struct TestDb {
    pub url: String,
    /// Holds the SQLite file (and anything else of the test) until the test ends.
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
}

pub async fn fresh_database(db: Db) -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = match db {
        Db::Sqlite => format!("sqlite://{}/ssogate.db", dir.path().display()),
        Db::Postgres => {
            let admin = postgres_admin_url();
            sqlx::any::install_default_drivers();
            let name = format!("ssogate_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::AnyConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("connecting to PostgreSQL at {admin}: {e} (is scripts/services/postgres.sh running?)"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            let _ = conn.close().await;
            let mut u = url::Url::parse(&admin).expect("admin URL");
            u.set_path(&format!("/{name}"));
            u.to_string()
        }
    };
    TestDb { url, dir }
}

/// A migrated store on a fresh database.
pub struct TestStore {
    pub store: Store,
    #[allow(dead_code)]
    pub db: TestDb,
}

pub async fn fresh_store(db: Db) -> TestStore {
    let db = fresh_database(db).await;
    let store = Store::connect(&db.url, 8, Duration::from_secs(10))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    TestStore { store, db }
}

pub struct TestApp {
    pub address: String,
    /// The running app's state (its store, gateway caches, keys).
    #[allow(dead_code)]
    pub state: AppState,
    pub client: reqwest::Client,
    pub store: Store,
    #[allow(dead_code)]
    pub master_key: MasterKey,
    #[allow(dead_code)]
    pub db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A test configuration: port 0, the given database, a fresh master key.
pub fn test_config(db: &TestDb) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".into();
    c.database.url = db.url.clone();
    c.secrets.master_key = MasterKey::generate().to_base64();
    c
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = fresh_database(db).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    spawn_app_on(db, config).await
}

/// Runs the app with `config` on the database `db` (e.g. again after a restart).
pub async fn spawn_app_on(db: TestDb, config: Config) -> TestApp {
    init_tracing();
    let app = App::build(config).await.expect("the app builds");
    let address = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let store = state.store.clone();
    let master_key = state.master_key.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = rx.await;
            })
            .await;
    });
    TestApp {
        address,
        state,
        client: new_client(),
        store,
        master_key,
        db,
        shutdown: Some(tx),
    }
}

/// A browser-like client: its own cookie jar, no automatic redirects.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A management API key for `app` (stored hashed, as `ssogate api-key create` does).
pub async fn api_key(app: &TestApp) -> String {
    let mut c = app.store.write().await.expect("conn");
    ssogate::store::api_keys::create(&mut c, "tests")
        .await
        .expect("key")
        .1
}
