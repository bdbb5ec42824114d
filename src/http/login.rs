//! `GET /login/{connector}`: starts a sign-in with that connector.

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::connectors::signin::{self, SignInError};
use crate::connectors::{Connector, InvalidConnector};
use crate::error::AppError;
use crate::flow::pending::{self, PendingData};
use crate::flow::refusal::{refuse, sign_in_refusal, Refusal};
use crate::flow::return_to;
use crate::http::{ClientIp, RequestId};
use crate::store::connectors as connector_store;

#[derive(Debug, Deserialize, Default)]
pub struct StartQuery {
    pub return_to: Option<String>,
}

/// The enabled connector `id`, parsed ([`Connector::from_record`]), or a 404 page. A row
/// that does not parse is not a 404: the sign-in refuses it (audited), see
/// [`signin::open`].
pub async fn load_connector(
    state: &AppState,
    id: &str,
) -> Result<Result<Connector, InvalidConnector>, AppError> {
    if !crate::connectors::valid_connector_id(id) {
        return Err(AppError::NotFound("sign-in method".into()));
    }
    let mut conn = state.store.read().await?;
    // `enabled` is a column, read before the config is parsed: a disabled row is a 404
    // whether or not it parses.
    match connector_store::get(&mut conn, id).await? {
        Some(c) if c.enabled => Ok(Connector::from_record(c)),
        _ => Err(AppError::NotFound("sign-in method".into())),
    }
}

fn redirect(url: &str) -> Result<Response, AppError> {
    let loc = HeaderValue::from_str(url)
        .map_err(|_| AppError::internal("redirect URL is not a valid header"))?;
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut().insert(LOCATION, loc);
    Ok(resp)
}

pub async fn start(
    State(state): State<AppState>,
    rid: RequestId,
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
    Query(q): Query<StartQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let connector = load_connector(&state, &id).await?;
    let return_to = return_to::accept(&state, &rid, q.return_to.as_deref(), Some(&id)).await?;
    match start_inner(&state, &rid, &id, &connector, return_to, &headers, client).await {
        Ok(resp) => Ok(resp),
        Err(r) => Err(refuse(&state, &rid, r).await),
    }
}

async fn start_inner(
    state: &AppState,
    rid: &RequestId,
    cid: &str,
    connector: &Result<Connector, InvalidConnector>,
    return_to: Option<String>,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Response, Refusal> {
    let env = state.sign_in_env();
    let started = async { signin::open(connector, &env)?.1.start(&env).await }
        .await
        .map_err(|e| sign_in_refusal(e, cid))?;
    let mut data = PendingData {
        return_to,
        started_request_id: Some(rid.0.clone()),
        ..Default::default()
    };
    data.keep(started.kept);
    let (key, url) = (started.key, started.redirect_url);
    let (_, cookie) = pending::begin(state, headers, client, cid, &key, &data).await?;
    let mut resp = redirect(&url)
        .map_err(|e| sign_in_refusal(SignInError::Misconfigured(e.to_string()), cid))?;
    pending::set_cookie(resp.headers_mut(), cookie);
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(resp)
}
