//! SAML 2.0 service provider (samael + xmlsec, plus our own guards; see
//! docs/RULES.md and docs/DEPENDENCY-GUARDS.md for what samael does not check, and
//! [`verify`] for the verification pipeline).

pub mod authn_request;
pub mod decrypt;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod pool;
pub mod precheck;
pub mod sp;
pub mod sp_metadata;
pub mod verify;
pub mod xml_escape;
pub mod xml_guard;
