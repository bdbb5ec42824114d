//! Why a SAML response was refused. Each variant has a stable reason code: it is written
//! to the audit event and shown on the error page, and tests assert on it, so a test
//! fails if the check that produces it is removed.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("the SAML response is too large")]
    BodyTooLarge,
    #[error("the SAML response is not valid base64")]
    BadBase64,
    #[error("the SAML response is not well-formed XML")]
    NotXml,
    #[error("the SAML response contains a DOCTYPE (DTDs and entities are not allowed)")]
    Doctype,
    #[error("a signature reference points outside the document")]
    ReferenceUri,
    #[error("a signature uses a transform that is not allowed")]
    Transform,
    #[error("a signature uses RetrievalMethod or external key information")]
    RetrievalMethod,
    #[error("the signature does not verify with the IdP's certificate")]
    SignatureInvalid,
    #[error("the SAML response is not signed")]
    SignatureMissing,
    #[error("the signature algorithm is not allowed")]
    SignatureAlgorithm,
    #[error("the assertion is not signed")]
    AssertionNotSigned,
    #[error("the response must contain exactly one assertion")]
    AssertionCount,
    #[error("the issuer is not the configured identity provider")]
    IssuerMismatch,
    #[error("the assertion has no audience restriction")]
    AudienceMissing,
    #[error("the assertion is meant for another service")]
    AudienceMismatch,
    #[error("the response was sent to another destination")]
    DestinationMismatch,
    #[error("the assertion was sent to another recipient")]
    RecipientMismatch,
    #[error("the identity provider reported a failure: {0}")]
    StatusNotSuccess(String),
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not yet valid")]
    NotYetValid,
    #[error("the response was issued in the future")]
    IssueInstantInFuture,
    #[error("the response does not answer a sign-in started from this browser")]
    InResponseToMismatch,
    #[error("unsolicited (IdP-initiated) sign-in is not enabled for this connector")]
    Unsolicited,
    #[error("this assertion has been used already")]
    Replay,
    #[error("transient NameIDs cannot identify an account")]
    TransientNameId,
    #[error("the assertion names no subject")]
    NoSubject,
    #[error("the encrypted assertion could not be decrypted")]
    DecryptFailed,
    #[error("the assertion is encrypted with an algorithm that is not allowed")]
    EncryptionAlgorithm,
    #[error("an encrypted assertion must come in a signed response")]
    EncryptedResponseNotSigned,
    #[error("the SAML response could not be processed")]
    Internal(String),
    // Added with the verifier (codes below are stable too).
    #[error("the document is not a SAML Response")]
    NotAResponse,
    #[error("the SAML response is malformed: {0}")]
    Malformed(String),
    #[error("a signature is not placed or built the way SAML requires")]
    SignatureStructure,
    #[error("two elements carry the same ID")]
    DuplicateId,
    #[error("the assertion is not a direct child of the Response")]
    AssertionMisplaced,
    #[error("the assertion has no usable bearer subject confirmation")]
    SubjectConfirmation,
    #[error("the NameID format cannot identify an account: {0}")]
    NameIdFormat(String),
    #[error("the identity provider's session has already ended")]
    SessionExpired,
    #[error("the SAML connector is not configured correctly: {0}")]
    NotConfigured(String),
}

impl SamlError {
    pub fn code(&self) -> &'static str {
        match self {
            SamlError::BodyTooLarge => "saml_body_too_large",
            SamlError::BadBase64 => "saml_bad_base64",
            SamlError::NotXml => "saml_not_xml",
            SamlError::Doctype => "saml_doctype",
            SamlError::ReferenceUri => "saml_reference_uri",
            SamlError::Transform => "saml_transform",
            SamlError::RetrievalMethod => "saml_retrieval_method",
            SamlError::SignatureInvalid => "saml_signature_invalid",
            SamlError::SignatureMissing => "saml_signature_missing",
            SamlError::SignatureAlgorithm => "saml_signature_algorithm",
            SamlError::AssertionNotSigned => "saml_assertion_not_signed",
            SamlError::AssertionCount => "saml_assertion_count",
            SamlError::IssuerMismatch => "saml_issuer_mismatch",
            SamlError::AudienceMissing => "saml_audience_missing",
            SamlError::AudienceMismatch => "saml_audience_mismatch",
            SamlError::DestinationMismatch => "saml_destination_mismatch",
            SamlError::RecipientMismatch => "saml_recipient_mismatch",
            SamlError::StatusNotSuccess(_) => "saml_status_not_success",
            SamlError::Expired => "saml_expired",
            SamlError::NotYetValid => "saml_not_yet_valid",
            SamlError::IssueInstantInFuture => "saml_issue_instant_future",
            SamlError::InResponseToMismatch => "saml_in_response_to_mismatch",
            SamlError::Unsolicited => "saml_unsolicited",
            SamlError::Replay => "saml_replay",
            SamlError::TransientNameId => "saml_transient_nameid",
            SamlError::NoSubject => "saml_no_subject",
            SamlError::DecryptFailed => "saml_decrypt_failed",
            SamlError::EncryptionAlgorithm => "saml_encryption_algorithm",
            SamlError::EncryptedResponseNotSigned => "saml_encrypted_response_not_signed",
            SamlError::Internal(_) => "saml_internal",
            SamlError::NotAResponse => "saml_not_a_response",
            SamlError::Malformed(_) => "saml_malformed",
            SamlError::SignatureStructure => "saml_signature_structure",
            SamlError::DuplicateId => "saml_duplicate_id",
            SamlError::AssertionMisplaced => "saml_assertion_misplaced",
            SamlError::SubjectConfirmation => "saml_subject_confirmation",
            SamlError::NameIdFormat(_) => "saml_nameid_format",
            SamlError::SessionExpired => "saml_session_expired",
            SamlError::NotConfigured(_) => "saml_not_configured",
        }
    }
}
