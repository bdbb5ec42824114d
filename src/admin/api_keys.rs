//! Management API keys: created (stored hashed; the plaintext is shown once, to the caller)
//! with an audit event that names the key but never holds its secret.

use serde_json::json;

use super::{Actor, AdminError};
use crate::store::api_keys::{self, ApiKey};
use crate::store::audit::{self, NewAuditEvent};
use crate::store::{Store, StoreError};

/// Creates a key named `name` and records `api_key.created`, in one transaction. Returns
/// the stored key and its plaintext (never stored).
pub async fn create(
    store: &Store,
    name: &str,
    actor: &Actor,
) -> Result<(ApiKey, String), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(AdminError::invalid(
            "api_key_invalid",
            "an API key needs a name of 1 to 128 characters",
        ));
    }
    let mut tx = store.begin().await?;
    let (key, plaintext) = api_keys::create(&mut tx, name).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "api_key.created".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            data: json!({ "id": key.id, "name": key.name, "prefix": key.prefix }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((key, plaintext))
}
