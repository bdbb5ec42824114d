//! The management API (`/api/v1/…`, JSON, `Authorization: Bearer <api key>`).

pub mod apps;
pub mod auth;
pub mod users;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Routes under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{name}",
            get(apps::get).put(apps::put).delete(apps::delete),
        )
        .route("/users/{id}/suspend", post(users::suspend))
        .route("/users/{id}/unsuspend", post(users::unsuspend))
}
