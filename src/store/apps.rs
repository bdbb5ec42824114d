//! Downstream apps (the apps behind ssogate) and what forward-auth needs to know about a
//! user to admit them: memberships with role names and ids, in one query.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::FromRow;

use super::{new_id, now_ms, AnyConnection, Result, StoreError};

/// One app as stored (organizations and roles by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppRecord {
    pub id: String,
    pub name: String,
    pub audience: String,
    /// Normalized `scheme://host[:port]`.
    pub origins: Vec<String>,
    /// `host[:port]` of the origins, as forward-auth matches X-Forwarded-Host.
    pub hosts: Vec<String>,
    pub org_restricted: bool,
    pub organization_ids: Vec<String>,
    pub role_restricted: bool,
    pub role_ids: Vec<String>,
    /// Header kinds sent on forward-auth: user, email, name, org, roles, token.
    pub headers: Vec<String>,
    /// `status` (401) or `redirect` (302 to the sign-in page).
    pub unauthenticated: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`upsert`] writes; the caller has validated and normalized it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSpec {
    pub name: String,
    pub audience: String,
    pub origins: Vec<String>,
    pub hosts: Vec<String>,
    pub org_restricted: bool,
    pub organization_ids: Vec<String>,
    pub role_restricted: bool,
    pub role_ids: Vec<String>,
    pub headers: Vec<String>,
    pub unauthenticated: String,
}

#[derive(FromRow)]
struct AppRow {
    id: String,
    name: String,
    audience: String,
    headers: String,
    unauthenticated: String,
    org_restricted: i64,
    role_restricted: i64,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str =
    "id, name, audience, headers, unauthenticated, org_restricted, role_restricted, created_at, updated_at";

fn record(r: AppRow, children: &mut Children) -> Result<AppRecord> {
    let headers: Vec<String> = serde_json::from_str(&r.headers)
        .map_err(|e| StoreError::Corrupt(format!("apps.headers: {e}")))?;
    let take = |m: &mut HashMap<String, Vec<String>>| {
        let mut v = m.remove(&r.id).unwrap_or_default();
        v.sort();
        v
    };
    Ok(AppRecord {
        origins: take(&mut children.origins),
        hosts: take(&mut children.hosts),
        organization_ids: take(&mut children.organizations),
        role_ids: take(&mut children.roles),
        org_restricted: r.org_restricted != 0,
        role_restricted: r.role_restricted != 0,
        id: r.id,
        name: r.name,
        audience: r.audience,
        headers,
        unauthenticated: r.unauthenticated,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

#[derive(Default)]
struct Children {
    origins: HashMap<String, Vec<String>>,
    hosts: HashMap<String, Vec<String>>,
    organizations: HashMap<String, Vec<String>>,
    roles: HashMap<String, Vec<String>>,
}

/// The child rows of one app (`Some(id)`) or of all apps.
async fn children(conn: &mut AnyConnection, app_id: Option<&str>) -> Result<Children> {
    let mut out = Children::default();
    for (table, col, target) in [
        ("app_origins", "origin", 0),
        ("app_hosts", "host", 1),
        ("app_organizations", "organization_id", 2),
        ("app_roles", "role_id", 3),
    ] {
        let rows: Vec<(String, String)> = match app_id {
            Some(id) => {
                sqlx::query_as(&format!(
                    "SELECT app_id, {col} FROM {table} WHERE app_id = $1"
                ))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query_as(&format!("SELECT app_id, {col} FROM {table}"))
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        let map = match target {
            0 => &mut out.origins,
            1 => &mut out.hosts,
            2 => &mut out.organizations,
            _ => &mut out.roles,
        };
        for (app, value) in rows {
            map.entry(app).or_default().push(value);
        }
    }
    Ok(out)
}

pub async fn get_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<AppRecord>> {
    let row: Option<AppRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM apps WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let mut c = children(conn, Some(&row.id)).await?;
    record(row, &mut c).map(Some)
}

/// Every app, by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<AppRecord>> {
    let rows: Vec<AppRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM apps ORDER BY name"))
        .fetch_all(&mut *conn)
        .await?;
    let mut c = children(conn, None).await?;
    rows.into_iter().map(|r| record(r, &mut c)).collect()
}

/// Creates the app named `spec.name` or replaces its settings; returns it and whether it
/// was created. Run it in a transaction: it rewrites the child rows.
pub async fn upsert(conn: &mut AnyConnection, spec: &AppSpec) -> Result<(AppRecord, bool)> {
    let now = now_ms();
    let headers = serde_json::to_string(&spec.headers)
        .map_err(|e| StoreError::Corrupt(format!("apps.headers: {e}")))?;
    let existing: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE name = $1")
        .bind(&spec.name)
        .fetch_optional(&mut *conn)
        .await?;
    let created = existing.is_none();
    let id = match existing {
        Some((id,)) => {
            sqlx::query(
                "UPDATE apps SET audience = $2, headers = $3, unauthenticated = $4, org_restricted = $5, \
                 role_restricted = $6, updated_at = $7 WHERE id = $1",
            )
            .bind(&id)
            .bind(&spec.audience)
            .bind(&headers)
            .bind(&spec.unauthenticated)
            .bind(i64::from(spec.org_restricted))
            .bind(i64::from(spec.role_restricted))
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::on_unique(e, "an app with this audience"))?;
            for table in ["app_origins", "app_hosts", "app_organizations", "app_roles"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            id
        }
        None => {
            let id = new_id();
            sqlx::query(&format!(
                "INSERT INTO apps ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
            ))
            .bind(&id)
            .bind(&spec.name)
            .bind(&spec.audience)
            .bind(&headers)
            .bind(&spec.unauthenticated)
            .bind(i64::from(spec.org_restricted))
            .bind(i64::from(spec.role_restricted))
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::on_unique(e, "an app with this name or audience"))?;
            id
        }
    };
    for (table, col, values, what) in [
        (
            "app_origins",
            "origin",
            &spec.origins,
            "an app with one of these origins",
        ),
        (
            "app_hosts",
            "host",
            &spec.hosts,
            "an app serving one of these hosts",
        ),
        (
            "app_organizations",
            "organization_id",
            &spec.organization_ids,
            "organization",
        ),
        ("app_roles", "role_id", &spec.role_ids, "role"),
    ] {
        for v in values {
            sqlx::query(&format!(
                "INSERT INTO {table} (app_id, {col}) VALUES ($1, $2)"
            ))
            .bind(&id)
            .bind(v)
            .execute(&mut *conn)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::NotFound(what)
                }
                _ => StoreError::on_unique(e, what),
            })?;
        }
    }
    let row: AppRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM apps WHERE id = $1"))
        .bind(&id)
        .fetch_one(&mut *conn)
        .await?;
    let mut c = children(conn, Some(&id)).await?;
    Ok((record(row, &mut c)?, created))
}

/// Deletes the app named `name`; true if it existed.
pub async fn delete_by_name(conn: &mut AnyConnection, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM apps WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One membership of a user with the roles held there (each once, whatever granted it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipAccess {
    pub organization_id: String,
    pub organization_name: String,
    /// (role id, role name), by name.
    pub roles: Vec<(String, String)>,
}

/// The memberships of `user_id` with their roles, by organization name.
pub async fn user_access(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<MembershipAccess>> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT o.id, o.name, r.id, r.name FROM organization_memberships m \
         JOIN organizations o ON o.id = m.organization_id \
         LEFT JOIN organization_role_grants g ON g.organization_id = m.organization_id AND g.user_id = m.user_id \
         LEFT JOIN organization_roles r ON r.id = g.role_id \
         WHERE m.user_id = $1 ORDER BY o.name, o.id, r.name",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    let mut out: Vec<MembershipAccess> = Vec::new();
    for (org_id, org_name, role_id, role_name) in rows {
        if out.last().is_none_or(|m| m.organization_id != org_id) {
            out.push(MembershipAccess {
                organization_id: org_id,
                organization_name: org_name,
                roles: Vec::new(),
            });
        }
        if let (Some(id), Some(name), Some(last)) = (role_id, role_name, out.last_mut()) {
            last.roles.push((id, name));
        }
    }
    Ok(out)
}
