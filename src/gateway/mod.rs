//! The downstream half: what ssogate does for the apps behind it.
//!
//! - [`apps`]: the apps (stored, validated, and kept in memory by host and origin).
//! - forward-auth's state ([`Gateway`]): which proxies to believe, and short in-memory
//!   caches so that `/auth/verify` needs neither a database round-trip nor a signature
//!   per request. What a session says (who, live or not, memberships) is cached for
//!   `forward_auth.cache_ttl_secs` (5 s by default), and a minted token is reused while
//!   its key still signs, the app's settings are unchanged and more than half of its
//!   lifetime is left. A sign-out or suspension on this instance drops the entries at
//!   once; one on another instance (or a role change) takes effect within the TTL.
//!
//! Its background work (key schedule, reloads, cache sweeps, clean-up) runs in
//! [`crate::jobs::schedule`].

pub mod apps;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;

use axum::http::{HeaderName, HeaderValue};

use crate::config::Config;
use crate::store::{self, sessions, users, Store, StoreError};
use crate::tokens::{self, AccessClaims, KeyRing, OrganizationClaim, Policy, TokenError};
use apps::{AppEntry, Registry};

pub static X_AUTH_REQUEST_USER: HeaderName = HeaderName::from_static("x-auth-request-user");
pub static X_AUTH_REQUEST_EMAIL: HeaderName = HeaderName::from_static("x-auth-request-email");
pub static X_AUTH_REQUEST_NAME: HeaderName = HeaderName::from_static("x-auth-request-name");
pub static X_AUTH_REQUEST_ORG: HeaderName = HeaderName::from_static("x-auth-request-org");
pub static X_AUTH_REQUEST_ROLES: HeaderName = HeaderName::from_static("x-auth-request-roles");

/// One organization membership as forward-auth sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: String,
    pub name: String,
    pub role_ids: Vec<String>,
    pub role_names: Vec<String>,
}

/// Who is behind a live session, as of the last look at the database: the user and
/// their memberships. Not [`crate::store::identities::Identity`], which is one account at
/// an IdP (connector + subject) linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub memberships: Vec<Membership>,
}

impl SessionIdentity {
    /// The memberships `app` sees if it admits this person, or None when it does not.
    /// An app restricted to organizations sees only those (it has no business knowing
    /// about the others).
    pub fn admitted_by<'a>(&'a self, app: &AppEntry) -> Option<Vec<&'a Membership>> {
        let seen: Vec<&Membership> = self
            .memberships
            .iter()
            .filter(|m| !app.org_restricted || app.organization_ids.contains(&m.id))
            .collect();
        if app.org_restricted && seen.is_empty() {
            return None;
        }
        if app.role_restricted
            && !seen
                .iter()
                .any(|m| m.role_ids.iter().any(|r| app.role_ids.contains(r)))
        {
            return None;
        }
        Some(seen)
    }
}

/// What forward-auth answers an admitted request with, made once per (session, app)
/// and reused while it is fresh.
#[derive(Debug, Clone)]
pub struct Grant {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    kid: Option<String>,
    refresh_at: i64,
    app_updated_at: i64,
}

/// Room for one more live session: stale entries go first; if every entry is fresh,
/// the tenth fetched longest ago goes (a re-read costs those sessions one database
/// round-trip; nothing is dropped whole).
fn make_room(map: &mut HashMap<String, Arc<CachedSession>>, now: i64, ttl: i64, capacity: usize) {
    map.retain(|_, c| now < c.fetched_at + ttl);
    if map.len() < capacity {
        return;
    }
    let mut ages: Vec<(i64, String)> = map.iter().map(|(k, c)| (c.fetched_at, k.clone())).collect();
    let drop = (capacity / 10).max(1).min(ages.len());
    if drop < ages.len() {
        ages.select_nth_unstable_by_key(drop, |(at, _)| *at);
    }
    for (_, k) in ages.into_iter().take(drop) {
        map.remove(&k);
    }
}

/// What the cache knows about one session id.
#[derive(Debug)]
pub struct CachedSession {
    /// None: no live session (or a suspended user) behind this id.
    pub identity: Option<Arc<SessionIdentity>>,
    /// The session's `expiry_date` when it was read (or moved forward).
    expires_at: i64,
    fetched_at: i64,
    grants: RwLock<HashMap<String, Grant>>,
}

impl CachedSession {
    /// No live session behind the id.
    fn dead(now: i64) -> CachedSession {
        CachedSession {
            identity: None,
            expires_at: 0,
            fetched_at: now,
            grants: RwLock::new(HashMap::new()),
        }
    }
}

pub struct Gateway {
    /// The apps (read on every forward-auth request: lock-free), and the number of the
    /// load it came from (a slower, older reload never replaces a newer one).
    registry: ArcSwap<Registry>,
    registry_version: Mutex<u64>,
    /// Loads started so far: a load that started earlier never replaces a later one
    /// (the background reload racing a reload after an API change).
    registry_loads: AtomicU64,
    /// Live sessions only (a made-up cookie never lands here, so it cannot evict one).
    sessions: RwLock<HashMap<String, Arc<CachedSession>>>,
    /// Session ids that turned out not to be live, with when that was learnt; bounded
    /// apart from `sessions` (cleared whole when full: losing them costs a re-read).
    unknown: RwLock<HashMap<String, i64>>,
    /// Per client: database reads for session ids that turned out unknown.
    unknown_lookups: crate::limiter::Limiter,
    /// How many such reads there were (tests and metrics).
    unknown_seen: AtomicU64,
    /// Bumped by every sign-out or suspension: a session read from the database before
    /// one is not cached after it (it may be the very session that just ended).
    forgets: AtomicU64,
    pub cookie_name: &'static str,
    ttl_ms: i64,
    capacity: usize,
    idle_timeout_ms: i64,
    pub keys: Arc<KeyRing>,
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Gateway {
    pub fn new(
        config: &Config,
        public_url: &str,
        keys: Arc<KeyRing>,
        policy: Policy,
    ) -> Result<Gateway, crate::config::ConfigError> {
        Ok(Gateway {
            registry: ArcSwap::from_pointee(Registry::default()),
            registry_version: Mutex::new(0),
            registry_loads: AtomicU64::new(0),
            sessions: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
            unknown_lookups: {
                let per_minute = config.forward_auth.unknown_session_lookups_per_minute;
                crate::limiter::Limiter::new(per_minute, (per_minute / 4).max(1), 100_000)
            },
            unknown_seen: AtomicU64::new(0),
            forgets: AtomicU64::new(0),
            cookie_name: crate::session::cookie_name(config, public_url),
            ttl_ms: config.forward_auth.cache_ttl_secs as i64 * 1000,
            capacity: config.forward_auth.cache_capacity.min(10_000_000) as usize,
            idle_timeout_ms: (config.session.idle_timeout_secs as i64).saturating_mul(1000),
            keys,
            policy,
        })
    }

    /// The apps, without touching a shared counter (keep the guard short: not across an
    /// `.await`).
    pub fn registry(&self) -> arc_swap::Guard<Arc<Registry>> {
        self.registry.load()
    }

    /// Reloads the apps from the database.
    pub async fn reload_apps(&self, store: &Store) -> Result<(), StoreError> {
        let load = self.registry_loads.fetch_add(1, Ordering::SeqCst) + 1;
        let mut conn = store.read().await?;
        let records = store::apps::list(&mut conn).await?;
        drop(conn);
        let fresh = Arc::new(Registry::from_records(records));
        let mut version = self
            .registry_version
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if load > *version {
            *version = load;
            self.registry.store(fresh);
        }
        Ok(())
    }

    /// What is known about session `sid` at `now`: from the cache while fresh, else from
    /// the database (and then cached, a dead session too). `client` is who presented the
    /// cookie: a client whose made-up cookies have used up its budget of database reads
    /// gets "not signed in" for further unknown ones without a read.
    pub async fn session(
        &self,
        store: &Store,
        sid: &str,
        now: i64,
        client: impl FnOnce() -> IpAddr,
    ) -> Result<Arc<CachedSession>, GatewayError> {
        let known = read(&self.sessions).get(sid).cloned();
        if let Some(c) = &known {
            // Only live sessions are kept here (unknown ids are in `unknown`).
            if now < c.fetched_at + self.ttl_ms && now < c.expires_at {
                return Ok(c.clone());
            }
        }
        // Only an id never seen live costs this client's budget (computed once, here).
        let client = known.is_none().then(client);
        if let Some(client) = client {
            let seen_dead = read(&self.unknown)
                .get(sid)
                .is_some_and(|at| now < at + self.ttl_ms);
            if seen_dead || !self.unknown_lookups.peek(client) {
                if !seen_dead {
                    tracing::debug!(%client, "forward-auth: unknown-session budget spent");
                }
                return Ok(Arc::new(CachedSession::dead(now)));
            }
        }
        let forgets = self.forgets.load(Ordering::SeqCst);
        let (identity, expires_at) = match self.load_identity(store, sid, now).await? {
            Some((identity, expires_at)) => (identity, expires_at),
            None => {
                if let Some(client) = client {
                    self.unknown_lookups.check(client);
                }
                self.unknown_seen.fetch_add(1, Ordering::Relaxed);
                write(&self.sessions).remove(sid);
                let mut dead = write(&self.unknown);
                if dead.len() >= (self.capacity / 4).max(1) {
                    dead.clear();
                }
                dead.insert(sid.to_string(), now);
                return Ok(Arc::new(CachedSession::dead(now)));
            }
        };
        // Grants made for the same identity stay valid across a refresh.
        let grants = match &known {
            Some(p) if p.identity.as_ref().is_some_and(|old| **old == *identity) => {
                read(&p.grants).clone()
            }
            _ => HashMap::new(),
        };
        let entry = Arc::new(CachedSession {
            identity: Some(identity),
            expires_at,
            fetched_at: now,
            grants: RwLock::new(grants),
        });
        let mut map = write(&self.sessions);
        if self.forgets.load(Ordering::SeqCst) != forgets {
            return Ok(entry);
        }
        if map.len() >= self.capacity && !map.contains_key(sid) {
            make_room(&mut map, now, self.ttl_ms, self.capacity);
        }
        map.insert(sid.to_string(), entry.clone());
        Ok(entry)
    }

    async fn load_identity(
        &self,
        store: &Store,
        sid: &str,
        now: i64,
    ) -> Result<Option<(Arc<SessionIdentity>, i64)>, GatewayError> {
        let mut conn = store.read().await?;
        let Some(live) = sessions::get_live(&mut conn, sid, now).await? else {
            return Ok(None);
        };
        let Some(who) = crate::session::signed_in_from_record(&live.record, now) else {
            return Ok(None);
        };
        let Some(user) = users::get(&mut conn, &who.user_id)
            .await?
            .filter(|u| !u.suspended)
        else {
            return Ok(None);
        };
        let memberships = store::apps::user_access(&mut conn, &user.id)
            .await?
            .into_iter()
            .map(|m| Membership {
                id: m.organization_id,
                name: m.organization_name,
                role_ids: m.roles.iter().map(|r| r.0.clone()).collect(),
                role_names: m.roles.into_iter().map(|r| r.1).collect(),
            })
            .collect();
        drop(conn);
        let mut expires_at = live.expiry_date;
        // Activity through an app keeps the session from idling out (at most one write
        // a minute per session).
        let wanted = who.expires_at.min(now.saturating_add(self.idle_timeout_ms));
        if wanted - expires_at >= crate::session::activity_granularity_ms(self.idle_timeout_ms) {
            match store.write().await {
                Ok(mut w) => match sessions::touch(&mut w, sid, wanted, now).await {
                    Ok(true) => expires_at = wanted,
                    // Ended meanwhile (or moved already): keep what was read.
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not record session activity"),
                },
                Err(e) => tracing::warn!(error = %e, "could not record session activity"),
            }
        }
        Ok(Some((
            Arc::new(SessionIdentity {
                name: user.display_name(),
                user_id: user.id,
                email: user.email,
                memberships,
            }),
            expires_at,
        )))
    }

    /// Forgets a session at once (sign-out on this instance).
    pub fn forget_session(&self, sid: &str) {
        let mut map = write(&self.sessions);
        self.forgets.fetch_add(1, Ordering::SeqCst);
        map.remove(sid);
    }

    /// Forgets every session of a user at once (suspension on this instance).
    pub fn forget_user(&self, user_id: &str) {
        let mut map = write(&self.sessions);
        self.forgets.fetch_add(1, Ordering::SeqCst);
        map.retain(|_, c| c.identity.as_ref().is_none_or(|i| i.user_id != user_id));
    }

    /// Drops stale cache entries.
    pub fn sweep(&self, now: i64) {
        let ttl = self.ttl_ms;
        write(&self.sessions).retain(|_, c| now < c.fetched_at + ttl);
        write(&self.unknown).retain(|_, at| now < *at + ttl);
        self.unknown_lookups.sweep();
    }

    /// Database reads so far for session ids that turned out not to be live.
    pub fn unknown_sessions_seen(&self) -> u64 {
        self.unknown_seen.load(Ordering::Relaxed)
    }

    /// Live sessions cached now (for tests and metrics).
    pub fn cached_sessions(&self) -> usize {
        read(&self.sessions).len()
    }

    /// Whether session `sid` is cached as live (for tests).
    pub fn is_cached(&self, sid: &str) -> bool {
        read(&self.sessions)
            .get(sid)
            .is_some_and(|c| c.identity.is_some())
    }

    /// The headers for an admitted request of `identity` to `app`, reusing a fresh grant.
    pub fn grant(
        &self,
        cached: &CachedSession,
        identity: &SessionIdentity,
        seen: &[&Membership],
        app: &AppEntry,
        issuer: &str,
        now: i64,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
        let keys = if app.headers.token {
            Some(self.keys.snapshot())
        } else {
            None
        };
        let signer = keys.as_ref().and_then(|k| k.signer_at(now));
        if let Some(g) = read(&cached.grants).get(&app.id) {
            if now < g.refresh_at
                && g.app_updated_at == app.updated_at
                && g.kid.as_deref() == signer.map(|k| k.kid.as_str())
            {
                return Ok(g.headers.clone());
            }
        }
        // Every identity header is always sent: with the value when the app gets it and
        // it is known, empty otherwise. A proxy that copies a header the answer lacks may
        // pass on the client's own value (Caddy >= 2.10) or a literal placeholder (Caddy
        // < 2.9); nginx removes an empty one. So one proxy configuration fits every app.
        let mut headers = Vec::with_capacity(6);
        let h = app.headers;
        let user = if h.user {
            identity.user_id.as_str()
        } else {
            ""
        };
        push(&mut headers, &X_AUTH_REQUEST_USER, user);
        let email = identity.email.as_deref().filter(|_| h.email);
        push(
            &mut headers,
            &X_AUTH_REQUEST_EMAIL,
            email.unwrap_or_default(),
        );
        let name = identity.name.as_deref().filter(|_| h.name);
        push(&mut headers, &X_AUTH_REQUEST_NAME, name.unwrap_or_default());
        let orgs = if h.org {
            let list: Vec<String> = seen.iter().map(|m| list_item(&m.name)).collect();
            list.join(",")
        } else {
            String::new()
        };
        push(&mut headers, &X_AUTH_REQUEST_ORG, &orgs);
        let roles = if h.roles {
            let list: Vec<String> = seen
                .iter()
                .flat_map(|m| {
                    m.role_names
                        .iter()
                        .map(move |r| format!("{}:{}", list_item(&m.name), list_item(r)))
                })
                .collect();
            list.join(",")
        } else {
            String::new()
        };
        push(&mut headers, &X_AUTH_REQUEST_ROLES, &roles);
        let mut refresh_at = now + self.ttl_ms.max(1000) * 12;
        let mut kid = None;
        if h.token {
            let key = signer.ok_or(TokenError::NoSigningKey)?;
            let lifetime = self.policy.token_lifetime_ms;
            let claims = AccessClaims {
                iss: issuer.to_string(),
                sub: identity.user_id.clone(),
                aud: app.audience.clone(),
                iat: now / 1000,
                exp: (now + lifetime) / 1000,
                jti: uuid::Uuid::new_v4().to_string(),
                email: identity.email.clone(),
                name: identity.name.clone(),
                organizations: seen
                    .iter()
                    .map(|m| OrganizationClaim {
                        id: m.id.clone(),
                        name: m.name.clone(),
                        roles: m.role_names.clone(),
                    })
                    .collect(),
            };
            let jwt = tokens::sign(key, &claims)?;
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {jwt}")) {
                headers.push((axum::http::header::AUTHORIZATION, v));
            }
            refresh_at = now + lifetime / 2;
            kid = Some(key.kid.clone());
        }
        write(&cached.grants).insert(
            app.id.clone(),
            Grant {
                headers: headers.clone(),
                kid,
                refresh_at,
                app_updated_at: app.updated_at,
            },
        );
        Ok(headers)
    }
}

/// A header value from text: control characters dropped (they cannot be sent), the
/// rest as UTF-8. The header is always pushed (empty if the value cannot be sent): see
/// [`Gateway::grant`].
fn push(headers: &mut Vec<(HeaderName, HeaderValue)>, name: &HeaderName, value: &str) {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    let v = HeaderValue::from_bytes(clean.as_bytes()).unwrap_or(HeaderValue::from_static(""));
    headers.push((name.clone(), v));
}

/// An item of a comma-separated header list (`X-Auth-Request-Org`, `-Roles`):
/// `%`, `,` and `:` percent-encoded so that names containing them split unambiguously.
pub fn list_item(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn app(orgs: &[&str], roles: &[&str]) -> AppEntry {
        AppEntry {
            id: "a".into(),
            name: "a".into(),
            audience: "a".into(),
            origins: vec![],
            org_restricted: !orgs.is_empty(),
            organization_ids: orgs.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
            role_restricted: !roles.is_empty(),
            role_ids: roles.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
            headers: Default::default(),
            redirect: false,
            updated_at: 0,
        }
    }

    fn identity() -> SessionIdentity {
        SessionIdentity {
            user_id: "u".into(),
            email: None,
            name: None,
            memberships: vec![
                Membership {
                    id: "acme".into(),
                    name: "Acme".into(),
                    role_ids: vec!["member".into()],
                    role_names: vec!["member".into()],
                },
                Membership {
                    id: "globex".into(),
                    name: "Globex".into(),
                    role_ids: vec!["admin".into()],
                    role_names: vec!["admin".into()],
                },
            ],
        }
    }

    #[test]
    fn admission_by_organization_and_role() {
        let who = identity();
        assert_eq!(who.admitted_by(&app(&[], &[])).map(|s| s.len()), Some(2));
        let seen = who.admitted_by(&app(&["acme"], &[])).expect("member");
        assert_eq!(seen.len(), 1, "only the app's organizations are shown");
        assert!(who.admitted_by(&app(&["initech"], &[])).is_none());
        assert!(who.admitted_by(&app(&[], &["admin"])).is_some());
        // The admin role is held in Globex, not in the admitted organization.
        assert!(who.admitted_by(&app(&["acme"], &["admin"])).is_none());
        assert!(who.admitted_by(&app(&["globex"], &["admin"])).is_some());
        // Restricted with every listed organization deleted: closed, not open.
        let mut closed = app(&["acme"], &[]);
        closed.organization_ids.clear();
        assert!(who.admitted_by(&closed).is_none());
    }

    #[test]
    fn list_items_escape_separators() {
        assert_eq!(list_item("R&D, Europe: 100%"), "R&D%2C Europe%3A 100%25");
    }
}
