//! `GET /api/v1/lint`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use crate::app::AppState;
use crate::error::AppError;
use crate::lint::lint_store;

pub async fn lint(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let warnings = lint_store(&mut conn).await?;
    Ok(Json(json!({ "warnings": warnings })))
}
