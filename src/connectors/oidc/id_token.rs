//! ID token verification: our checks around openidconnect's.
//!
//! openidconnect 4.1 (`IdTokenVerifier`) checks the signature with a key of the JWKS we
//! hand it, the algorithm against an allow-list, `iss` (exact), `aud` (contains our
//! client id), `exp` and the nonce. It reports its findings in one error type whose
//! variants are coarser than our reason codes, checks `iss`/`aud` before the signature,
//! and does not check `azp`, `at_hash` or an `iat` in the future. So, in order:
//!
//! 1. we decode the JOSE header ourselves: `alg` must be on the connector's allow-list
//!    (`none` never, even if listed; HS* only when listed *and* we have a client secret,
//!    which is then the MAC key — so a token MACed with the provider's public key fails);
//! 2. we find the key: by `kid` and key type among the cached JWKS; if none fits, the
//!    cache refetches the JWKS (rate-limited, single-flight) and we look once more;
//! 3. openidconnect verifies signature and claims, its errors mapped to our codes;
//! 4. we check `azp`, `at_hash` and `iat`.

use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, ClientSecret, JsonWebKey,
    JsonWebKeyAlgorithm, JsonWebKeySet, JsonWebKeyUse, JwsSigningAlgorithm, Nonce,
    SignatureVerificationError,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::error::OidcError;
use super::provider::{Provider, ProviderCache};
use super::rp::OidcRp;

/// Longer tokens are refused before any parsing (a JWT is a few KB at most).
const MAX_ID_TOKEN_LEN: usize = 64 * 1024;

/// Clock skew tolerated on `exp` and `iat`.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// A verified ID token.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// The `sub` claim.
    pub subject: String,
    /// Every claim of the token, as sent.
    pub claims: Map<String, Value>,
    pub algorithm: String,
}

/// The JOSE header fields we decide on, decoded without trusting them.
#[derive(Debug)]
pub(crate) struct Header {
    pub alg: String,
    pub kid: Option<String>,
}

fn decode_segment(seg: &str) -> Result<Map<String, Value>, OidcError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .map_err(|_| OidcError::IdTokenInvalid)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(OidcError::IdTokenInvalid),
    }
}

/// Splits a compact JWS into header and payload objects (JWE, with five parts, is refused).
pub(crate) fn split_jws(raw: &str) -> Result<(Header, Map<String, Value>), OidcError> {
    if raw.len() > MAX_ID_TOKEN_LEN {
        return Err(OidcError::IdTokenInvalid);
    }
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err(OidcError::IdTokenInvalid);
    }
    let header = decode_segment(parts[0])?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(OidcError::IdTokenInvalid),
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(OidcError::IdTokenInvalid),
    };
    let payload = decode_segment(parts[1])?;
    Ok((Header { alg, kid }, payload))
}

/// The algorithm of a token if the connector allows it (see the module docs).
pub fn allowed_algorithm(
    allow_list: &[String],
    alg: &str,
    have_client_secret: bool,
) -> Result<CoreJwsSigningAlgorithm, OidcError> {
    if alg.eq_ignore_ascii_case("none") || !allow_list.iter().any(|a| a == alg) {
        return Err(OidcError::AlgorithmNotAllowed);
    }
    let parsed: CoreJwsSigningAlgorithm = serde_json::from_value(Value::String(alg.to_string()))
        .map_err(|_| OidcError::AlgorithmNotAllowed)?;
    if parsed == CoreJwsSigningAlgorithm::None {
        return Err(OidcError::AlgorithmNotAllowed);
    }
    if parsed.uses_shared_secret() && !have_client_secret {
        // A public client's "secret" is no secret: anyone could MAC a token.
        return Err(OidcError::AlgorithmNotAllowed);
    }
    Ok(parsed)
}

/// openidconnect's key selection (its `filter_keys` is private): the `kid` matches when
/// the token names one, the key may sign, its type fits the algorithm, and its own `alg`
/// (if any) is this algorithm.
fn key_fits(key: &CoreJsonWebKey, kid: Option<&str>, alg: &CoreJwsSigningAlgorithm) -> bool {
    if let Some(kid) = kid {
        if key.key_id().map(|k| k.as_str()) != Some(kid) {
            return false;
        }
    }
    if let Some(u) = key.key_use() {
        if !u.allows_signature() {
            return false;
        }
    }
    if alg.key_type().as_ref() != Some(key.key_type()) {
        return false;
    }
    match key.signing_alg() {
        JsonWebKeyAlgorithm::Unspecified => true,
        JsonWebKeyAlgorithm::Algorithm(a) => a == alg,
        JsonWebKeyAlgorithm::Unsupported => false,
    }
}

fn fitting_keys(
    provider: &Provider,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Vec<CoreJsonWebKey> {
    provider
        .jwks()
        .keys()
        .iter()
        .filter(|k| key_fits(k, kid, alg))
        .cloned()
        .collect()
}

/// The provider's keys that fit a token signed with `alg` (asymmetric) naming `kid`: from
/// the cached JWKS, else once more after a refetch (rate-limited, single-flight);
/// `UnknownKey` when none fits. Used for ID tokens and signed userinfo alike.
pub(crate) async fn provider_keys(
    providers: &ProviderCache,
    provider: &Arc<Provider>,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<Vec<CoreJsonWebKey>, OidcError> {
    let mut keys = fitting_keys(provider, kid, alg);
    if keys.is_empty() {
        let refreshed = providers.refetch_jwks(provider).await;
        keys = fitting_keys(&refreshed, kid, alg);
    }
    if keys.is_empty() {
        return Err(OidcError::UnknownKey);
    }
    Ok(keys)
}

fn map_claims_error(e: ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::InvalidIssuer(_) => OidcError::IssuerMismatch,
        ClaimsVerificationError::InvalidAudience(_) => OidcError::AudienceMismatch,
        ClaimsVerificationError::Expired(_) => OidcError::Expired,
        ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_)
            | SignatureVerificationError::NoSignature => OidcError::AlgorithmNotAllowed,
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_) => OidcError::UnknownKey,
            _ => OidcError::SignatureInvalid,
        },
        // typ/cty/crit/JWE, sub, acr, auth_time, anything newer.
        _ => OidcError::IdTokenInvalid,
    }
}

/// Verifies an ID token for `rp` against the provider's keys (refetched once, within the
/// rate limit, when none fits). `access_token` is checked against `at_hash` when the token
/// has one.
pub async fn verify_id_token(
    rp: &OidcRp,
    providers: &ProviderCache,
    raw: &str,
    nonce: &str,
    access_token: Option<&str>,
) -> Result<VerifiedIdToken, OidcError> {
    let provider = rp.provider(providers).await?;
    verify_with_provider(rp, providers, provider, raw, nonce, access_token).await
}

pub(crate) async fn verify_with_provider(
    rp: &OidcRp,
    providers: &ProviderCache,
    provider: Arc<Provider>,
    raw: &str,
    nonce: &str,
    access_token: Option<&str>,
) -> Result<VerifiedIdToken, OidcError> {
    if nonce.is_empty() {
        return Err(OidcError::Internal(
            "no nonce was stored for this sign-in".into(),
        ));
    }
    let (header, payload) = split_jws(raw)?;
    let secret = rp.client_secret.as_deref().filter(|s| !s.is_empty());
    let alg = allowed_algorithm(
        &rp.settings.id_token_algorithms,
        &header.alg,
        secret.is_some(),
    )?;

    // The key the signature must verify with. For HS* it is our client secret.
    let keys: Vec<CoreJsonWebKey> = if alg.uses_shared_secret() {
        Vec::new()
    } else {
        provider_keys(providers, &provider, header.kid.as_deref(), &alg).await?
    };

    let token = CoreIdToken::from_str(raw).map_err(|_| OidcError::IdTokenInvalid)?;
    let client_id = ClientId::new(rp.settings.client_id.clone());
    let issuer = provider.metadata.issuer().clone();
    let jwks = JsonWebKeySet::new(keys.clone());
    let verifier = match secret {
        Some(s) => CoreIdTokenVerifier::new_confidential_client(
            client_id,
            ClientSecret::new(s.to_string()),
            issuer,
            jwks,
        ),
        None => CoreIdTokenVerifier::new_public_client(client_id, issuer, jwks),
    }
    .set_allowed_algs([alg.clone()])
    // Extra audiences are accepted only with `azp` = us, which we check below (OIDC Core
    // 3.1.3.7 steps 3-5); openidconnect would refuse them all as "untrusted audience".
    .set_other_audience_verifier_fn(|_| true)
    .set_time_fn(|| Utc::now() - CLOCK_SKEW);

    let expected_nonce = Nonce::new(nonce.to_string());
    let claims = token
        .claims(&verifier, &expected_nonce)
        .map_err(map_claims_error)?;

    // OIDC Core 3.1.3.7 steps 4-5: with several audiences, or whenever azp is present, azp
    // must be us — otherwise a token issued to another client of the same IdP (which has
    // us as an extra audience) could be replayed here.
    let client_id = rp.settings.client_id.as_str();
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client_id => return Err(OidcError::AzpMismatch),
        None if claims.audiences().len() > 1 => return Err(OidcError::AzpMismatch),
        _ => {}
    }

    if claims.issue_time() > Utc::now() + CLOCK_SKEW {
        return Err(OidcError::IssuedInFuture);
    }

    // OIDC Core 3.1.3.8 / 3.3.2.11: at_hash binds the access token (used for userinfo)
    // to this ID token.
    if let Some(at_hash) = claims.access_token_hash() {
        let at = access_token.ok_or(OidcError::AtHashMismatch)?;
        let key = match keys.first() {
            Some(k) => k.clone(),
            None => CoreJsonWebKey::new_symmetric(secret.unwrap_or_default().as_bytes().to_vec()),
        };
        let expected = AccessTokenHash::from_token(&AccessToken::new(at.to_string()), &alg, &key)
            .map_err(|e| OidcError::Internal(format!("at_hash: {e}")))?;
        if !bool::from(expected.as_bytes().ct_eq(at_hash.as_bytes())) {
            return Err(OidcError::AtHashMismatch);
        }
    }

    Ok(VerifiedIdToken {
        subject: claims.subject().as_str().to_string(),
        claims: payload,
        algorithm: header.alg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(algs: &[&str]) -> Vec<String> {
        algs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn algorithm_allow_list() {
        let default = list(&["RS256", "ES256", "PS256", "EdDSA"]);
        assert_eq!(
            allowed_algorithm(&default, "RS256", true),
            Ok(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)
        );
        for refused in [
            "none", "None", "NONE", "HS256", "RS384", "rs256", "", "XS999",
        ] {
            assert_eq!(
                allowed_algorithm(&default, refused, true),
                Err(OidcError::AlgorithmNotAllowed),
                "{refused}"
            );
        }
        // Listing them changes nothing for `none` and unknown names.
        let reckless = list(&["none", "NONE", "XS999", "HS256"]);
        for refused in ["none", "NONE", "XS999"] {
            assert_eq!(
                allowed_algorithm(&reckless, refused, true),
                Err(OidcError::AlgorithmNotAllowed),
                "{refused}"
            );
        }
        // HS* needs the listing and a client secret.
        assert!(allowed_algorithm(&reckless, "HS256", true).is_ok());
        assert_eq!(
            allowed_algorithm(&reckless, "HS256", false),
            Err(OidcError::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn split_refuses_what_is_not_a_compact_jws() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"s"}"#);
        assert!(split_jws(&format!("{h}.{p}.sig")).is_ok());
        let no_alg = URL_SAFE_NO_PAD.encode(br#"{"kid":"k"}"#);
        let num_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":7}"#);
        let array = URL_SAFE_NO_PAD.encode(b"[1]");
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.s.x.y"),
            format!("{no_alg}.{p}.s"),
            format!("{num_kid}.{p}.s"),
            format!("{array}.{p}.s"),
            format!("{h}.{array}.s"),
            format!("{h}.%%%.s"),
            format!("{h}.{}.s", "A".repeat(MAX_ID_TOKEN_LEN)),
        ] {
            assert_eq!(
                split_jws(&bad).unwrap_err(),
                OidcError::IdTokenInvalid,
                "{bad:.40}"
            );
        }
    }
}
