//! The SAML assertion-ID replay cache: an assertion ID is accepted once per IdP and
//! remembered until the assertion expires (samael keeps no such cache).

use super::{now_ms, AnyConnection, Result};

/// Remembers `assertion_id` until `expires_at`; returns false if it is remembered already
/// (a replay). One statement: a new ID is inserted, an entry that has expired (and was
/// not yet swept by the clean-up task) is taken over, a live entry is left alone.
pub async fn remember(
    conn: &mut AnyConnection,
    idp_entity_id: &str,
    assertion_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO saml_assertion_ids (idp_entity_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (idp_entity_id, assertion_id) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE saml_assertion_ids.expires_at <= $4",
    )
    .bind(idp_entity_id)
    .bind(assertion_id)
    .bind(expires_at.max(now + 1))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes entries whose assertions have expired (the clean-up task).
pub async fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM saml_assertion_ids WHERE expires_at <= $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
