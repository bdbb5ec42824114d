//! The SAML assertion-ID replay cache: an assertion ID is accepted once per IdP and
//! remembered until the assertion expires (samael keeps no such cache).

use super::{now_ms, AnyConnection, Result};

/// Remembers `assertion_id` until `expires_at`; returns false if it was seen already
/// (a replay).
pub async fn remember(
    conn: &mut AnyConnection,
    idp_entity_id: &str,
    assertion_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let now = now_ms();
    sqlx::query("DELETE FROM saml_assertion_ids WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query(
        "INSERT INTO saml_assertion_ids (idp_entity_id, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(idp_entity_id)
    .bind(assertion_id)
    .bind(expires_at.max(now + 1))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
