//! SAML endpoints: our SP metadata and the assertion consumer service.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use tower_sessions::Session;

use crate::app::AppState;
use crate::connectors::saml::error::SamlError;
use crate::connectors::saml::pool::PoolError;
use crate::connectors::saml::sp::SamlSp;
use crate::connectors::saml::sp_metadata::sp_metadata_xml;
use crate::connectors::saml::verify::{
    verify_response, Expected, VerifiedAssertion, MAX_SAML_RESPONSE_B64,
};
use crate::connectors::{Connector, InvalidConnector};
use crate::error::AppError;
use crate::flow::complete::complete_sign_in;
use crate::flow::pending;
use crate::flow::refusal::{refuse, refuse_callback, Refusal};
use crate::http::login::{load_connector, misconfigured};
use crate::http::{ClientIp, RequestId};
use crate::store::saml_replay;

/// The ACS reads request bodies up to this size (larger ones are refused unread); the
/// SAMLResponse field itself is checked against [`MAX_SAML_RESPONSE_B64`] before it is
/// decoded.
pub const MAX_ACS_BODY: usize = 2 * MAX_SAML_RESPONSE_B64;

pub async fn metadata(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let sp = load_connector(&state, &id)
        .await?
        .ok()
        .and_then(|c| SamlSp::new(&c, &state.master_key, &state.public_url).ok())
        .ok_or_else(|| AppError::NotFound("SAML connector".into()))?;
    let mut resp = sp_metadata_xml(&sp).into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(resp)
}

fn saml_refusal(e: &SamlError, connector_id: &str) -> Refusal {
    let r = match e {
        SamlError::Unsolicited | SamlError::InResponseToMismatch | SamlError::Replay => {
            Refusal::forbidden(e.code(), e.to_string())
        }
        _ => Refusal::bad(
            e.code(),
            format!("The answer from your identity provider was not accepted: {e}."),
        ),
    };
    r.connector(connector_id)
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
        Ok((connector, verified, return_to)) => {
            match complete_sign_in(
                &state,
                &rid,
                &session,
                connector,
                verified.profile,
                return_to,
            )
            .await
            {
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
) -> Result<(&'c Connector, VerifiedAssertion, Option<String>), Refusal> {
    let connector = connector.as_ref().map_err(|e| misconfigured(id, e))?;
    let sp = SamlSp::new(connector, &state.master_key, &state.public_url)
        .map_err(|e| misconfigured(id, &e))?;
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
    let (in_response_to, return_to) = match relay_state.as_deref().filter(|s| !s.is_empty()) {
        Some(key) => {
            let p = pending::take(state, headers, id, key).await?;
            (p.saml_request_id, p.return_to)
        }
        // Unsolicited: no one-time state admits it, and checking it costs a signature
        // verification; it spends the client's stray-callback budget.
        None => {
            if !state.callback_limiter.check(client) {
                return Err(Refusal::rate_limited().connector(id));
            }
            (None, None)
        }
    };
    let expected = Expected {
        in_response_to,
        now: chrono::Utc::now(),
        max_clock_skew_secs: state.config.login.max_clock_skew_secs as i64,
    };

    // Verification is CPU-bound and runs native code (libxml2/xmlsec): bounded blocking
    // pool, and a panic in there is this request's 400, not a dead worker.
    let verified = match state
        .saml_verifications
        .run(move || verify_response(&sp, &saml_response, &expected))
        .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(saml_refusal(&e, id)),
        Err(PoolError::Panicked) => {
            tracing::error!(connector = id, "SAML verification panicked");
            return Err(saml_refusal(
                &SamlError::Internal("verification panicked".into()),
                id,
            ));
        }
        Err(PoolError::Closed) => {
            return Err(Refusal::bad(
                "saml_internal",
                "The sign-in answer could not be processed.",
            )
            .connector(id))
        }
    };

    // Replay cache: each assertion ID once per IdP, remembered until it expires.
    let fresh = async {
        let mut conn = state.store.write().await?;
        saml_replay::remember(
            &mut conn,
            &verified.issuer,
            &verified.assertion_id,
            verified.assertion_expires_at,
        )
        .await
    }
    .await
    .map_err(|e| {
        Refusal::store_failed(
            &e,
            Refusal::bad(
                "store_unavailable",
                "The sign-in could not be completed. Please try again.",
            )
            .connector(id),
        )
    })?;
    if !fresh {
        return Err(saml_refusal(&SamlError::Replay, id)
            .detail(json!({ "assertion_id": verified.assertion_id })));
    }
    Ok((connector, verified, return_to))
}
