//! The sign-in engine: pure decisions (docs/RULES.md). Given the connector, the
//! verified ExternalProfile and what the store knows, [`decide`] returns a [`Decision`]:
//! sign in, link, create or refuse — with the provisioning steps (organizations to
//! join with which roles and why, profile fields to change) and the audit events.
//! No SQL, HTTP or XML here; every rule is a row of a table test.

mod decide;
mod facts;
mod mapping;
mod sync;

pub use decide::{
    decide, profile_email, Decision, EmailChange, Join, JoinRule, Outcome, RefuseReason,
};
pub use facts::{ConnectorFacts, Facts, GrantFact, OrgFacts, ResolvedMapping, UserFacts};
pub use mapping::{compile_pattern, MappedGrant, MappedRevoke};
pub use sync::{FieldChange, ProfileFields, SyncConflict};

#[cfg(test)]
mod tests;
