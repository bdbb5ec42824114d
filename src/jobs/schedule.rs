//! The key schedule, reloads and clean-up of a running instance: every [`KEY_RELOAD_MS`] it applies the key
//! schedule (creating and retiring keys when due), reloads the keys and the apps, and
//! sweeps the forward-auth cache; every `session.cleanup_interval_secs` it deletes
//! expired sessions, pending logins, SAML replay-cache entries and keys that left the
//! JWKS. Failures are logged and retried at the
//! next tick: the instance keeps serving with what it has.
//!
//! Its writes follow the rule for background writes in [`crate::jobs`] (never
//! undo what someone else changed meanwhile): each clean-up is one conditional DELETE
//! evaluated when it runs (a session whose expiry activity moved forward is not expired
//! any more), and the key schedule only inserts new keys and sets retirement dates, in
//! one transaction, never re-creating a removed key; two instances rotating at once are
//! reconciled by the schedule itself ([`rotation`]). The app and key reloads only read.

use std::time::Duration;

use crate::app::AppState;
use crate::store::{now_ms, pending_logins, saml_replay, sessions, signing_keys};
use crate::tokens::{rotation, KEY_RELOAD_MS};

/// One tick of the fast work (keys, apps, cache) at `now`.
pub async fn tick(state: &AppState, now: i64) {
    let gw = &state.gateway;
    match rotation::ensure(&state.store, &state.master_key, &gw.policy, now, false).await {
        Ok(applied) => {
            if let Some((kid, publish_at, sign_from)) = &applied.created {
                tracing::info!(%kid, publish_at, sign_from, "scheduled a new signing key");
            }
        }
        Err(e) => tracing::error!(error = %e, "applying the signing key schedule failed"),
    }
    if let Err(e) = gw.keys.reload(&state.store, &state.master_key, now).await {
        tracing::error!(error = %e, "reloading signing keys failed");
    }
    if let Err(e) = gw.reload_apps(&state.store).await {
        tracing::error!(error = %e, "reloading apps failed");
    }
    gw.sweep(now);
    // Refilled rate-limit buckets (the limiters bound themselves; this keeps them small).
    state.login_limiter.sweep();
    state.callback_limiter.sweep();
}

/// Deletes expired sessions, pending logins and SAML replay-cache entries, and removed
/// keys: the one place expired rows go (the request paths never sweep).
pub async fn clean_up(state: &AppState, now: i64) {
    match state.store.write().await {
        Ok(mut conn) => {
            match sessions::delete_expired(&mut conn).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted expired sessions"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "deleting expired sessions failed"),
            }
            if let Err(e) = pending_logins::purge_expired(&mut conn, now).await {
                tracing::error!(error = %e, "deleting expired pending logins failed");
            }
            if let Err(e) = saml_replay::purge_expired(&mut conn, now).await {
                tracing::error!(error = %e, "deleting expired SAML assertion ids failed");
            }
            if let Err(e) = signing_keys::delete_removed(&mut conn, now).await {
                tracing::error!(error = %e, "deleting removed signing keys failed");
            }
        }
        Err(e) => tracing::error!(error = %e, "clean-up: no database connection"),
    }
}

/// Runs until the returned handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let cleanup_every = Duration::from_secs(state.config.session.cleanup_interval_secs);
        let mut fast = tokio::time::interval(Duration::from_millis(KEY_RELOAD_MS as u64));
        let mut slow = tokio::time::interval(cleanup_every);
        fast.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        slow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = fast.tick() => tick(&state, now_ms()).await,
                _ = slow.tick() => clean_up(&state, now_ms()).await,
            }
        }
    })
}
