//! ssogate's own tokens: JWTs signed with ssogate's keys and handed to the apps behind
//! it (the `Authorization: Bearer` header of forward-auth). Never the IdP's tokens: those
//! are verified at sign-in and then dropped; apps only ever see what ssogate signs.
//!
//! - [`keys`]: key generation (EdDSA by default, ES256 selectable; never RSA with the
//!   `rust_crypto` backend, whose RSA has the Marvin timing issue), sealing under the
//!   master key, the in-memory key ring and the JWKS.
//! - [`rotation`]: the schedule. A new key is published at least the JWKS cache lifetime
//!   before it signs; a retired key stays published until every token it signed expired.

pub mod keys;
pub mod rotation;

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, TokensConfig};

pub use keys::{KeyRing, KeySet, LoadedKey};

/// How often an instance reloads the key set from the database. Keys created by another
/// instance or by `ssogate keys rotate` are seen at most this late, so a new key is
/// published this much earlier on top of the JWKS cache lifetime.
pub const KEY_RELOAD_MS: i64 = 5_000;
/// Clock differences between ssogate instances and relying parties.
pub const CLOCK_MARGIN_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("signing key: {0}")]
    Key(String),
    #[error("signing a token: {0}")]
    Sign(String),
    #[error("no signing key is available")]
    NoSigningKey,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Token settings in milliseconds, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub algorithm: Algorithm,
    pub token_lifetime_ms: i64,
    pub jwks_max_age_ms: i64,
    /// 0: no automatic rotation.
    pub rotation_period_ms: i64,
}

impl Policy {
    pub fn from_config(c: &TokensConfig) -> Result<Policy, ConfigError> {
        let algorithm = parse_algorithm(&c.algorithm)?;
        if !(10..=3600).contains(&c.lifetime_secs) {
            return Err(ConfigError::Invalid(
                "tokens.lifetime_secs: between 10 and 3600 (tokens are minutes-long)".into(),
            ));
        }
        if !(1..=7 * 86_400).contains(&c.jwks_max_age_secs) {
            return Err(ConfigError::Invalid(
                "tokens.jwks_max_age_secs: between 1 and 604800".into(),
            ));
        }
        if c.rotation_period_secs != 0
            && c.rotation_period_secs <= c.jwks_max_age_secs + c.lifetime_secs
        {
            return Err(ConfigError::Invalid(
                "tokens.rotation_period_secs: 0 (manual) or longer than jwks_max_age_secs + lifetime_secs"
                    .into(),
            ));
        }
        Ok(Policy {
            algorithm,
            token_lifetime_ms: c.lifetime_secs as i64 * 1000,
            jwks_max_age_ms: c.jwks_max_age_secs as i64 * 1000,
            rotation_period_ms: c.rotation_period_secs.min(10 * 365 * 86_400) as i64 * 1000,
        })
    }

    /// How long before it signs a new key is in the JWKS: every relying party that
    /// cached the key set before the key appeared has refreshed it by then.
    pub fn publish_lead_ms(&self) -> i64 {
        self.jwks_max_age_ms + KEY_RELOAD_MS
    }

    /// How long a key stays in the JWKS after it stopped signing: until the last token
    /// it signed expired (an instance may notice the change up to one reload late).
    pub fn keep_after_retire_ms(&self) -> i64 {
        self.token_lifetime_ms + KEY_RELOAD_MS + CLOCK_MARGIN_MS
    }
}

pub fn parse_algorithm(raw: &str) -> Result<Algorithm, ConfigError> {
    match raw {
        "EdDSA" | "eddsa" | "Ed25519" => Ok(Algorithm::EdDSA),
        "ES256" | "es256" => Ok(Algorithm::ES256),
        other => Err(ConfigError::Invalid(format!(
            "tokens.algorithm: \"EdDSA\" or \"ES256\", got {other:?} (RSA is not offered: the \
             RSA implementation of our JWT backend has a timing side channel, RUSTSEC-2023-0071)"
        ))),
    }
}

pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        _ => "unsupported",
    }
}

/// The organizations claim: one entry per membership, with the role names held there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationClaim {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
}

/// The claims of an access token for one app (after RFC 9068, `typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// ssogate's public URL.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The app's audience.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub organizations: Vec<OrganizationClaim>,
}

/// The `typ` header of ssogate's access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// Signs `claims` with `key`. Only keys that may sign carry an encoding key.
pub fn sign(key: &LoadedKey, claims: &AccessClaims) -> Result<String, TokenError> {
    let enc = key.encoding.as_ref().ok_or(TokenError::NoSigningKey)?;
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    header.typ = Some(TOKEN_TYPE.into());
    jsonwebtoken::encode(&header, claims, enc).map_err(|e| TokenError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_and_unknown_algorithms_are_refused() {
        for bad in ["RS256", "HS256", "none", ""] {
            let c = TokensConfig {
                algorithm: bad.into(),
                ..Default::default()
            };
            assert!(Policy::from_config(&c).is_err(), "{bad}");
        }
        let c = TokensConfig {
            algorithm: "ES256".into(),
            ..Default::default()
        };
        assert_eq!(
            Policy::from_config(&c).expect("ok").algorithm,
            Algorithm::ES256
        );
    }

    #[test]
    fn rotation_must_leave_room_for_publication() {
        let c = TokensConfig {
            rotation_period_secs: 3600,
            jwks_max_age_secs: 3600,
            ..Default::default()
        };
        assert!(Policy::from_config(&c).is_err());
        let c = TokensConfig {
            rotation_period_secs: 0,
            ..Default::default()
        };
        assert_eq!(Policy::from_config(&c).expect("ok").rotation_period_ms, 0);
    }
}
