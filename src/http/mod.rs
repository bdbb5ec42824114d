//! The HTTP surface: the router, the request context (request id, logging, error
//! rendering) and the handlers. Handlers only extract, call the domain layer and render.
//!
//! The dependency direction: `http/` may use every other module; no module outside it
//! uses `http/` (what they share with it, the request id, client address, cookies and
//! sessions, lives in [`crate::request`] and [`crate::session`]). The one exception is
//! [`crate::app`], which builds the router from the state: `app` is the top, `http` the
//! layer under it, and the domain modules take `AppState` from `app` only as the bag
//! of shared handles it is.

pub mod api;
pub mod forward_auth;
pub mod health;
pub mod login;
pub mod oidc;
pub mod pages;
pub mod rate_limit;
pub mod saml;

use std::time::Instant;

use askama::Template;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::header::{HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::app::AppState;
use crate::error::{AppError, ErrorInfo};

/// Re-exported for the handlers: the request context lives in [`crate::request`] so that
/// `flow/` and `gateway/` can use it without depending on the HTTP layer.
pub use crate::request::{ClientIp, RequestId};

pub fn router(state: AppState) -> Router {
    // Starting a sign-in: rate-limited per client. Finishing one (ACS, callbacks) is
    // admitted by its pending sign-in instead (see `rate_limit`).
    let signin = Router::new()
        .route("/login", get(pages::login_page).post(pages::login_discover))
        .route("/login/{connector}", get(login::start))
        .layer(axum::middleware::from_fn_with_state(
            rate_limit::LimitState {
                limiter: state.login_limiter.clone(),
                proxies: state.proxies.clone(),
            },
            rate_limit::limit,
        ))
        .route("/oidc/{connector}/callback", get(oidc::callback))
        .route(
            "/saml/{connector}/acs",
            post(saml::acs).layer(DefaultBodyLimit::max(saml::MAX_ACS_BODY)),
        );
    let session_layer = crate::session::layer(&state);
    // Forward-auth (reads the session cookie itself, through its cache) and the JWKS:
    // outside the session layer.
    let gateway = Router::new()
        .route("/auth/verify", get(forward_auth::verify))
        .route("/.well-known/jwks.json", get(forward_auth::jwks));
    #[cfg(feature = "bench")]
    let gateway = gateway.route("/bench/baseline", get(forward_auth::bench_baseline));
    let gateway = gateway.with_state(state.clone());
    Router::new()
        .merge(signin)
        .route("/saml/{connector}/metadata", get(saml::metadata))
        .route("/", get(pages::home))
        .route("/me", get(pages::me))
        .route("/logout", post(pages::logout))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api::router())
        .fallback(not_found)
        .with_state(state)
        .layer(session_layer)
        .merge(gateway)
        .layer(axum::middleware::from_fn(request_context))
        // Innermost: a panic in a handler becomes a 500 for this request only.
        .layer(CatchPanicLayer::custom(|_| {
            AppError::internal("handler panicked").into_response()
        }))
}

async fn not_found() -> AppError {
    AppError::NotFound("page".into())
}

/// Request id, a span for the request's logs, one log line per request, and rendering
/// of errors as HTML or JSON.
async fn request_context(mut req: Request, next: Next) -> Response {
    let id = RequestId(uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(id.clone());
    let wants_json = wants_json(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Some(info) = resp.extensions_mut().remove::<ErrorInfo>() {
        if let Some(cause) = &info.internal {
            span.in_scope(|| tracing::error!(code = info.code, cause = %cause, "request failed"));
        }
        resp = render_error(&info, &id, wants_json);
    }
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert("x-request-id", v);
    }
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    resp
}

fn wants_json(req: &Request) -> bool {
    let path = req.uri().path();
    if path.starts_with("/api/") || path.starts_with("/.well-known/") {
        return true;
    }
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    code: &'a str,
    request_id: &'a str,
}

fn render_error(info: &ErrorInfo, id: &RequestId, json: bool) -> Response {
    let mut resp = render_error_body(info, id, json);
    if let Some(secs) = info.retry_after_secs {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn render_error_body(info: &ErrorInfo, id: &RequestId, json: bool) -> Response {
    if json {
        let body = serde_json::json!({
            "error": { "code": info.code, "message": info.message, "request_id": id.0 }
        });
        return (info.status, Json(body)).into_response();
    }
    let page = ErrorPage {
        title: info.title,
        message: &info.message,
        code: info.code,
        request_id: &id.0,
    };
    match page.render() {
        Ok(html) => {
            let mut resp = (info.status, html).into_response();
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        Err(_) => (
            info.status,
            format!("{} (request id {})", info.message, id.0),
        )
            .into_response(),
    }
}
