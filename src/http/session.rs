//! The ssogate session: a server-side record (store::sessions) behind an HttpOnly cookie
//! holding only its random id. A sign-in always starts a NEW session id (no fixation);
//! the session ends after `idle_timeout_secs` without use, `absolute_lifetime_secs` after
//! sign-in, or at the IdP's SessionNotOnOrAfter, whichever comes first.

use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::app::AppState;
use crate::store::now_ms;
use crate::store::sessions::{DbSessionStore, USER_ID_KEY};

pub const SESSION_COOKIE: &str = "ssogate_session";
const CONNECTOR_KEY: &str = "connector";
const SIGNED_IN_AT_KEY: &str = "signed_in_at";
const EXPIRES_AT_KEY: &str = "expires_at";

pub fn layer(state: &AppState) -> SessionManagerLayer<DbSessionStore> {
    let secure = state.public_url.starts_with("https://");
    let mut layer = SessionManagerLayer::new(DbSessionStore::new(state.store.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_secure(secure)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::seconds(
            state.config.session.idle_timeout_secs as i64,
        )));
    if !state.config.session.cookie_domain.is_empty() {
        layer = layer.with_domain(state.config.session.cookie_domain.clone());
    }
    layer
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
    session.insert(USER_ID_KEY, user_id).await?;
    session.insert(CONNECTOR_KEY, connector_id).await?;
    session.insert(SIGNED_IN_AT_KEY, now).await?;
    session.insert(EXPIRES_AT_KEY, expires_at).await?;
    Ok(())
}

/// The signed-in user, if the session is live (an expired one is ended here).
pub async fn current(session: &Session) -> Option<SignedIn> {
    let user_id: String = session.get(USER_ID_KEY).await.ok()??;
    let expires_at: i64 = session.get(EXPIRES_AT_KEY).await.ok()?.unwrap_or(0);
    if expires_at <= now_ms() {
        let _ = session.flush().await;
        return None;
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
