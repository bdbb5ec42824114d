//! One SAML connector as the service provider sees it: our entity ID, ACS URL and key
//! pair, and the IdP's settings. Built from the connector row for each sign-in.

use crate::connectors::secrets::ConnectorSecrets;
use crate::connectors::settings::SamlSettings;
use crate::connectors::Connector;
use crate::secrets::MasterKey;

#[derive(Clone)]
pub struct SamlSp {
    pub connector_id: String,
    /// Our entity ID at this IdP (the Audience we require).
    pub sp_entity_id: String,
    /// `<public_url>/saml/<id>/acs`: Destination and Recipient must equal it exactly.
    pub acs_url: String,
    pub metadata_url: String,
    pub sp_private_key_pem: String,
    pub sp_certificate_pem: String,
    /// The pair before the last rotation: still decrypts assertions the IdP encrypted to
    /// the previous certificate, until the next rotation.
    pub previous_sp_private_key_pem: Option<String>,
    /// A staged next key: decrypts assertions encrypted to the next certificate (which the
    /// metadata already publishes); signs nothing until it is activated.
    pub next_sp_private_key_pem: Option<String>,
    pub settings: SamlSettings,
    /// The connector's claimed domains (normalized).
    pub domains: Vec<String>,
}

impl std::fmt::Debug for SamlSp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlSp")
            .field("connector_id", &self.connector_id)
            .field("sp_entity_id", &self.sp_entity_id)
            .field("acs_url", &self.acs_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpConfigError {
    #[error("connector {0} is not a SAML connector")]
    NotSaml(String),
    #[error("connector {0}: {1}")]
    Invalid(String, String),
}

impl SamlSp {
    /// The private keys that may decrypt an assertion, in the order to try them: the
    /// current one, a staged next one, the one before the last rotation.
    pub fn decryption_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.sp_private_key_pem.as_str())
            .chain(self.next_sp_private_key_pem.as_deref())
            .chain(self.previous_sp_private_key_pem.as_deref())
    }

    pub fn new(c: &Connector, key: &MasterKey, public_url: &str) -> Result<SamlSp, SpConfigError> {
        let mut saml = c
            .saml()
            .cloned()
            .ok_or_else(|| SpConfigError::NotSaml(c.id.clone()))?;
        // Never use a connector without an IdP signing certificate (samael would skip
        // verification and accept an unsigned, forged Response).
        if saml.idp_signing_certificates.is_empty() {
            return Err(SpConfigError::Invalid(
                c.id.clone(),
                "no IdP signing certificate".into(),
            ));
        }
        let secrets = ConnectorSecrets::open(&c.record, key)
            .map_err(|e| SpConfigError::Invalid(c.id.clone(), e.to_string()))?;
        let sp_private_key_pem = secrets
            .sp_private_key_pem
            .ok_or_else(|| SpConfigError::Invalid(c.id.clone(), "no SP private key".into()))?;
        // A staged certificate is published only with its private key (never one we could
        // not decrypt for).
        if secrets.next_sp_private_key_pem.is_none() {
            saml.next_sp_certificate_pem = None;
        }
        let base = public_url.trim_end_matches('/');
        let metadata_url = format!("{base}/saml/{}/metadata", c.id);
        Ok(SamlSp {
            connector_id: c.id.clone(),
            sp_entity_id: saml
                .sp_entity_id
                .clone()
                .unwrap_or_else(|| metadata_url.clone()),
            acs_url: format!("{base}/saml/{}/acs", c.id),
            metadata_url,
            sp_private_key_pem,
            previous_sp_private_key_pem: secrets.previous_sp_private_key_pem,
            next_sp_private_key_pem: secrets.next_sp_private_key_pem,
            sp_certificate_pem: saml.sp_certificate_pem.clone(),
            settings: saml,
            domains: c.domains.clone(),
        })
    }
}
