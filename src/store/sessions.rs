//! Server-side sessions: the `tower_sessions::SessionStore` over our database.
//!
//! The session cookie holds only the random session id; the record (who is signed in,
//! when, through which connector) lives here. The user id is copied out of the record
//! into its own column so that suspending a user or "sign out everywhere" can end all of
//! that user's sessions with one statement.
//!
//! The `expiry_date` column is the authority on whether a session is live: it is the
//! earlier of the absolute end (`expires_at` in the record) and the last activity plus
//! the idle timeout. Activity moves it forward: a save through tower-sessions, or
//! [`touch`] from forward-auth (which reads sessions without tower-sessions).

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{now_ms, AnyConnection, Result, Store};

/// The key in the session record that names the signed-in user.
pub const USER_ID_KEY: &str = "user_id";
/// The key in the session record holding its absolute end (unix ms).
pub const EXPIRES_AT_KEY: &str = "expires_at";

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    store: Store,
    idle_timeout_ms: Option<i64>,
}

impl DbSessionStore {
    pub fn new(store: Store) -> Self {
        DbSessionStore {
            store,
            idle_timeout_ms: None,
        }
    }

    /// A saved session lives at most this long after the save (its last activity).
    pub fn with_idle_timeout_ms(mut self, ms: i64) -> Self {
        self.idle_timeout_ms = Some(ms);
        self
    }

    /// The `expiry_date` column for `r` saved now.
    fn expiry_column(&self, r: &Record) -> i64 {
        let mut at = expiry_ms(r);
        if let Some(end) = r.data.get(EXPIRES_AT_KEY).and_then(|v| v.as_i64()) {
            at = at.min(end);
        }
        if let Some(idle) = self.idle_timeout_ms {
            at = at.min(now_ms().saturating_add(idle));
        }
        at
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry_ms(r: &Record) -> i64 {
    (r.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

fn user_id_of(r: &Record) -> Option<String> {
    r.data
        .get(USER_ID_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut conn = self.store.write().await.map_err(backend)?;
        // A 128-bit random id colliding is not expected, but never overwrite a session.
        loop {
            let data = serde_json::to_vec(&record)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?;
            let done = sqlx::query(
                "INSERT INTO sessions (id, user_id, data, expiry_date) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(user_id_of(record))
            .bind(data)
            .bind(self.expiry_column(record))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a live session, never inserts one. tower-sessions calls `save` for a session
    /// it loaded earlier in the request (new sessions go through [`Self::create`]); by now
    /// logout, suspension or "sign out everywhere" may have deleted the row, or it may
    /// have expired. An upsert would write the ended session back — logged in again, and a
    /// suspended user's sessions alive again after unsuspend — so a row that is gone or
    /// expired stays gone. The browser then gets its cookie once more, naming a session
    /// that does not exist: the next request finds none and removes the cookie.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data =
            serde_json::to_vec(&record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let mut conn = self.store.write().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE sessions SET user_id = $2, data = $3, expiry_date = $4 WHERE id = $1 AND expiry_date > $5",
        )
        .bind(record.id.to_string())
        .bind(user_id_of(record))
        .bind(data)
        .bind(self.expiry_column(record))
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            tracing::info!("a session ended while a request used it; not saved");
        }
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.store.read().await.map_err(backend)?;
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM sessions WHERE id = $1 AND expiry_date > $2")
                .bind(session_id.to_string())
                .bind(now_ms())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        match row {
            Some((data,)) => {
                Ok(Some(serde_json::from_slice(&data).map_err(|e| {
                    session_store::Error::Decode(e.to_string())
                })?))
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let mut conn = self.store.write().await.map_err(backend)?;
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// A live session as forward-auth reads it: the record and its `expiry_date` column.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub record: Record,
    pub expiry_date: i64,
}

/// The session `id` if it is live at `now`.
pub async fn get_live(conn: &mut AnyConnection, id: &str, now: i64) -> Result<Option<LiveSession>> {
    let row: Option<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT data, expiry_date FROM sessions WHERE id = $1 AND expiry_date > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    let Some((data, expiry_date)) = row else {
        return Ok(None);
    };
    let record: Record = serde_json::from_slice(&data)
        .map_err(|e| super::StoreError::Corrupt(format!("session record: {e}")))?;
    Ok(Some(LiveSession {
        record,
        expiry_date,
    }))
}

/// Moves a live session's expiry forward to `until` (activity). Never revives an
/// expired session, never moves the expiry back.
pub async fn touch(conn: &mut AnyConnection, id: &str, until: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET expiry_date = $2 WHERE id = $1 AND expiry_date > $3 AND expiry_date < $2",
    )
    .bind(id)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every session of `user_id` (suspension, sign out everywhere).
pub async fn delete_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn delete_expired(conn: &mut AnyConnection) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expiry_date <= $1")
        .bind(now_ms())
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn count_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expiry_date > $2")
            .bind(user_id)
            .bind(now_ms())
            .fetch_one(conn)
            .await?;
    Ok(n)
}
