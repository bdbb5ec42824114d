//! Sign-ins in flight, kept server-side (`store::pending_logins`) and bound to the
//! browser that started them by a short-lived random cookie (`__Host-ssogate_login` on
//! https, `ssogate_login` on http: [`binding_cookie_name`]).
//!
//! The IdP answers a SAML sign-in with a cross-site POST to the ACS; a `SameSite=Lax`
//! cookie is not sent with it. So the binding cookie is `SameSite=None; Secure` when the
//! public URL is https — and also on http loopback addresses (127.0.0.1, localhost), which
//! browsers treat as secure contexts. On plain http elsewhere (never in production) it is
//! `SameSite=Lax` and SAML POST sign-ins cannot be bound: the ACS then refuses them.

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::connectors::signin::Kept;
use crate::flow::refusal::Refusal;
use crate::store::pending_logins::{self, PendingLogin, Taken};
use crate::store::{now_ms, StoreError};

/// The binding cookie's name on plain http.
pub const BINDING_COOKIE: &str = "ssogate_login";
/// Its name on https. A sibling subdomain (`evil.example.com` next to
/// `login.example.com`) can set a cookie with `Domain=example.com` that the browser then
/// sends to ssogate; with a value it knows, it could complete its own sign-in in the
/// victim's browser (login CSRF). Browsers accept a `__Host-` cookie only when it is
/// Secure, has `Path=/` and no `Domain`, i.e. only from ssogate's own host; on https
/// only this name is read.
pub const HOST_BINDING_COOKIE: &str = "__Host-ssogate_login";

/// The binding cookie's name for this public URL: `__Host-ssogate_login` on https.
pub fn binding_cookie_name(public_url: &str) -> &'static str {
    match url::Url::parse(public_url) {
        Ok(u) if u.scheme() == "https" => HOST_BINDING_COOKIE,
        _ => BINDING_COOKIE,
    }
}

/// What we remember about one sign-in in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingData {
    /// Where to return after signing in, as [`crate::flow::return_to::accept`] returned
    /// it (checked again before use).
    #[serde(default)]
    pub return_to: Option<String>,
    /// SAML: the AuthnRequest ID the response must answer (InResponseTo).
    #[serde(default)]
    pub saml_request_id: Option<String>,
    /// OIDC: the nonce and PKCE verifier sent with the authorization request.
    #[serde(default)]
    pub oidc_nonce: Option<String>,
    #[serde(default)]
    pub oidc_pkce_verifier: Option<String>,
    /// The request id of the request that started the sign-in (audit correlation).
    #[serde(default)]
    pub started_request_id: Option<String>,
}

impl PendingData {
    /// What the connector kept when it started the sign-in.
    pub fn kept(&self) -> Kept {
        Kept {
            saml_request_id: self.saml_request_id.clone(),
            oidc_nonce: self.oidc_nonce.clone(),
            oidc_pkce_verifier: self.oidc_pkce_verifier.clone(),
        }
    }

    pub fn keep(&mut self, kept: Kept) {
        self.saml_request_id = kept.saml_request_id;
        self.oidc_nonce = kept.oidc_nonce;
        self.oidc_pkce_verifier = kept.oidc_pkce_verifier;
    }
}

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn hash_binding(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The binding cookie's value from the request, if it looks like one of ours. `name` is
/// [`binding_cookie_name`]: a cookie under any other name (a planted `ssogate_login` on
/// https) is not ours.
pub fn binding_from_headers(headers: &HeaderMap, name: &str) -> Option<String> {
    // The shape of `random_token`: 32 bytes, base64url without padding.
    crate::request::cookie_value(headers, name, |v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn cross_site_capable(public_url: &str) -> bool {
    match url::Url::parse(public_url) {
        Ok(u) => {
            u.scheme() == "https"
                || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || u.host_str() == Some("localhost")
        }
        Err(_) => false,
    }
}

/// The `Set-Cookie` value for the binding cookie.
pub fn binding_cookie(state: &AppState, value: &str) -> HeaderValue {
    let max_age = state.config.login.pending_ttl_secs;
    let attrs = if cross_site_capable(&state.public_url) {
        "SameSite=None; Secure"
    } else {
        "SameSite=Lax"
    };
    let name = binding_cookie_name(&state.public_url);
    // No Domain: host-only (and required for the `__Host-` name).
    let v = format!("{name}={value}; Path=/; HttpOnly; Max-Age={max_age}; {attrs}");
    HeaderValue::from_str(&v)
        .unwrap_or_else(|_| HeaderValue::from_static("ssogate_login=; Max-Age=0"))
}

/// Stores a new pending login for `connector_id` under `key` (RelayState / state) and
/// returns the `Set-Cookie` header binding it to this browser (reusing the browser's
/// current binding, so two sign-ins started in two tabs both stay valid).
pub async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    client: std::net::IpAddr,
    connector_id: &str,
    key: &str,
    data: &PendingData,
) -> Result<(String, HeaderValue), Refusal> {
    let binding = binding_from_headers(headers, binding_cookie_name(&state.public_url))
        .unwrap_or_else(random_token);
    let now = now_ms();
    let row = PendingLogin {
        id: key.to_string(),
        connector_id: connector_id.to_string(),
        browser_binding: hash_binding(&binding),
        client_key: crate::client_addr::client_key(client).to_string(),
        data: serde_json::to_value(data).unwrap_or_default(),
        created_at: now,
        expires_at: now + (state.config.login.pending_ttl_secs as i64) * 1000,
    };
    let result = async {
        let mut tx = state.store.begin().await?;
        let login = &state.config.login;
        pending_logins::create(
            &mut tx,
            &row,
            login.pending_cap,
            login.pending_cap_per_client,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }
    .await;
    match result {
        Ok(()) => Ok((key.to_string(), binding_cookie(state, &binding))),
        Err(StoreError::Capacity) => Err(Refusal::bad(
            "login_capacity",
            "Too many sign-ins are in progress right now. Please try again in a few minutes.",
        )
        .connector(connector_id)),
        Err(StoreError::ClientCapacity) => Err(Refusal::bad(
            "login_client_capacity",
            "Too many sign-ins were started from your network and are still in progress. \
             Finish one, or try again in a few minutes.",
        )
        .connector(connector_id)),
        Err(e) => Err(Refusal::store_failed(
            &e,
            Refusal::bad(
                "login_state_store",
                "The sign-in could not be started. Please try again.",
            )
            .connector(connector_id),
        )),
    }
}

/// Takes the pending login `key` started by this browser for `connector_id`, single use.
pub async fn take(
    state: &AppState,
    headers: &HeaderMap,
    connector_id: &str,
    key: &str,
) -> Result<PendingData, Refusal> {
    let again = "Please start the sign-in again.";
    let Some(binding) = binding_from_headers(headers, binding_cookie_name(&state.public_url))
    else {
        return Err(Refusal::bad(
            "login_state_no_cookie",
            format!(
                "This browser did not start this sign-in (its sign-in cookie is missing). {again}"
            ),
        )
        .connector(connector_id));
    };
    let taken = async {
        let mut conn = state.store.write().await?;
        pending_logins::take(&mut conn, key, &hash_binding(&binding)).await
    }
    .await;
    let taken = match taken {
        Ok(t) => t,
        // Unavailable: the pending login is still there (the single DELETE failed), so
        // the same answer can be delivered again once the database is back.
        Err(e) => {
            return Err(Refusal::store_failed(
                &e,
                Refusal::bad(
                    "login_state_store",
                    format!("The sign-in could not be completed. {again}"),
                )
                .connector(connector_id),
            ));
        }
    };
    match taken {
        Taken::Ok(p) if p.connector_id == connector_id => {
            serde_json::from_value(p.data).map_err(|_| {
                Refusal::bad(
                    "login_state_corrupt",
                    format!("The sign-in state is unreadable. {again}"),
                )
                .connector(connector_id)
            })
        }
        Taken::Ok(p) => Err(Refusal::bad(
            "login_state_wrong_connector",
            format!("This answer belongs to a sign-in with another identity provider. {again}"),
        )
        .connector(connector_id)
        .detail(serde_json::json!({ "started_with": p.connector_id }))),
        Taken::Unknown => Err(Refusal::bad(
            "login_state_unknown",
            format!("This sign-in is unknown or was already completed. {again}"),
        )
        .connector(connector_id)),
        Taken::OtherBrowser => Err(Refusal::bad(
            "login_state_other_browser",
            format!("This sign-in was started in another browser. {again}"),
        )
        .connector(connector_id)),
        Taken::Expired => Err(Refusal::bad(
            "login_state_expired",
            format!("This sign-in took too long and expired. {again}"),
        )
        .connector(connector_id)),
    }
}

/// Appends a Set-Cookie header.
pub fn set_cookie(headers: &mut HeaderMap, v: HeaderValue) {
    headers.append(SET_COOKIE, v);
}
