//! Suspending a user: the account stays, every session of it ends in the same transaction
//! (a suspended person must not keep a session that was issued before), and forward-auth
//! on this instance forgets them at once (other instances within
//! `forward_auth.cache_ttl_secs`).

use serde_json::json;

use super::{Actor, AdminError};
use crate::gateway::Gateway;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::{sessions, users, Store, StoreError};

/// Suspends a user and ends all their sessions in one transaction, with an audit event.
/// Returns how many sessions ended.
pub async fn suspend(
    store: &Store,
    gateway: &Gateway,
    user_id: &str,
    actor: &Actor,
) -> Result<u64, AdminError> {
    let mut tx = store.begin().await?;
    users::set_suspended(&mut tx, user_id, true).await?;
    let ended = sessions::delete_for_user(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "user.suspended".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            user_id: Some(user_id.to_string()),
            data: json!({ "sessions_ended": ended }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    gateway.forget_user(user_id);
    Ok(ended)
}

/// Lifts a suspension (the user signs in again; no session comes back).
pub async fn unsuspend(store: &Store, user_id: &str, actor: &Actor) -> Result<(), AdminError> {
    let mut tx = store.begin().await?;
    users::set_suspended(&mut tx, user_id, false).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "user.unsuspended".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            user_id: Some(user_id.to_string()),
            data: json!({}),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
