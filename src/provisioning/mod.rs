//! Writes the engine's decision in ONE database transaction: user, identity,
//! memberships and role grants, profile sync, audit events — all or nothing.
//!
//! The facts are read inside the same transaction, and concurrent first sign-ins of one
//! identity are made safe by the unique constraints (identity on connector + subject,
//! user on email, grant rows on their key), not by read-then-write: when a concurrent
//! transaction wins, ours fails on a constraint, rolls back entirely, and is retried from
//! fresh facts — where the identity now exists and the decision is "sign in".
//!
//! ("Apply" in ssogate means the `ssogate apply` command only; here a decision is
//! *written*: [`write_decision`].)

mod facts;
mod relink;
mod write;

pub use facts::{connector_facts, load_facts, resolve_mappings};
pub use relink::{relink_identity, RelinkError, RelinkRequest, Relinked};
pub use write::write_decision;

use serde_json::Value;

use crate::connectors::Connector;
use crate::connectors::ExternalProfile;
use crate::signin::{decide, ConnectorFacts, Decision, RefuseReason};
use crate::store::{AnyConnection, Store, StoreError};

/// A sign-in that went through: who, and what was decided and done.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user_id: String,
    pub decision: Decision,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("sign-in refused: {}", .0.code())]
    Refused(RefuseReason, Box<Decision>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sign-in kept conflicting with concurrent sign-ins")]
    TooManyConflicts,
}

/// Context recorded on every audit event of the sign-in.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub request_id: Option<String>,
}

const MAX_ATTEMPTS: usize = 8;

/// The engine's decision for `profile` from what `conn` sees now: the one way a decision
/// is made, shared by every real sign-in (inside its transaction) and the dry run (which
/// writes nothing), so the dry run cannot drift from what a sign-in would do.
pub async fn plan_sign_in(
    conn: &mut AnyConnection,
    connector: &Connector,
    profile: &ExternalProfile,
) -> Result<(ConnectorFacts, Decision), StoreError> {
    let mut cfacts = connector_facts(connector);
    cfacts.mappings = resolve_mappings(conn, connector).await?;
    let facts = load_facts(conn, &cfacts, profile).await?;
    let decision = decide(&cfacts, profile, &facts);
    Ok((cfacts, decision))
}

/// Decides and applies one sign-in. Refusals write nothing (the caller records the
/// refusal's audit event).
pub async fn provision_sign_in(
    store: &Store,
    connector: &Connector,
    profile: &ExternalProfile,
    ctx: &AuditContext,
) -> Result<Provisioned, ProvisionError> {
    for attempt in 0..MAX_ATTEMPTS {
        let mut tx = store.begin().await?;
        let (cfacts, decision) = plan_sign_in(&mut tx, connector, profile).await?;
        if let Some(reason) = decision.refused() {
            tx.rollback().await.map_err(StoreError::from)?;
            return Err(ProvisionError::Refused(reason, Box::new(decision)));
        }
        match write_decision(&mut tx, &cfacts, profile, &decision, ctx).await {
            // Constraints are checked per statement (none is deferred), so a race shows
            // up in write_decision as a Conflict, not at commit.
            Ok(user_id) => {
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Provisioned { user_id, decision });
            }
            Err(StoreError::Conflict(what)) => {
                tracing::debug!(
                    attempt,
                    what,
                    "concurrent sign-in won; retrying from fresh facts"
                );
                let _ = tx.rollback().await;
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 * (attempt as u64 + 1))).await;
    }
    Err(ProvisionError::TooManyConflicts)
}

/// The raw profile kept on the identity (what the IdP said last).
pub fn raw_profile(profile: &ExternalProfile) -> Value {
    serde_json::json!({
        "subject": profile.subject,
        "email": profile.email,
        "email_verified": profile.email_verified,
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "name": profile.name,
        "picture": profile.picture,
        "groups": profile.groups,
        "raw": profile.raw,
    })
}
