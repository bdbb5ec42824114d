//! `GET /oidc/{connector}/callback`: the OIDC redirect URI.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use tower_sessions::Session;

use crate::app::AppState;
use crate::connectors::oidc::error::OidcError;
use crate::connectors::oidc::rp::CallbackParams;
use crate::connectors::signin::{self, Answer};
use crate::connectors::{Connector, ConnectorKind, ExternalProfile, InvalidConnector};
use crate::error::AppError;
use crate::flow::complete::complete_sign_in;
use crate::flow::pending;
use crate::flow::refusal::{oidc_refusal, refuse, refuse_callback, sign_in_refusal, Refusal};
use crate::http::login::load_connector;
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

async fn callback_inner<'c>(
    state: &AppState,
    id: &str,
    connector: &'c Result<Connector, InvalidConnector>,
    params: &CallbackParams,
    headers: &HeaderMap,
) -> Result<(&'c Connector, ExternalProfile, Option<String>), Refusal> {
    let env = state.sign_in_env();
    let (connector, rp) = signin::open_as(connector, &env, ConnectorKind::Oidc)
        .map_err(|e| sign_in_refusal(e, id))?;
    let key = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| oidc_refusal(&OidcError::StateMissing, id))?;
    // `state` is single-use and bound to this browser (the pending login).
    let pending = pending::take(state, headers, id, key).await?;
    let profile = rp
        .finish(&env, Answer::Oidc(params), &pending.kept())
        .await
        .map_err(|e| sign_in_refusal(e, id))?;
    Ok((connector, profile, pending.return_to))
}
