//! The management API (`/api/v1/…`): JSON, `Authorization: Bearer <api key>` (see
//! `ssogate api-key create`), described by `/api/v1/openapi.json`. Handlers extract, call
//! the domain layer, and answer JSON; errors are JSON with the request id.

pub mod apps;
pub mod audit;
pub mod auth;
pub mod connectors;
pub mod dry_run;
pub mod lint;
pub mod openapi;
pub mod organizations;
pub mod users;

use axum::extract::{FromRequest, Request};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::AppError;

/// A JSON body whose rejections (malformed, unknown fields, wrong content type) are the
/// API's JSON error (400 `invalid_json`), not axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| AppError::bad_request("invalid_json", e.body_text()))
    }
}

impl From<crate::admin::AdminError> for AppError {
    fn from(e: crate::admin::AdminError) -> Self {
        use crate::admin::AdminError as E;
        match e {
            E::Invalid { code, message } => AppError::bad_request(code, message),
            // Only apply files name files; the API refuses paths before reading any.
            E::Read { .. } => {
                AppError::bad_request(crate::admin::connectors::INVALID, e.to_string())
            }
            E::NotFound(what) => AppError::NotFound(what.into()),
            E::Exists(message) => AppError::Conflict(message),
            E::Conflict { code, message } => AppError::conflict(code, message),
            E::Internal(m) => AppError::Internal(m),
            E::Store(s) => s.into(),
        }
    }
}

/// Routes under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/connectors", get(connectors::list))
        .route(
            "/connectors/{id}",
            get(connectors::get)
                .put(connectors::put)
                .delete(connectors::delete),
        )
        .route(
            "/connectors/{id}/rotate-sp-key",
            post(connectors::rotate_sp_key),
        )
        .route(
            "/connectors/{id}/sp-key/stage",
            post(connectors::stage_sp_key),
        )
        .route(
            "/connectors/{id}/sp-key/activate",
            post(connectors::activate_sp_key),
        )
        .route(
            "/organizations",
            get(organizations::list).post(organizations::upsert),
        )
        .route(
            "/organizations/{id}",
            get(organizations::get).delete(organizations::delete),
        )
        .route(
            "/roles",
            get(organizations::list_roles).post(organizations::upsert_role),
        )
        .route("/audit-events", get(audit::query))
        .route("/lint", get(lint::lint))
        .route("/signin/dry-run", post(dry_run::dry_run))
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{name}",
            get(apps::get).put(apps::put).delete(apps::delete),
        )
        .route("/users/{id}/suspend", post(users::suspend))
        .route("/users/{id}/unsuspend", post(users::unsuspend))
        .route("/users/{id}/identities/relink", post(users::relink))
}
