//! ssogate: a login gateway. See README.md for the map of the code, the words and the
//! flow of one sign-in, and docs/ for the rules and the security checks.

pub mod address;
pub mod admin;
pub mod app;
pub mod apply;
pub mod client_addr;
pub mod config;
pub mod connectors;
pub mod error;
pub mod flow;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod limiter;
pub mod lint;
pub mod mail;
pub mod provisioning;
pub mod request;
pub mod secrets;
pub mod session;
pub mod signin;
pub mod store;
pub mod telemetry;
pub mod tokens;
