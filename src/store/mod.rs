//! All SQL lives here. One API over SQLite (the embedded default) and PostgreSQL, chosen
//! by the database URL, through sqlx's `Any` driver: the same statements run on both
//! (`$1` placeholders work in SQLite too; `ON CONFLICT … DO NOTHING` and `RETURNING`
//! exist in both), and the schemas in `migrations/sqlite` and `migrations/postgres`
//! differ only in dialect. Times are unix milliseconds.
//!
//! SQLite allows one writer at a time. Rather than let concurrent sign-ins race for the
//! write lock (and fail with "database is locked" when a deferred transaction cannot
//! upgrade), every write goes through a pool of exactly one connection; reads use a
//! separate pool and, in WAL mode, never wait for the writer. With PostgreSQL both
//! handles are the same pool.
//!
//! Each aggregate has a module of functions over `&mut AnyConnection`, so that the same
//! function works on a pooled connection and inside a transaction.

pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod connectors;
pub mod identities;
pub mod organizations;
pub mod pending_logins;
pub mod saml_replay;
pub mod sessions;
pub mod signing_keys;
pub mod users;

use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use sqlx::AnyConnection;

use crate::config::redact_url;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database: cannot connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("too many sign-ins in flight; try again in a few minutes")]
    Capacity,
    #[error("too many sign-ins in flight from this client; try again in a few minutes")]
    ClientCapacity,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Db`.
    pub(crate) fn on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        if is_unique_violation(&e) {
            StoreError::Conflict(what)
        } else {
            StoreError::Db(e)
        }
    }
}

impl StoreError {
    /// The database cannot serve right now — stopped, restarting, unreachable, out of
    /// connections, locked by another process, out of disk — as opposed to a bug or bad
    /// data. Nothing was written (every write is one statement or one transaction), so the
    /// request can simply be tried again: callers answer 503 with `Retry-After` instead of
    /// a refusal or a 500, which would tell the person (or the proxy) that retrying is
    /// pointless.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Db(e) => db_unavailable(e),
            _ => false,
        }
    }
}

/// See [`StoreError::is_unavailable`].
fn db_unavailable(e: &sqlx::Error) -> bool {
    match e {
        // No connection within the acquire timeout (the server refuses connections, or
        // every connection is busy), the pool shut down, or the connection broke.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                pg_code_unavailable(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(sqlite_code_unavailable)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of a server that cannot serve now: class 08 (connection
/// exception), class 53 (insufficient resources: too many connections, disk full, out of
/// memory), 57P01–57P03 (shut down by the administrator or a crash, or still starting),
/// 25006 (read-only: a standby after a fail-over).
pub(crate) fn pg_code_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
}

/// SQLite (extended) result codes of a file that cannot serve now: BUSY and LOCKED
/// (another process holds the lock beyond `busy_timeout`), READONLY, IOERR, FULL,
/// CANTOPEN. Constraint violations, corruption and misuse are not "unavailable".
pub(crate) fn sqlite_code_unavailable(extended: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    matches!(
        extended & 0xff,
        BUSY | LOCKED | READONLY | IOERR | FULL | CANTOPEN
    )
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
pub type Tx = Transaction<'static, Any>;
pub type Conn = PoolConnection<Any>;

#[derive(Clone, Debug)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new random id (UUIDv7: time-ordered, so indexes stay append-mostly).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Connects to `url` (`sqlite://…` creates the file; `postgres://…`), without migrating.
    pub async fn connect(url: &str, max_connections: u32, timeout: Duration) -> Result<Store> {
        install_default_drivers();
        let connect_err = |e: sqlx::Error| StoreError::Connect {
            url: redact_url(url),
            cause: describe_connect_error(&e),
        };
        if url.starts_with("sqlite:") {
            let url = sqlite_url_with_create(url);
            let opts = || {
                AnyPoolOptions::new()
                    .acquire_timeout(timeout)
                    .test_before_acquire(true)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL: readers never wait for the writer. busy_timeout covers other
                            // processes (`ssogate apply` while the server runs).
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
            };
            let write = opts()
                .max_connections(1)
                .connect(&url)
                .await
                .map_err(connect_err)?;
            let read = opts()
                .max_connections(max_connections.max(1))
                .connect(&url)
                .await
                .map_err(connect_err)?;
            Ok(Store {
                write,
                read,
                backend: Backend::Sqlite,
            })
        } else {
            // When the server restarts, every pooled connection is dead. Each one is
            // pinged before it is handed out (sqlx's default, stated here because recovery
            // depends on it): a dead one is dropped and a new one opened, so ssogate comes
            // back by itself once the database answers, without a restart. While it does
            // not, a request waits at most `timeout` for a connection and gets an error
            // that `StoreError::is_unavailable` recognises (503, never a half-done write).
            let pool = AnyPoolOptions::new()
                .acquire_timeout(timeout)
                .test_before_acquire(true)
                .max_connections(max_connections.max(1))
                .connect(url)
                .await
                .map_err(connect_err)?;
            Ok(Store {
                write: pool.clone(),
                read: pool,
                backend: Backend::Postgres,
            })
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.write).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<Conn> {
        Ok(self.read.acquire().await?)
    }

    /// The connection for a single write statement outside a transaction.
    pub async fn write(&self) -> Result<Conn> {
        Ok(self.write.acquire().await?)
    }

    /// A write transaction. On SQLite it holds the single writer connection until commit
    /// or rollback, so keep it short and do not acquire another write handle inside it.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.write.begin().await?)
    }

    /// Readiness: can we run a query?
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.read().await?;
        sqlx::query("SELECT 1").execute(&mut *c).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn describe_connect_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "timed out (is the server running and reachable?)".into(),
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string().replace('\n', " "),
    }
}

/// `$n, $n+1, …` placeholders for an `IN (…)` list of `count` values starting at `first`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

pub(crate) fn parse_json(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("json column: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_database_that_cannot_serve_is_unavailable() {
        assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Db(sqlx::Error::PoolClosed).is_unavailable());
        assert!(
            StoreError::Db(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
                .is_unavailable()
        );
        assert!(!StoreError::Db(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Conflict("user").is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
        assert!(!StoreError::Capacity.is_unavailable());
        for code in [
            "08006", "08001", "57P01", "57P02", "57P03", "53300", "53100", "25006",
        ] {
            assert!(pg_code_unavailable(code), "{code}");
        }
        // Unique and foreign-key violations, syntax errors, serialization failures: no.
        for code in ["23505", "23503", "42601", "40001", "57014"] {
            assert!(!pg_code_unavailable(code), "{code}");
        }
        // SQLITE_BUSY, BUSY_SNAPSHOT, LOCKED, READONLY, IOERR_WRITE, FULL, CANTOPEN.
        for code in [5, 517, 6, 8, 778, 13, 14] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        // CONSTRAINT_UNIQUE, CONSTRAINT_FOREIGNKEY, CORRUPT, ERROR, MISUSE.
        for code in [2067, 787, 11, 1, 21] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
    }
}
