//! `/api/v1/users/{id}/suspend` and `/unsuspend`. Suspending ends every session of the
//! user in the same transaction; forward-auth on this instance forgets them at once,
//! on other instances within `forward_auth.cache_ttl_secs`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use crate::app::AppState;
use crate::error::AppError;
use crate::gateway;
use crate::http::RequestId;

pub async fn suspend(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let ended = gateway::suspend_user(
        &state.store,
        &state.gateway,
        &id,
        &caller.actor(),
        Some(rid.0),
    )
    .await?;
    Ok(Json(
        json!({ "user_id": id, "suspended": true, "sessions_ended": ended }),
    ))
}

pub async fn unsuspend(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    gateway::unsuspend_user(&state.store, &id, &caller.actor(), Some(rid.0)).await?;
    Ok(Json(json!({ "user_id": id, "suspended": false })))
}
