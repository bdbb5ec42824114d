//! API-key authentication: the `ApiCaller` extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::AppError;
use crate::store::api_keys;

/// A caller that presented a live API key.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub key_id: String,
    pub key_name: String,
}

impl ApiCaller {
    /// The audit `actor` string.
    pub fn actor(&self) -> String {
        format!("api-key:{}", self.key_id)
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        let mut conn = state.store.write().await?;
        let key = api_keys::verify(&mut conn, presented)
            .await?
            .ok_or(AppError::Unauthorized)?;
        api_keys::record_use(&mut conn, &key.id).await?;
        Ok(ApiCaller {
            key_id: key.id,
            key_name: key.name,
        })
    }
}
