//! OIDC discovery (openidconnect does the fetch and checks that the document's `issuer`
//! equals the issuer we asked for). We add the one field our security rules need that
//! openidconnect does not model: RFC 9207's
//! `authorization_response_iss_parameter_supported`.

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Rfc9207Metadata {
    /// When true, the provider sends `iss` with every authorization response and we
    /// must require it (mix-up attack defence).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for Rfc9207Metadata {}

pub type ProviderMetadata = openidconnect::ProviderMetadata<
    Rfc9207Metadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("OIDC issuer {0:?} is not a valid URL")]
    BadIssuer(String),
    #[error("OIDC discovery for {issuer}: {cause}")]
    Fetch { issuer: String, cause: String },
}

/// Fetches `<issuer>/.well-known/openid-configuration` and the provider's JWKS.
pub async fn discover(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<ProviderMetadata, DiscoveryError> {
    let url = IssuerUrl::new(issuer.to_string())
        .map_err(|_| DiscoveryError::BadIssuer(issuer.to_string()))?;
    ProviderMetadata::discover_async(url, http)
        .await
        .map_err(|e| DiscoveryError::Fetch {
            issuer: issuer.to_string(),
            cause: error_chain(&e),
        })
}

/// An error and its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
