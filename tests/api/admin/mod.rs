//! Administration: `ssogate apply`, the CLI, the management API, the linter, mail.

pub mod apply;
pub mod cli;
pub mod layer;
pub mod lint;
pub mod mail;
pub mod management_api;
