//! Why an OIDC sign-in was refused; stable reason codes (see the SAML module's twin).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the identity provider returned an error: {0}")]
    ProviderError(String),
    #[error("the sign-in response has no state")]
    StateMissing,
    #[error("the sign-in response names no issuer (iss), which this provider promises to send")]
    IssMissing,
    #[error("the sign-in response comes from another issuer")]
    IssMismatch,
    #[error("the authorization code could not be exchanged: {0}")]
    TokenExchange(String),
    #[error("the ID token is missing or malformed")]
    IdTokenInvalid,
    #[error("the ID token's signature algorithm is not allowed")]
    AlgorithmNotAllowed,
    #[error("the ID token's signature does not verify")]
    SignatureInvalid,
    #[error("the ID token is signed with an unknown key")]
    UnknownKey,
    #[error("the ID token was issued by another issuer")]
    IssuerMismatch,
    #[error("the ID token is meant for another client")]
    AudienceMismatch,
    #[error("the ID token's authorized party (azp) is another client")]
    AzpMismatch,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token does not answer this sign-in (nonce)")]
    NonceMismatch,
    #[error("the ID token does not match the access token (at_hash)")]
    AtHashMismatch,
    #[error("the userinfo response could not be used: {0}")]
    Userinfo(String),
    #[error("the userinfo response is about another subject")]
    UserinfoSubjectMismatch,
    #[error("the signed userinfo response does not verify")]
    UserinfoSignatureInvalid,
    #[error("the signed userinfo response comes from another issuer")]
    UserinfoIssuerMismatch,
    #[error("the signed userinfo response is meant for another client")]
    UserinfoAudienceMismatch,
    #[error("the signed userinfo response has expired")]
    UserinfoExpired,
    #[error("the userinfo response is encrypted, which this connector does not support")]
    UserinfoEncrypted,
    #[error("the ID token says it was issued in the future")]
    IssuedInFuture,
    #[error("the sign-in response has no authorization code")]
    CodeMissing,
    #[error("the identity provider did not send the claim configured as the subject")]
    SubjectMissing,
    #[error("the identity provider's address is plain http ({0})")]
    InsecureTrustAnchor(String),
    #[error("the OIDC sign-in could not be processed")]
    Internal(String),
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "oidc_discovery",
            OidcError::ProviderError(_) => "oidc_provider_error",
            OidcError::StateMissing => "oidc_state_missing",
            OidcError::IssMissing => "oidc_iss_missing",
            OidcError::IssMismatch => "oidc_iss_mismatch",
            OidcError::TokenExchange(_) => "oidc_token_exchange",
            OidcError::IdTokenInvalid => "oidc_id_token_invalid",
            OidcError::AlgorithmNotAllowed => "oidc_alg_not_allowed",
            OidcError::SignatureInvalid => "oidc_signature_invalid",
            OidcError::UnknownKey => "oidc_unknown_kid",
            OidcError::IssuerMismatch => "oidc_issuer_mismatch",
            OidcError::AudienceMismatch => "oidc_audience_mismatch",
            OidcError::AzpMismatch => "oidc_azp_mismatch",
            OidcError::Expired => "oidc_expired",
            OidcError::NonceMismatch => "oidc_nonce_mismatch",
            OidcError::AtHashMismatch => "oidc_at_hash_mismatch",
            OidcError::Userinfo(_) => "oidc_userinfo",
            OidcError::UserinfoSubjectMismatch => "oidc_userinfo_subject_mismatch",
            OidcError::UserinfoSignatureInvalid => "oidc_userinfo_signature_invalid",
            OidcError::UserinfoIssuerMismatch => "oidc_userinfo_issuer_mismatch",
            OidcError::UserinfoAudienceMismatch => "oidc_userinfo_audience_mismatch",
            OidcError::UserinfoExpired => "oidc_userinfo_expired",
            OidcError::UserinfoEncrypted => "oidc_userinfo_encrypted",
            OidcError::IssuedInFuture => "oidc_iat_in_future",
            OidcError::CodeMissing => "oidc_code_missing",
            OidcError::SubjectMissing => "oidc_subject_missing",
            OidcError::InsecureTrustAnchor(_) => crate::connectors::trust_anchor::CODE,
            OidcError::Internal(_) => "oidc_internal",
        }
    }
}
