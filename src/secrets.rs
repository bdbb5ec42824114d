//! Secrets at rest: SP private keys, token signing keys and client secrets are sealed
//! with AES-256-GCM under the master key before they reach the database.
//!
//! A sealed value is `v1:<base64(nonce ‖ ciphertext ‖ tag)>`. The caller passes a
//! context string (e.g. `connector:acme:sp_key`) as associated data, so a sealed value
//! copied into another row or column fails to open instead of being used as that secret.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secrets.master_key: expected base64 of 32 bytes")]
    BadMasterKey,
    #[error("secrets.master_key_file {path}: {cause}")]
    KeyFile { path: String, cause: String },
    #[error(
        "a sealed secret could not be opened (wrong master key, or the value was moved or altered)"
    )]
    Open,
    #[error("sealing failed: {0}")]
    Seal(String),
}

/// The master key. Its `Debug` never prints the key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_base64(s: &str) -> Result<Self, SecretsError> {
        let bytes = B64
            .decode(s.trim())
            .map_err(|_| SecretsError::BadMasterKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadMasterKey)?;
        Ok(MasterKey(arr))
    }

    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        MasterKey(k)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh key when it is missing.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), SecretsError> {
        let err = |cause: String| SecretsError::KeyFile {
            path: path.display().to_string(),
            cause,
        };
        match std::fs::read_to_string(path) {
            Ok(s) => Ok((
                Self::from_base64(&s).map_err(|_| err("not base64 of 32 bytes".into()))?,
                false,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
                f.write_all(format!("{}\n", key.to_base64()).as_bytes())
                    .map_err(|e| err(e.to_string()))?;
                Ok((key, true))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut tag = [0u8; TAG_LEN];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            context.as_bytes(),
            plaintext,
            &mut tag,
        )
        .map_err(|e| SecretsError::Seal(e.to_string()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretsError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SecretsError::Open)?;
        let raw = B64.decode(body).map_err(|_| SecretsError::Open)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretsError::Open);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(nonce),
            context.as_bytes(),
            ct,
            tag,
        )
        .map_err(|_| SecretsError::Open)
    }

    pub fn open_string(&self, sealed: &str, context: &str) -> Result<String, SecretsError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| SecretsError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let k = MasterKey::generate();
        let sealed = k
            .seal(b"-----BEGIN PRIVATE KEY-----", "connector:a:sp_key")
            .expect("seal");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            k.open(&sealed, "connector:a:sp_key").expect("open"),
            b"-----BEGIN PRIVATE KEY-----"
        );
    }

    #[test]
    fn a_value_moved_to_another_context_does_not_open() {
        let k = MasterKey::generate();
        let sealed = k
            .seal(b"secret", "connector:a:client_secret")
            .expect("seal");
        assert!(matches!(
            k.open(&sealed, "connector:b:client_secret"),
            Err(SecretsError::Open)
        ));
    }

    #[test]
    fn another_master_key_or_tampering_does_not_open() {
        let k = MasterKey::generate();
        let sealed = k.seal(b"secret", "c").expect("seal");
        assert!(matches!(
            MasterKey::generate().open(&sealed, "c"),
            Err(SecretsError::Open)
        ));
        let mut raw = B64.decode(&sealed[3..]).expect("b64");
        raw[NONCE_LEN] ^= 1;
        let tampered = format!("v1:{}", B64.encode(raw));
        assert!(matches!(k.open(&tampered, "c"), Err(SecretsError::Open)));
        assert!(matches!(k.open("v1:AAAA", "c"), Err(SecretsError::Open)));
        assert!(matches!(k.open("plain", "c"), Err(SecretsError::Open)));
    }

    #[test]
    fn key_file_is_created_once_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ssogate.key");
        let (k1, created) = MasterKey::load_or_create_file(&path).expect("create");
        assert!(created);
        let (k2, created) = MasterKey::load_or_create_file(&path).expect("load");
        assert!(!created);
        assert_eq!(k1.to_base64(), k2.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(format!("{k1:?}"), "MasterKey(***)");
    }
}
