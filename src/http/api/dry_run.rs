//! `POST /api/v1/signin/dry-run`: what a sign-in with this profile would do, decided by
//! the same function a real sign-in uses ([`crate::provisioning::plan_sign_in`]), and
//! nothing written.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::app::AppState;
use crate::connectors::{self, ExternalProfile};
use crate::error::AppError;
use crate::provisioning::plan_sign_in;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    pub connector: String,
    /// What the IdP would say: subject, email, email_verified, names, groups, and the
    /// raw claims / SAML attributes (for mapping rules on other claims).
    pub profile: ExternalProfile,
}

/// The engine's decision and every provisioning step for this profile — link or create,
/// organizations, roles granted and revoked with the rule behind each, fields that would
/// change — computed from the live data. Nothing is written.
pub async fn dry_run(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(req): ApiJson<DryRunRequest>,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let rec = connectors::load(&mut conn, &req.connector)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let mut profile = req.profile;
    profile.connector = rec.id.clone();
    let (_, decision) = plan_sign_in(&mut conn, &rec, &profile).await?;
    let refused = decision
        .refused()
        .map(|r| json!({ "code": r.code(), "message": r.message() }));
    Ok(Json(
        json!({ "connector": rec.id, "decision": decision, "refused": refused }),
    ))
}
