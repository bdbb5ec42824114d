//! ssogate: a login gateway. See README.md and ../shared/DESIGN.md for the words and the
//! flow of one sign-in.

pub mod config;
pub mod email;
pub mod secrets;
pub mod store;
