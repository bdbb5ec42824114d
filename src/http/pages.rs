//! Pages for people.

use askama::Template;
use axum::response::{Html, IntoResponse};

use crate::error::AppError;

#[derive(Template)]
#[template(path = "home.html")]
struct Home;

pub async fn home() -> Result<impl IntoResponse, AppError> {
    Ok(Html(Home.render().map_err(AppError::internal)?))
}
