//! Per-client rate limit for the anonymous sign-in entry points (GCRA from `governor`).
//! Over the limit: 429 with our error page; no database write (a flood must not turn
//! into audit-table growth).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LoginConfig;
use crate::error::AppError;

pub type Limiter = DefaultKeyedRateLimiter<IpAddr>;

pub fn login_limiter(cfg: &LoginConfig) -> Arc<Limiter> {
    let per_minute = NonZeroU32::new(cfg.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(cfg.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

pub async fn limit(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if limiter.check_key(&ip).is_err() {
        tracing::warn!(%ip, path = req.uri().path(), "rate limited");
        return AppError::TooManyRequests.into_response();
    }
    next.run(req).await
}
