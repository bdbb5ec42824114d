//! Organizations and the roles of the organization template: one validation, one write,
//! one audit event per change, for the API and `ssogate apply` alike.

use serde::Deserialize;
use serde_json::json;

use super::{normalize_domains, Actor, AdminError};
use crate::connectors::Connector;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as connector_store;
use crate::store::organizations::{self as org_store, Organization, OrganizationSpec, Role};
use crate::store::AnyConnection;

/// The reason code of a refused organization.
pub const INVALID: &str = "organization_invalid";
/// The reason code of a refused role.
pub const ROLE_INVALID: &str = "role_invalid";

/// An organization as an administrator writes it (an `[[organizations]]` table, or the
/// API's JSON body). The JIT settings are replaced whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub jit_email_domains: Vec<String>,
    #[serde(default)]
    pub jit_connectors: Vec<String>,
    /// Role names from the organization template.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

/// A role of the organization template (`[[roles]]`, or the API's JSON body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Validates and writes an organization (created, or updated by name) and records
/// `organization.updated`, all in `conn` (the caller's transaction).
pub async fn save(
    conn: &mut AnyConnection,
    input: &OrganizationInput,
    actor: &Actor,
) -> Result<Organization, AdminError> {
    let who = format!("organization {:?}", input.name);
    let invalid = |m: String| AdminError::invalid(INVALID, format!("{who}: {m}"));
    if input.name.trim().is_empty() {
        return Err(AdminError::invalid(
            INVALID,
            "organization: name must not be empty",
        ));
    }
    let domains = normalize_domains(&input.jit_email_domains, &who, INVALID)?;
    let mut role_ids = Vec::new();
    for name in &input.default_roles {
        let role = org_store::role_by_name(conn, name).await?.ok_or_else(|| {
            invalid(format!(
                "default role {name:?} is not a role of the organization template"
            ))
        })?;
        role_ids.push(role.id);
    }
    // JIT by connector means "whoever this IdP vouches for is ours": only an enterprise
    // connector (one IdP per organization) can say that, never a social or email one.
    for c in &input.jit_connectors {
        let rec = connector_store::get(conn, c)
            .await?
            .ok_or_else(|| invalid(format!("JIT connector {c:?} does not exist")))?;
        if !Connector::from_record(rec).is_ok_and(|c| c.kind.is_enterprise()) {
            return Err(invalid(format!(
                "JIT connector {c:?} is not an enterprise SSO connector"
            )));
        }
    }
    let org = org_store::upsert(
        conn,
        &OrganizationSpec {
            name: input.name.clone(),
            description: input.description.clone(),
            jit_email_domains: domains,
            jit_connectors: input.jit_connectors.clone(),
            default_roles: role_ids,
        },
    )
    .await?;
    audit::record(
        conn,
        &NewAuditEvent {
            kind: "organization.updated".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            organization_id: Some(org.id.clone()),
            data: json!({ "name": org.name, "jit_email_domains": org.jit_email_domains, "jit_connectors": org.jit_connectors }),
            ..Default::default()
        },
    )
    .await?;
    Ok(org)
}

/// Deletes an organization and records `organization.deleted`.
pub async fn delete(conn: &mut AnyConnection, id: &str, actor: &Actor) -> Result<(), AdminError> {
    if !org_store::delete(conn, id).await? {
        return Err(AdminError::NotFound("organization"));
    }
    audit::record(
        conn,
        &NewAuditEvent {
            kind: "organization.deleted".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            organization_id: Some(id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Writes a role of the organization template (by name) and records `role.updated`.
pub async fn save_role(
    conn: &mut AnyConnection,
    input: &RoleInput,
    actor: &Actor,
) -> Result<Role, AdminError> {
    if input.name.trim().is_empty() {
        return Err(AdminError::invalid(
            ROLE_INVALID,
            "role: name must not be empty",
        ));
    }
    let role = org_store::upsert_role(conn, &input.name, &input.description).await?;
    audit::record(
        conn,
        &NewAuditEvent {
            kind: "role.updated".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            data: json!({ "name": role.name }),
            ..Default::default()
        },
    )
    .await?;
    Ok(role)
}
