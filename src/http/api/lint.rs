//! `GET /api/v1/lint` and `POST /api/v1/signin/dry-run`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::app::AppState;
use crate::connectors::{self, ExternalProfile};
use crate::error::AppError;
use crate::lint::lint_store;
use crate::provisioning::{connector_facts, load_facts, resolve_mappings};
use crate::signin::decide;

pub async fn lint(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let warnings = lint_store(&mut conn).await?;
    Ok(Json(json!({ "warnings": warnings })))
}

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
    let mut cfacts = connector_facts(&rec);
    cfacts.mappings = resolve_mappings(&mut conn, &rec).await?;
    let facts = load_facts(&mut conn, &cfacts, &profile).await?;
    let decision = decide(&cfacts, &profile, &facts);
    let refused = decision
        .refused()
        .map(|r| json!({ "code": r.code(), "message": r.message() }));
    Ok(Json(
        json!({ "connector": rec.id, "decision": decision, "refused": refused }),
    ))
}
