//! The audit trail: append-only events, queried newest first with keyset pagination.

use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use super::{json_text, new_id, now_ms, parse_json, AnyConnection, Result, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewAuditEvent {
    /// e.g. `user.created`, `signin.refused`.
    pub kind: String,
    pub request_id: Option<String>,
    /// Who acted: `user:<id>`, `api-key:<id>`, `system`, or none for anonymous.
    pub actor: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub connector_id: Option<String>,
    /// The precise reason code of a refusal (which check failed).
    pub reason: Option<String>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub request_id: Option<String>,
    pub actor: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub connector_id: Option<String>,
    pub reason: Option<String>,
    pub data: Value,
}

#[derive(FromRow)]
struct AuditRow {
    id: String,
    occurred_at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    request_id: Option<String>,
    actor: Option<String>,
    user_id: Option<String>,
    organization_id: Option<String>,
    connector_id: Option<String>,
    reason: Option<String>,
    data: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<AuditEvent> {
        Ok(AuditEvent {
            data: parse_json(&r.data)?,
            id: r.id,
            occurred_at: r.occurred_at,
            kind: r.kind,
            request_id: r.request_id,
            actor: r.actor,
            user_id: r.user_id,
            organization_id: r.organization_id,
            connector_id: r.connector_id,
            reason: r.reason,
        })
    }
}

pub async fn record(conn: &mut AnyConnection, e: &NewAuditEvent) -> Result<String> {
    let id = new_id();
    let data = if e.data.is_null() {
        Value::Object(Default::default())
    } else {
        e.data.clone()
    };
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, type, request_id, actor, user_id, organization_id, connector_id, reason, data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(now_ms())
    .bind(&e.kind)
    .bind(e.request_id.clone())
    .bind(e.actor.clone())
    .bind(e.user_id.clone())
    .bind(e.organization_id.clone())
    .bind(e.connector_id.clone())
    .bind(e.reason.clone())
    .bind(json_text(&data))
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub kind: Option<String>,
    pub request_id: Option<String>,
    /// Inclusive lower bound, unix ms.
    pub since: Option<i64>,
    /// Exclusive upper bound, unix ms.
    pub until: Option<i64>,
    /// Keyset cursor: events strictly older than this (occurred_at, id).
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

/// Events matching `f`, newest first; at most `f.limit` (1..=500, default 50).
pub async fn query(conn: &mut AnyConnection, f: &AuditFilter) -> Result<Vec<AuditEvent>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    // Text binds first ($1..), then integer binds, numbered as they are added.
    for (col, v) in [
        ("user_id", &f.user_id),
        ("organization_id", &f.organization_id),
        ("type", &f.kind),
        ("request_id", &f.request_id),
    ] {
        if let Some(v) = v {
            texts.push(v.clone());
            clauses.push(format!("{col} = ${}", texts.len()));
        }
    }
    let base = texts.len();
    if let Some(s) = f.since {
        ints.push(s);
        clauses.push(format!("occurred_at >= ${}", base + ints.len()));
    }
    if let Some(u) = f.until {
        ints.push(u);
        clauses.push(format!("occurred_at < ${}", base + ints.len()));
    }
    let mut cursor_id = None;
    if let Some((at, id)) = &f.before {
        ints.push(*at);
        let at_n = base + ints.len();
        cursor_id = Some(id.clone());
        let id_n = base + ints.len() + 1;
        clauses.push(format!(
            "(occurred_at < ${at_n} OR (occurred_at = ${at_n} AND id < ${id_n}))"
        ));
    }
    let limit = if f.limit == 0 { 50 } else { f.limit.min(500) };
    let sql = format!(
        "SELECT id, occurred_at, type, request_id, actor, user_id, organization_id, connector_id, reason, data \
         FROM audit_events {} ORDER BY occurred_at DESC, id DESC LIMIT {limit}",
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) }
    );
    let mut q = sqlx::query_as::<_, AuditRow>(&sql);
    for t in texts {
        q = q.bind(t);
    }
    for i in ints {
        q = q.bind(i);
    }
    if let Some(id) = cursor_id {
        q = q.bind(id);
    }
    let rows = q.fetch_all(conn).await?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(conn)
        .await?;
    Ok(n)
}
