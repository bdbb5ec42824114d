//! `GET /login/{connector}`: starts a sign-in with that connector.

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::connectors::oidc::rp::{self, OidcRp};
use crate::connectors::saml::authn_request::build_authn_request;
use crate::connectors::saml::sp::SamlSp;
use crate::connectors::{Connector, ConnectorKind, InvalidConnector, Protocol};
use crate::error::AppError;
use crate::flow::pending::{self, random_token, PendingData};
use crate::flow::refusal::{refuse, Refusal};
use crate::flow::return_to;
use crate::http::{ClientIp, RequestId};
use crate::store::connectors as connector_store;

#[derive(Debug, Deserialize, Default)]
pub struct StartQuery {
    pub return_to: Option<String>,
}

/// The enabled connector `id`, parsed ([`Connector::from_record`]), or a 404 page. A row
/// that does not parse is not a 404: each handler refuses it (audited) as misconfigured.
pub async fn load_connector(
    state: &AppState,
    id: &str,
) -> Result<Result<Connector, InvalidConnector>, AppError> {
    if !crate::connectors::valid_connector_id(id) {
        return Err(AppError::NotFound("sign-in method".into()));
    }
    let mut conn = state.store.read().await?;
    match connector_store::get(&mut conn, id).await? {
        Some(c) if c.enabled => Ok(Connector::from_record(c)),
        _ => Err(AppError::NotFound("sign-in method".into())),
    }
}

/// The refusal for a connector that cannot sign anyone in as configured (logged with the
/// cause for the administrator; the person only learns whom to tell).
pub fn misconfigured(connector_id: &str, error: &dyn std::fmt::Display) -> Refusal {
    tracing::error!(connector = connector_id, error = %error, "connector is misconfigured");
    Refusal::bad(
        "connector_misconfigured",
        "This sign-in method is not configured correctly. Please tell your administrator.",
    )
    .connector(connector_id)
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
    let unsupported = || {
        Refusal::bad(
            "connector_kind_unsupported",
            "This sign-in method is not available yet.",
        )
        .connector(cid)
    };
    let connector = match connector {
        Ok(c) => c,
        Err(InvalidConnector::UnknownKind { .. }) => return Err(unsupported()),
        Err(e) => return Err(misconfigured(cid, e)),
    };
    let mut data = PendingData {
        return_to,
        started_request_id: Some(rid.0.clone()),
        ..Default::default()
    };
    let (key, url) = match connector.protocol() {
        Protocol::Saml(_) | Protocol::Unconfigured(ConnectorKind::Saml) => {
            let sp = SamlSp::new(connector, &state.master_key, &state.public_url)
                .map_err(|e| misconfigured(cid, &e))?;
            let relay_state = random_token();
            let req = build_authn_request(&sp, &relay_state).map_err(|e| misconfigured(cid, &e))?;
            data.saml_request_id = Some(req.request_id);
            (relay_state, req.url)
        }
        Protocol::Oidc(_) | Protocol::Unconfigured(ConnectorKind::Oidc) => {
            let rp = OidcRp::new(connector, &state.master_key, &state.public_url)
                .map_err(|e| misconfigured(cid, &e))?;
            let started = rp::start(&rp, &state.oidc).await.map_err(|e| {
                Refusal::bad(
                    e.code(),
                    format!("The identity provider is not available: {e}"),
                )
                .connector(cid)
            })?;
            data.oidc_nonce = Some(started.nonce);
            data.oidc_pkce_verifier = Some(started.pkce_verifier);
            (started.state, started.url)
        }
        Protocol::Social(_) | Protocol::Email | Protocol::Unconfigured(_) => {
            return Err(unsupported())
        }
    };
    let (_, cookie) = pending::begin(state, headers, client, cid, &key, &data).await?;
    let mut resp = redirect(&url).map_err(|e| misconfigured(cid, &e))?;
    pending::set_cookie(resp.headers_mut(), cookie);
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(resp)
}
