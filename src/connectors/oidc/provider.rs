//! Per-issuer cache of the discovery document and the JWKS.
//!
//! openidconnect fetches the JWKS once, with discovery, and never again. Providers rotate
//! their signing keys, so when an ID token names a key we do not hold we fetch the JWKS
//! again — but an anonymous caller can make us see unknown `kid`s at will (any forged
//! token will do), so that refetch is:
//! - rate-limited: at most one per `jwks_refetch_cooldown` per issuer (the first one after
//!   discovery is allowed at once, so a rotation is picked up by the first token that uses
//!   the new key);
//! - single-flight: concurrent requests that miss wait for the one fetch in progress and
//!   then use its result, instead of each fetching.
//!
//! Discovery itself is cached for `discovery_ttl`, also single-flight. A failed discovery
//! is remembered for `discovery_retry` (a dead IdP must not make every login wait for a
//! connect timeout); a failed refresh keeps serving the previous document.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::JsonWebKeySet;

use super::discovery::{discover, ProviderMetadata};
use super::error::OidcError;

/// Timing of the cache; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct ProviderCacheConfig {
    /// How long a discovery document (and the JWKS fetched with it) is used.
    pub discovery_ttl: Duration,
    /// Minimum time between two JWKS refetches caused by unknown keys, per issuer.
    pub jwks_refetch_cooldown: Duration,
    /// How long a failed discovery is answered from memory before it is tried again.
    pub discovery_retry: Duration,
}

impl Default for ProviderCacheConfig {
    fn default() -> Self {
        ProviderCacheConfig {
            discovery_ttl: Duration::from_secs(3600),
            jwks_refetch_cooldown: Duration::from_secs(60),
            discovery_retry: Duration::from_secs(10),
        }
    }
}

/// One issuer as last seen: its discovery document (whose `jwks()` is the current key set).
#[derive(Debug)]
pub struct Provider {
    pub metadata: ProviderMetadata,
    /// Bumped each time the JWKS is replaced; lets a waiter see that the fetch it waited
    /// for has happened.
    pub(crate) jwks_generation: u64,
    discovered_at: Instant,
}

impl Provider {
    pub fn issuer(&self) -> &str {
        self.metadata.issuer().as_str()
    }

    pub fn jwks(&self) -> &CoreJsonWebKeySet {
        self.metadata.jwks()
    }

    /// RFC 9207: the provider promises `iss` in every authorization response.
    pub fn sends_iss_parameter(&self) -> bool {
        self.metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported
    }
}

#[derive(Default)]
struct FetchState {
    last_jwks_refetch: Option<Instant>,
    /// After a failed (re)discovery: do not try again before this.
    retry_after: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Default)]
struct Slot {
    /// Read on every request; replaced only under `fetch`.
    current: RwLock<Option<Arc<Provider>>>,
    /// Held across network fetches: the single flight.
    fetch: tokio::sync::Mutex<FetchState>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Provider>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, p: Arc<Provider>) {
        match self.current.write() {
            Ok(mut g) => *g = Some(p),
            Err(poisoned) => *poisoned.into_inner() = Some(p),
        }
    }
}

/// Discovery documents and JWKS per issuer, shared by all requests.
pub struct ProviderCache {
    http: reqwest::Client,
    config: ProviderCacheConfig,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl ProviderCache {
    /// `http` must not follow redirects (see `app::http_client`).
    pub fn new(http: reqwest::Client) -> Arc<ProviderCache> {
        Self::with_config(http, ProviderCacheConfig::default())
    }

    pub fn with_config(http: reqwest::Client, config: ProviderCacheConfig) -> Arc<ProviderCache> {
        Arc::new(ProviderCache {
            http,
            config,
            slots: Mutex::new(HashMap::new()),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn config(&self) -> &ProviderCacheConfig {
        &self.config
    }

    fn slot(&self, issuer: &str) -> Arc<Slot> {
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(issuer.to_string()).or_default().clone()
    }

    fn fresh(&self, p: &Provider) -> bool {
        p.discovered_at.elapsed() < self.config.discovery_ttl
    }

    /// The provider's discovery document and keys, fetched on first use and after the TTL.
    pub async fn provider(&self, issuer: &str) -> Result<Arc<Provider>, OidcError> {
        let slot = self.slot(issuer);
        if let Some(p) = slot.current() {
            if self.fresh(&p) {
                return Ok(p);
            }
        }
        let mut state = slot.fetch.lock().await;
        // Someone else may have fetched while we waited.
        let stale = slot.current();
        if let Some(p) = &stale {
            if self.fresh(p) {
                return Ok(p.clone());
            }
        }
        if let Some(t) = state.retry_after {
            if Instant::now() < t {
                return match stale {
                    Some(p) => Ok(p),
                    None => Err(OidcError::Discovery(
                        state
                            .last_error
                            .clone()
                            .unwrap_or_else(|| "discovery failed recently".into()),
                    )),
                };
            }
        }
        match discover(&self.http, issuer).await {
            Ok(metadata) => {
                let generation = stale.as_ref().map_or(0, |p| p.jwks_generation + 1);
                let p = Arc::new(Provider {
                    metadata,
                    jwks_generation: generation,
                    discovered_at: Instant::now(),
                });
                slot.set(p.clone());
                state.retry_after = None;
                state.last_error = None;
                Ok(p)
            }
            Err(e) => {
                let msg = e.to_string();
                state.retry_after = Some(Instant::now() + self.config.discovery_retry);
                state.last_error = Some(msg.clone());
                match stale {
                    Some(p) => {
                        tracing::warn!(issuer, error = %msg, "OIDC rediscovery failed; using the previous document");
                        Ok(p)
                    }
                    None => Err(OidcError::Discovery(msg)),
                }
            }
        }
    }

    /// Called when `seen` holds no key for a token: fetches the JWKS again unless another
    /// request already did since `seen` was read, or the cooldown forbids it. Returns the
    /// provider to use now (possibly `seen` itself, unchanged).
    pub async fn refetch_jwks(&self, seen: &Arc<Provider>) -> Arc<Provider> {
        let issuer = seen.issuer().to_string();
        let slot = self.slot(&issuer);
        let mut state = slot.fetch.lock().await;
        let current = slot.current().unwrap_or_else(|| seen.clone());
        if current.jwks_generation != seen.jwks_generation {
            return current;
        }
        if let Some(t) = state.last_jwks_refetch {
            if t.elapsed() < self.config.jwks_refetch_cooldown {
                return current;
            }
        }
        // A failed fetch counts too: a broken JWKS endpoint must not be hammered.
        state.last_jwks_refetch = Some(Instant::now());
        let fetched: Result<JsonWebKeySet<CoreJsonWebKey>, _> =
            JsonWebKeySet::fetch_async(current.metadata.jwks_uri(), &self.http).await;
        match fetched {
            Ok(jwks) => {
                let mut metadata = current.metadata.clone();
                metadata = metadata.set_jwks(jwks);
                let p = Arc::new(Provider {
                    metadata,
                    jwks_generation: current.jwks_generation + 1,
                    discovered_at: current.discovered_at,
                });
                slot.set(p.clone());
                tracing::info!(issuer, "OIDC JWKS refetched (unknown key)");
                p
            }
            Err(e) => {
                tracing::warn!(issuer, error = %e, "OIDC JWKS refetch failed");
                current
            }
        }
    }
}
