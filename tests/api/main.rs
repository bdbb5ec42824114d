//! ssogate's integration tests: one binary (zero2prod style). External services are
//! started once by `scripts/test.sh`, which passes their addresses in environment
//! variables; a test whose service is missing fails and says how to start it.
//!
//! - `support/`: every helper (the test app, databases, Keycloak, the mock OIDC provider,
//!   the SAML forger, WebDriver, proxies, a private PostgreSQL) and the `both!` macro;
//! - `signin/`: sign-ins end to end (rules, refusals, rate limits, provisioning, dry run);
//! - `connectors/`: SAML and OIDC against forged peers and the real Keycloak;
//! - `admin/`: `ssogate apply`, the CLI, the management API, the linter, mail;
//! - `gateway/`: apps, tokens, sessions, forward-auth behind real nginx and Caddy;
//! - `store/`: the storage conformance suite on SQLite and PostgreSQL;
//! - `server/`: health, pages, faults, layering rules, property-based targets.

#[macro_use]
mod support;

mod admin;
mod connectors;
mod gateway;
mod server;
mod signin;
mod store;
