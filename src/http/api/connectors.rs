//! `/api/v1/connectors`: the same upsert as `ssogate apply`, one connector at a time.
//! Secrets are write-only: responses never contain them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::app::AppState;
use crate::apply::{prepare_connector, ApplyContext, ConnectorSpec};
use crate::error::AppError;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors::{self as store, ConnectorRecord};

fn view(state: &AppState, c: &ConnectorRecord) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if c.kind == "saml" {
        let base = state.public_url.trim_end_matches('/');
        v["sp_metadata_url"] = json!(format!("{base}/saml/{}/metadata", c.id));
        v["acs_url"] = json!(format!("{base}/saml/{}/acs", c.id));
    }
    if c.kind == "oidc" {
        v["redirect_uri"] = json!(format!(
            "{}/oidc/{}/callback",
            state.public_url.trim_end_matches('/'),
            c.id
        ));
    }
    v["has_secrets"] = json!(c.secrets.is_some());
    v
}

pub async fn list(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let all = store::list(&mut conn).await?;
    Ok(Json(
        json!({ "connectors": all.iter().map(|c| view(&state, c)).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut conn = state.store.read().await?;
    let c = store::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?;
    Ok(Json(view(&state, &c)))
}

pub async fn put(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(mut spec): ApiJson<ConnectorSpec>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if spec.id.is_empty() {
        spec.id = id.clone();
    }
    if spec.id != id {
        return Err(AppError::bad_request(
            "id_mismatch",
            "the body's id differs from the path's",
        ));
    }
    let existing = {
        let mut conn = state.store.read().await?;
        store::get(&mut conn, &id).await?
    };
    let ctx = ApplyContext {
        store: &state.store,
        master_key: &state.master_key,
        http: &state.http,
        base_dir: None,
        strict: false,
    };
    let rec = prepare_connector(&spec, existing.as_ref(), &ctx)
        .await
        .map_err(|e| AppError::bad_request("connector_invalid", e.to_string()))?;
    let mut tx = state.store.begin().await?;
    crate::apply::check_mapping_targets(&mut tx, &id, &spec.role_mappings)
        .await
        .map_err(|e| AppError::bad_request("connector_invalid", e.to_string()))?;
    let created = store::upsert(&mut tx, &rec).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: if created {
                "connector.created".into()
            } else {
                "connector.updated".into()
            },
            actor: Some(caller.actor()),
            connector_id: Some(id.clone()),
            data: json!({ "kind": rec.kind, "domains": rec.domains }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let mut conn = state.store.read().await?;
    let saved = store::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(view(&state, &saved)),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let mut tx = state.store.begin().await?;
    if !store::delete(&mut tx, &id).await? {
        return Err(AppError::NotFound("connector".into()));
    }
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "connector.deleted".into(),
            actor: Some(caller.actor()),
            connector_id: Some(id),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/connectors/{id}/rotate-sp-key`: a new SP key pair for a SAML connector.
/// The new pair signs AuthnRequests and is published in the SP metadata at once (give
/// the IdP the new certificate); the previous private key keeps decrypting assertions
/// encrypted to the old certificate until the next rotation.
pub async fn rotate_sp_key(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    use crate::apply::ConnectorSecrets;
    use crate::connectors::saml::keys::SpKeyPair;
    use crate::connectors::settings::ConnectorSettings;
    let mut rec = {
        let mut conn = state.store.read().await?;
        store::get(&mut conn, &id)
            .await?
            .ok_or_else(|| AppError::NotFound("connector".into()))?
    };
    let mut settings: ConnectorSettings =
        serde_json::from_value(rec.config.clone()).map_err(AppError::internal)?;
    let Some(saml) = settings.saml.as_mut() else {
        return Err(AppError::bad_request(
            "connector_not_saml",
            "only SAML connectors have an SP key pair",
        ));
    };
    let pair = SpKeyPair::generate(&format!("ssogate SP {id}")).map_err(AppError::internal)?;
    let mut secrets =
        ConnectorSecrets::open(&rec, &state.master_key).map_err(AppError::internal)?;
    // The current key stays as the previous one, so assertions the IdP still encrypts to
    // the old certificate decrypt until the next rotation.
    secrets.previous_sp_private_key_pem = secrets.sp_private_key_pem.take();
    secrets.sp_private_key_pem = Some(pair.private_key_pem.clone());
    saml.sp_certificate_pem = pair.certificate_pem.clone();
    rec.config = serde_json::to_value(&settings).map_err(AppError::internal)?;
    rec.secrets = Some(
        secrets
            .seal(&id, &state.master_key)
            .map_err(AppError::internal)?,
    );
    let mut tx = state.store.begin().await?;
    store::upsert(&mut tx, &rec).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "connector.sp_key_rotated".into(),
            actor: Some(caller.actor()),
            connector_id: Some(id.clone()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(Json(
        json!({ "connector": id, "sp_certificate_pem": pair.certificate_pem }),
    ))
}
