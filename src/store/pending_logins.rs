//! Sign-ins in flight. ssogate, not the connector, owns this state (RelayState / OIDC
//! `state`, the AuthnRequest ID for InResponseTo, nonce, PKCE verifier, return_to).
//!
//! Each row is single-use (taken by `DELETE … RETURNING`, so two concurrent callbacks
//! cannot both get it), expires, and is bound to the browser that started it: the row
//! keeps a hash of a random value held in a short-lived cookie. The table is capped so an
//! anonymous flood of `/login/*` cannot grow it without bound.

use serde_json::Value;
use sqlx::FromRow;

use super::{json_text, now_ms, parse_json, AnyConnection, Result, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct PendingLogin {
    /// Opaque, unguessable key (RelayState / state).
    pub id: String,
    pub connector_id: String,
    /// SHA-256 (hex) of the browser-binding cookie value.
    pub browser_binding: String,
    /// The client that started it (`crate::client_addr::client_key`), for the
    /// per-client cap.
    pub client_key: String,
    pub data: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(FromRow)]
struct Row {
    id: String,
    connector_id: String,
    browser_binding: String,
    client_key: String,
    data: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<Row> for PendingLogin {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<PendingLogin> {
        Ok(PendingLogin {
            data: parse_json(&r.data)?,
            id: r.id,
            connector_id: r.connector_id,
            browser_binding: r.browser_binding,
            client_key: r.client_key,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

/// Stores a new pending login unless `per_client_cap` unexpired ones of the same client
/// (`ClientCapacity`: one client cannot fill the table for everyone) or `cap` in all
/// (`Capacity`) exist already. Expired rows do not count (the clean-up task deletes them;
/// this anonymous entry point does no sweeping). Call inside a transaction so the counts
/// and the insert see the same state.
pub async fn create(
    conn: &mut AnyConnection,
    p: &PendingLogin,
    cap: u64,
    per_client_cap: u64,
) -> Result<()> {
    let now = now_ms();
    let (mine,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pending_logins WHERE client_key = $1 AND expires_at > $2",
    )
    .bind(&p.client_key)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if mine >= per_client_cap as i64 {
        return Err(StoreError::ClientCapacity);
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pending_logins WHERE expires_at > $1")
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    if n >= cap as i64 {
        return Err(StoreError::Capacity);
    }
    sqlx::query(
        "INSERT INTO pending_logins \
         (id, connector_id, browser_binding, client_key, data, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.id)
    .bind(&p.connector_id)
    .bind(&p.browser_binding)
    .bind(&p.client_key)
    .bind(json_text(&p.data))
    .bind(p.created_at)
    .bind(p.expires_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "pending login"))?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    Ok(PendingLogin),
    /// No such pending login (never issued, already used, or purged).
    Unknown,
    /// It exists but was started by another browser; it is left in place.
    OtherBrowser,
    /// It was found but had expired (and is now deleted).
    Expired,
}

/// Takes (deletes and returns) the pending login `id` if this browser started it.
pub async fn take(conn: &mut AnyConnection, id: &str, browser_binding: &str) -> Result<Taken> {
    let row: Option<Row> = sqlx::query_as(
        "DELETE FROM pending_logins WHERE id = $1 AND browser_binding = $2 \
         RETURNING id, connector_id, browser_binding, client_key, data, created_at, expires_at",
    )
    .bind(id)
    .bind(browser_binding)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => {
            let p = PendingLogin::try_from(r)?;
            if p.expires_at <= now_ms() {
                Ok(Taken::Expired)
            } else {
                Ok(Taken::Ok(p))
            }
        }
        None => {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM pending_logins WHERE id = $1")
                    .bind(id)
                    .fetch_optional(conn)
                    .await?;
            Ok(if exists.is_some() {
                Taken::OtherBrowser
            } else {
                Taken::Unknown
            })
        }
    }
}

pub async fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM pending_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
