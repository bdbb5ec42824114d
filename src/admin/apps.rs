//! Downstream apps: validated by [`crate::gateway::apps::save`] (the one definition of an
//! app, which the forward-auth registry reads), audited here for the API and `ssogate
//! apply` alike.

use serde_json::json;

use super::{Actor, AdminError};
use crate::gateway::apps::{self, AppInput, AppInputError};
use crate::store::apps::{self as app_store, AppRecord};
use crate::store::audit::{self, NewAuditEvent};
use crate::store::AnyConnection;

/// The reason code of a refused app.
pub const INVALID: &str = "invalid_app";

impl From<AppInputError> for AdminError {
    fn from(e: AppInputError) -> Self {
        match e {
            AppInputError::Invalid { .. } => AdminError::invalid(INVALID, e.to_string()),
            AppInputError::Store(s) => AdminError::Store(s),
        }
    }
}

/// Creates or replaces an app and records `app.created` or `app.updated`, in `conn` (the
/// caller's transaction). `must_be_new`: refuse if an app of that name exists (the API's
/// `POST`, which must not replace an app it did not mean to).
pub async fn save(
    conn: &mut AnyConnection,
    input: &AppInput,
    must_be_new: bool,
    actor: &Actor,
) -> Result<(AppRecord, bool), AdminError> {
    if must_be_new && app_store::get_by_name(conn, &input.name).await?.is_some() {
        return Err(AdminError::Exists(format!(
            "app {:?} already exists",
            input.name
        )));
    }
    let (rec, created) = apps::save(conn, input).await?;
    audit::record(
        conn,
        &NewAuditEvent {
            kind: if created {
                "app.created"
            } else {
                "app.updated"
            }
            .into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            data: json!({ "app": rec.name, "origins": rec.origins }),
            ..Default::default()
        },
    )
    .await?;
    Ok((rec, created))
}

/// Deletes an app by name and records `app.deleted`.
pub async fn delete(conn: &mut AnyConnection, name: &str, actor: &Actor) -> Result<(), AdminError> {
    if !app_store::delete_by_name(conn, name).await? {
        return Err(AdminError::NotFound("app"));
    }
    audit::record(
        conn,
        &NewAuditEvent {
            kind: "app.deleted".into(),
            request_id: actor.request_id.clone(),
            actor: Some(actor.name.clone()),
            data: json!({ "app": name }),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
