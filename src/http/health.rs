//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::AppState;
use crate::error::AppError;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers a query. Any failure is "not ready" (503 with
/// `Retry-After`, reason `database_unavailable`): a load balancer then sends people to an
/// instance that can sign them in, and back here once the database answers again.
pub async fn readyz(State(state): State<AppState>) -> Result<(StatusCode, &'static str), AppError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        AppError::DatabaseUnavailable
    })?;
    Ok((StatusCode::OK, "ready"))
}
