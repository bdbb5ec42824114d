//! ssogate's integration tests: one binary (zero2prod style). External services are
//! started once by `scripts/test.sh`, which passes their addresses in environment
//! variables; a test whose service is missing fails and says how to start it.

mod helpers;

mod apply;
mod cli;
mod downstream;
mod health;
mod keycloak_metadata;
mod provisioning;
mod store_conformance;
