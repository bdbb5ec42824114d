//! Decrypting an EncryptedAssertion (XML Encryption 1.1) with the SP private key.
//!
//! samael 0.0.22 only decrypts rsa-oaep-mgf1p / rsa-1_5 key transport with aes128-cbc /
//! aes128-gcm content, so it cannot read what Keycloak sends by default (aes256-gcm,
//! xmlenc11#rsa-oaep with SHA-256 and MGF1-SHA-256). This module does it with openssl:
//!
//! * key transport: `xmlenc#rsa-oaep-mgf1p` (OAEP digest from `ds:DigestMethod`, default
//!   SHA-1; MGF1 with SHA-1) and `xmlenc11#rsa-oaep` (digest from `ds:DigestMethod`,
//!   mask generation from `xenc11:MGF`, both default SHA-1), with `OAEPparams` as label;
//! * content: AES-128/192/256-GCM (12-byte IV prefix, 16-byte tag suffix).
//!
//! Refused with [`SamlError::EncryptionAlgorithm`]: RSA PKCS#1 v1.5 key transport
//! (Bleichenbacher-style oracles) and every CBC mode (unauthenticated: padding oracles,
//! and the ciphertext could be altered undetected), and anything unknown.
//!
//! The caller has verified the Response signature over the EncryptedAssertion before
//! calling this, and verifies the decrypted assertion's own signature after.

use base64::Engine;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::Cipher;
use roxmltree::Node;

use super::error::SamlError;
use super::precheck::{is, unique_child, NS_DS, NS_XENC, NS_XENC11};

const ELEMENT_TYPE: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP_11: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
/// More EncryptedKeys than this (one per recipient) is not a real IdP.
const MAX_ENCRYPTED_KEYS: usize = 4;

/// The algorithms we can decrypt, for the SP metadata.
pub const DATA_ALGORITHMS: [&str; 3] = [
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
];
pub const KEY_TRANSPORT_ALGORITHMS: [&str; 2] = [RSA_OAEP_11, RSA_OAEP_MGF1P];

/// Decrypts `encrypted_assertion` (a `saml:EncryptedAssertion` element) and returns the
/// plaintext: the serialized Assertion element, to be pre-checked and verified again.
pub fn decrypt_assertion(
    encrypted_assertion: Node<'_, '_>,
    sp_private_key_pem: &str,
) -> Result<String, SamlError> {
    let key = PKey::private_key_from_pem(sp_private_key_pem.as_bytes())
        .map_err(|_| SamlError::NotConfigured("the SP private key does not parse".into()))?;
    if key.rsa().is_err() {
        return Err(SamlError::NotConfigured(
            "the SP key is not an RSA key (needed to decrypt assertions)".into(),
        ));
    }
    let data = unique_child(encrypted_assertion, NS_XENC, "EncryptedData")?
        .ok_or(SamlError::DecryptFailed)?;
    if data.attribute("Type").is_some_and(|t| t != ELEMENT_TYPE) {
        return Err(SamlError::DecryptFailed);
    }
    let data_alg = unique_child(data, NS_XENC, "EncryptionMethod")?
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or(SamlError::EncryptionAlgorithm)?;
    let cipher = match data_alg {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Cipher::aes_128_gcm(),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => Cipher::aes_192_gcm(),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Cipher::aes_256_gcm(),
        _ => return Err(SamlError::EncryptionAlgorithm),
    };

    // The EncryptedKey sits in EncryptedData's KeyInfo (Keycloak, Shibboleth) or next to
    // EncryptedData in the EncryptedAssertion (never fetched through RetrievalMethod:
    // the pre-check refuses that).
    let in_key_info = data
        .children()
        .filter(|c| is(*c, NS_DS, "KeyInfo"))
        .flat_map(|ki| ki.children().filter(|c| is(*c, NS_XENC, "EncryptedKey")));
    let beside = encrypted_assertion
        .children()
        .filter(|c| is(*c, NS_XENC, "EncryptedKey"));
    let keys: Vec<Node> = in_key_info.chain(beside).collect();
    if keys.is_empty() || keys.len() > MAX_ENCRYPTED_KEYS {
        return Err(SamlError::DecryptFailed);
    }
    // Algorithms are checked on every EncryptedKey before any RSA operation.
    let mut transports = Vec::with_capacity(keys.len());
    for k in &keys {
        transports.push((key_transport(*k)?, cipher_value(*k)?));
    }
    let content = cipher_value(data)?;

    for (transport, wrapped) in transports {
        let Ok(cek) = unwrap_key(&key, &transport, &wrapped) else {
            continue;
        };
        if cek.len() != cipher.key_len() {
            continue;
        }
        if let Ok(plain) = decrypt_gcm(cipher, &cek, &content) {
            return String::from_utf8(plain).map_err(|_| SamlError::DecryptFailed);
        }
    }
    Err(SamlError::DecryptFailed)
}

struct KeyTransport {
    oaep_md: &'static MdRef,
    mgf1_md: &'static MdRef,
    label: Option<Vec<u8>>,
}

fn digest_by_uri(uri: &str) -> Option<&'static MdRef> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Md::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => Md::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Md::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Md::sha512(),
        _ => return None,
    })
}

fn mgf_by_uri(uri: &str) -> Option<&'static MdRef> {
    Some(match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => Md::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha224" => Md::sha224(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => Md::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => Md::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => Md::sha512(),
        _ => return None,
    })
}

fn key_transport(encrypted_key: Node<'_, '_>) -> Result<KeyTransport, SamlError> {
    let method = unique_child(encrypted_key, NS_XENC, "EncryptionMethod")?
        .ok_or(SamlError::EncryptionAlgorithm)?;
    let alg = method.attribute("Algorithm").unwrap_or("");
    if alg != RSA_OAEP_MGF1P && alg != RSA_OAEP_11 {
        // rsa-1_5 included: refused.
        return Err(SamlError::EncryptionAlgorithm);
    }
    let oaep_md = match unique_child(method, NS_DS, "DigestMethod")? {
        Some(d) => d
            .attribute("Algorithm")
            .and_then(digest_by_uri)
            .ok_or(SamlError::EncryptionAlgorithm)?,
        None => Md::sha1(),
    };
    let mgf1_md = match unique_child(method, NS_XENC11, "MGF")? {
        // mgf1p fixes MGF1 with SHA-1; only the 1.1 algorithm names another one.
        Some(_) if alg == RSA_OAEP_MGF1P => return Err(SamlError::EncryptionAlgorithm),
        Some(m) => m
            .attribute("Algorithm")
            .and_then(mgf_by_uri)
            .ok_or(SamlError::EncryptionAlgorithm)?,
        None => Md::sha1(),
    };
    let label = match unique_child(method, NS_XENC, "OAEPparams")? {
        Some(p) => Some(b64_text(p)?),
        None => None,
    };
    Ok(KeyTransport {
        oaep_md,
        mgf1_md,
        label,
    })
}

fn unwrap_key(
    key: &PKey<Private>,
    t: &KeyTransport,
    wrapped: &[u8],
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut ctx = PkeyCtx::new(key)?;
    ctx.decrypt_init()?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
    ctx.set_rsa_oaep_md(t.oaep_md)?;
    ctx.set_rsa_mgf1_md(t.mgf1_md)?;
    if let Some(label) = &t.label {
        ctx.set_rsa_oaep_label(label)?;
    }
    let mut out = Vec::new();
    ctx.decrypt_to_vec(wrapped, &mut out)?;
    Ok(out)
}

const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

fn decrypt_gcm(cipher: Cipher, key: &[u8], content: &[u8]) -> Result<Vec<u8>, SamlError> {
    if content.len() < GCM_IV_LEN + GCM_TAG_LEN {
        return Err(SamlError::DecryptFailed);
    }
    let (iv, rest) = content.split_at(GCM_IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
    openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], ciphertext, tag)
        .map_err(|_| SamlError::DecryptFailed)
}

/// `xenc:CipherData/xenc:CipherValue`, base64-decoded (CipherReference is refused by the
/// pre-check).
fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let value = unique_child(node, NS_XENC, "CipherData")?
        .map(|cd| unique_child(cd, NS_XENC, "CipherValue"))
        .transpose()?
        .flatten()
        .ok_or(SamlError::DecryptFailed)?;
    b64_text(value)
}

fn b64_text(node: Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let text: String = node
        .children()
        .filter_map(|c| c.text().filter(|_| c.is_text()))
        .flat_map(|t| t.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SamlError::DecryptFailed)
}
