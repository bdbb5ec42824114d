//! `/api/v1/organizations` and `/api/v1/roles` (the organization template).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::address::normalize_domain;
use crate::app::AppState;
use crate::apply::{OrganizationFileSpec, RoleSpec};
use crate::connectors::Connector;
use crate::error::AppError;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::organizations::{self as orgs, OrganizationSpec};
use crate::store::{connectors, StoreError};

pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    Ok(Json(
        json!({ "organizations": orgs::list(&mut conn).await? }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let org = orgs::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("organization".into()))?;
    Ok(Json(json!(org)))
}

/// Creates or updates the organization named in the body (JIT settings replaced whole).
pub async fn upsert(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(spec): ApiJson<OrganizationFileSpec>,
) -> Result<Json<Value>, AppError> {
    let invalid = |m: String| AppError::bad_request("organization_invalid", m);
    if spec.name.trim().is_empty() {
        return Err(invalid("name must not be empty".into()));
    }
    let mut domains = Vec::new();
    for d in &spec.jit_email_domains {
        domains.push(
            normalize_domain(d).map_err(|_| invalid(format!("{d:?} is not a valid domain")))?,
        );
    }
    let mut tx = state.store.begin().await?;
    let mut role_ids = Vec::new();
    for name in &spec.default_roles {
        let role = orgs::role_by_name(&mut tx, name).await?.ok_or_else(|| {
            invalid(format!(
                "default role {name:?} is not a role of the organization template"
            ))
        })?;
        role_ids.push(role.id);
    }
    for c in &spec.jit_connectors {
        let rec = connectors::get(&mut tx, c)
            .await?
            .ok_or_else(|| invalid(format!("JIT connector {c:?} does not exist")))?;
        if !Connector::from_record(rec).is_ok_and(|c| c.kind.is_enterprise()) {
            return Err(invalid(format!(
                "JIT connector {c:?} is not an enterprise SSO connector"
            )));
        }
    }
    let org = orgs::upsert(
        &mut tx,
        &OrganizationSpec {
            name: spec.name.clone(),
            description: spec.description.clone(),
            jit_email_domains: domains,
            jit_connectors: spec.jit_connectors.clone(),
            default_roles: role_ids,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "organization.updated".into(),
            actor: Some(caller.actor()),
            organization_id: Some(org.id.clone()),
            data: json!({ "name": org.name, "jit_email_domains": org.jit_email_domains, "jit_connectors": org.jit_connectors }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(json!(org)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.store.begin().await?;
    if !orgs::delete(&mut tx, &id).await? {
        return Err(AppError::NotFound("organization".into()));
    }
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "organization.deleted".into(),
            actor: Some(caller.actor()),
            organization_id: Some(id),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_roles(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    Ok(Json(json!({ "roles": orgs::list_roles(&mut conn).await? })))
}

pub async fn upsert_role(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(spec): ApiJson<RoleSpec>,
) -> Result<Json<Value>, AppError> {
    if spec.name.trim().is_empty() {
        return Err(AppError::bad_request(
            "role_invalid",
            "name must not be empty",
        ));
    }
    let mut tx = state.store.begin().await?;
    let role = orgs::upsert_role(&mut tx, &spec.name, &spec.description).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "role.updated".into(),
            actor: Some(caller.actor()),
            data: json!({ "name": role.name }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(json!(role)))
}
