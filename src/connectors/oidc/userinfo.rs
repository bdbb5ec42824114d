//! The userinfo response (OIDC Core 5.3): a JSON object, or a signed JWT
//! (`application/jwt`, when the client is registered for signed userinfo).
//!
//! A signed response is verified like an ID token before any claim is used: `alg` on the
//! connector's allow-list (never `none`; HS* only when listed, keyed with our client
//! secret), the key found by `kid` among the provider's keys (refetched once, within the
//! rate limit, when none fits), then `iss` and `aud` when present (5.3.2: they SHOULD be
//! there; if there, the issuer must be the provider's and the audience must include us)
//! and `exp` when present. An encrypted response (JWE) is refused: we register no
//! encryption key. The caller checks that `sub` is the ID token's.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use openidconnect::core::CoreJsonWebKey;
use openidconnect::{JsonWebKey, JwsSigningAlgorithm};
use serde_json::{Map, Value};

use super::error::OidcError;
use super::id_token::{allowed_algorithm, provider_keys, split_jws, CLOCK_SKEW};
use super::provider::{Provider, ProviderCache};
use super::rp::OidcRp;

const MAX_USERINFO_BYTES: usize = 1024 * 1024;

/// What the userinfo endpoint answered, not yet trusted.
#[derive(Debug)]
pub enum UserinfoBody {
    Json(Map<String, Value>),
    /// A compact JWS (or JWE: refused when verified).
    Jwt(String),
}

/// GET userinfo with the access token.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
) -> Result<UserinfoBody, OidcError> {
    let mut resp = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json, application/jwt")
        .send()
        .await
        .map_err(|e| {
            OidcError::Userinfo(format!(
                "request failed: {}",
                super::discovery::error_chain(&e)
            ))
        })?;
    if !resp.status().is_success() {
        return Err(OidcError::Userinfo(format!(
            "HTTP status {}",
            resp.status()
        )));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let jwt = content_type.starts_with("application/jwt");
    if !jwt && !content_type.starts_with("application/json") {
        return Err(OidcError::Userinfo(format!(
            "unsupported content type {:?}",
            super::rp::provider_text(&content_type)
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| OidcError::Userinfo(format!("reading the response: {e}")))?
    {
        if body.len() + chunk.len() > MAX_USERINFO_BYTES {
            return Err(OidcError::Userinfo("response too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    if jwt {
        let text = String::from_utf8(body)
            .map_err(|_| OidcError::Userinfo("the signed response is not text".into()))?;
        return Ok(UserinfoBody::Jwt(text.trim().to_string()));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(UserinfoBody::Json(m)),
        _ => Err(OidcError::Userinfo(
            "the response is not a JSON object".into(),
        )),
    }
}

/// The claims of a userinfo answer: a JSON object as is, a signed one once verified.
pub async fn claims(
    rp: &OidcRp,
    providers: &ProviderCache,
    provider: &Arc<Provider>,
    body: UserinfoBody,
) -> Result<Map<String, Value>, OidcError> {
    match body {
        UserinfoBody::Json(m) => Ok(m),
        UserinfoBody::Jwt(raw) => verify_signed(rp, providers, provider, &raw).await,
    }
}

async fn verify_signed(
    rp: &OidcRp,
    providers: &ProviderCache,
    provider: &Arc<Provider>,
    raw: &str,
) -> Result<Map<String, Value>, OidcError> {
    if raw.split('.').count() == 5 {
        return Err(OidcError::UserinfoEncrypted);
    }
    let malformed = |_| OidcError::Userinfo("the signed response is not a compact JWS".into());
    let (header, payload) = split_jws(raw).map_err(malformed)?;
    let secret = rp.client_secret.as_deref().filter(|s| !s.is_empty());
    let alg = allowed_algorithm(
        &rp.settings.id_token_algorithms,
        &header.alg,
        secret.is_some(),
    )?;
    let keys: Vec<CoreJsonWebKey> = if alg.uses_shared_secret() {
        vec![CoreJsonWebKey::new_symmetric(
            secret.unwrap_or_default().as_bytes().to_vec(),
        )]
    } else {
        provider_keys(providers, provider, header.kid.as_deref(), &alg).await?
    };
    let (signing_input, signature) = raw
        .rsplit_once('.')
        .ok_or(OidcError::UserinfoSignatureInvalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| OidcError::UserinfoSignatureInvalid)?;
    let verified = keys.iter().any(|k| {
        k.verify_signature(&alg, signing_input.as_bytes(), &signature)
            .is_ok()
    });
    if !verified {
        return Err(OidcError::UserinfoSignatureInvalid);
    }

    if let Some(iss) = payload.get("iss") {
        if iss.as_str() != Some(provider.issuer()) {
            return Err(OidcError::UserinfoIssuerMismatch);
        }
    }
    if let Some(aud) = payload.get("aud") {
        let ours = rp.settings.client_id.as_str();
        let ok = match aud {
            Value::String(a) => a == ours,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(ours)),
            _ => false,
        };
        if !ok {
            return Err(OidcError::UserinfoAudienceMismatch);
        }
    }
    if let Some(exp) = payload.get("exp") {
        let exp = exp.as_i64().ok_or(OidcError::UserinfoExpired)?;
        if exp < (Utc::now() - CLOCK_SKEW).timestamp() {
            return Err(OidcError::UserinfoExpired);
        }
    }
    Ok(payload)
}
