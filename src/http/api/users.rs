//! `/api/v1/users/{id}/suspend` and `/unsuspend`. Suspending ends every session of the
//! user in the same transaction; forward-auth on this instance forgets them at once,
//! on other instances within `forward_auth.cache_ttl_secs`.
//!
//! `/api/v1/users/{id}/identities/relink`: the administrator moves the account's identity
//! of a connector to the subject the IdP now asserts (after a `subject_changed_for_email`
//! refusal); the account's sessions end like a suspension's.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::admin;
use crate::app::AppState;
use crate::error::AppError;
use crate::http::RequestId;
use crate::provisioning::{relink_identity, RelinkError, RelinkRequest, Relinked};

pub async fn suspend(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let ended =
        admin::users::suspend(&state.store, &state.gateway, &id, &caller.admin(&rid)).await?;
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
    admin::users::unsuspend(&state.store, &id, &caller.admin(&rid)).await?;
    Ok(Json(json!({ "user_id": id, "suspended": false })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelinkBody {
    pub connector: String,
    /// The subject the IdP now asserts for the account's email.
    pub subject: String,
    /// Only when the account holds several identities of the connector.
    #[serde(default)]
    pub previous_subject: Option<String>,
}

pub async fn relink(
    State(state): State<AppState>,
    rid: RequestId,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RelinkBody>,
) -> Result<Json<Relinked>, AppError> {
    let req = RelinkRequest {
        user_id: id,
        connector_id: body.connector,
        subject: body.subject,
        previous_subject: body.previous_subject,
    };
    let done = relink_identity(&state.store, &req, &caller.actor(), Some(rid.0))
        .await
        .map_err(|e| match e {
            RelinkError::SubjectMissing => AppError::bad_request("subject_missing", e.to_string()),
            RelinkError::NotFound(what) => AppError::NotFound(what.into()),
            RelinkError::NotLinked => AppError::conflict("identity_not_linked", e.to_string()),
            RelinkError::PreviousSubjectRequired => {
                AppError::conflict("previous_subject_required", e.to_string())
            }
            RelinkError::SubjectAlreadyLinked => {
                AppError::conflict("subject_already_linked", e.to_string())
            }
            RelinkError::Store(s) => s.into(),
        })?;
    // The sessions of whoever signed in under the previous subject ended with the move.
    state.gateway.forget_user(&done.user_id);
    Ok(Json(done))
}
