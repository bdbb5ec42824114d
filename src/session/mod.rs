//! ssogate's own session (not the IdP's): a server-side record (store::sessions) behind an HttpOnly cookie
//! holding only its random id. A sign-in always starts a NEW session id (no fixation);
//! the session ends after `idle_timeout_secs` without use, `absolute_lifetime_secs` after
//! sign-in, or at the IdP's SessionNotOnOrAfter, whichever comes first.
//!
//! The cookie: HttpOnly, SameSite=Lax, Secure when the public URL is https, and named
//! `__Host-ssogate_session` when it can be (https and no `session.cookie_domain`: the
//! prefix makes browsers refuse the cookie from a sibling subdomain or over http).
//! Its Max-Age is the absolute lifetime, because apps behind forward-auth keep a session
//! active without ssogate ever answering the browser; the idle timeout is enforced on
//! the server (the row's `expiry_date`, moved forward on activity at most once a minute).
//!
//! Everything about the session is here: its cookie (name, attributes: [`layer`]), the
//! record's layout ([`record_data`]), starting, reading and ending it, and what counts as
//! activity. The sign-in flow starts it, the pages read and end it, forward-auth reads the
//! stored record through its cache ([`signed_in_from_record`]).

use std::collections::HashMap;

use serde_json::Value;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::Record;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::app::AppState;
use crate::config::Config;
use crate::store::now_ms;
use crate::store::sessions::{DbSessionStore, EXPIRES_AT_KEY, USER_ID_KEY};

/// The cookie name on http, or with a `session.cookie_domain`.
pub const SESSION_COOKIE: &str = "ssogate_session";
/// The cookie name on https without a cookie domain.
pub const HOST_SESSION_COOKIE: &str = "__Host-ssogate_session";
const CONNECTOR_KEY: &str = "connector";
const SIGNED_IN_AT_KEY: &str = "signed_in_at";
/// When activity last moved the session's expiry forward (unix ms).
const SEEN_AT_KEY: &str = "seen_at";
/// Activity moves the idle expiry forward at most this often: once a minute per active
/// session (not once per request), or a quarter of a shorter idle timeout.
pub fn activity_granularity_ms(idle_timeout_ms: i64) -> i64 {
    (idle_timeout_ms / 4).clamp(1, 60_000)
}

/// The session cookie's name for this configuration.
pub fn cookie_name(config: &Config, public_url: &str) -> &'static str {
    if public_url.starts_with("https://") && config.session.cookie_domain.is_empty() {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

pub fn layer(state: &AppState) -> SessionManagerLayer<DbSessionStore> {
    let c = &state.config.session;
    let secure = state.public_url.starts_with("https://");
    let store = DbSessionStore::new(state.store.clone())
        .with_idle_timeout_ms((c.idle_timeout_secs as i64).saturating_mul(1000));
    let mut layer = SessionManagerLayer::new(store)
        .with_name(cookie_name(&state.config, &state.public_url))
        .with_http_only(true)
        .with_secure(secure)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::seconds(
            c.absolute_lifetime_secs as i64,
        )));
    if !c.cookie_domain.is_empty() {
        layer = layer.with_domain(c.cookie_domain.clone());
    }
    layer
}

/// The data of a new session record (one place for its layout: [`start`] writes it,
/// [`signed_in_from_record`] reads it).
pub fn record_data(
    user_id: &str,
    connector_id: &str,
    signed_in_at: i64,
    expires_at: i64,
) -> HashMap<String, Value> {
    HashMap::from([
        (USER_ID_KEY.to_string(), Value::from(user_id)),
        (CONNECTOR_KEY.to_string(), Value::from(connector_id)),
        (SIGNED_IN_AT_KEY.to_string(), Value::from(signed_in_at)),
        (EXPIRES_AT_KEY.to_string(), Value::from(expires_at)),
        (SEEN_AT_KEY.to_string(), Value::from(signed_in_at)),
    ])
}

/// Who a stored session record says is signed in, if it has not reached its absolute end.
pub fn signed_in_from_record(record: &Record, now: i64) -> Option<SignedIn> {
    let d = &record.data;
    let user_id = d.get(USER_ID_KEY)?.as_str()?.to_string();
    let expires_at = d.get(EXPIRES_AT_KEY).and_then(Value::as_i64).unwrap_or(0);
    if expires_at <= now {
        return None;
    }
    Some(SignedIn {
        user_id,
        connector_id: d
            .get(CONNECTOR_KEY)
            .and_then(Value::as_str)
            .map(str::to_string),
        signed_in_at: d.get(SIGNED_IN_AT_KEY).and_then(Value::as_i64).unwrap_or(0),
        expires_at,
    })
}

/// Who is signed in, from a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    pub connector_id: Option<String>,
    pub signed_in_at: i64,
    pub expires_at: i64,
}

/// Starts a fresh session for `user_id` (a new id: any session this browser had is gone).
pub async fn start(
    state: &AppState,
    session: &Session,
    user_id: &str,
    connector_id: &str,
    idp_session_not_on_or_after: Option<i64>,
) -> Result<(), tower_sessions::session::Error> {
    let now = now_ms();
    let mut expires_at = now + (state.config.session.absolute_lifetime_secs as i64) * 1000;
    if let Some(cap) = idp_session_not_on_or_after {
        expires_at = expires_at.min(cap);
    }
    session.clear().await;
    session.cycle_id().await?;
    for (k, v) in record_data(user_id, connector_id, now, expires_at) {
        session.insert_value(&k, v).await?;
    }
    Ok(())
}

/// The signed-in user, if the session is live (an expired one is ended here). Counts as
/// activity: at most once a minute this marks the session changed, and saving it moves
/// its idle expiry forward.
pub async fn current(state: &AppState, session: &Session) -> Option<SignedIn> {
    let now = now_ms();
    let user_id: String = session.get(USER_ID_KEY).await.ok()??;
    let expires_at: i64 = session.get(EXPIRES_AT_KEY).await.ok()?.unwrap_or(0);
    if expires_at <= now {
        let _ = session.flush().await;
        return None;
    }
    let seen_at: i64 = session.get(SEEN_AT_KEY).await.ok().flatten().unwrap_or(0);
    let idle_ms = (state.config.session.idle_timeout_secs as i64).saturating_mul(1000);
    if now - seen_at >= activity_granularity_ms(idle_ms) {
        let _ = session.insert(SEEN_AT_KEY, now).await;
    }
    Some(SignedIn {
        user_id,
        connector_id: session.get(CONNECTOR_KEY).await.ok().flatten(),
        signed_in_at: session
            .get(SIGNED_IN_AT_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or(0),
        expires_at,
    })
}

pub async fn end(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.flush().await
}
