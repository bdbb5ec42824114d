//! SAML endpoints: our SP metadata and the assertion consumer service.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use tower_sessions::Session;

use crate::app::AppState;
use crate::connectors::saml::error::SamlError;
use crate::connectors::saml::sp_metadata::sp_metadata_xml;
use crate::connectors::saml::verify::MAX_SAML_RESPONSE_B64;
use crate::connectors::signin::{self, Answer, Kept, Opened};
use crate::connectors::{Connector, ConnectorKind, ExternalProfile, InvalidConnector};
use crate::error::AppError;
use crate::flow::complete::complete_sign_in;
use crate::flow::pending;
use crate::flow::refusal::{refuse, refuse_callback, saml_refusal, sign_in_refusal, Refusal};
use crate::http::login::load_connector;
use crate::http::{ClientIp, RequestId};

/// The ACS reads request bodies up to this size (larger ones are refused unread); the
/// SAMLResponse field itself is checked against [`MAX_SAML_RESPONSE_B64`] before it is
/// decoded.
pub const MAX_ACS_BODY: usize = 2 * MAX_SAML_RESPONSE_B64;

pub async fn metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let connector = load_connector(&state, &id).await?;
    let Ok((_, Opened::Saml(sp))) =
        signin::open_as(&connector, &state.sign_in_env(), ConnectorKind::Saml)
    else {
        return Err(AppError::NotFound("SAML connector".into()));
    };
    let mut resp = sp_metadata_xml(&sp).into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(resp)
}

pub async fn acs(
    State(state): State<AppState>,
    rid: RequestId,
    ClientIp(client): ClientIp,
    Path(id): Path<String>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let connector = load_connector(&state, &id).await?;
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            let r = saml_refusal(&SamlError::BodyTooLarge, &id);
            return Err(refuse_callback(&state, &rid, client, r).await);
        }
    };
    match acs_inner(&state, &id, &connector, &headers, &body, client).await {
        Ok((connector, profile, return_to)) => {
            match complete_sign_in(&state, &rid, &session, connector, profile, return_to).await {
                Ok(resp) => Ok(resp),
                Err(r) => Err(refuse(&state, &rid, r).await),
            }
        }
        Err(r) => Err(refuse_callback(&state, &rid, client, r).await),
    }
}

async fn acs_inner<'c>(
    state: &AppState,
    id: &str,
    connector: &'c Result<Connector, InvalidConnector>,
    headers: &HeaderMap,
    body: &Bytes,
    client: std::net::IpAddr,
) -> Result<(&'c Connector, ExternalProfile, Option<String>), Refusal> {
    let env = state.sign_in_env();
    let (connector, sp) = signin::open_as(connector, &env, ConnectorKind::Saml)
        .map_err(|e| sign_in_refusal(e, id))?;
    let mut saml_response = None;
    let mut relay_state = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "SAMLResponse" if saml_response.is_none() => saml_response = Some(v.into_owned()),
            "RelayState" if relay_state.is_none() => relay_state = Some(v.into_owned()),
            "SAMLResponse" | "RelayState" => {
                return Err(Refusal::bad(
                    "saml_duplicate_parameter",
                    "The sign-in answer is malformed.",
                )
                .connector(id))
            }
            _ => {}
        }
    }
    let saml_response = saml_response.filter(|s| !s.is_empty()).ok_or_else(|| {
        Refusal::bad(
            "saml_response_missing",
            "The sign-in answer has no SAMLResponse.",
        )
        .connector(id)
    })?;
    if saml_response.len() > MAX_SAML_RESPONSE_B64 {
        return Err(saml_refusal(&SamlError::BodyTooLarge, id));
    }

    // Which sign-in does this answer? RelayState names our pending login (bound to this
    // browser). Without one, only an IdP-initiated (unsolicited) sign-in is possible.
    let (kept, return_to) = match relay_state.as_deref().filter(|s| !s.is_empty()) {
        Some(key) => {
            let p = pending::take(state, headers, id, key).await?;
            (p.kept(), p.return_to)
        }
        // Unsolicited: no one-time state admits it, and checking it costs a signature
        // verification; it spends the client's stray-callback budget.
        None => {
            if !state.callback_limiter.check(client) {
                return Err(Refusal::rate_limited().connector(id));
            }
            (Kept::default(), None)
        }
    };
    let profile = sp
        .finish(&env, Answer::Saml(saml_response), &kept)
        .await
        .map_err(|e| sign_in_refusal(e, id))?;
    Ok((connector, profile, return_to))
}
