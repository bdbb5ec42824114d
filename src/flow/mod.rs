//! The sign-in flow around the connectors: the state ssogate keeps while a person is at
//! the IdP ([`pending`]), what a refusal does ([`refusal`]), and what a verified
//! ExternalProfile leads to ([`complete`]). HTTP handlers in `crate::http` call these.

pub mod complete;
pub mod pending;
pub mod refusal;
pub mod return_to;
