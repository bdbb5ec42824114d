//! The SAML and OIDC connectors: forged peers and the real Keycloak.

pub mod keycloak_metadata;
pub mod metadata_refresh;
pub mod oidc_keycloak;
pub mod oidc_rp;
pub mod saml_acs;
pub mod saml_keycloak;
pub mod saml_rollover;
pub mod saml_verify;
pub mod trust_anchors;
