//! A connector's secrets (SP private keys, OIDC client secret), sealed under the master key
//! as one JSON document in the row's `secrets`. They live here, next to the connectors that
//! use them, so the live sign-in path does not depend on the `apply` command.

use crate::secrets::MasterKey;
use crate::store::connectors::ConnectorRecord;

/// The sealed-secret contexts of a connector (see [`crate::secrets`]): binding the sealed
/// blob to its connector stops one connector's secrets being pasted into another's row.
pub fn connector_secrets_context(connector_id: &str) -> String {
    format!("connector:{connector_id}:secrets")
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretsError(pub String);

/// Secrets of a connector, sealed as one JSON document in the row's `secrets`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ConnectorSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_private_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The SP key before the last rotation (decrypts during the overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sp_private_key_pem: Option<String>,
    /// A staged next SP key (its certificate is `SamlSettings::next_sp_certificate_pem`):
    /// published and decrypting, not yet signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sp_private_key_pem: Option<String>,
}

impl ConnectorSecrets {
    pub fn open(
        record: &ConnectorRecord,
        key: &MasterKey,
    ) -> Result<ConnectorSecrets, SecretsError> {
        match &record.secrets {
            None => Ok(ConnectorSecrets::default()),
            Some(sealed) => {
                let raw = key
                    .open_string(sealed, &connector_secrets_context(&record.id))
                    .map_err(|e| SecretsError(format!("connector {}: {e}", record.id)))?;
                serde_json::from_str(&raw)
                    .map_err(|e| SecretsError(format!("connector {}: secrets: {e}", record.id)))
            }
        }
    }

    /// Makes `key` the current SP key at once (`ssogate apply` with a new key, the API's
    /// rotate and activate): the current key becomes the previous one, which keeps
    /// decrypting assertions encrypted to its certificate until the next change, and a
    /// staged next key is dropped. Returns whether one was. The certificates are the
    /// caller's (they live in `SamlSettings`).
    pub fn rotate_sp_key(&mut self, key: String) -> bool {
        self.previous_sp_private_key_pem = self.sp_private_key_pem.replace(key);
        self.next_sp_private_key_pem.take().is_some()
    }

    pub fn seal(&self, connector_id: &str, key: &MasterKey) -> Result<String, SecretsError> {
        let raw = serde_json::to_string(self).map_err(|e| SecretsError(e.to_string()))?;
        key.seal(raw.as_bytes(), &connector_secrets_context(connector_id))
            .map_err(|e| SecretsError(e.to_string()))
    }
}
