//! The management API: JSON, `Authorization: Bearer <api key>` (see `ssogate api-key
//! create`), described by `/api/v1/openapi.json`. Handlers extract, call the domain
//! layer, and answer JSON; errors are JSON with the request id.

pub mod audit;
pub mod auth;
pub mod connectors;
pub mod lint;
pub mod openapi;
pub mod organizations;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/connectors", get(connectors::list))
        .route(
            "/api/v1/connectors/{id}",
            get(connectors::get)
                .put(connectors::put)
                .delete(connectors::delete),
        )
        .route(
            "/api/v1/organizations",
            get(organizations::list).post(organizations::upsert),
        )
        .route(
            "/api/v1/organizations/{id}",
            get(organizations::get).delete(organizations::delete),
        )
        .route(
            "/api/v1/roles",
            get(organizations::list_roles).post(organizations::upsert_role),
        )
        .route("/api/v1/audit-events", get(audit::query))
        .route("/api/v1/lint", get(lint::lint))
        .route("/api/v1/signin/dry-run", post(lint::dry_run))
}
