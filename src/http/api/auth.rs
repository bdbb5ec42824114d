//! The caller of the management API: a live `sgk_` key from `Authorization: Bearer`.
//! Rejections are the API's JSON error (401).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::AppError;
use crate::store::api_keys;

#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub key_id: String,
}

impl ApiCaller {
    /// How the caller appears in audit events.
    pub fn actor(&self) -> String {
        format!("api-key:{}", self.key_id)
    }

    /// The caller as the admin layer records it, with the request it made.
    pub fn admin(&self, rid: &crate::http::RequestId) -> crate::admin::Actor {
        crate::admin::Actor {
            name: self.actor(),
            request_id: Some(rid.0.clone()),
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        let mut conn = state.store.read().await?;
        let key = api_keys::verify(&mut conn, presented)
            .await?
            .ok_or(AppError::Unauthorized)?;
        drop(conn);
        if let Ok(mut w) = state.store.write().await {
            let _ = api_keys::record_use(&mut w, &key.id).await;
        }
        Ok(ApiCaller { key_id: key.id })
    }
}
