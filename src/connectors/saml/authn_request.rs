//! SP-initiated login: an AuthnRequest over the HTTP-Redirect binding.

use super::error::SamlError;
use super::sp::SamlSp;

/// Where to send the browser, and the request ID the response must answer.
#[derive(Debug, Clone)]
pub struct AuthnRedirect {
    /// `_` + 128 random bits in hex.
    pub request_id: String,
    /// The IdP SSO URL with SAMLRequest, RelayState (and SigAlg, Signature when signed).
    pub url: String,
}

/// Builds the AuthnRequest (ID, IssueInstant, Destination, AssertionConsumerServiceURL,
/// ProtocolBinding POST, Issuer = our entity ID, NameIDPolicy persistent/unspecified with
/// AllowCreate) and its redirect URL; signs it (RSA-SHA256) when the connector says so.
pub fn build_authn_request(sp: &SamlSp, relay_state: &str) -> Result<AuthnRedirect, SamlError> {
    let _ = (sp, relay_state);
    Err(SamlError::Internal("not implemented yet".into()))
}
