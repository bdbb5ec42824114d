//! Sign-ins end to end: the rule tables through real IdPs, refusals, rate limits,
//! provisioning, the dry run.

pub mod browser;
pub mod dry_run;
pub mod flow_hardening;
pub mod keycloak;
pub mod mapping_keycloak;
pub mod provisioning;
pub mod rate_limits;
pub mod refusals;
pub mod reissued_email;
