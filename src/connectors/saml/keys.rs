//! The SP key pair of a SAML connector: generated on creation or given (PEM) so a setup
//! is reproducible. The private key is sealed under the master key before it is stored.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

#[derive(Debug, thiserror::Error)]
pub enum SpKeyError {
    #[error("SP private key: not a PEM RSA/EC private key")]
    BadKey,
    #[error("SP certificate: not a PEM X.509 certificate")]
    BadCertificate,
    #[error("SP certificate does not match the SP private key")]
    Mismatch,
    #[error("generating the SP key pair: {0}")]
    Generate(String),
}

#[derive(Clone)]
pub struct SpKeyPair {
    pub private_key_pem: String,
    pub certificate_pem: String,
}

impl std::fmt::Debug for SpKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKeyPair")
            .field("certificate_pem", &self.certificate_pem)
            .finish_non_exhaustive()
    }
}

impl SpKeyPair {
    /// Checks a given pair: both parse and the certificate's public key is the key's.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, SpKeyError> {
        let key = PKey::private_key_from_pem(private_key_pem.as_bytes())
            .map_err(|_| SpKeyError::BadKey)?;
        let cert =
            X509::from_pem(certificate_pem.as_bytes()).map_err(|_| SpKeyError::BadCertificate)?;
        let cert_key = cert.public_key().map_err(|_| SpKeyError::BadCertificate)?;
        if !key.public_eq(&cert_key) {
            return Err(SpKeyError::Mismatch);
        }
        Ok(SpKeyPair {
            private_key_pem: private_key_pem.to_string(),
            certificate_pem: certificate_pem.to_string(),
        })
    }

    /// A new RSA-2048 key and a self-signed SHA-256 certificate valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, SpKeyError> {
        let g = |e: openssl::error::ErrorStack| SpKeyError::Generate(e.to_string());
        let rsa = Rsa::generate(2048).map_err(g)?;
        let key: PKey<Private> = PKey::from_rsa(rsa).map_err(g)?;
        let mut name = X509NameBuilder::new().map_err(g)?;
        let cn: String = common_name.chars().take(64).collect();
        name.append_entry_by_text("CN", &cn).map_err(g)?;
        let name = name.build();
        let mut b = X509::builder().map_err(g)?;
        b.set_version(2).map_err(g)?;
        let mut serial = BigNum::new().map_err(g)?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false).map_err(g)?;
        let serial = serial.to_asn1_integer().map_err(g)?;
        b.set_serial_number(&serial).map_err(g)?;
        b.set_subject_name(&name).map_err(g)?;
        b.set_issuer_name(&name).map_err(g)?;
        b.set_pubkey(&key).map_err(g)?;
        let not_before = Asn1Time::days_from_now(0).map_err(g)?;
        let not_after = Asn1Time::days_from_now(3650).map_err(g)?;
        b.set_not_before(&not_before).map_err(g)?;
        b.set_not_after(&not_after).map_err(g)?;
        b.sign(&key, MessageDigest::sha256()).map_err(g)?;
        let cert = b.build();
        Ok(SpKeyPair {
            private_key_pem: String::from_utf8(key.private_key_to_pem_pkcs8().map_err(g)?)
                .map_err(|e| SpKeyError::Generate(e.to_string()))?,
            certificate_pem: String::from_utf8(cert.to_pem().map_err(g)?)
                .map_err(|e| SpKeyError::Generate(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_match_and_reload() {
        let kp = SpKeyPair::generate("ssogate SP test").expect("generate");
        let again =
            SpKeyPair::from_pem(&kp.private_key_pem, &kp.certificate_pem).expect("valid pair");
        assert_eq!(again.certificate_pem, kp.certificate_pem);
        assert!(!format!("{kp:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_mismatched_pair_is_refused() {
        let a = SpKeyPair::generate("a").expect("a");
        let b = SpKeyPair::generate("b").expect("b");
        assert!(matches!(
            SpKeyPair::from_pem(&a.private_key_pem, &b.certificate_pem),
            Err(SpKeyError::Mismatch)
        ));
        assert!(matches!(
            SpKeyPair::from_pem("nope", &b.certificate_pem),
            Err(SpKeyError::BadKey)
        ));
    }
}
