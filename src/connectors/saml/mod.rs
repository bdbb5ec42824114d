//! SAML 2.0 service provider (samael + xmlsec, plus our own guards; see
//! ../shared/DEPENDENCIES.md for what samael does not check).

pub mod keys;
pub mod metadata;
pub mod xml_guard;
