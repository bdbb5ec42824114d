//! A verified ExternalProfile → the engine's decision, applied in one transaction →
//! a new session → back to where the person was going.

use axum::http::header::{HeaderValue, LOCATION};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_sessions::Session;

use crate::app::AppState;
use crate::connectors::Connector;
use crate::connectors::ExternalProfile;
use crate::flow::refusal::Refusal;
use crate::flow::return_to;
use crate::provisioning::{provision_sign_in, AuditContext, ProvisionError};
use crate::request::RequestId;
use crate::session;

/// Where a signed-in person lands when no `return_to` was given.
pub const LANDING: &str = "/me";

pub async fn complete_sign_in(
    state: &AppState,
    request_id: &RequestId,
    session: &Session,
    connector: &Connector,
    profile: ExternalProfile,
    return_to: Option<String>,
) -> Result<Response, Refusal> {
    let ctx = AuditContext {
        request_id: Some(request_id.0.clone()),
    };
    let provisioned = match provision_sign_in(&state.store, connector, &profile, &ctx).await {
        Ok(p) => p,
        Err(ProvisionError::Refused(reason, decision)) => {
            // The account the refusal protects, if the engine named one (the
            // administrator's starting point, e.g. for a re-link).
            let user = match &decision.outcome {
                crate::signin::Outcome::Refuse { user_id, .. } => user_id.clone(),
                _ => None,
            };
            let mut r = Refusal::forbidden(reason.code(), reason.message())
                .connector(&connector.id)
                .detail(json!({ "subject": profile.subject, "email": profile.email, "trace": decision.trace }));
            r.user_id = user;
            return Err(r);
        }
        // The database could not serve: 503 `database_unavailable` (the transaction
        // rolled back, nothing of the account exists), not a 400 that tells the person
        // their sign-in was unacceptable.
        Err(ProvisionError::Store(e)) => {
            return Err(Refusal::store_failed(
                &e,
                Refusal::bad(
                    "provisioning_failed",
                    "Your sign-in could not be completed. Please try again.",
                )
                .connector(&connector.id),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, connector = %connector.id, "provisioning failed");
            return Err(Refusal::bad(
                "provisioning_failed",
                "Your sign-in could not be completed. Please try again.",
            )
            .connector(&connector.id));
        }
    };
    if let Err(e) = session::start(
        state,
        session,
        &provisioned.user_id,
        &connector.id,
        profile.session_not_on_or_after,
    )
    .await
    {
        tracing::error!(error = %e, "starting the session failed");
        return Err(Refusal::bad(
            "session_failed",
            "Your sign-in could not be completed. Please try again.",
        )
        .connector(&connector.id));
    }
    // The stored return_to was checked when the sign-in started; it is checked again with
    // the same function before it becomes `Location`: a row written by an older version
    // (whose check let `/.//evil` through as `//evil`) or an app removed meanwhile must not
    // send the person elsewhere.
    let target =
        match return_to::accept(state, request_id, return_to.as_deref(), Some(&connector.id)).await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "checking the return address failed");
                None
            }
        }
        .unwrap_or_else(|| LANDING.to_string());
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let loc = HeaderValue::from_str(&target).unwrap_or_else(|_| HeaderValue::from_static(LANDING));
    resp.headers_mut().insert(LOCATION, loc);
    Ok(resp)
}
