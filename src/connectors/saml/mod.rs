//! SAML 2.0 service provider (samael + xmlsec, plus our own guards; see
//! ../shared/DEPENDENCIES.md for what samael does not check).

pub mod authn_request;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod sp;
pub mod sp_metadata;
pub mod verify;
pub mod xml_guard;
