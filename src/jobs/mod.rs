//! Every background task of a running instance, in one place. [`App::run_until`]
//! starts them with [`spawn`] and stops them when the server stops.
//!
//! - [`metadata`]: refetches the IdP metadata of URL-configured SAML connectors, on
//!   `login.metadata_refresh_secs`.
//! - [`schedule`]: every few seconds applies the signing-key schedule, reloads keys and
//!   apps and sweeps the in-memory caches; every `session.cleanup_interval_secs` deletes
//!   expired sessions, pending sign-ins, SAML replay-cache entries and removed keys.
//!
//! A failing round is logged and the next one tries again: the instance keeps serving
//! with what it has.
//!
//! # The rule for background writes
//!
//! Every job here, and every one added later, writes by this rule. The text below was
//! written for the metadata refresh, the job that first broke it.
//!
//! A background job reads, works for a while (here: fetches metadata over the network,
//! seconds), then writes. Meanwhile an administrator may have disabled or deleted the
//! connector, changed its domains or role mappings, or rotated or staged its SP key. So
//! every background write
//! - changes only the fields the job owns (here the metadata: XML, entity ID, SSO URL,
//!   signing certificates), never the whole row it read;
//! - only if those fields (and what the job's work depended on: the metadata URL and the
//!   `allow_insecure_http` setting) are unchanged since it read them — the same
//!   "unchanged since read" rule as `PUT` and `ssogate apply`, applied to what the job
//!   writes; and
//! - never re-creates a deleted row (an UPDATE, never an upsert).
//!
//! Otherwise the write is skipped and logged, and the next round starts again from the row
//! as it is then ([`crate::store::connectors::update_config_fields`]). Before this rule the refresh
//! wrote its stale copy back with an upsert and silently undid the administrator's change:
//! a disabled connector signed people in again, a deleted one came back, a rotated SP key
//! was restored.
//!
//! [`App::run_until`]: crate::app::App::run_until

pub mod metadata;
pub mod schedule;

pub use metadata::{refresh_saml_metadata, RefreshReport};

use crate::app::AppState;

/// The handles of the running background tasks.
pub struct Jobs {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts every background task.
pub fn spawn(state: &AppState) -> Jobs {
    Jobs {
        tasks: vec![
            metadata::spawn(state.clone()),
            schedule::spawn(state.clone()),
        ],
    }
}

impl Jobs {
    /// Stops every task (a round in progress is dropped at its next await: each round's
    /// writes are single statements or one transaction, so nothing is half-written).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
