//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::AppState;
use crate::error::AppError;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers a query.
pub async fn readyz(State(state): State<AppState>) -> Result<(StatusCode, &'static str), AppError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        AppError::Unavailable("database unreachable".into())
    })?;
    Ok((StatusCode::OK, "ready"))
}
