//! ssogate's integration tests: one binary (zero2prod style). External services are
//! started once by `scripts/test.sh`, which passes their addresses in environment
//! variables; a test whose service is missing fails and says how to start it.

mod helpers;

mod admin_layer;
mod apply;
mod browser;
mod browser_signin;
mod cli;
pub mod downstream;
mod dry_run;
mod faults;
mod flow_hardening;
mod health;
mod keycloak;
mod keycloak_metadata;
mod layering;
mod lint;
mod mail;
mod management_api;
mod mapping_keycloak;
mod metadata_refresh;
mod oidc_keycloak;
mod oidc_mock;
mod oidc_rp;
mod pages;
mod private_postgres;
mod properties;
mod provisioning;
mod rate_limits;
mod reissued_email;
mod saml_acs;
mod saml_forge;
mod saml_keycloak;
mod saml_rollover;
mod saml_verify;
mod signin_keycloak;
mod signin_refusals;
mod store_conformance;
mod trust_anchors;
