//! Per-client rate limits (GCRA) for the anonymous sign-in entry points.
//!
//! - `/login` and `/login/{connector}` spend the client's budget (the [`limit`]
//!   middleware). Over it: 429 with our error page and no database write (a flood must not
//!   turn into audit-table growth).
//! - The SAML ACS and the OIDC callbacks are **not** charged when they carry a valid
//!   pending sign-in: that one-time state is their admission, so a company behind one NAT
//!   address is not locked out of finishing sign-ins by someone flooding `/login` from the
//!   same address. Only a callback that turns out to carry no valid state (or an
//!   unsolicited SAML response, which costs a signature check) spends a separate "stray
//!   callback" budget ([`Limiter::check`] in the handlers); over it, such a request gets a
//!   429 without an audit event.
//!
//! The client is the address [`crate::client_addr`] reads through
//! `server.trusted_proxies`, IPv6 keyed on its /64.
//! Memory is bounded ([`crate::limiter`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::client_addr::TrustedProxies;
use crate::config::LoginConfig;
use crate::error::AppError;
pub use crate::limiter::Limiter;

/// The `/login` limiter from configuration.
pub fn login_limiter(cfg: &LoginConfig) -> Arc<Limiter> {
    Arc::new(Limiter::new(
        cfg.rate_limit_per_minute,
        cfg.rate_limit_burst,
        cfg.rate_limit_clients as usize,
    ))
}

/// The stray-callback limiter: the same budget, kept apart from `/login`'s.
pub fn callback_limiter(cfg: &LoginConfig) -> Arc<Limiter> {
    login_limiter(cfg)
}

/// What [`limit`] needs: the limiter and whom to believe about the client.
#[derive(Clone)]
pub struct LimitState {
    pub limiter: Arc<Limiter>,
    pub proxies: TrustedProxies,
}

/// Middleware for `/login` and `/login/{connector}`.
pub async fn limit(State(s): State<LimitState>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = s.proxies.client_of(peer, req.headers());
    if !s.limiter.check(ip) {
        tracing::warn!(%ip, path = req.uri().path(), "rate limited");
        return AppError::TooManyRequests.into_response();
    }
    next.run(req).await
}
