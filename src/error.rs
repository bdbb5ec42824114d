//! One error type for the HTTP layer, with two renderers (kanidm's pattern): JSON for the
//! management API and protocol endpoints, an HTML page for people. Handlers return
//! `AppError`; its `IntoResponse` only records what went wrong in the response, and the
//! request middleware in [`crate::http`] renders it, because only it knows the request id
//! and whether the caller wants JSON.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or failed a check. `code` is the precise, stable reason.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The request conflicts with the object's current state; `code` is the precise reason.
    #[error("{message}")]
    StateConflict { code: &'static str, message: String },
    #[error("too many requests; slow down and try again")]
    TooManyRequests,
    #[error("{0}")]
    Unavailable(String),
    /// The database cannot serve right now ([`StoreError::is_unavailable`]): 503 with
    /// `Retry-After`, so people and proxies know that trying again will work.
    #[error("ssogate cannot reach its database right now. Nothing was changed; please try again in a moment.")]
    DatabaseUnavailable,
    /// Anything unexpected. The cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The `Retry-After` of every 503: long enough for a database restart to be noticed
/// (a pooled connection is re-tested on its next use), short enough for a person.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The reason code of a request that failed because the database could not serve.
pub const DATABASE_UNAVAILABLE: &str = "database_unavailable";

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::StateConflict {
            code,
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::StateConflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::DatabaseUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::StateConflict { code, .. } => code,
            AppError::Unauthorized => "unauthorized",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::DatabaseUnavailable => DATABASE_UNAVAILABLE,
            AppError::Internal(_) => "internal",
        }
    }

    /// What the person or client is told (internal causes are not).
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Something went wrong on our side. Please try again.".into(),
            other => other.to_string(),
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest { .. } => "Sign-in could not be completed",
            AppError::Forbidden { .. } => "Access denied",
            AppError::Unauthorized => "Please sign in",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) | AppError::StateConflict { .. } => "Conflict",
            AppError::TooManyRequests => "Too many attempts",
            AppError::Unavailable(_) | AppError::DatabaseUnavailable => "Temporarily unavailable",
            AppError::Internal(_) => "Something went wrong",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AppError::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => AppError::NotFound(what.to_string()),
            StoreError::Capacity => AppError::Unavailable(StoreError::Capacity.to_string()),
            other if other.is_unavailable() => {
                // The cause is logged here: the person only learns that it will pass.
                tracing::error!(error = %other, "database unavailable");
                AppError::DatabaseUnavailable
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// What the middleware needs to render an error; carried in the response extensions.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub message: String,
    /// Logged, never shown.
    #[serde(skip)]
    pub internal: Option<String>,
    /// Sent as `Retry-After` (seconds).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let info = ErrorInfo {
            status: self.status(),
            code: self.code(),
            title: self.title(),
            message: self.public_message(),
            internal: match &self {
                AppError::Internal(cause) => Some(cause.clone()),
                _ => None,
            },
            retry_after_secs: (self.status() == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(RETRY_AFTER_SECS),
        };
        let mut resp = (info.status, info.message.clone()).into_response();
        resp.extensions_mut().insert(info);
        resp
    }
}
