//! ssogate's own token signing keys. The private key is sealed under the master key.
//! A key is published in the JWKS from `publish_at`, signs from `sign_from` (after
//! relying parties had time to fetch it), stops signing at `retire_at` and leaves the
//! JWKS at `remove_at`, once every token it signed has expired.

use serde::Serialize;
use sqlx::FromRow;

use super::{AnyConnection, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    /// Sealed; never serialized.
    #[serde(skip)]
    pub private_key: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub publish_at: i64,
    pub sign_from: i64,
    pub retire_at: Option<i64>,
    pub remove_at: Option<i64>,
}

const COLUMNS: &str =
    "kid, alg, private_key, public_jwk, created_at, publish_at, sign_from, retire_at, remove_at";

pub async fn insert(conn: &mut AnyConnection, k: &SigningKey) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.private_key)
    .bind(&k.public_jwk)
    .bind(k.created_at)
    .bind(k.publish_at)
    .bind(k.sign_from)
    .bind(k.retire_at)
    .bind(k.remove_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "signing key"))?;
    Ok(())
}

/// Keys to publish at `now` (published and not yet removed), oldest first.
pub async fn published(conn: &mut AnyConnection, now: i64) -> Result<Vec<SigningKey>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM signing_keys WHERE publish_at <= $1 AND (remove_at IS NULL OR remove_at > $1) \
         ORDER BY publish_at, kid"
    ))
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Every key, oldest first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<SigningKey>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM signing_keys ORDER BY publish_at, kid"
    ))
    .fetch_all(conn)
    .await?)
}

/// Sets when a key stops signing and leaves the JWKS.
pub async fn schedule_retirement(
    conn: &mut AnyConnection,
    kid: &str,
    retire_at: i64,
    remove_at: i64,
) -> Result<()> {
    sqlx::query("UPDATE signing_keys SET retire_at = $2, remove_at = $3 WHERE kid = $1")
        .bind(kid)
        .bind(retire_at)
        .bind(remove_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_removed(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM signing_keys WHERE remove_at IS NOT NULL AND remove_at <= $1")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
