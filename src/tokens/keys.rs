//! Signing keys: generated with OpenSSL (Ed25519 or P-256), the private key sealed under
//! the master key (context `signing_key:<kid>`, so a sealed key moved to another row does
//! not open), the public half kept as a JWK whose `kid` is its RFC 7638 thumbprint.
//!
//! Every instance keeps the keys in memory ([`KeyRing`]) and reloads them every
//! [`KEY_RELOAD_MS`](super::KEY_RELOAD_MS); which key signs and which keys are published
//! is decided from the key windows at the moment of use, so crossing a window boundary
//! needs no reload.

use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::Value;

use super::{algorithm_name, TokenError};
use crate::secrets::MasterKey;
use crate::store::signing_keys::{self, SigningKey};
use crate::store::{AnyConnection, Store};

pub fn sealing_context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// A fresh key pair as a store row (private key sealed), with the given windows.
pub fn generate(
    alg: Algorithm,
    master_key: &MasterKey,
    now: i64,
    publish_at: i64,
    sign_from: i64,
) -> Result<SigningKey, TokenError> {
    let ossl = |e: openssl::error::ErrorStack| TokenError::Key(e.to_string());
    let (pkcs8, enc) = match alg {
        Algorithm::EdDSA => {
            let der = PKey::generate_ed25519()
                .and_then(|k| k.private_key_to_pkcs8())
                .map_err(ossl)?;
            let enc = EncodingKey::from_ed_der(&der);
            (der, enc)
        }
        Algorithm::ES256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ossl)?;
            let der = EcKey::generate(&group)
                .and_then(PKey::from_ec_key)
                .and_then(|k| k.private_key_to_pkcs8())
                .map_err(ossl)?;
            let enc = EncodingKey::from_ec_der(&der);
            (der, enc)
        }
        other => {
            return Err(TokenError::Key(format!(
                "algorithm {other:?} is not offered"
            )))
        }
    };
    let mut jwk = Jwk::from_encoding_key(&enc, alg).map_err(|e| TokenError::Key(e.to_string()))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| TokenError::Key(e.to_string()))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| TokenError::Key(e.to_string()))?;
    let private_key = master_key
        .seal(&pkcs8, &sealing_context(&kid))
        .map_err(|e| TokenError::Key(e.to_string()))?;
    Ok(SigningKey {
        kid,
        alg: algorithm_name(alg).to_string(),
        private_key,
        public_jwk,
        created_at: now,
        publish_at,
        sign_from,
        retire_at: None,
        remove_at: None,
    })
}

/// A key as an instance uses it.
#[derive(Clone)]
pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    /// Present while the key may still sign (not yet retired).
    pub encoding: Option<EncodingKey>,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
    pub publish_at: i64,
    pub sign_from: i64,
    pub retire_at: Option<i64>,
    pub remove_at: Option<i64>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.encoding.is_some())
            .field("publish_at", &self.publish_at)
            .field("sign_from", &self.sign_from)
            .field("retire_at", &self.retire_at)
            .field("remove_at", &self.remove_at)
            .finish()
    }
}

impl LoadedKey {
    pub fn signs_at(&self, now: i64) -> bool {
        self.sign_from <= now && self.retire_at.is_none_or(|r| r > now)
    }

    pub fn published_at(&self, now: i64) -> bool {
        self.publish_at <= now && self.remove_at.is_none_or(|r| r > now)
    }
}

/// The keys of one load, oldest first.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub keys: Vec<LoadedKey>,
}

impl KeySet {
    /// The key that signs at `now`: of those in their signing window, the newest.
    pub fn signer_at(&self, now: i64) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .filter(|k| k.encoding.is_some() && k.signs_at(now))
            .max_by_key(|k| (k.sign_from, k.publish_at))
    }

    /// The JWKS document at `now`: `{"keys": [...]}` with the published keys.
    pub fn jwks_at(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.published_at(now))
            .map(|k| k.jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Loads every key not yet removed at `now`. A key whose private half does not open (a
/// different master key) is still published but never signs; that is logged.
pub async fn load(
    conn: &mut AnyConnection,
    master_key: &MasterKey,
    now: i64,
) -> Result<KeySet, TokenError> {
    let mut keys = Vec::new();
    for row in signing_keys::list(conn).await? {
        if row.remove_at.is_some_and(|r| r <= now) {
            continue;
        }
        let Ok(alg) = super::parse_algorithm(&row.alg) else {
            tracing::error!(kid = %row.kid, alg = %row.alg, "signing key with an unknown algorithm; ignored");
            continue;
        };
        let jwk: Value = match serde_json::from_str(&row.public_jwk) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(kid = %row.kid, error = %e, "signing key with an unreadable public JWK; ignored");
                continue;
            }
        };
        let may_sign = row.retire_at.is_none_or(|r| r > now);
        let encoding = if may_sign {
            match master_key.open(&row.private_key, &sealing_context(&row.kid)) {
                Ok(der) => Some(match alg {
                    Algorithm::ES256 => EncodingKey::from_ec_der(&der),
                    _ => EncodingKey::from_ed_der(&der),
                }),
                Err(e) => {
                    tracing::error!(kid = %row.kid, error = %e, "signing key does not open with this master key; it will not sign");
                    None
                }
            }
        } else {
            None
        };
        keys.push(LoadedKey {
            kid: row.kid,
            alg,
            encoding,
            jwk,
            publish_at: row.publish_at,
            sign_from: row.sign_from,
            retire_at: row.retire_at,
            remove_at: row.remove_at,
        });
    }
    Ok(KeySet { keys })
}

/// The keys of this instance, swapped whole on reload.
pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
}

impl KeyRing {
    pub fn new(set: KeySet) -> Arc<KeyRing> {
        Arc::new(KeyRing {
            current: RwLock::new(Arc::new(set)),
        })
    }

    pub fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, set: KeySet) {
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
    }

    /// Reloads the keys from the database.
    pub async fn reload(
        &self,
        store: &Store,
        master_key: &MasterKey,
        now: i64,
    ) -> Result<(), TokenError> {
        let mut conn = store.read().await?;
        let set = load(&mut conn, master_key, now).await?;
        self.replace(set);
        Ok(())
    }
}
