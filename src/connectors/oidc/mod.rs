//! OpenID Connect relying party (openidconnect 4; see DEPENDENCIES.md for what it does
//! not check).

pub mod discovery;
pub mod error;
pub mod rp;
