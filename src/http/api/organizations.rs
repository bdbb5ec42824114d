//! `/api/v1/organizations` and `/api/v1/roles` (the organization template).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::admin::{self, organizations::OrganizationInput, organizations::RoleInput};
use crate::app::AppState;
use crate::error::AppError;
use crate::http::RequestId;
use crate::store::organizations as orgs;
use crate::store::StoreError;

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
    rid: RequestId,
    caller: ApiCaller,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> Result<Json<Value>, AppError> {
    let mut tx = state.store.begin().await?;
    let org = admin::organizations::save(&mut tx, &input, &caller.admin(&rid)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(json!(org)))
}

pub async fn delete(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.store.begin().await?;
    admin::organizations::delete(&mut tx, &id, &caller.admin(&rid)).await?;
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
    rid: RequestId,
    caller: ApiCaller,
    ApiJson(input): ApiJson<RoleInput>,
) -> Result<Json<Value>, AppError> {
    let mut tx = state.store.begin().await?;
    let role = admin::organizations::save_role(&mut tx, &input, &caller.admin(&rid)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(json!(role)))
}
