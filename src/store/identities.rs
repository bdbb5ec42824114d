//! Identities: (connector, subject) → user, unique on (connector, subject).

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use super::{json_text, new_id, now_ms, parse_json, AnyConnection, Result, StoreError};

/// One account at an IdP (connector + subject) linked to a user. Not
/// [`crate::gateway::SessionIdentity`] (who is behind a live session).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub connector_id: String,
    pub subject: String,
    pub raw_profile: Value,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

#[derive(FromRow)]
struct IdentityRow {
    id: String,
    user_id: String,
    connector_id: String,
    subject: String,
    raw_profile: String,
    created_at: i64,
    last_sign_in_at: Option<i64>,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = StoreError;
    fn try_from(r: IdentityRow) -> Result<Identity> {
        Ok(Identity {
            id: r.id,
            user_id: r.user_id,
            connector_id: r.connector_id,
            subject: r.subject,
            raw_profile: parse_json(&r.raw_profile)?,
            created_at: r.created_at,
            last_sign_in_at: r.last_sign_in_at,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, connector_id, subject, raw_profile, created_at, last_sign_in_at";

/// Links (connector, subject) to `user_id`. If the pair is already linked (a concurrent
/// first sign-in won), returns `Conflict` so the caller can retry as "already linked".
pub async fn link(
    conn: &mut AnyConnection,
    user_id: &str,
    connector_id: &str,
    subject: &str,
    raw_profile: &Value,
) -> Result<Identity> {
    let now = now_ms();
    let row: IdentityRow = sqlx::query_as(&format!(
        "INSERT INTO identities (id, user_id, connector_id, subject, raw_profile, created_at, updated_at, last_sign_in_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING {COLUMNS}"
    ))
    .bind(new_id())
    .bind(user_id)
    .bind(connector_id)
    .bind(subject)
    .bind(json_text(raw_profile))
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "an identity for this subject"))?;
    row.try_into()
}

pub async fn find(
    conn: &mut AnyConnection,
    connector_id: &str,
    subject: &str,
) -> Result<Option<Identity>> {
    let row: Option<IdentityRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM identities WHERE connector_id = $1 AND subject = $2"
    ))
    .bind(connector_id)
    .bind(subject)
    .fetch_optional(conn)
    .await?;
    row.map(Identity::try_from).transpose()
}

pub async fn list_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Identity>> {
    let rows: Vec<IdentityRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM identities WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Identity::try_from).collect()
}

/// Records a sign-in through this identity and the raw profile it brought.
/// Records a sign-in through the identity (connector, subject): its latest raw profile
/// and time. One statement, no read first; `false` if no such identity exists.
pub async fn record_sign_in(
    conn: &mut AnyConnection,
    connector_id: &str,
    subject: &str,
    raw_profile: &Value,
) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE identities SET raw_profile = $3, last_sign_in_at = $4, updated_at = $4 WHERE connector_id = $1 AND subject = $2",
    )
    .bind(connector_id)
    .bind(subject)
    .bind(json_text(raw_profile))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the identity (connector, `from_subject`) to `to_subject`, keeping its user, id
/// and history. `false` if there is no such identity; `Conflict` if `to_subject` is
/// linked already (to anyone).
pub async fn change_subject(
    conn: &mut AnyConnection,
    connector_id: &str,
    from_subject: &str,
    to_subject: &str,
) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE identities SET subject = $3, updated_at = $4 WHERE connector_id = $1 AND subject = $2",
    )
    .bind(connector_id)
    .bind(from_subject)
    .bind(to_subject)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "an identity for this subject"))?;
    Ok(done.rows_affected() == 1)
}
