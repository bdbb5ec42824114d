//! `GET /oidc/{connector}/callback`: the OIDC redirect URI.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use tower_sessions::Session;

use crate::app::AppState;
use crate::connectors::oidc::error::OidcError;
use crate::connectors::oidc::rp::{self, CallbackParams, OidcRp};
use crate::connectors::ExternalProfile;
use crate::connectors::{Connector, InvalidConnector};
use crate::error::AppError;
use crate::flow::complete::complete_sign_in;
use crate::flow::pending;
use crate::flow::refusal::{refuse, refuse_callback, Refusal};
use crate::http::login::{load_connector, misconfigured};
use crate::http::{ClientIp, RequestId};

pub async fn callback(
    State(state): State<AppState>,
    rid: RequestId,
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
    Query(params): Query<CallbackParams>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let connector = load_connector(&state, &id).await?;
    match callback_inner(&state, &id, &connector, &params, &headers).await {
        Ok((connector, profile, return_to)) => {
            match complete_sign_in(&state, &rid, &session, connector, profile, return_to).await {
                Ok(resp) => Ok(resp),
                Err(r) => Err(refuse(&state, &rid, r).await),
            }
        }
        Err(r) => Err(refuse_callback(&state, &rid, client, r).await),
    }
}

fn oidc_refusal(e: &OidcError, connector_id: &str) -> Refusal {
    Refusal::bad(
        e.code(),
        format!("The answer from your identity provider was not accepted: {e}."),
    )
    .connector(connector_id)
}

async fn callback_inner<'c>(
    state: &AppState,
    id: &str,
    connector: &'c Result<Connector, InvalidConnector>,
    params: &CallbackParams,
    headers: &HeaderMap,
) -> Result<(&'c Connector, ExternalProfile, Option<String>), Refusal> {
    let connector = connector.as_ref().map_err(|e| misconfigured(id, e))?;
    let rp = OidcRp::new(connector, &state.master_key, &state.public_url)
        .map_err(|e| misconfigured(id, &e))?;
    let key = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| oidc_refusal(&OidcError::StateMissing, id))?;
    // `state` is single-use and bound to this browser (the pending login).
    let pending = pending::take(state, headers, id, key).await?;
    let (Some(nonce), Some(verifier)) = (
        pending.oidc_nonce.as_deref(),
        pending.oidc_pkce_verifier.as_deref(),
    ) else {
        return Err(Refusal::bad(
            "login_state_corrupt",
            "The sign-in state is unreadable. Please start again.",
        )
        .connector(id));
    };
    let profile = rp::finish(&rp, &state.oidc, params, nonce, verifier)
        .await
        .map_err(|e| oidc_refusal(&e, id))?;
    Ok((connector, profile, pending.return_to))
}
