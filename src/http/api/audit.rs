//! `GET /api/v1/audit-events`: filters (user, organization, type, request, time),
//! newest first, keyset-paginated with `before` = the `next` cursor of the last page.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use crate::app::AppState;
use crate::error::AppError;
use crate::store::audit::{self, AuditFilter};

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub request_id: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// Cursor `<occurred_at>.<id>` from a previous page's `next`.
    pub before: Option<String>,
    pub limit: Option<u32>,
}

pub async fn query(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, AppError> {
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => {
            let (at, id) = c.split_once('.').ok_or_else(|| {
                AppError::bad_request("cursor_invalid", "before: expected <time>.<id>")
            })?;
            Some((
                at.parse::<i64>()
                    .map_err(|_| AppError::bad_request("cursor_invalid", "before: bad time"))?,
                id.to_string(),
            ))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let filter = AuditFilter {
        user_id: q.user_id,
        organization_id: q.organization_id,
        kind: q.kind,
        request_id: q.request_id,
        since: q.since,
        until: q.until,
        before,
        limit,
    };
    let mut conn = state.store.read().await?;
    let events = audit::query(&mut conn, &filter).await?;
    let next = if events.len() as u32 == limit {
        events.last().map(|e| format!("{}.{}", e.occurred_at, e.id))
    } else {
        None
    };
    Ok(Json(json!({ "events": events, "next": next })))
}
