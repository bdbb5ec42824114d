//! `/api/v1/connectors`: the same upsert as `ssogate apply`, one connector at a time.
//! Secrets are write-only: responses never contain them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::admin::{self, connectors::ConnectorInput, connectors::Sources};
use crate::app::AppState;
use crate::connectors::{signin, Connector};
use crate::error::AppError;
use crate::http::RequestId;
use crate::store::connectors::{self as store, ConnectorRecord};

fn view(state: &AppState, c: &ConnectorRecord) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Ok(connector) = Connector::from_record(c.clone()) {
        for (name, url) in signin::endpoints(connector.kind, &c.id, &state.public_url) {
            v[name] = json!(url);
        }
    }
    v["has_secrets"] = json!(c.secrets.is_some());
    v
}

pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let all = store::list(&mut conn).await?;
    Ok(Json(
        json!({ "connectors": all.iter().map(|c| view(&state, c)).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let c = store::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?;
    Ok(Json(view(&state, &c)))
}

pub async fn put(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(mut spec): ApiJson<ConnectorInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if spec.id.is_empty() {
        spec.id = id.clone();
    }
    if spec.id != id {
        return Err(AppError::bad_request(
            "id_mismatch",
            "the body's id differs from the path's",
        ));
    }
    let existing = {
        let mut conn = state.store.read().await?;
        store::get(&mut conn, &id).await?
    };
    let sources = Sources {
        master_key: &state.master_key,
        http: &state.http,
        base_dir: None,
    };
    let rec = admin::connectors::prepare(&spec, existing.as_ref(), &sources).await?;
    let mut tx = state.store.begin().await?;
    admin::connectors::check_mapping_targets(&mut tx, &id, &spec.role_mappings).await?;
    let created =
        admin::connectors::save(&mut tx, &rec, existing.as_ref(), &caller.admin(&rid)).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let mut conn = state.store.read().await?;
    let saved = store::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view(&state, &saved)),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.store.begin().await?;
    admin::connectors::delete(&mut tx, &id, &caller.admin(&rid)).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/connectors/{id}/rotate-sp-key`: a new SP key pair at once (see
/// [`admin::sp_keys::rotate`]).
pub async fn rotate_sp_key(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let pem =
        admin::sp_keys::rotate(&state.store, &state.master_key, &caller.admin(&rid), &id).await?;
    Ok(Json(json!({ "connector": id, "sp_certificate_pem": pem })))
}

/// `POST /api/v1/connectors/{id}/sp-key/stage`: publishes the next SP certificate beside
/// the current one (see [`admin::sp_keys::stage`]).
pub async fn stage_sp_key(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let pem =
        admin::sp_keys::stage(&state.store, &state.master_key, &caller.admin(&rid), &id).await?;
    Ok(Json(
        json!({ "connector": id, "next_sp_certificate_pem": pem }),
    ))
}

/// `POST /api/v1/connectors/{id}/sp-key/activate`: the staged pair signs from now on;
/// 409 `sp_key_not_staged` without one (see [`admin::sp_keys::activate`]).
pub async fn activate_sp_key(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let pem =
        admin::sp_keys::activate(&state.store, &state.master_key, &caller.admin(&rid), &id).await?;
    Ok(Json(json!({ "connector": id, "sp_certificate_pem": pem })))
}
