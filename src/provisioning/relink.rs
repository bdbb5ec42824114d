//! The administrator's answer to `subject_changed_for_email`: move an account's identity
//! of one connector from the subject it was linked under to a new one.
//!
//! A sign-in never does this by itself: when the IdP asserts an account's email for a
//! new subject, the engine cannot tell a re-created IdP user (the same person) from the
//! address given to someone else (a new hire), and guessing wrong hands one person
//! another's account. The administrator checks, then moves the link. The previous
//! holder's sessions end with it, so whoever signed in under the old subject keeps no
//! access to the account.

use serde::Serialize;
use serde_json::json;

use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors as connector_store;
use crate::store::{identities, sessions, users, Store, StoreError};

/// What the administrator asks for.
#[derive(Debug, Clone)]
pub struct RelinkRequest {
    pub user_id: String,
    pub connector_id: String,
    /// The subject the IdP now asserts (the `subject` of the `signin.refused` event).
    pub subject: String,
    /// The subject to move away from; needed only when the account holds more than one
    /// identity of the connector.
    pub previous_subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relinked {
    pub user_id: String,
    pub connector: String,
    pub previous_subject: String,
    pub subject: String,
    pub sessions_ended: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RelinkError {
    #[error("the subject is empty")]
    SubjectMissing,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The account holds no identity of the connector (a first sign-in links one).
    #[error("the user has no identity of this connector to move")]
    NotLinked,
    #[error(
        "the user holds several identities of this connector: say which one in previous_subject"
    )]
    PreviousSubjectRequired,
    /// The new subject is linked already (to this or another account): moving would
    /// take it from its holder.
    #[error("this subject is already linked to an account")]
    SubjectAlreadyLinked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Moves the identity in one transaction with its audit event (`identity.relinked`)
/// and ends the account's sessions. The caller also drops the user from forward-auth's
/// cache (see [`crate::gateway::Gateway::forget_user`]).
pub async fn relink_identity(
    store: &Store,
    req: &RelinkRequest,
    actor: &str,
    request_id: Option<String>,
) -> Result<Relinked, RelinkError> {
    if req.subject.trim().is_empty() {
        return Err(RelinkError::SubjectMissing);
    }
    let mut tx = store.begin().await?;
    if users::get(&mut tx, &req.user_id).await?.is_none() {
        return Err(RelinkError::NotFound("user"));
    }
    if connector_store::get(&mut tx, &req.connector_id)
        .await?
        .is_none()
    {
        return Err(RelinkError::NotFound("connector"));
    }
    let held: Vec<String> = identities::list_for_user(&mut tx, &req.user_id)
        .await?
        .into_iter()
        .filter(|i| i.connector_id == req.connector_id)
        .map(|i| i.subject)
        .collect();
    let previous = match (&req.previous_subject, held.as_slice()) {
        (Some(p), _) if held.contains(p) => p.clone(),
        (Some(_), _) | (None, []) => return Err(RelinkError::NotLinked),
        (None, [only]) => only.clone(),
        (None, _) => return Err(RelinkError::PreviousSubjectRequired),
    };
    if identities::find(&mut tx, &req.connector_id, &req.subject)
        .await?
        .is_some()
    {
        return Err(RelinkError::SubjectAlreadyLinked);
    }
    match identities::change_subject(&mut tx, &req.connector_id, &previous, &req.subject).await {
        Ok(true) => {}
        Ok(false) => return Err(RelinkError::NotLinked),
        // A first sign-in of the new subject linked it meanwhile.
        Err(StoreError::Conflict(_)) => return Err(RelinkError::SubjectAlreadyLinked),
        Err(e) => return Err(e.into()),
    }
    let ended = sessions::delete_for_user(&mut tx, &req.user_id).await?;
    audit::record(
        &mut tx,
        &NewAuditEvent {
            kind: "identity.relinked".into(),
            request_id,
            actor: Some(actor.to_string()),
            user_id: Some(req.user_id.clone()),
            connector_id: Some(req.connector_id.clone()),
            data: json!({
                "previous_subject": previous,
                "subject": req.subject,
                "sessions_ended": ended,
            }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Relinked {
        user_id: req.user_id.clone(),
        connector: req.connector_id.clone(),
        previous_subject: previous,
        subject: req.subject.clone(),
        sessions_ended: ended,
    })
}
