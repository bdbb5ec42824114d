//! A refused sign-in: a precise audit event for the administrator, a clear page (with
//! the request id and the reason code) for the person, 400/403 — never 500 — and nothing
//! else written.
//!
//! One kind is not the person's doing: a sign-in step that failed because the database
//! cannot serve ([`Refusal::store_failed`]). It answers 503 `database_unavailable` with
//! `Retry-After`, and is logged but not audited: the audit table lives in the database
//! that just failed, and trying to write it would only make the person wait a second
//! acquire timeout.

use serde_json::{json, Value};

use crate::app::AppState;
use crate::connectors::oidc::error::OidcError;
use crate::connectors::saml::error::SamlError;
use crate::connectors::signin::SignInError;
use crate::error::{AppError, DATABASE_UNAVAILABLE};
use crate::request::RequestId;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct Refusal {
    /// Stable reason code (which check failed), e.g. `saml_audience_mismatch`.
    pub code: &'static str,
    /// Plain words for the person.
    pub message: String,
    /// 403 for "you may not" (policy), 400 for "this response is not acceptable".
    pub forbidden: bool,
    pub connector_id: Option<String>,
    pub user_id: Option<String>,
    /// Extra detail for the audit event (never secrets).
    pub detail: Value,
    /// The database could not serve (503, not audited): see the module documentation.
    pub unavailable: bool,
}

impl Refusal {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            forbidden: false,
            connector_id: None,
            user_id: None,
            detail: Value::Null,
            unavailable: false,
        }
    }

    /// A sign-in step failed in the store with `e`: `database_unavailable` when the
    /// database cannot serve right now (the person only has to try again), else
    /// `otherwise`. The cause is logged either way.
    pub fn store_failed(e: &StoreError, otherwise: Refusal) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, code = otherwise.code, "sign-in step failed: database unavailable");
            Refusal {
                code: DATABASE_UNAVAILABLE,
                message: AppError::DatabaseUnavailable.public_message(),
                unavailable: true,
                ..otherwise
            }
        } else {
            tracing::error!(error = %e, code = otherwise.code, "sign-in step failed in the store");
            otherwise
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            forbidden: true,
            ..Refusal::bad(code, message)
        }
    }

    pub fn connector(mut self, id: &str) -> Self {
        self.connector_id = Some(id.to_string());
        self
    }

    pub fn user(mut self, id: &str) -> Self {
        self.user_id = Some(id.to_string());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// An answer to the ACS / a callback from a client over its stray-callback budget:
    /// a 429, not audited (see [`refuse_callback`]).
    pub fn rate_limited() -> Self {
        Refusal::bad("rate_limited", "Too many requests. Please wait a minute.")
    }

    /// Refused before any pending sign-in was found: what a flood of made-up callbacks
    /// gets (see [`crate::http::rate_limit`]).
    fn is_stray(&self) -> bool {
        matches!(
            self.code,
            "login_state_no_cookie"
                | "login_state_unknown"
                | "login_state_other_browser"
                | "login_state_expired"
                | "login_state_wrong_connector"
                | "oidc_state_missing"
                | "saml_response_missing"
                | "saml_duplicate_parameter"
                | "saml_body_too_large"
        )
    }
}

/// The refusal for an answer the SAML checks did not accept.
pub fn saml_refusal(e: &SamlError, connector_id: &str) -> Refusal {
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

/// The refusal for an answer the OIDC checks did not accept.
pub fn oidc_refusal(e: &OidcError, connector_id: &str) -> Refusal {
    Refusal::bad(
        e.code(),
        format!("The answer from your identity provider was not accepted: {e}."),
    )
    .connector(connector_id)
}

/// The refusal for a connector's start or finish error (one reason code each).
pub fn sign_in_refusal(e: SignInError, connector_id: &str) -> Refusal {
    let id = connector_id;
    match e {
        SignInError::Unsupported => Refusal::bad(
            "connector_kind_unsupported",
            "This sign-in method is not available yet.",
        )
        .connector(id),
        SignInError::Misconfigured(cause) => {
            // The cause is for the administrator; the person only learns whom to tell.
            tracing::error!(connector = id, error = %cause, "connector is misconfigured");
            Refusal::bad(
                "connector_misconfigured",
                "This sign-in method is not configured correctly. Please tell your administrator.",
            )
            .connector(id)
        }
        SignInError::IdpUnavailable(e) => Refusal::bad(
            e.code(),
            format!("The identity provider is not available: {e}"),
        )
        .connector(id),
        SignInError::Saml(e) => saml_refusal(&e, id),
        SignInError::SamlReplay { assertion_id } => {
            saml_refusal(&SamlError::Replay, id).detail(json!({ "assertion_id": assertion_id }))
        }
        SignInError::SamlPoolClosed => Refusal::bad(
            "saml_internal",
            "The sign-in answer could not be processed.",
        )
        .connector(id),
        SignInError::Oidc(e) => oidc_refusal(&e, id),
        SignInError::StateCorrupt => Refusal::bad(
            "login_state_corrupt",
            "The sign-in state is unreadable. Please start again.",
        )
        .connector(id),
        SignInError::Store(e) => Refusal::store_failed(
            &e,
            Refusal::bad(
                "store_unavailable",
                "The sign-in could not be completed. Please try again.",
            )
            .connector(id),
        ),
    }
}

/// [`refuse`] for the ACS and callbacks: a refusal that found no pending sign-in spends
/// the client's stray-callback budget; over it, a 429 without an audit event (a flood of
/// made-up callbacks must not grow the audit table). A callback with a valid pending
/// sign-in never spends it.
pub async fn refuse_callback(
    state: &AppState,
    request_id: &RequestId,
    client: std::net::IpAddr,
    r: Refusal,
) -> AppError {
    if r.code == "rate_limited" || (r.is_stray() && !state.callback_limiter.check(client)) {
        tracing::warn!(%client, code = r.code, "sign-in callback rate limited");
        return AppError::TooManyRequests;
    }
    refuse(state, request_id, r).await
}

/// Records the refusal (`signin.refused` with the reason) and turns it into the error the
/// person sees. If the audit write itself fails, the refusal still stands (logged).
pub async fn refuse(state: &AppState, request_id: &RequestId, r: Refusal) -> AppError {
    if r.unavailable {
        tracing::warn!(
            connector = r.connector_id.as_deref().unwrap_or("-"),
            "sign-in not completed: the database is unavailable"
        );
        return AppError::DatabaseUnavailable;
    }
    tracing::warn!(
        code = r.code,
        connector = r.connector_id.as_deref().unwrap_or("-"),
        "sign-in refused: {}",
        r.message
    );
    let event = NewAuditEvent {
        kind: "signin.refused".into(),
        request_id: Some(request_id.0.clone()),
        actor: None,
        user_id: r.user_id.clone(),
        organization_id: None,
        connector_id: r.connector_id.clone(),
        reason: Some(r.code.to_string()),
        data: json!({ "message": r.message, "detail": r.detail }),
    };
    match state.store.write().await {
        Ok(mut conn) => {
            if let Err(e) = audit::record(&mut conn, &event).await {
                tracing::error!(error = %e, "could not record the refusal audit event");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not record the refusal audit event"),
    }
    if r.forbidden {
        AppError::forbidden(r.code, r.message)
    } else {
        AppError::bad_request(r.code, r.message)
    }
}
