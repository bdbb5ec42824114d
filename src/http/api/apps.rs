//! `/api/v1/apps`: the downstream apps, the same definition as `[[apps]]` in apply files.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::ApiCaller;
use super::ApiJson;
use crate::admin;
use crate::app::AppState;
use crate::error::AppError;
use crate::gateway::apps::{self, AppInput, AppView};
use crate::http::RequestId;
use crate::store::apps as app_store;

async fn view(state: &AppState, name: &str) -> Result<Option<AppView>, AppError> {
    let mut conn = state.store.read().await?;
    let Some(rec) = app_store::get_by_name(&mut conn, name).await? else {
        return Ok(None);
    };
    Ok(apps::describe(&mut conn, vec![rec]).await?.pop())
}

pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Vec<AppView>>, AppError> {
    let mut conn = state.store.read().await?;
    let records = app_store::list(&mut conn).await?;
    Ok(Json(apps::describe(&mut conn, records).await?))
}

pub async fn get(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(name): Path<String>,
) -> Result<Json<AppView>, AppError> {
    view(&state, &name)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound("app".into()))
}

/// Writes the app (create or replace), audits it and reloads this instance's registry.
async fn save(
    state: &AppState,
    rid: &RequestId,
    caller: &ApiCaller,
    input: &AppInput,
    must_be_new: bool,
) -> Result<(AppView, bool), AppError> {
    let mut tx = state.store.begin().await?;
    let (rec, created) = admin::apps::save(&mut tx, input, must_be_new, &caller.admin(rid)).await?;
    let view = apps::describe(&mut tx, vec![rec])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("app vanished"))?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    state.gateway.reload_apps(&state.store).await?;
    Ok((view, created))
}

pub async fn create(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    ApiJson(input): ApiJson<AppInput>,
) -> Result<Response, AppError> {
    let (view, _) = save(&state, &rid, &caller, &input, true).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub async fn put(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<AppInput>,
) -> Result<Response, AppError> {
    if input.name != name {
        return Err(AppError::bad_request(
            "invalid_app",
            "the name in the body differs from the one in the URL",
        ));
    }
    let (view, created) = save(&state, &rid, &caller, &input, false).await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(view)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.store.begin().await?;
    admin::apps::delete(&mut tx, &name, &caller.admin(&rid)).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    state.gateway.reload_apps(&state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}
