//! Management API keys. A key is `sgk_<id prefix>_<32 random bytes, base64url>`; only its
//! SHA-256 is stored. Keys have 256 bits of entropy, so a fast hash is enough (no
//! password-style stretching), and lookup is by hash: nothing secret is compared byte by
//! byte in a way whose timing depends on the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use super::{new_id, now_ms, AnyConnection, Result};

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key; returns it and the plaintext, which is shown once and never stored.
pub async fn create(conn: &mut AnyConnection, name: &str) -> Result<(ApiKey, String)> {
    let id = new_id();
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let prefix: String = id.replace('-', "").chars().rev().take(8).collect();
    let plaintext = format!("sgk_{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    let key: ApiKey = sqlx::query_as(
        "INSERT INTO api_keys (id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, prefix, created_at, last_used_at, revoked_at",
    )
    .bind(&id)
    .bind(name)
    .bind(&prefix)
    .bind(hash_key(&plaintext))
    .bind(now_ms())
    .fetch_one(conn)
    .await?;
    Ok((key, plaintext))
}

/// The live (not revoked) key matching `presented`, if any.
pub async fn verify(conn: &mut AnyConnection, presented: &str) -> Result<Option<ApiKey>> {
    if !presented.starts_with("sgk_") || presented.len() > 128 {
        return Ok(None);
    }
    let key: Option<ApiKey> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_key(presented))
    .fetch_optional(conn)
    .await?;
    Ok(key)
}

pub async fn record_use(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn revoke(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now_ms())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<ApiKey>> {
    Ok(sqlx::query_as("SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id")
        .fetch_all(conn)
        .await?)
}
