//! `/api/v1/connectors`: the same upsert as `ssogate apply`, one connector at a time.
//! Secrets are write-only: responses never contain them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::ApiCaller;
use super::ApiJson;
use crate::app::AppState;
use crate::apply::{prepare_connector, ApplyContext, ApplyError, ConnectorSpec};
use crate::connectors::saml::keys::SpKeyPair;
use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::settings::SamlSettings;
use crate::connectors::{signin, trust_anchor, Connector};
use crate::error::AppError;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors::{self as store, ConnectorRecord};

fn view(state: &AppState, c: &ConnectorRecord) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Ok(connector) = Connector::from_record(c.clone()) {
        for (name, url) in signin::endpoints(connector.kind, &c.id, &state.public_url) {
            v[name] = json!(url);
        }
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
        .map_err(|e| match e {
            ApplyError::InsecureTrustAnchor { .. } => {
                AppError::bad_request(trust_anchor::CODE, e.to_string())
            }
            e => AppError::bad_request("connector_invalid", e.to_string()),
        })?;
    let mut tx = state.store.begin().await?;
    if !store::unchanged_since(&mut tx, &id, existing.as_ref()).await? {
        return Err(AppError::conflict(
            "connector_changed",
            "the connector changed while this request was being prepared (for example an SP key was staged); send it again",
        ));
    }
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

/// A SAML connector and its opened secrets, read in `tx`.
async fn open_saml(
    state: &AppState,
    tx: &mut crate::store::AnyConnection,
    id: &str,
) -> Result<(Connector, ConnectorSecrets), AppError> {
    let rec = store::get_for_update(tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound("connector".into()))?;
    let connector = Connector::from_record(rec).map_err(AppError::internal)?;
    if connector.saml().is_none() {
        return Err(AppError::bad_request(
            "connector_not_saml",
            "only SAML connectors have an SP key pair",
        ));
    }
    let secrets =
        ConnectorSecrets::open(&connector.record, &state.master_key).map_err(AppError::internal)?;
    Ok((connector, secrets))
}

/// Writes the changed settings and secrets back and records `kind` (never a secret in
/// `data`).
#[allow(clippy::too_many_arguments)]
async fn save_saml(
    state: &AppState,
    tx: &mut crate::store::AnyConnection,
    caller: &ApiCaller,
    connector: &Connector,
    secrets: &ConnectorSecrets,
    kind: &str,
    data: Value,
) -> Result<(), AppError> {
    let mut rec = connector.to_record().map_err(AppError::internal)?;
    rec.secrets = Some(
        secrets
            .seal(&rec.id, &state.master_key)
            .map_err(AppError::internal)?,
    );
    store::upsert(tx, &rec).await?;
    audit::record(
        tx,
        &NewAuditEvent {
            kind: kind.into(),
            actor: Some(caller.actor()),
            connector_id: Some(rec.id.clone()),
            data,
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// SHA-256 of the certificate's DER, hex (to name a certificate in audit events).
fn certificate_sha256(pem: &str) -> Option<String> {
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .ok()?
        .to_der()
        .ok()?;
    Some(hex::encode(openssl::sha::sha256(&der)))
}

/// A new SP key pair, generated on the blocking pool: RSA key generation takes long
/// enough (seconds on a loaded machine, in debug builds) that on a runtime thread it
/// stalls other requests, among them one holding the database writer inside its
/// transaction, and concurrent key changes then time out waiting for the database.
async fn new_pair(id: &str) -> Result<SpKeyPair, AppError> {
    let subject = format!("ssogate SP {id}");
    tokio::task::spawn_blocking(move || SpKeyPair::generate(&subject))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(AppError::internal)
}

/// The shape of every SP key change: in one transaction, open the SAML connector (row
/// locked on PostgreSQL), let `change` mutate its SAML settings and secrets (it returns the
/// audit event's data and the answer), save, record `kind`, commit.
async fn change_sp_key(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
    kind: &str,
    change: impl FnOnce(&mut SamlSettings, &mut ConnectorSecrets) -> Result<(Value, Value), AppError>,
) -> Result<Json<Value>, AppError> {
    let mut tx = state.store.begin().await?;
    let (mut connector, mut secrets) = open_saml(state, &mut tx, id).await?;
    let saml = connector
        .settings
        .saml
        .as_mut()
        .ok_or_else(|| AppError::internal("not saml"))?;
    let (data, answer) = change(saml, &mut secrets)?;
    save_saml(state, &mut tx, caller, &connector, &secrets, kind, data).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(Json(answer))
}

/// `POST /api/v1/connectors/{id}/rotate-sp-key`: a new SP key pair for a SAML connector.
/// The new pair signs AuthnRequests and is published in the SP metadata at once (give
/// the IdP the new certificate); the previous private key keeps decrypting assertions
/// encrypted to the old certificate until the next rotation. A staged next pair is
/// dropped (the staged rollover is [`stage_sp_key`] then [`activate_sp_key`]).
pub async fn rotate_sp_key(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let pair = new_pair(&id).await?;
    change_sp_key(
        &state,
        &caller,
        &id,
        "connector.sp_key_rotated",
        |saml, secrets| {
            let dropped_staged = secrets.rotate_sp_key(pair.private_key_pem);
            saml.sp_certificate_pem = pair.certificate_pem.clone();
            saml.next_sp_certificate_pem = None;
            let data = if dropped_staged {
                json!({ "dropped_staged_key": true })
            } else {
                Value::Null
            };
            Ok((
                data,
                json!({ "connector": id, "sp_certificate_pem": pair.certificate_pem }),
            ))
        },
    )
    .await
}

/// `POST /api/v1/connectors/{id}/sp-key/stage`: generates the next SP key pair and
/// publishes its certificate in the SP metadata (for signing and encryption) next to the
/// current one. AuthnRequests are still signed with the current key; assertions
/// encrypted to either certificate (or to the previous one) decrypt. Staging again
/// replaces the staged pair.
pub async fn stage_sp_key(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let pair = new_pair(&id).await?;
    change_sp_key(
        &state,
        &caller,
        &id,
        "connector.sp_key_staged",
        |saml, secrets| {
            let replaced = secrets
                .next_sp_private_key_pem
                .replace(pair.private_key_pem)
                .is_some();
            let replaced_certificate = saml
                .next_sp_certificate_pem
                .replace(pair.certificate_pem.clone())
                .and_then(|pem| certificate_sha256(&pem));
            let data = json!({
                "next_certificate_sha256": certificate_sha256(&pair.certificate_pem),
                "replaced": replaced,
                "replaced_certificate_sha256": replaced_certificate,
            });
            Ok((
                data,
                json!({ "connector": id, "next_sp_certificate_pem": pair.certificate_pem }),
            ))
        },
    )
    .await
}

/// `POST /api/v1/connectors/{id}/sp-key/activate`: the staged pair becomes the current one
/// (it signs AuthnRequests from now on), the current one becomes the previous one
/// (decryption only, until the next rotation). 409 `sp_key_not_staged` without a staged
/// pair.
pub async fn activate_sp_key(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    change_sp_key(
        &state,
        &caller,
        &id,
        "connector.sp_key_activated",
        |saml, secrets| {
            let (Some(next_key), Some(next_certificate)) = (
                secrets.next_sp_private_key_pem.take(),
                saml.next_sp_certificate_pem.take(),
            ) else {
                return Err(AppError::conflict(
                    "sp_key_not_staged",
                    "no next SP key is staged; POST …/sp-key/stage first",
                ));
            };
            let previous_certificate =
                std::mem::replace(&mut saml.sp_certificate_pem, next_certificate);
            // The current key becomes the previous one (decryption only).
            secrets.rotate_sp_key(next_key);
            let current = &saml.sp_certificate_pem;
            let data = json!({
                "certificate_sha256": certificate_sha256(current),
                "previous_certificate_sha256": certificate_sha256(&previous_certificate),
            });
            Ok((
                data,
                json!({ "connector": id, "sp_certificate_pem": current }),
            ))
        },
    )
    .await
}
