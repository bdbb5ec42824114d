//! The SP key pair of a SAML connector: rotate (a new pair at once), stage (publish the
//! next certificate beside the current one) and activate (the staged pair signs from now
//! on). Each change opens the connector in one transaction (its row locked on
//! PostgreSQL), changes its settings and sealed secrets together, and records its audit
//! event without any secret in it.

use serde_json::{json, Value};

use super::{Actor, AdminError};
use crate::connectors::saml::keys::SpKeyPair;
use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::settings::SamlSettings;
use crate::connectors::Connector;
use crate::secrets::MasterKey;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as store;
use crate::store::{AnyConnection, Store, StoreError};

/// A SAML connector and its opened secrets, read in `tx`.
async fn open_saml(
    master_key: &MasterKey,
    tx: &mut AnyConnection,
    id: &str,
) -> Result<(Connector, ConnectorSecrets), AdminError> {
    let rec = store::get_for_update(tx, id)
        .await?
        .ok_or_else(|| AdminError::NotFound("connector"))?;
    let connector = Connector::from_record(rec).map_err(AdminError::internal)?;
    if connector.saml().is_none() {
        return Err(AdminError::invalid(
            "connector_not_saml",
            "only SAML connectors have an SP key pair",
        ));
    }
    let secrets =
        ConnectorSecrets::open(&connector.record, master_key).map_err(AdminError::internal)?;
    Ok((connector, secrets))
}

/// Writes the changed settings and secrets back and records `kind` (never a secret in
/// `data`).
async fn save_saml(
    master_key: &MasterKey,
    tx: &mut AnyConnection,
    actor: &Actor,
    connector: &Connector,
    secrets: &ConnectorSecrets,
    kind: &str,
    data: Value,
) -> Result<(), AdminError> {
    let mut rec = connector.to_record().map_err(AdminError::internal)?;
    rec.secrets = Some(
        secrets
            .seal(&rec.id, master_key)
            .map_err(AdminError::internal)?,
    );
    store::upsert(tx, &rec).await?;
    audit::record(
        tx,
        &NewAuditEvent {
            kind: kind.into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
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
pub(crate) async fn new_pair(id: &str) -> Result<SpKeyPair, AdminError> {
    let subject = format!("ssogate SP {id}");
    tokio::task::spawn_blocking(move || SpKeyPair::generate(&subject))
        .await
        .map_err(|e| AdminError::internal(e.to_string()))?
        .map_err(AdminError::internal)
}

/// The shape of every SP key change: in one transaction, open the SAML connector (row
/// locked on PostgreSQL), let `change` mutate its SAML settings and secrets (it returns the
/// audit event's data and the certificate to answer with), save, record `kind`, commit.
async fn change_sp_key(
    store: &Store,
    master_key: &MasterKey,
    actor: &Actor,
    id: &str,
    kind: &str,
    change: impl FnOnce(&mut SamlSettings, &mut ConnectorSecrets) -> Result<(Value, String), AdminError>,
) -> Result<String, AdminError> {
    let mut tx = store.begin().await?;
    let (mut connector, mut secrets) = open_saml(master_key, &mut tx, id).await?;
    let saml = connector
        .settings
        .saml
        .as_mut()
        .ok_or_else(|| AdminError::internal("not saml"))?;
    let (data, certificate) = change(saml, &mut secrets)?;
    save_saml(master_key, &mut tx, actor, &connector, &secrets, kind, data).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(certificate)
}

/// A new SP key pair for a SAML connector; returns its certificate. The new pair signs
/// AuthnRequests and is published in the SP metadata at once (give the IdP the new
/// certificate); the previous private key keeps decrypting assertions encrypted to the old
/// certificate until the next rotation. A staged next pair is dropped (the staged rollover
/// is [`stage`] then [`activate`]).
pub async fn rotate(
    store: &Store,
    master_key: &MasterKey,
    actor: &Actor,
    id: &str,
) -> Result<String, AdminError> {
    let pair = new_pair(id).await?;
    change_sp_key(
        store,
        master_key,
        actor,
        id,
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
            Ok((data, pair.certificate_pem))
        },
    )
    .await
}

/// Generates the next SP key pair and publishes its certificate in the SP metadata (for
/// signing and encryption) next to the current one; returns the next certificate.
/// AuthnRequests are still signed with the current key; assertions encrypted to either
/// certificate (or to the previous one) decrypt. Staging again replaces the staged pair.
pub async fn stage(
    store: &Store,
    master_key: &MasterKey,
    actor: &Actor,
    id: &str,
) -> Result<String, AdminError> {
    let pair = new_pair(id).await?;
    change_sp_key(
        store,
        master_key,
        actor,
        id,
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
            Ok((data, pair.certificate_pem))
        },
    )
    .await
}

/// The staged pair becomes the current one (it signs AuthnRequests from now on), the
/// current one becomes the previous one (decryption only, until the next rotation);
/// returns the new current certificate. `sp_key_not_staged` without a staged pair.
pub async fn activate(
    store: &Store,
    master_key: &MasterKey,
    actor: &Actor,
    id: &str,
) -> Result<String, AdminError> {
    change_sp_key(
        store,
        master_key,
        actor,
        id,
        "connector.sp_key_activated",
        |saml, secrets| {
            let (Some(next_key), Some(next_certificate)) = (
                secrets.next_sp_private_key_pem.take(),
                saml.next_sp_certificate_pem.take(),
            ) else {
                return Err(AdminError::Conflict {
                    code: "sp_key_not_staged",
                    message: "no next SP key is staged; POST …/sp-key/stage first".into(),
                });
            };
            let previous_certificate =
                std::mem::replace(&mut saml.sp_certificate_pem, next_certificate);
            // The current key becomes the previous one (decryption only).
            secrets.rotate_sp_key(next_key);
            let current = saml.sp_certificate_pem.clone();
            let data = json!({
                "certificate_sha256": certificate_sha256(&current),
                "previous_certificate_sha256": certificate_sha256(&previous_certificate),
            });
            Ok((data, current))
        },
    )
    .await
}
