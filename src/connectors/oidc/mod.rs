//! OpenID Connect relying party (openidconnect 4; see DEPENDENCIES.md for what it does
//! not check).

pub mod claims;
pub mod discovery;
pub mod error;
pub mod id_token;
pub mod provider;
pub mod rp;
