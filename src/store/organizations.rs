//! Organizations, the organization template (roles), per-organization JIT settings,
//! memberships and role grants.
//!
//! A role grant is one row per (organization, user, role, source, connector, mapping
//! rule): several sources may grant the same role, and removing one (say, a mapping that
//! no longer applies) leaves the others alone.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{new_id, now_ms, placeholders, AnyConnection, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub description: String,
    pub jit_email_domains: Vec<String>,
    pub jit_connectors: Vec<String>,
    /// Role ids.
    pub default_roles: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantSource {
    Invitation,
    Api,
    JitSso,
    JitEmailDomain,
    DirectorySync,
    Mapping,
}

impl GrantSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantSource::Invitation => "invitation",
            GrantSource::Api => "api",
            GrantSource::JitSso => "jit-sso",
            GrantSource::JitEmailDomain => "jit-email-domain",
            GrantSource::DirectorySync => "directory-sync",
            GrantSource::Mapping => "mapping",
        }
    }

    pub fn parse(s: &str) -> Option<GrantSource> {
        Some(match s {
            "invitation" => GrantSource::Invitation,
            "api" => GrantSource::Api,
            "jit-sso" => GrantSource::JitSso,
            "jit-email-domain" => GrantSource::JitEmailDomain,
            "directory-sync" => GrantSource::DirectorySync,
            "mapping" => GrantSource::Mapping,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RoleGrant {
    pub organization_id: String,
    pub user_id: String,
    pub role_id: String,
    pub source: GrantSource,
    /// The connector whose sign-in made the grant, if any.
    pub connector_id: Option<String>,
    /// The mapping rule that made the grant (source `mapping`).
    pub mapping_rule: Option<String>,
}

#[derive(FromRow)]
struct OrgRow {
    id: String,
    name: String,
    description: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(FromRow)]
struct GrantRow {
    organization_id: String,
    user_id: String,
    role_id: String,
    source: String,
    connector_id: String,
    mapping_rule: String,
}

impl TryFrom<GrantRow> for RoleGrant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<RoleGrant> {
        Ok(RoleGrant {
            source: GrantSource::parse(&r.source)
                .ok_or_else(|| StoreError::Corrupt(format!("grant source {:?}", r.source)))?,
            organization_id: r.organization_id,
            user_id: r.user_id,
            role_id: r.role_id,
            connector_id: Some(r.connector_id).filter(|c| !c.is_empty()),
            mapping_rule: Some(r.mapping_rule).filter(|c| !c.is_empty()),
        })
    }
}

// ---- roles (the organization template) ----

/// Creates the role or updates its description; roles are identified by name.
pub async fn upsert_role(conn: &mut AnyConnection, name: &str, description: &str) -> Result<Role> {
    sqlx::query(
        "INSERT INTO organization_roles (id, name, description, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET description = excluded.description",
    )
    .bind(new_id())
    .bind(name)
    .bind(description)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    role_by_name(conn, name)
        .await?
        .ok_or(StoreError::NotFound("role"))
}

pub async fn role_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Role>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, created_at FROM organization_roles WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

pub async fn list_roles(conn: &mut AnyConnection) -> Result<Vec<Role>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, created_at FROM organization_roles ORDER BY name",
    )
    .fetch_all(conn)
    .await?)
}

// ---- organizations ----

/// What defines an organization's JIT behaviour; replaced as a whole by [`upsert`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrganizationSpec {
    pub name: String,
    pub description: String,
    pub jit_email_domains: Vec<String>,
    pub jit_connectors: Vec<String>,
    pub default_roles: Vec<String>,
}

/// Creates or updates the organization named `spec.name` (organizations are identified by
/// name in `apply` files) and replaces its JIT settings. Returns the organization.
pub async fn upsert(conn: &mut AnyConnection, spec: &OrganizationSpec) -> Result<Organization> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO organizations (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at",
    )
    .bind(new_id())
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let (id,): (String,) = sqlx::query_as("SELECT id FROM organizations WHERE name = $1")
        .bind(&spec.name)
        .fetch_one(&mut *conn)
        .await?;
    for table in [
        "organization_jit_email_domains",
        "organization_jit_connectors",
        "organization_default_roles",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE organization_id = $1"))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
    }
    for d in &spec.jit_email_domains {
        sqlx::query("INSERT INTO organization_jit_email_domains (organization_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(d)
            .execute(&mut *conn)
            .await?;
    }
    for c in &spec.jit_connectors {
        sqlx::query("INSERT INTO organization_jit_connectors (organization_id, connector_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(c)
            .execute(&mut *conn)
            .await
            .map_err(|e| foreign_key_to_not_found(e, "JIT connector"))?;
    }
    for r in &spec.default_roles {
        sqlx::query("INSERT INTO organization_default_roles (organization_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(r)
            .execute(&mut *conn)
            .await
            .map_err(|e| foreign_key_to_not_found(e, "default role"))?;
    }
    get(conn, &id)
        .await?
        .ok_or(StoreError::NotFound("organization"))
}

fn foreign_key_to_not_found(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what),
        _ => StoreError::Db(e),
    }
}

async fn column_list(conn: &mut AnyConnection, sql: &str, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(sql).bind(id).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

async fn complete(conn: &mut AnyConnection, r: OrgRow) -> Result<Organization> {
    let jit_email_domains = column_list(
        conn,
        "SELECT domain FROM organization_jit_email_domains WHERE organization_id = $1 ORDER BY domain",
        &r.id,
    )
    .await?;
    let jit_connectors = column_list(
        conn,
        "SELECT connector_id FROM organization_jit_connectors WHERE organization_id = $1 ORDER BY connector_id",
        &r.id,
    )
    .await?;
    let default_roles = column_list(
        conn,
        "SELECT role_id FROM organization_default_roles WHERE organization_id = $1 ORDER BY role_id",
        &r.id,
    )
    .await?;
    Ok(Organization {
        id: r.id,
        name: r.name,
        description: r.description,
        jit_email_domains,
        jit_connectors,
        default_roles,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

const ORG_COLUMNS: &str = "id, name, description, created_at, updated_at";

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Organization>> {
    let row: Option<OrgRow> = sqlx::query_as(&format!(
        "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Some(complete(conn, r).await?)),
        None => Ok(None),
    }
}

pub async fn get_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Organization>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some((id,)) => get(conn, &id).await,
        None => Ok(None),
    }
}

async fn get_many(
    conn: &mut AnyConnection,
    sql: &str,
    binds: &[String],
) -> Result<Vec<Organization>> {
    let mut q = sqlx::query_as::<_, OrgRow>(sql);
    for b in binds {
        q = q.bind(b.clone());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(complete(conn, r).await?);
    }
    Ok(out)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Organization>> {
    get_many(
        conn,
        &format!("SELECT {ORG_COLUMNS} FROM organizations ORDER BY name"),
        &[],
    )
    .await
}

/// Organizations that enabled JIT for this enterprise connector.
pub async fn with_jit_connector(
    conn: &mut AnyConnection,
    connector_id: &str,
) -> Result<Vec<Organization>> {
    get_many(
        conn,
        &format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id IN \
             (SELECT organization_id FROM organization_jit_connectors WHERE connector_id = $1) ORDER BY name"
        ),
        &[connector_id.to_string()],
    )
    .await
}

/// Organizations whose JIT email domains match the normalized `domain` (exactly or by a
/// `*.` pattern): email-domain JIT joins every one of them.
pub async fn with_jit_email_domain(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Vec<Organization>> {
    let candidates = crate::address::covering_patterns(domain);
    get_many(
        conn,
        &format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id IN \
             (SELECT organization_id FROM organization_jit_email_domains WHERE domain IN ({})) ORDER BY name",
            placeholders(1, candidates.len())
        ),
        &candidates,
    )
    .await
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}

// ---- memberships and grants ----

/// Makes the user a member; returns true when the membership is new.
pub async fn ensure_membership(
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO organization_memberships (organization_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn is_member(
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT user_id FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Organization ids the user belongs to.
pub async fn memberships_of(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<String>> {
    column_list(
        conn,
        "SELECT organization_id FROM organization_memberships WHERE user_id = $1 ORDER BY organization_id",
        user_id,
    )
    .await
}

pub async fn remove_membership(
    conn: &mut AnyConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(organization_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Adds the grant (the user must be a member); returns true when it is new.
pub async fn grant_role(conn: &mut AnyConnection, g: &RoleGrant) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO organization_role_grants (organization_id, user_id, role_id, source, connector_id, mapping_rule, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&g.organization_id)
    .bind(&g.user_id)
    .bind(&g.role_id)
    .bind(g.source.as_str())
    .bind(g.connector_id.clone().unwrap_or_default())
    .bind(g.mapping_rule.clone().unwrap_or_default())
    .bind(now_ms())
    .execute(conn)
    .await
    .map_err(|e| foreign_key_to_not_found(e, "membership or role"))?;
    Ok(done.rows_affected() > 0)
}

/// Removes exactly this grant (same source, connector and rule); returns true if it existed.
pub async fn revoke_grant(conn: &mut AnyConnection, g: &RoleGrant) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM organization_role_grants WHERE organization_id = $1 AND user_id = $2 AND role_id = $3 \
         AND source = $4 AND connector_id = $5 AND mapping_rule = $6",
    )
    .bind(&g.organization_id)
    .bind(&g.user_id)
    .bind(&g.role_id)
    .bind(g.source.as_str())
    .bind(g.connector_id.clone().unwrap_or_default())
    .bind(g.mapping_rule.clone().unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn grants_of(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<RoleGrant>> {
    let rows: Vec<GrantRow> = sqlx::query_as(
        "SELECT organization_id, user_id, role_id, source, connector_id, mapping_rule FROM organization_role_grants \
         WHERE user_id = $1 ORDER BY organization_id, role_id, source, connector_id, mapping_rule",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(RoleGrant::try_from).collect()
}
