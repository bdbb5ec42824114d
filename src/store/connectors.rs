//! Connector rows: kind, display name, a typed config (JSON, no secrets), secrets sealed
//! under the master key, and the email domains the connector claims.

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use super::{json_text, now_ms, parse_json, placeholders, AnyConnection, Result, StoreError};
use crate::address::domain_matches;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorRecord {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub enabled: bool,
    pub config: Value,
    /// Sealed (see [`crate::secrets`]); never serialized.
    #[serde(skip)]
    pub secrets: Option<String>,
    /// Normalized domains, `*.x` for subdomains.
    pub domains: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(FromRow)]
struct ConnectorRow {
    id: String,
    kind: String,
    display_name: String,
    enabled: i64,
    config: String,
    secrets: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, kind, display_name, enabled, config, secrets, created_at, updated_at";

/// Inserts or replaces a connector and its domains. Returns true when it was created.
pub async fn upsert(conn: &mut AnyConnection, c: &ConnectorRecord) -> Result<bool> {
    let now = now_ms();
    let existed: Option<(String,)> = sqlx::query_as("SELECT id FROM connectors WHERE id = $1")
        .bind(&c.id)
        .fetch_optional(&mut *conn)
        .await?;
    if existed.is_some() {
        sqlx::query(
            "UPDATE connectors SET kind = $2, display_name = $3, enabled = $4, config = $5, secrets = $6, \
             updated_at = $7 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.display_name)
        .bind(i64::from(c.enabled))
        .bind(json_text(&c.config))
        .bind(c.secrets.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO connectors (id, kind, display_name, enabled, config, secrets, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.display_name)
        .bind(i64::from(c.enabled))
        .bind(json_text(&c.config))
        .bind(c.secrets.clone())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::on_unique(e, "connector"))?;
    }
    sqlx::query("DELETE FROM connector_domains WHERE connector_id = $1")
        .bind(&c.id)
        .execute(&mut *conn)
        .await?;
    for d in &c.domains {
        sqlx::query("INSERT INTO connector_domains (connector_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&c.id)
            .bind(d)
            .execute(&mut *conn)
            .await?;
    }
    Ok(existed.is_none())
}

async fn domains_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT domain FROM connector_domains WHERE connector_id = $1 ORDER BY domain",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(d,)| d).collect())
}

async fn complete(conn: &mut AnyConnection, r: ConnectorRow) -> Result<ConnectorRecord> {
    let domains = domains_of(conn, &r.id).await?;
    Ok(ConnectorRecord {
        config: parse_json(&r.config)?,
        id: r.id,
        kind: r.kind,
        display_name: r.display_name,
        enabled: r.enabled != 0,
        secrets: r.secrets,
        domains,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<ConnectorRecord>> {
    fetch(conn, id, "").await
}

/// [`get`] inside a write transaction, for a read-modify-write: on PostgreSQL the row is
/// locked until the transaction ends, so two concurrent changes (e.g. two SP key rollovers)
/// apply one after the other instead of one overwriting the other. SQLite needs no lock:
/// its single writer runs write transactions one at a time.
pub async fn get_for_update(conn: &mut AnyConnection, id: &str) -> Result<Option<ConnectorRecord>> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE"
    } else {
        ""
    };
    fetch(conn, id, lock).await
}

async fn fetch(conn: &mut AnyConnection, id: &str, lock: &str) -> Result<Option<ConnectorRecord>> {
    let row: Option<ConnectorRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM connectors WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(complete(conn, r).await?)),
        None => Ok(None),
    }
}

/// Inside a write transaction: whether the connector is still what `seen` was when it was
/// read earlier (`None`: it did not exist), locking the row on PostgreSQL. For a change
/// prepared outside the transaction (e.g. one that fetched IdP metadata first): a write
/// that landed in between (an SP key staged meanwhile) must not be silently overwritten.
/// The whole row is compared: `updated_at` alone is not enough (milliseconds: two writes
/// can share one), nor are the sealed secrets (a fresh nonce at every write, but a
/// connector may have none).
pub async fn unchanged_since(
    conn: &mut AnyConnection,
    id: &str,
    seen: Option<&ConnectorRecord>,
) -> Result<bool> {
    Ok(get_for_update(conn, id).await?.as_ref() == seen)
}

/// A background job's write (the IdP metadata refresh): sets the `config` fields named by
/// JSON pointers in `set`, and only them, on the connector `id` if it still exists and every
/// pointer in `expect` still has the value the job read (`None`: absent). Returns false,
/// writing nothing, otherwise.
///
/// Why not [`upsert`] of the record read earlier: the job holds that copy for seconds
/// (fetching metadata), and writing it whole would undo whatever an administrator did
/// meanwhile — re-enable a disabled connector, re-create a deleted one, restore old
/// domains, role mappings or a rotated SP key. Here the row is never inserted, the columns
/// the job does not own (enabled, domains, secrets, …) are not written, the fields it does
/// own are written only if nobody changed them since the job read them, and the rest of
/// `config` is the row's current value, not the job's copy. The row is locked on
/// PostgreSQL (SQLite has one writer) and the UPDATE also compares the `config` text it
/// was computed from, so a concurrent write can never be lost under it.
pub async fn update_config_fields(
    conn: &mut AnyConnection,
    id: &str,
    expect: &[(&str, Option<&Value>)],
    set: &[(&str, Value)],
) -> Result<bool> {
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE"
    } else {
        ""
    };
    let row: Option<(String,)> = sqlx::query_as(&format!(
        "SELECT config FROM connectors WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    // Deleted meanwhile: stays deleted.
    let Some((current,)) = row else {
        return Ok(false);
    };
    let mut config = parse_json(&current)?;
    if expect
        .iter()
        .any(|(pointer, seen)| config.pointer(pointer) != *seen)
    {
        return Ok(false);
    }
    for (pointer, value) in set {
        match config.pointer_mut(pointer) {
            Some(slot) => *slot = value.clone(),
            None => return Ok(false),
        }
    }
    let done = sqlx::query(
        "UPDATE connectors SET config = $2, updated_at = $3 WHERE id = $1 AND config = $4",
    )
    .bind(id)
    .bind(json_text(&config))
    .bind(now_ms())
    .bind(&current)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<ConnectorRecord>> {
    let rows: Vec<ConnectorRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM connectors ORDER BY id"))
            .fetch_all(&mut *conn)
            .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(complete(conn, r).await?);
    }
    Ok(out)
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM connectors WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The connectors claiming a normalized `domain` (exactly or through a `*.` pattern), with
/// the pattern that matched, ordered by connector id.
pub async fn claiming_domain(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Vec<(String, String)>> {
    // Candidate patterns: the domain itself and `*.` + each proper parent suffix.
    let candidates = crate::address::covering_patterns(domain);
    let sql = format!(
        "SELECT connector_id, domain FROM connector_domains WHERE domain IN ({}) ORDER BY connector_id, domain",
        placeholders(1, candidates.len())
    );
    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
    for c in &candidates {
        q = q.bind(c.clone());
    }
    let rows = q.fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, pattern)| domain_matches(pattern, domain))
        .collect())
}
