//! SP-initiated login: an AuthnRequest over the HTTP-Redirect binding.
//!
//! Not samael's `make_authentication_request`: its IDs carry 32 random bits (InResponseTo
//! is what binds a response to this browser's request, so it must not be guessable), and
//! its redirect signing is not what we want to depend on for the exact query encoding.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{SecondsFormat, Utc};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use url::form_urlencoded::byte_serialize;

use super::error::SamlError;
use super::metadata::BINDING_POST;
use super::sp::SamlSp;
use super::xml_escape::escape;

pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// SAML bindings §3.4.3: RelayState MUST NOT exceed 80 bytes.
pub const MAX_RELAY_STATE_LEN: usize = 80;

/// Where to send the browser, and the request ID the response must answer.
#[derive(Debug, Clone)]
pub struct AuthnRedirect {
    /// `_` + 128 random bits in hex.
    pub request_id: String,
    /// The IdP SSO URL with SAMLRequest, RelayState (and SigAlg, Signature when signed).
    pub url: String,
}

/// Builds the AuthnRequest (ID, IssueInstant, Destination, AssertionConsumerServiceURL,
/// ProtocolBinding POST, Issuer = our entity ID, NameIDPolicy persistent with
/// AllowCreate) and its redirect URL; signs it (RSA-SHA256) when the connector says so.
///
/// Signing follows SAML bindings §3.4.4.1: the signature covers the octets of
/// `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear in the query string
/// (values URL-encoded; RelayState left out when empty), and is appended as `Signature`.
pub fn build_authn_request(sp: &SamlSp, relay_state: &str) -> Result<AuthnRedirect, SamlError> {
    if relay_state.len() > MAX_RELAY_STATE_LEN {
        return Err(SamlError::Internal(format!(
            "RelayState is longer than {MAX_RELAY_STATE_LEN} bytes"
        )));
    }
    let destination = sp.settings.idp_sso_url.as_str();
    let parsed = url::Url::parse(destination)
        .map_err(|_| SamlError::NotConfigured("the IdP SSO URL is not a URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
        return Err(SamlError::NotConfigured(
            "the IdP SSO URL must be an http(s) URL without a fragment".into(),
        ));
    }

    let request_id = new_request_id();
    let xml = authn_request_xml(
        sp,
        &request_id,
        &Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    let saml_request = B64.encode(deflate(xml.as_bytes())?);

    let mut query = format!("SAMLRequest={}", url_encode(&saml_request));
    if !relay_state.is_empty() {
        query.push_str("&RelayState=");
        query.push_str(&url_encode(relay_state));
    }
    if sp.settings.sign_authn_requests {
        query.push_str("&SigAlg=");
        query.push_str(&url_encode(SIG_ALG_RSA_SHA256));
        let signature = sign_rsa_sha256(&sp.sp_private_key_pem, query.as_bytes())?;
        query.push_str("&Signature=");
        query.push_str(&url_encode(&B64.encode(signature)));
    }
    let separator = if destination.contains('?') { '&' } else { '?' };
    Ok(AuthnRedirect {
        request_id,
        url: format!("{destination}{separator}{query}"),
    })
}

/// `_` followed by 128 random bits in hex (an ID must be an NCName: not a digit first).
fn new_request_id() -> String {
    format!("_{}", hex::encode(rand::random::<[u8; 16]>()))
}

fn authn_request_xml(sp: &SamlSp, id: &str, issue_instant: &str) -> String {
    format!(
        concat!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
            r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" "#,
            r#"IssueInstant="{instant}" Destination="{destination}" "#,
            r#"AssertionConsumerServiceURL="{acs}" ProtocolBinding="{binding}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
            r#"<samlp:NameIDPolicy Format="{format}" AllowCreate="true"/>"#,
            r#"</samlp:AuthnRequest>"#
        ),
        id = escape(id),
        instant = escape(issue_instant),
        destination = escape(&sp.settings.idp_sso_url),
        acs = escape(&sp.acs_url),
        binding = BINDING_POST,
        issuer = escape(&sp.sp_entity_id),
        format = NAMEID_PERSISTENT,
    )
}

/// Raw DEFLATE (RFC 1951, no zlib header), as the HTTP-Redirect binding requires.
fn deflate(data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data)
        .and_then(|_| enc.finish())
        .map_err(|e| SamlError::Internal(format!("deflate: {e}")))
}

/// application/x-www-form-urlencoded, the encoding IdPs (Keycloak: Java's URLEncoder)
/// apply when they rebuild the signed octets.
fn url_encode(s: &str) -> String {
    byte_serialize(s.as_bytes()).collect()
}

fn sign_rsa_sha256(private_key_pem: &str, data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let key = PKey::private_key_from_pem(private_key_pem.as_bytes())
        .map_err(|_| SamlError::NotConfigured("the SP private key does not parse".into()))?;
    if key.rsa().is_err() {
        return Err(SamlError::NotConfigured(
            "signing AuthnRequests needs an RSA SP key".into(),
        ));
    }
    let mut signer = Signer::new(MessageDigest::sha256(), &key)
        .map_err(|e| SamlError::Internal(format!("signer: {e}")))?;
    signer
        .update(data)
        .and_then(|_| signer.sign_to_vec())
        .map_err(|e| SamlError::Internal(format!("signing: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use flate2::read::DeflateDecoder;
    use openssl::sign::Verifier;
    use openssl::x509::X509;

    use super::*;
    use crate::connectors::settings::{AttributeMapping, SamlSettings};

    const SP_KEY: &str = include_str!("../../../tests/fixtures/saml/sp.key");
    const SP_CRT: &str = include_str!("../../../tests/fixtures/saml/sp.crt");

    pub(crate) fn test_sp(sign: bool) -> SamlSp {
        SamlSp {
            connector_id: "acme".into(),
            sp_entity_id: "urn:ssogate:test:sp&\"<x>".into(),
            acs_url: "https://sso.example/saml/acme/acs".into(),
            metadata_url: "https://sso.example/saml/acme/metadata".into(),
            sp_private_key_pem: SP_KEY.into(),
            previous_sp_private_key_pem: None,
            next_sp_private_key_pem: None,
            sp_certificate_pem: SP_CRT.into(),
            settings: SamlSettings {
                sp_entity_id: None,
                idp_metadata_url: None,
                idp_metadata_xml: String::new(),
                idp_entity_id: "https://idp.example/realms/x".into(),
                idp_sso_url: "https://idp.example/sso?tenant=a&b=c".into(),
                idp_signing_certificates: vec![],
                sp_certificate_pem: SP_CRT.into(),
                next_sp_certificate_pem: None,
                sign_authn_requests: sign,
                allow_idp_initiated: false,
                allow_sha1: false,
                attributes: AttributeMapping::saml_default(),
            },
            domains: vec![],
        }
    }

    fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
        let query = url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    fn decode_param(v: &str) -> String {
        url::form_urlencoded::parse(format!("x={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .expect("one pair")
    }

    fn inflate(saml_request: &str) -> String {
        let raw = B64.decode(decode_param(saml_request)).expect("base64");
        let mut out = String::new();
        DeflateDecoder::new(raw.as_slice())
            .read_to_string(&mut out)
            .expect("raw deflate");
        out
    }

    #[test]
    fn unsigned_request_carries_all_fields_escaped() {
        let sp = test_sp(false);
        let r = build_authn_request(&sp, "state with spaces&=+/").expect("built");
        assert!(r.request_id.starts_with('_'));
        assert_eq!(r.request_id.len(), 33);
        assert!(hex::decode(&r.request_id[1..]).is_ok());
        assert!(r
            .url
            .starts_with("https://idp.example/sso?tenant=a&b=c&SAMLRequest="));
        assert!(query_value(&r.url, "SigAlg").is_none());
        assert!(query_value(&r.url, "Signature").is_none());
        assert_eq!(
            decode_param(query_value(&r.url, "RelayState").expect("relay state")),
            "state with spaces&=+/"
        );

        let xml = inflate(query_value(&r.url, "SAMLRequest").expect("request"));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "AuthnRequest");
        assert_eq!(root.attribute("ID"), Some(r.request_id.as_str()));
        assert_eq!(root.attribute("Version"), Some("2.0"));
        assert_eq!(
            root.attribute("Destination"),
            Some(sp.settings.idp_sso_url.as_str())
        );
        assert_eq!(
            root.attribute("AssertionConsumerServiceURL"),
            Some(sp.acs_url.as_str())
        );
        assert_eq!(root.attribute("ProtocolBinding"), Some(BINDING_POST));
        let instant = root.attribute("IssueInstant").expect("instant");
        let t = chrono::DateTime::parse_from_rfc3339(instant).expect("dateTime");
        assert!((Utc::now() - t.with_timezone(&Utc)).num_seconds().abs() < 60);
        let issuer = root
            .children()
            .find(|c| c.has_tag_name("Issuer"))
            .and_then(|i| i.text());
        assert_eq!(issuer, Some(sp.sp_entity_id.as_str()));
        let policy = root
            .children()
            .find(|c| c.has_tag_name("NameIDPolicy"))
            .expect("NameIDPolicy");
        assert_eq!(policy.attribute("Format"), Some(NAMEID_PERSISTENT));
        assert_eq!(policy.attribute("AllowCreate"), Some("true"));
    }

    #[test]
    fn ids_are_fresh() {
        let sp = test_sp(false);
        let a = build_authn_request(&sp, "").expect("a");
        let b = build_authn_request(&sp, "").expect("b");
        assert_ne!(a.request_id, b.request_id);
        assert!(query_value(&a.url, "RelayState").is_none());
    }

    #[test]
    fn signed_request_verifies_with_the_sp_certificate() {
        let sp = test_sp(true);
        let r = build_authn_request(&sp, "rs 1/2").expect("built");
        assert_eq!(
            decode_param(query_value(&r.url, "SigAlg").expect("SigAlg")),
            SIG_ALG_RSA_SHA256
        );
        // The signed octets: the query as sent, up to (not including) &Signature=.
        let query = r.url.split_once("?tenant=a&b=c&").expect("query").1;
        let (signed, sig) = query.split_once("&Signature=").expect("signature");
        assert!(signed.starts_with("SAMLRequest="));
        assert!(signed.contains("&RelayState=rs+1%2F2&SigAlg="));
        let sig = B64.decode(decode_param(sig)).expect("base64 signature");
        let cert = X509::from_pem(SP_CRT.as_bytes()).expect("cert");
        let key = cert.public_key().expect("public key");
        let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
        v.update(signed.as_bytes()).expect("update");
        assert!(v.verify(&sig).expect("verify"), "signature verifies");
        let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
        v.update(signed.replace("rs+1", "rs+2").as_bytes())
            .expect("update");
        assert!(!v.verify(&sig).expect("verify"), "tampered query fails");
    }

    #[test]
    fn refuses_long_relay_state_and_bad_destination() {
        let sp = test_sp(false);
        assert!(matches!(
            build_authn_request(&sp, &"x".repeat(81)),
            Err(SamlError::Internal(_))
        ));
        let mut bad = test_sp(false);
        bad.settings.idp_sso_url = "javascript:alert(1)".into();
        assert!(matches!(
            build_authn_request(&bad, ""),
            Err(SamlError::NotConfigured(_))
        ));
    }
}
