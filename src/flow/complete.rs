//! A verified ExternalProfile: what happens next. (Issue 3 stage: the profile is
//! recorded and shown; the sign-in engine and provisioning take over from here.)

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::connectors::ExternalProfile;
use crate::error::AppError;
use crate::flow::refusal::Refusal;
use crate::http::RequestId;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::connectors::ConnectorRecord;

#[derive(Template)]
#[template(path = "signed_in.html")]
struct SignedIn<'a> {
    connector: &'a str,
    profile: &'a ExternalProfile,
    groups: String,
}

pub async fn complete_sign_in(
    state: &AppState,
    request_id: &RequestId,
    connector: &ConnectorRecord,
    profile: ExternalProfile,
    _return_to: Option<String>,
) -> Result<Response, Refusal> {
    let event = NewAuditEvent {
        kind: "signin.verified".into(),
        request_id: Some(request_id.0.clone()),
        connector_id: Some(connector.id.clone()),
        data: json!({
            "subject": profile.subject,
            "email": profile.email,
            "email_verified": profile.email_verified,
            "given_name": profile.given_name,
            "family_name": profile.family_name,
            "name": profile.name,
            "groups": profile.groups,
            "session_not_on_or_after": profile.session_not_on_or_after,
        }),
        ..Default::default()
    };
    let mut conn = state
        .store
        .write()
        .await
        .map_err(|_| Refusal::bad("store_unavailable", "Please try again."))?;
    audit::record(&mut conn, &event)
        .await
        .map_err(|_| Refusal::bad("store_unavailable", "Please try again."))?;
    drop(conn);
    let page = SignedIn {
        connector: &connector.display_name,
        profile: &profile,
        groups: profile.groups.join(", "),
    };
    match page.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => Ok(AppError::internal(e).into_response()),
    }
}
